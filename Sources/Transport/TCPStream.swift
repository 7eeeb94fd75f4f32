// TCP sockets on the loop (uv_tcp_t): a stream that reads into its loop's one read buffer and writes
// with uv_try_write first, and a listener. Internal: Endpoint and the benchmarks use them.
import CLibUV

/// One TCP connection. It keeps itself alive while its handle is open; `close()` releases it.
final class TCPStream {
    private unowned let eventLoop: EventLoop
    let handle: UnsafeMutablePointer<uv_tcp_t>
    private var selfReference: Unmanaged<TCPStream>?
    private(set) var isClosed = false
    /// Bytes handed to uv_write and not yet written.
    private(set) var pendingWriteBytes = 0
    var remoteAddress = "?"
    /// The peer's IP address without the port ("?" if unknown), for limits per source address.
    var remoteHost = "?"
    /// Closes a stream whose shutdown waits for writes that a peer never takes.
    private var lingerTimer: LoopTimer?
    /// How long `shutdownAndClose` waits for queued writes before it closes anyway.
    static let lingerNanoseconds: UInt64 = 2_000_000_000

    /// Called with bytes read; the buffer is reused after it returns.
    var onRead: (UnsafeRawBufferPointer) -> Void = { _ in }
    /// Called once when the peer ends the stream or an error happens (a libuv status, UV_EOF for end).
    var onEnd: (Int32) -> Void = { _ in }
    /// Called once when a dial finishes (0 or a libuv error).
    var onConnect: (Int32) -> Void = { _ in }

    init(loop: EventLoop) {
        eventLoop = loop
        handle = .allocate(capacity: 1)
        uv_tcp_init(loop.loop, handle)
        selfReference = Unmanaged.passRetained(self)
        handle.pointee.data = selfReference!.toOpaque()
        loop.sockets[ObjectIdentifier(self)] = { [unowned self] in self.close() }
    }

