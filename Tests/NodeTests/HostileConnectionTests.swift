// Real node processes under hostile connections: a flood of 20,000 half-open connections while the
// node carries traffic for its peer, and a node certificate of the cluster CA for a name outside the
// inventory. Connections go to 127.0.0.1 only (from several loopback source addresses).
import Foundation
import Orchestrator
import Synchronization
import Testing
import Transport

@Suite(.serialized) struct HostileConnectionTests {
    /// How far above its resident memory before the flood a node may stay afterwards. Without the
    /// limits this flood took a node from 50 MB to 450 MB and kept it there.
    static let memoryMarginBytes = 4 * 1024 * 1024

    @Test func twentyThousandHalfOpenConnectionsNeitherStopTheLinkNorKeepTheMemory() throws {
        let cluster = try ProcessCluster(nodes: ["a", "b"])
        let a = try cluster.start("a")
        try cluster.start("b", peers: ["a": a.port])
        try cluster.waitFor("a", "link with b (node) up")
        let inventory = try cluster.inventory(labels: ["a": ["side": "receiver"], "b": ["side": "sender"]])
        let client = try cluster.client(for: inventory)
        defer { client.close() }
        // Numbered messages from b to a over the link, all through the flood: none may be lost or doubled.
        let count = 2500
        let sender = try cluster.guest("Counter.c", ["SENDER", "COUNT=\(count)", "PACE_MS=2"], name: "sender")
        let receiver = try cluster.guest("Counter.c", ["RECEIVER", "COUNT=\(count)"], name: "receiver")
        let app = try cluster.manifest("""
            app: count
            modules:
              - {name: receiver, wasm: \(receiver), serves: [fireball://count/in], affinity: {node-labels: {side: receiver}}}
              - {name: sender, wasm: \(sender), uses: [fireball://count/in], affinity: {node-labels: {side: sender}}}
            """)
        _ = try Deployer(inventory: inventory, client: client) { _ in }.reconcile(app, view: ClusterView(reports: [
            "a": try client.status("a"), "b": try client.status("b")], unreachable: []))
        try cluster.waitFor("a", "counter: got 100")
        let pid = a.process.processIdentifier
        let before = try residentBytes(of: pid)

        let flood = Flood(port: a.port, connections: 20_000, window: 2_000, sources: 64)
        let started = Date()
        let progressBefore = cluster.occurrences(of: "counter: got", in: a.log)
        flood.start()
        var peak = before
        var answeredDuringFlood = false
        while !flood.isDone {
            cluster.pump?()
            peak = max(peak, try residentBytes(of: pid))
            if !answeredDuringFlood { answeredDuringFlood = (try? client.status("a"))?.links == ["b"] }
            guard Date().timeIntervalSince(started) < 40 else { throw ClusterTestError("the flood did not end within 40 s") }
        }
        let floodSeconds = Date().timeIntervalSince(started)
        let (connected, failed) = flood.counts
        #expect(connected + failed == 20_000 && connected >= 19_000, "\(connected) connected, \(failed) failed")
        #expect(answeredDuringFlood, "the control plane answered during the flood")
        #expect(cluster.occurrences(of: "counter: got", in: a.log) > progressBefore, "messages crossed the link during the flood")

        // Once the last waiting connection is gone, the memory goes back (polled: the node releases
        // it at its next tick).
        var after = try residentBytes(of: pid)
        let deadline = Date().addingTimeInterval(10)
        while after > before + Self.memoryMarginBytes && Date() < deadline {
            cluster.pump?()
            after = try residentBytes(of: pid)
        }
        print("flood of 20000 connections (\(connected) connected) in \(String(format: "%.1f", floodSeconds)) s; node a resident memory "
              + "before \(before / 1024) KiB, peak during \(peak / 1024) KiB, after \(after / 1024) KiB")
        #expect(after <= before + Self.memoryMarginBytes, "before \(before / 1024) KiB, after \(after / 1024) KiB")

        try cluster.waitFor("a", "counter: all in order: \(count)", seconds: 30)
        try cluster.waitFor("a", "logged above)", seconds: 15)   // the summary of the flood's interval
        let log = cluster.node("a").log
        #expect(!log.contains("link with b closed") && !cluster.node("b").log.contains("link with a closed"), "the link stayed up")
        #expect(!cluster.node("b").log.contains("send failed"))
        let refusals = log.components(separatedBy: "\n").filter { $0.contains("refused") }
        #expect(refusals.count <= 12, "lines about refused connections are rate-limited: \(refusals.count)")
        // All 64 source addresses (one more, "?", if a connection was gone before the node could ask whose it was).
        let summaries = refusals.filter { $0.contains("logged above): ") && $0.contains("overloaded") }
        #expect(summaries.contains { line in
            line.split(separator: " ").split(separator: "from").dropFirst().first?.first.flatMap { Int($0) }.map { $0 >= 64 } == true
        }, "\(refusals)")
    }

    @Test func aNodeOutsideTheInventoryIsRefusedAndOrchestratorsStillConnect() throws {
        // z has a node certificate of the cluster CA, but the inventory names only a and b.
        let cluster = try ProcessCluster(nodes: ["a", "b", "z"])
        let (portA, portB) = (try ProcessCluster.freePort(), try ProcessCluster.freePort())
        let inventoryPath = cluster.root.appendingPathComponent("inventory.yaml").path
        try """
            cluster: test
            nodes:
              - {name: a, address: 127.0.0.1:\(portA), board: linux-host}
              - {name: b, address: 127.0.0.1:\(portB), board: linux-host}
            """.write(toFile: inventoryPath, atomically: true, encoding: .utf8)
        try cluster.start("a", port: portA, inventory: inventoryPath)
        try cluster.waitFor("a", "members: a, b; other node certificates are refused at hello")
        try cluster.start("z", peers: ["a": portA])
        try cluster.waitFor("a", "refused: node z is not a member of this cluster")
        try cluster.waitFor("z", "refused: peer closed the link: node z is not a member of this cluster")
        try cluster.start("b", port: portB, inventory: inventoryPath)
        try cluster.waitFor("a", "link with b (node) up")
        let client = try cluster.client(for: try cluster.inventory().filtered(["a", "b"]))
        defer { client.close() }
        #expect(try client.status("a").links == ["b"])
        #expect(!cluster.node("a").log.contains("link with z") && !cluster.node("z").log.contains("link with a"))
    }
}

