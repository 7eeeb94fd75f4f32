// A small HTTP/1.1 responder on the node's loop for metrics scrapes: GET (or HEAD) of one path,
// one request per connection, bounded in request size, connections and time. Plain TCP, no TLS.
import CLibUV

/// The bounds of a metrics listener (Docs/transport.md lists them).
public struct MetricsLimits: Sendable {
    /// A request head (request line and headers) longer than this is answered 431 and closed.
    public var requestBytesMax = 8 * 1024
    /// Scrape connections open at once; one more is closed at once with a reset.
    public var connectionsMax = 16
    /// A connection that has not sent a whole request head in this time is closed (a slow client
    /// cannot hold a slot); so is one whose answer is not taken within the same time.
    public var timeoutNanoseconds: UInt64 = 5_000_000_000
    public init() {}

    public func validate() throws(TransportError) {
        guard (256...65_536).contains(requestBytesMax), (1...1024).contains(connectionsMax),
              (1_000_000...600_000_000_000).contains(timeoutNanoseconds) else {
            throw TransportError(.invalidArgument, "metrics limits: request bytes 256…65536, connections 1…1024, timeout 1 ms…600 s")
        }
    }
}

/// What a request head asks for, as far as a metrics listener cares.
public enum HTTPRequestHead: Equatable, Sendable {
    /// A whole head; the method and the path without its query.
    case request(method: String, path: String)
    /// The head is not complete yet.
    case incomplete
    /// Not HTTP/1.x; the reason, for the 400 answer.
    case malformed(String)

    /// Reads `bytes` (what a connection sent so far) up to the blank line that ends the head.
    public static func parse(_ bytes: [UInt8]) -> HTTPRequestHead {
        guard let end = headEnd(bytes) else {
            // A request line must look like one from its first bytes: reject binary garbage early.
            if let first = bytes.first, !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) { return .malformed("not an HTTP request") }
            return .incomplete
        }
        let lineEnd = bytes[..<end].firstIndex { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") } ?? end
        let line = bytes[..<lineEnd]
        guard line.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else { return .malformed("request line has control or non-ASCII bytes") }
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else {
            return .malformed("request line is not METHOD TARGET HTTP/1.x")
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else { return .malformed("version \(version.prefix(20)) is not HTTP/1.0 or 1.1") }
        let target = String(decoding: parts[1], as: UTF8.self)
        guard target.hasPrefix("/") else { return .malformed("target must be an absolute path") }
        let path = String(target.prefix { $0 != "?" })
        return .request(method: String(decoding: parts[0], as: UTF8.self), path: path)
    }

    /// The index just past "\r\n\r\n" (or "\n\n"), if the head is complete.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") { return index + 2 }
                if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "\r"), bytes[index + 2] == UInt8(ascii: "\n") { return index + 3 }
            }
            index += 1
        }
        return nil
    }
}

/// Serves `render()` as `text/plain; version=0.0.4` (the Prometheus text format) at `path`, on a
/// plain TCP port of the loop. Everything else is answered properly: 404 for another path, 405
/// for a method other than GET and HEAD, 400 for what is not HTTP/1.x, 431 for a head over the
/// limit. Every answer closes the connection.
public final class MetricsListener {
    public let limits: MetricsLimits
    public let path: String
    private unowned let loop: EventLoop
    private var listener: TCPListener?
    private let render: () -> String
    private var open: [ObjectIdentifier: Connection] = [:]
    /// Scrapes answered 200; connections closed at once past `connectionsMax`; other answers (4xx) and timeouts.
    public private(set) var served = 0, refused = 0, rejected = 0

    private final class Connection {
        let stream: TCPStream
        var head: [UInt8] = []
        var timer: LoopTimer?
        var answered = false
        init(stream: TCPStream) { self.stream = stream }
    }