    private var stream: UnsafeMutablePointer<uv_stream_t> { UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self) }
    private var anyHandle: UnsafeMutablePointer<uv_handle_t> { UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self) }

    static func from(_ data: UnsafeMutableRawPointer?) -> TCPStream? {
        data.map { Unmanaged<TCPStream>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Dials `address` (uv_tcp_connect); `onConnect` reports the result.
    func connect(to address: SocketAddress) {
        remoteAddress = address.description
        remoteHost = address.host
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        request.pointee.data = handle.pointee.data
        let status = address.withSockaddr { uv_tcp_connect(request, handle, $0) { request, status in
            let stream = TCPStream.from(request?.pointee.data)
            request?.deallocate()
            guard let stream, !stream.isClosed else { return }
            stream.onConnect(status)
        } }
        if status != 0 {
            request.deallocate()
            // Report asynchronously like any other dial failure.
            eventLoop.schedule(afterNanoseconds: 0) { [weak self] in
                guard let self, !self.isClosed else { return }
                self.onConnect(status)
            }
        }
    }

    /// Sets TCP_NODELAY (uv_tcp_nodelay) and starts reading (uv_read_start).
    func startReading() {
        uv_tcp_nodelay(handle, 1)
        let status = uv_read_start(stream, { handle, _, buffer in
            guard let stream = TCPStream.from(handle?.pointee.data) else { return }
            buffer?.pointee.base = stream.eventLoop.readBuffer.assumingMemoryBound(to: CChar.self)
            buffer?.pointee.len = EventLoop.readBufferBytes
        }, { handle, count, _ in
            guard let stream = TCPStream.from(handle?.pointee.data), !stream.isClosed else { return }
            if count > 0 {
                stream.onRead(UnsafeRawBufferPointer(start: stream.eventLoop.readBuffer, count: count))
            } else if count < 0 {
                stream.stopReading()
                stream.onEnd(Int32(count))
            }
        })
        if status != 0 { onEnd(status) }
    }

    func stopReading() { if !isClosed { uv_read_stop(stream) } }

    /// Writes all of `bytes`: as much as the socket takes now (uv_try_write), the rest copied into a uv_write request.
    func write(_ bytes: UnsafeRawBufferPointer) {
        guard !isClosed, bytes.count > 0 else { return }
        var offset = 0
        if pendingWriteBytes == 0 {
            var buffer = uv_buf_t(base: UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: CChar.self)), len: bytes.count)
            let written = uv_try_write(stream, &buffer, 1)
            if written > 0 { offset = Int(written) }
            if offset == bytes.count { return }
        }
        let rest = bytes.count - offset
        // One allocation: the write request, the byte count, then the bytes it writes
        // (libuv consumes the request's own buffer lengths as it writes, so the count is kept beside it).
        let countOffset = (MemoryLayout<uv_write_t>.stride + 15) & ~15
        let header = countOffset + 16
        let block = UnsafeMutableRawPointer.allocate(byteCount: header + rest, alignment: 16)
        let request = block.bindMemory(to: uv_write_t.self, capacity: 1)
        (block + countOffset).storeBytes(of: rest, as: Int.self)
        (block + header).copyMemory(from: bytes.baseAddress! + offset, byteCount: rest)
        request.pointee.data = handle.pointee.data
        var buffer = uv_buf_t(base: (block + header).assumingMemoryBound(to: CChar.self), len: rest)
        pendingWriteBytes += rest
        let status = uv_write(request, stream, &buffer, 1) { request, status in
            guard let request else { return }
            let stream = TCPStream.from(request.pointee.data)
            let block = UnsafeMutableRawPointer(request)
            let written = (block + ((MemoryLayout<uv_write_t>.stride + 15) & ~15)).load(as: Int.self)
            block.deallocate()
            guard let stream else { return }
            stream.pendingWriteBytes -= written
            if status < 0, status != UV_ECANCELED.rawValue, !stream.isClosed { stream.stopReading(); stream.onEnd(status) }
        }
        if status != 0 {
            pendingWriteBytes -= rest
            block.deallocate()
            stopReading()
            onEnd(status)
        }
    }

    /// Flushes queued writes, then closes (uv_shutdown, then uv_close). A peer that takes none of
    /// them keeps the stream for at most `lingerNanoseconds`; then it is closed anyway.
    func shutdownAndClose() {
        guard !isClosed else { return }
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        request.pointee.data = handle.pointee.data
        if uv_shutdown(request, stream, { request, _ in
            let stream = TCPStream.from(request?.pointee.data)
            request?.deallocate()
            stream?.close()
        }) != 0 {
            request.deallocate()
            close()
            return
        }
        if pendingWriteBytes > 0 && lingerTimer == nil {
            lingerTimer = eventLoop.schedule(afterNanoseconds: Self.lingerNanoseconds) { [weak self] in self?.close() }
        }
    }

    /// Closes at once with a TCP reset (uv_tcp_close_reset: SO_LINGER 0, then uv_close): nothing
    /// queued is sent and neither side keeps the connection in TIME_WAIT. For connections refused
    /// unread, and failed handshakes with nothing left to say.
    func closeWithReset() {
        guard !isClosed, pendingWriteBytes == 0 else { close(); return }
        isClosed = true
        onRead = { _ in }
        onEnd = { _ in }
        onConnect = { _ in }
        lingerTimer?.cancel()
        lingerTimer = nil
        eventLoop.sockets[ObjectIdentifier(self)] = nil
        if uv_tcp_close_reset(handle, TCPStream.closed) != 0 { uv_close(anyHandle, TCPStream.closed) }
    }

    /// The close callback of every stream: frees the handle and releases the stream.
    private static let closed: uv_close_cb = { handle in
        guard let handle else { return }
        let stream = TCPStream.from(handle.pointee.data)
        UnsafeMutableRawPointer(handle).deallocate()
        stream?.selfReference?.release()
    }

    /// Closes the socket now (uv_close); queued writes are cancelled. Safe to call twice.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        onRead = { _ in }
        onEnd = { _ in }
        onConnect = { _ in }
        lingerTimer?.cancel()
        lingerTimer = nil
        eventLoop.sockets[ObjectIdentifier(self)] = nil
        uv_close(anyHandle, TCPStream.closed)
    }

    /// The kernel's smoothed round-trip time of this connection in microseconds (uv_fileno, then
    /// getsockopt TCP_INFO `tcpi_rtt`); nil where it cannot be read.
    func smoothedRoundTripMicroseconds() -> Int? {
        guard !isClosed else { return nil }
        var fd = uv_os_fd_t()
        guard uv_fileno(anyHandle, &fd) == 0 else { return nil }
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return nil }
        return Int(info.tcpi_rtt)
    }

    /// The peer's address (uv_tcp_getpeername), for log lines and limits.
    func peerAddress() -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getpeername(handle, $0, &length) }
        }
        return status == 0 ? SocketAddress(storage: storage) : nil
    }
}