extension ClusterInventory {
    /// The same inventory with only the nodes named.
    func filtered(_ names: Set<String>) -> ClusterInventory {
        ClusterInventory(name: name, nodes: nodes.filter { names.contains($0.name) })
    }
}

/// A process's resident memory (VmRSS in /proc/PID/status), in bytes.
func residentBytes(of pid: Int32) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else {
        throw ClusterTestError("no VmRSS in /proc/\(pid)/status")
    }
    return kib * 1024
}

/// Opens `connections` TCP connections to 127.0.0.1:`port` on a thread of its own, from `sources`
/// loopback addresses (127.0.0.2, …) in turn, holding up to `window` open and resetting the oldest
/// (SO_LINGER 0) when that many are. None completes a handshake: every other one says nothing, the
/// others stop in the middle of a ClientHello.
final class Flood: Sendable {
    let port: UInt16
    let connections: Int
    let window: Int
    let sources: Int
    private let state = Mutex((connected: 0, failed: 0, done: false))

    init(port: UInt16, connections: Int, window: Int, sources: Int) {
        self.port = port; self.connections = connections; self.window = window; self.sources = sources
    }

    var isDone: Bool { state.withLock { $0.done } }
    var counts: (connected: Int, failed: Int) { state.withLock { ($0.connected, $0.failed) } }

    func start() { Thread { [self] in run() }.start() }

    private func run() {
        let partialHello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03] + [UInt8](repeating: 0x5a, count: 32)
        var open: [Int32] = []
        open.reserveCapacity(window)
        var oldest = 0
        for i in 0..<connections {
            let fd = connect(from: "127.0.0.\(2 + i % sources)")
            state.withLock { if fd >= 0 { $0.connected += 1 } else { $0.failed += 1 } }
            guard fd >= 0 else { continue }
            if i % 2 == 1 { _ = partialHello.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            if open.count < window { open.append(fd) } else {
                close(open[oldest])
                open[oldest] = fd
                oldest = (oldest + 1) % window
            }
        }
        for fd in open { close(fd) }
        state.withLock { $0.done = true }
    }

    /// A blocking connect (at most 1 s: a full backlog drops SYNs) from `source`; the descriptor or -1.
    private func connect(from source: String) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var local = CuttingProxy.loopback(port: 0)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = CuttingProxy.loopback(port: port)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 } }
            && withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) == 0 } }
        if !ok { close(fd); return -1 }
        return fd
    }
}