    /// Listens on `host:port` (uv_tcp_bind; port 0: any free one, see `port`).
    public init(loop: EventLoop, host: String, port: UInt16, path: String = "/metrics", limits: MetricsLimits = MetricsLimits(),
                render: @escaping () -> String) throws(TransportError) {
        try limits.validate()
        self.loop = loop
        self.limits = limits
        self.path = path
        self.render = render
        let address = try SocketAddress(host: host, port: port)
        let listener = try TCPListener(loop: loop, address: address, backlog: 64)
        self.listener = listener
        listener.onConnection = { [unowned self] stream in self.accepted(stream) }
    }

    /// The port it listens on.
    public var port: UInt16 { listener?.port ?? 0 }
    public var openConnections: Int { open.count }

    /// Stops listening and closes every connection.
    public func close() {
        listener?.close()
        listener = nil
        for connection in open.values { end(connection) }
    }

    private func accepted(_ stream: TCPStream) {
        guard listener != nil, open.count < limits.connectionsMax else {
            refused += 1
            stream.closeWithReset()
            return
        }
        let connection = Connection(stream: stream)
        open[ObjectIdentifier(connection)] = connection
        connection.timer = loop.schedule(afterNanoseconds: limits.timeoutNanoseconds) { [weak self, weak connection] in
            guard let self, let connection else { return }
            if !connection.answered { self.rejected += 1 }
            self.end(connection)
        }
        stream.onRead = { [unowned self, unowned connection] bytes in self.read(bytes, on: connection) }
        stream.onEnd = { [unowned self, unowned connection] _ in self.end(connection) }
        stream.startReading()
    }

    private func read(_ bytes: UnsafeRawBufferPointer, on connection: Connection) {
        guard !connection.answered else { return }   // after the head: ignored until the close
        let room = limits.requestBytesMax - connection.head.count
        connection.head.append(contentsOf: bytes.prefix(room))
        switch HTTPRequestHead.parse(connection.head) {
        case .incomplete:
            if connection.head.count >= limits.requestBytesMax {
                answer(connection, status: "431 Request Header Fields Too Large", body: "request head over \(limits.requestBytesMax) bytes\n")
            }
        case .malformed(let reason):
            answer(connection, status: "400 Bad Request", body: reason + "\n")
        case .request(let method, let requested):
            guard method == "GET" || method == "HEAD" else {
                answer(connection, status: "405 Method Not Allowed", body: "\(method) is not allowed: use GET\n", extra: "Allow: GET, HEAD\r\n")
                return
            }
            guard requested == path else {
                answer(connection, status: "404 Not Found", body: "no \(requested.prefix(200)) here: metrics are at \(path)\n", headOnly: method == "HEAD")
                return
            }
            served += 1
            answer(connection, status: "200 OK", body: render(), contentType: "text/plain; version=0.0.4; charset=utf-8", headOnly: method == "HEAD")
        }
    }

    private func answer(_ connection: Connection, status: String, body: String, contentType: String = "text/plain; charset=utf-8",
                        extra: String = "", headOnly: Bool = false) {
        connection.answered = true
        if !status.hasPrefix("200") { rejected += 1 }
        let bodyBytes = Array(body.utf8)
        var bytes = Array(("HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(bodyBytes.count)\r\n"
            + extra + "Connection: close\r\n\r\n").utf8)
        if !headOnly { bytes += bodyBytes }
        // The connection record goes below; a write error during the linger must not reach it.
        connection.stream.onRead = { _ in }
        connection.stream.onEnd = { _ in }
        connection.stream.stopReading()
        bytes.withUnsafeBytes { connection.stream.write($0) }
        connection.stream.shutdownAndClose()
        // The stream closes itself once written (or after its linger); the slot is free now.
        connection.timer?.cancel()
        open[ObjectIdentifier(connection)] = nil
    }

    private func end(_ connection: Connection) {
        connection.timer?.cancel()
        connection.stream.close()
        open[ObjectIdentifier(connection)] = nil
    }
}