/// A listening TCP socket (uv_tcp_bind, uv_listen).
final class TCPListener {
    private unowned let eventLoop: EventLoop
    private let handle: UnsafeMutablePointer<uv_tcp_t>
    private var selfReference: Unmanaged<TCPListener>?
    private(set) var isClosed = false
    private(set) var port: UInt16 = 0
    var onConnection: (TCPStream) -> Void = { _ in }

    /// `backlog` is large so that a burst of connections waits in the kernel to be accepted (and,
    /// past the Endpoint's limits, closed at once) rather than being dropped unseen.
    init(loop: EventLoop, address: SocketAddress, backlog: Int32 = 1024) throws(TransportError) {
        eventLoop = loop
        handle = .allocate(capacity: 1)
        uv_tcp_init(loop.loop, handle)
        selfReference = Unmanaged.passRetained(self)
        handle.pointee.data = selfReference!.toOpaque()
        loop.sockets[ObjectIdentifier(self)] = { [unowned self] in self.close() }
        var status = address.withSockaddr { uv_tcp_bind(handle, $0, 0) }
        if status == 0 {
            status = uv_listen(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self), backlog) { server, status in
                guard status == 0, let server, let listener = TCPListener.from(server.pointee.data), !listener.isClosed else { return }
                let stream = TCPStream(loop: listener.eventLoop)
                if uv_accept(server, UnsafeMutableRawPointer(stream.handle).assumingMemoryBound(to: uv_stream_t.self)) == 0 {
                    if let address = stream.peerAddress() {
                        stream.remoteAddress = address.description
                        stream.remoteHost = address.host
                    }
                    listener.onConnection(stream)
                } else {
                    stream.close()
                }
            }
        }
        guard status == 0 else {
            close()
            throw TransportError(.system, "cannot listen on \(address): \(uvErrorText(status))")
        }
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getsockname(handle, $0, &length) }
        }
        port = SocketAddress(storage: storage).port
    }

    static func from(_ data: UnsafeMutableRawPointer?) -> TCPListener? {
        data.map { Unmanaged<TCPListener>.fromOpaque($0).takeUnretainedValue() }
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        eventLoop.sockets[ObjectIdentifier(self)] = nil
        uv_close(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)) { handle in
            guard let handle else { return }
            let listener = TCPListener.from(handle.pointee.data)
            UnsafeMutableRawPointer(handle).deallocate()
            listener?.selfReference?.release()
        }
    }
}

/// An IPv4 or IPv6 address and port (numeric hosts; "localhost" means 127.0.0.1).
public struct SocketAddress: Sendable, CustomStringConvertible {
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16) throws(TransportError) {
        let host = host == "localhost" ? "127.0.0.1" : host
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        guard uv_ip4_addr(host, Int32(port), &v4) == 0 || uv_ip6_addr(host, Int32(port), &v6) == 0 else {
            throw TransportError(.invalidArgument, "'\(host)' is not a numeric IPv4 or IPv6 address")
        }
        self.host = host
        self.port = port
    }

    init(storage: sockaddr_storage) {
        var storage = storage
        let family = Int32(storage.ss_family)
        var text = [CChar](repeating: 0, count: 64)
        let port: UInt16 = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = uv_ip_name($0, &text, text.count) }
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        host = text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        self.port = port
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>) -> R) -> R {
        var v4 = sockaddr_in()
        if uv_ip4_addr(host, Int32(port), &v4) == 0 {
            return withUnsafePointer(to: &v4) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
        }
        var v6 = sockaddr_in6()
        _ = uv_ip6_addr(host, Int32(port), &v6)
        return withUnsafePointer(to: &v6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
