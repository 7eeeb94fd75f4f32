// A real node's metrics scraped over HTTP and parsed line by line (issue 15), the listener's answers
// to what is not a scrape, and the node's ring of events read with a cursor.
import Foundation
import HAL
import Synchronization
import Testing
import Transport
@testable import Node

@Suite struct MetricsTests {
    /// `run` is `unreachable`: every start traps (no memory, no imports).
    static let trapping: [UInt8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
                                    0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
                                    0x03, 0x02, 0x01, 0x00,
                                    0x07, 0x07, 0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00,
                                    0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b]

    /// A node with metrics on a free loopback port, running `trapping` with a policy of two restarts.
    final class TestNode {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-metrics-\(UUID().uuidString)").path
        let daemon: NodeDaemon
        init(limits: MetricsLimits = MetricsLimits()) throws {
            let ca = try CertificateAuthority.initialize(directory: root + "/certs")
            try ca.issue(name: "n1", role: .node)
            let store = try ModuleStore(directory: root + "/data")
            let sha = Digest.sha256Hex(MetricsTests.trapping)
            try store.saveModule(MetricsTests.trapping, sha256: sha)
            try store.saveAssignments([ModuleAssignment(app: "demo", replica: "crash", module: "crash", sha256: sha, restart: "up-to 2 within 60000 ms")])
            var configuration = NodeConfiguration(name: "n1", board: try Board.resolve("linux-host", in: ProcessCluster.boards), listenHost: "127.0.0.1",
                                                  listenPort: 0, peers: [NodeConfiguration.Peer(name: "n2", host: "127.0.0.1", port: 1)],
                                                  certificateDirectory: root + "/certs", dataDirectory: root + "/data")
            configuration.metricsHost = "127.0.0.1"
            configuration.metricsLimits = limits
            daemon = try NodeDaemon(configuration: configuration) { _ in }
        }
        deinit {
            daemon.drain(because: "test over")
            daemon.run()
            try? FileManager.default.removeItem(atPath: root)
        }

        /// Sends `request` from another thread and serves the node's loop until the answer is complete.
        func exchange(_ request: String) throws -> String {
            let port = try #require(daemon.metrics?.port)
            let answer = Mutex<String?>(nil)
            Thread {
                let text = MetricsTests.blockingExchange(port: port, request: Array(request.utf8))
                answer.withLock { $0 = text }
            }.start()
            let deadline = Date().addingTimeInterval(10)
            while answer.withLock({ $0 }) == nil && Date() < deadline { _ = daemon.loop.runOnce(nowait: true); usleep(500) }
            return try #require(answer.withLock { $0 }, "no answer within 10 s")
        }
    }

    /// Connects to 127.0.0.1:`port`, writes `request`, reads until the server closes (5 s at most).
    static func blockingExchange(port: UInt16, request: [UInt8]) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = CuttingProxy.loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return "connect failed: \(String(cString: strerror(errno)))" }
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += buffer[..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Every line of a text-format body: HELP and TYPE once per family before its samples, each
    /// sample `name{label="value",…} integer` of a declared family. Returns the samples by line.
    static func parse(_ body: String) throws -> [(name: String, labels: [String: String], value: Double)] {
        var types: [String: String] = [:]
        var helped: Set<String> = []
        var samples: [(String, [String: String], Double)] = []
        let sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (-?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?)$/
        let label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/
        #expect(body.hasSuffix("\n"), "the body ends with a newline")
        for (index, line) in body.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            if line.hasPrefix("# HELP ") {
                let name = String(line.dropFirst(7).prefix { $0 != " " })
                #expect(helped.insert(name).inserted && types[name] == nil, "line \(index + 1): HELP \(name) twice or after its TYPE")
            } else if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ")
                #expect(parts.count == 2 && ["counter", "gauge"].contains(parts[1]), "line \(index + 1): \(line)")
                types[String(parts[0])] = String(parts[1])
            } else {
                let match = try #require(try sample.wholeMatch(in: String(line)), "line \(index + 1) is not a sample: \(line)")
                let name = String(match.1)
                #expect(types[name] != nil, "line \(index + 1): \(name) has no TYPE before it")
                var labels: [String: String] = [:]
                if let text = match.3, !text.isEmpty {
                    for pair in text.split(separator: ",") {
                        let parsed = try #require(try label.wholeMatch(in: String(pair)), "line \(index + 1): label \(pair)")
                        labels[String(parsed.1)] = String(parsed.2)
                    }
                }
                let value = try #require(Double(match.4))
                if types[name] == "counter" { #expect(value >= 0, "line \(index + 1): a counter below zero") }
                samples.append((name, labels, value))
            }
        }
        return samples
    }

    @Test func aScrapeOfARealNodeIsValidTextWithTheExpectedMetrics() throws {
        let node = try TestNode()
        // The guest traps, restarts twice, traps for good.
        let deadline = Date().addingTimeInterval(10)
        while node.daemon.kernel.trapsTotal < 3 && Date() < deadline { _ = node.daemon.loop.runOnce(nowait: true) }
        #expect(node.daemon.kernel.trapsTotal == 3)

        let answer = try node.exchange("GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n")
        let parts = answer.components(separatedBy: "\r\n\r\n")
        #expect(parts[0].hasPrefix("HTTP/1.1 200 OK") && parts[0].contains("Content-Type: text/plain; version=0.0.4"), "\(parts[0])")
        let body = parts.dropFirst().joined(separator: "\r\n\r\n")
        #expect(parts[0].contains("Content-Length: \(body.utf8.count)"))
        let samples = try Self.parse(body)
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
        }
        #expect(value("fireball_node_info", ["node": "n1", "board": "linux-host"]) == 1)
        #expect(value("fireball_traps_total") == 3 && value("fireball_restarts_total") == 2)
        #expect(value("fireball_guests", ["state": "exited"]) == 1 && value("fireball_guests", ["state": "runnable"]) == 0)
        #expect(value("fireball_guest_up", ["app": "demo", "replica": "crash"]) == 0)
        #expect(value("fireball_guest_restarts_total", ["app": "demo", "replica": "crash"]) == 2)
        #expect((value("fireball_slices_total") ?? 0) >= 3)
        let capacity = try #require(value("fireball_partition_capacity_bytes", ["partition": "guest"]))
        let used = try #require(value("fireball_partition_used_bytes", ["partition": "guest"]))
        let free = try #require(value("fireball_partition_free_bytes", ["partition": "guest"]))
        #expect(capacity > 0 && used + free == capacity)
        #expect(value("fireball_link_up", ["peer": "n2"]) == 0)
        #expect(value("fireball_control_sessions") == 0)
        #expect((value("fireball_certificate_expiry_timestamp_seconds") ?? 0) > Date().timeIntervalSince1970 + 300 * 86400)
        #expect(value("fireball_metrics_scrapes_total", ["outcome": "served"]) == 1)
        for name in ["fireball_node_uptime_seconds", "fireball_slices_preempted_total", "fireball_interrupts_delivered_total",
                     "fireball_channels_open", "fireball_router_frames_total", "fireball_receive_ahead_total", "fireball_router_pending",
                     "fireball_guest_log_lines_dropped_total", "fireball_connections_pending", "fireball_events_total", "fireball_kernel_panicked"] {
            #expect(samples.contains { $0.name == name }, "\(name) missing")
        }
        // HEAD: the same head, no body.
        let head = try node.exchange("HEAD /metrics HTTP/1.0\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 200 OK") && head.hasSuffix("\r\n\r\n"))
    }

    @Test func whatIsNotAScrapeIsAnsweredAndClosed() throws {
        var limits = MetricsLimits()
        limits.requestBytesMax = 512
        let node = try TestNode(limits: limits)
        #expect(try node.exchange("GET /other HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 404 Not Found"))
        let post = try node.exchange("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        #expect(post.hasPrefix("HTTP/1.1 405 Method Not Allowed") && post.contains("Allow: GET, HEAD"))
        #expect(try node.exchange("\u{16}\u{03}\u{01}binary").hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(try node.exchange("GET /metrics HTTP/2.0\r\n\r\n").hasPrefix("HTTP/1.1 400 Bad Request"))
        let huge = "GET /metrics HTTP/1.1\r\nX-Padding: " + String(repeating: "a", count: 2000) + "\r\n\r\n"
        #expect(try node.exchange(huge).hasPrefix("HTTP/1.1 431"))
        #expect(node.daemon.metrics?.openConnections == 0)
        #expect(node.daemon.metrics?.rejected == 5 && node.daemon.metrics?.served == 0)
    }

    @Test func connectionsPastTheLimitAreResetAndSilentOnesTimeOut() throws {
        var limits = MetricsLimits()
        limits.connectionsMax = 1
        limits.timeoutNanoseconds = 200_000_000
        let node = try TestNode(limits: limits)
        let metrics = try #require(node.daemon.metrics)
        // One connection that says nothing holds the only slot.
        let idle = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(idle) }
        var address = CuttingProxy.loopback(port: metrics.port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(idle, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        #expect(connected)
        let deadline = Date().addingTimeInterval(5)
        while metrics.openConnections == 0 && Date() < deadline { _ = node.daemon.loop.runOnce(nowait: true) }
        #expect(metrics.openConnections == 1)
        // A scrape meanwhile is closed at once, unanswered.
        #expect(!(try node.exchange("GET /metrics HTTP/1.1\r\n\r\n")).contains("HTTP/1.1"))
        #expect(metrics.refused == 1 && metrics.served == 0)
        // The silent one is closed after the timeout; then a scrape is answered.
        while metrics.openConnections == 1 && Date() < deadline { _ = node.daemon.loop.runOnce(nowait: true) }
        #expect(metrics.openConnections == 0 && metrics.rejected == 1)
        #expect(try node.exchange("GET /metrics HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 200 OK"))
    }

    @Test func clientsThatResetMidAnswerLeaveTheListenerServing() throws {
        let node = try TestNode()
        let metrics = try #require(node.daemon.metrics)
        for _ in 0..<20 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = CuttingProxy.loopback(port: metrics.port)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            _ = Array("GET /metrics HTTP/1.1\r\n\r\n".utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            close(fd)   // a reset, whatever the node is writing
            for _ in 0..<20 { _ = node.daemon.loop.runOnce(nowait: true) }
        }
        #expect(try node.exchange("GET /metrics HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 200 OK"))
        #expect(metrics.openConnections == 0)
    }

    @Test func requestHeadsParse() {
        #expect(HTTPRequestHead.parse(Array("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n".utf8)) == .request(method: "GET", path: "/metrics"))
        #expect(HTTPRequestHead.parse(Array("GET /metrics HTTP/1.1\n\n".utf8)) == .request(method: "GET", path: "/metrics"))
        #expect(HTTPRequestHead.parse(Array("GET /metrics HTTP/1.1\r\nHost".utf8)) == .incomplete)
        #expect(HTTPRequestHead.parse([]) == .incomplete)
        for bad in ["get /metrics HTTP/1.1\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n", "GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
                    "GET /m\u{7f} HTTP/1.1\r\n\r\n", "\u{0}\u{1}"] {
            guard case .malformed = HTTPRequestHead.parse(Array(bad.utf8)) else { Issue.record("accepted \(bad.debugDescription)"); continue }
        }
    }

    @Test func labelValuesAreEscapedAndNamesChecked() {
        var text = PrometheusText()
        text.family("a_total", "counter", "A \\ help\nline.")
        text.sample("a_total", ["guest": "x\"y\\z\nw"], 3)
        #expect(text.text == "# HELP a_total A \\\\ help\\nline.\n# TYPE a_total counter\na_total{guest=\"x\\\"y\\\\z\\nw\"} 3\n")
        #expect(PrometheusText.isMetricName("fireball_x:y1") && !PrometheusText.isMetricName("1x") && !PrometheusText.isMetricName("a-b"))
    }

    @Test func eventsAreKeptInABoundedRingAndReadWithACursor() throws {
        let node = try TestNode()
        let deadline = Date().addingTimeInterval(10)
        while node.daemon.kernel.trapsTotal < 3 && Date() < deadline { _ = node.daemon.loop.runOnce(nowait: true) }
        let first = node.daemon.handle(ControlRequest(id: 1, .events(lines: 0)))
        let lines = first.lines ?? []
        #expect(first.error == nil && lines.count == 7, "\(lines)")
        let kinds = lines.map { $0.split(separator: " ")[1] }
        #expect(kinds == ["boot", "start", "trap", "restart", "trap", "restart", "trap"], "\(lines)")
        #expect(lines.allSatisfy { $0.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z .+/) != nil })
        #expect(lines[1].contains("demo/crash") && lines[1].hasSuffix("restored"))
        // Nothing new after the cursor; then a stop is the one line that follows.
        let cursor = try #require(first.cursor)
        #expect(node.daemon.handle(ControlRequest(id: 2, .events(lines: 0, after: cursor))).lines == [])
        _ = node.daemon.handle(ControlRequest(id: 3, .stop(key: "demo/crash")))
        let next = node.daemon.handle(ControlRequest(id: 4, .events(lines: 0, after: cursor)))
        #expect(next.lines?.count == 1 && next.lines?.first?.hasSuffix("stop demo/crash") == true, "\(next.lines ?? [])")
        // The last two only; a cursor of another ring (a node restarted) starts anew.
        #expect(node.daemon.handle(ControlRequest(id: 5, .events(lines: 2))).lines?.count == 2)
        let foreign = node.daemon.handle(ControlRequest(id: 6, .events(lines: 1, after: LogCursor(log: cursor.log &+ 99, sequence: 3))))
        #expect(foreign.restarted == true && foreign.lines?.count == 1)
        #expect(node.daemon.handle(ControlRequest(id: 7, .events(lines: -1))).error?.contains("lines -1") == true)
        #expect(node.daemon.eventCount == 8)
    }

    @Test func theRingDropsTheOldestPastItsBound() {
        var ring = GuestLog(id: 1, linesMax: 16, bytesMax: 16 * 128)
        for index in 1...100 { ring.append("2026-01-01T00:00:00.000Z start demo/r\(index)", at: UInt64(index)) }
        #expect(ring.count == 16 && ring.dropped == 84)
        let after = ring.select(lines: 0, sinceNanoseconds: nil, after: LogCursor(log: 1, sequence: 10), now: 100, answerBytesMax: 60_000)
        #expect(after.skipped == 74 && after.lines.first?.hasSuffix("r85") == true)
    }
}
