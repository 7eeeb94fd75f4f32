// Integration tests with real `fireball node` processes on loopback: real certificates, TLS links,
// the router between kernels, the control plane, failover by the controller, restarts from the data
// directory, link cuts by a TCP proxy, and refused links.
import Foundation
import Orchestrator
import Testing
import Transport

@Suite(.serialized) struct ClusterProcessTests {
    static let examples = ProcessCluster.packageRoot.appendingPathComponent("Deploy/examples").path

    @Test func twoNodesCarryRendezvousAndALTAndRefuseStrangers() throws {
        let cluster = try ProcessCluster(nodes: ["a", "b", "c"])
        let a = try cluster.start("a")
        try cluster.start("b", peers: ["a": a.port])
        try cluster.waitFor("a", "link with b (node) up")
        let inventory = try cluster.inventory(labels: ["a": ["side": "server"], "b": ["side": "client"]])
        let client = try cluster.client(for: inventory)
        defer { client.close() }
        let deployer = Deployer(inventory: inventory, client: client) { _ in }
        // Servers on a, their users on b: every message crosses the link. consumer waits with ALT.
        let app = try cluster.manifest("""
            app: pairs
            modules:
              - {name: pong, wasm: \(Self.examples)/pong.wasm, serves: [fireball://pong/echo], affinity: {node-labels: {side: server}}}
              - {name: ping, wasm: \(Self.examples)/ping.wasm, uses: [fireball://pong/echo], affinity: {node-labels: {side: client}}}
              - {name: producer, wasm: \(Self.examples)/producer.wasm, serves: [fireball://sensor/temperature], affinity: {node-labels: {side: server}}}
              - {name: consumer, wasm: \(Self.examples)/consumer.wasm, uses: [fireball://sensor/temperature], memory: 16 KiB, affinity: {node-labels: {side: client}}}
            """)
        let outcome = try deployer.reconcile(app, view: deployer.view())
        #expect(outcome.started.sorted() == ["pairs/consumer@b", "pairs/ping@b", "pairs/pong@a", "pairs/producer@a"])
        try cluster.waitFor("b", "ping: 10 of 10 round trips")
        try cluster.waitFor("a", "pong: channel closed; messages echoed: 10")
        try cluster.waitFor("b", "consumer: done; readings: 40", seconds: 20)
        #expect(!cluster.node("b").log.contains("wrong echo"))

        // A second apply changes nothing; status shows where everything runs.
        #expect(try deployer.reconcile(app, view: deployer.view()).started.isEmpty)
        let report = try client.status("b")
        #expect(report.links == ["a"])
        #expect(Set(report.guests.map(\.assignment.replica)) == ["ping", "consumer"])
        // The manifest's memory: reached the node, which caps the guest there.
        #expect(report.guests.first { $0.assignment.replica == "consumer" }?.assignment.memoryBytes == 16 * 1024)
        #expect(report.guests.first { $0.assignment.replica == "ping" }?.assignment.memoryBytes == nil)

        // A certificate from another CA, and a node that answers under another name: refused, logged.
        let rogueCA = try CertificateAuthority.initialize(directory: cluster.root.appendingPathComponent("rogue").path)
        try rogueCA.issue(name: "x", role: .node)
        try cluster.start("x", peers: ["a": a.port], certificates: rogueCA.directory)
        try cluster.waitFor("a", "refused")
        try cluster.waitFor("x", "refused")
        try cluster.start("c", peers: ["b": a.port])   // dials b, but a answers
        try cluster.waitFor("c", "name mismatch: dialed b, certificate says a")
        #expect(!cluster.node("a").log.contains("link with x (node) up") && !cluster.node("a").log.contains("link with c (node) up"))
        // A node certificate cannot use the control plane.
        #expect(try client.status("a").guests.count == 2)
        for name in ["a", "b"] { #expect(cluster.stop(name) == 0) }
        #expect(cluster.node("a").log.contains("drained"))
    }

    @Test func linkCutsByAProxyLoseAndDuplicateNothing() throws {
        let cluster = try ProcessCluster(nodes: ["a", "b"])
        let b = try cluster.start("b")
        // a reaches b only through the proxy, and b does not dial a: every link between them can be cut.
        let proxy = try CuttingProxy(to: b.port)
        defer { proxy.close() }
        try cluster.start("a", peers: ["b": proxy.port])
        try cluster.waitFor("a", "link with b (node) up")
        let inventory = try cluster.inventory(labels: ["a": ["side": "sender"], "b": ["side": "receiver"]])
        let client = try cluster.client(for: inventory)
        defer { client.close() }
        let count = 2000
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
        try cluster.waitFor("b", "counter: got 100")
        // Cut the link through the proxy whenever it has been back for 100 ms, until all was received.
        let deadline = Date().addingTimeInterval(60)
        var ups = 0
        while !cluster.node("b").log.contains("counter: all in order: \(count)") && !cluster.node("b").log.contains("faults") && Date() < deadline {
            let now = cluster.occurrences(of: "link with b (node) up", in: cluster.node("a").log)
            if now > ups {
                ups = now
                cluster.pump?()
                usleep(100_000)
                proxy.cut()
            }
            cluster.pump?()
        }
        let log = cluster.node("b").log
        #expect(log.contains("counter: all in order: \(count)"), "\(log)")
        #expect(!log.contains("duplicate") && !log.contains("gap before"))
        #expect(proxy.cuts >= 5, "only \(proxy.cuts) cuts happened")
        #expect(cluster.occurrences(of: "link with b closed", in: cluster.node("a").log) >= 3)
        try cluster.waitFor("a", "counter: all sent: \(count)")
        #expect(!cluster.node("a").log.contains("send failed"), "a send failed although every cut was shorter than the grace period")
    }

    @Test func controllerReplacesTheModulesOfADeadNodeAndARestartedNodeRestoresItsOwn() throws {
        let cluster = try ProcessCluster(nodes: ["a", "b", "c"])
        let a = try cluster.start("a")
        let b = try cluster.start("b", peers: ["a": a.port])
        try cluster.start("c", peers: ["a": a.port, "b": b.port])
        try cluster.waitFor("c", "link with b (node) up")
        let inventory = try cluster.inventory(labels: ["a": ["side": "sender"]])
        let client = try cluster.client(for: inventory)
        defer { client.close() }
        let sender = try cluster.guest("Counter.c", ["SENDER", "COUNT=1000000", "PACE_MS=20"], name: "sender")
        let receiver = try cluster.guest("Counter.c", ["RECEIVER", "COUNT=1000000"], name: "receiver")
        let manifest = try cluster.manifest("""
            app: count
            modules:
              - {name: sender, wasm: \(sender), uses: [fireball://count/in], affinity: {node-labels: {side: sender}}}
              - name: receiver
                wasm: \(receiver)
                serves: [fireball://count/in]
                affinity: {avoid-node-labels: {side: sender}}
            """)
        var state = ClusterState()
        let stateDirectory = cluster.root.appendingPathComponent("orchestrator").path
        state.apps["count"] = try ClusterState.capture(manifestPath: manifest.file, directory: stateDirectory).applied
        try state.save(directory: stateDirectory)
        let deployer = Deployer(inventory: inventory, client: client) { _ in }
        var lines: [String] = []
        let controller = Controller(deployer: deployer, stateDirectory: stateDirectory) { lines.append($0) }
        func step(until done: () -> Bool, seconds: Double, _ what: String) throws {
            let deadline = Date().addingTimeInterval(seconds)
            while !done() && Date() < deadline { controller.step() }
            guard done() else { throw ClusterTestError("\(what) did not happen within \(seconds) s; controller: \(lines)") }
        }
        try step(until: { (try? client.status("a").guests.count) == 1 }, seconds: 10, "the first placement")
        let first = ["b", "c"].first { (try? client.status($0).guests.count) == 1 }!
        let other = first == "b" ? "c" : "b"
        try cluster.waitFor(first, "counter: got 100", seconds: 15)

        // Kill the receiver's node mid-exchange: the controller re-places the receiver within 5 s.
        let killedAt = Date()
        cluster.stop(first, signal: SIGKILL)
        try step(until: { lines.contains { $0.hasPrefix("app count: started 1") } }, seconds: 8, "re-placement")
        let replaced = Date().timeIntervalSince(killedAt)
        #expect(replaced < 5, "re-placed \(replaced) s after the kill")
        #expect(lines.contains("node \(first) is dead (no link for 1000 ms)") || lines.contains { $0.hasPrefix("node \(first) is dead") })
        // The sender's pending send failed with the defined error (not a hang), and it resumed with the new receiver.
        try cluster.waitFor("a", "counter: send failed for", seconds: 10)
        #expect(cluster.node("a").log.contains("EUNREACHABLE") || cluster.node("a").log.contains("ECLOSED"))
        try cluster.waitFor(other, "counter: resuming at", seconds: 10)
        try cluster.waitFor(other, "counter: got", seconds: 10)

        // The dead node comes back with its data directory: it restores the receiver, and the controller
        // stops that copy, since the receiver now runs on the other node.
        try cluster.start(first, peers: first == "b" ? ["a": a.port] : ["a": a.port, "b": b.port])
        try cluster.waitFor(first, "restored 1 of 1 module(s)")
        try step(until: { cluster.node(first).log.contains("stopped count/receiver") }, seconds: 10, "the duplicate's stop")
        #expect(try client.status(other).guests.map(\.assignment.replica) == ["receiver"])
        #expect(try client.status(first).guests.isEmpty)
        for name in ["a", "b", "c"] { #expect(cluster.stop(name) == 0, "node \(name) did not drain cleanly") }
    }

    /// The CLI and the controller connect with the same orchestrator certificate: each is a control
    /// session of its own on every node, so neither displaces the other.
    @Test func statusWhileAControllerRunsSeesEveryNodeUpAndTheControllerDeclaresNoneDead() throws {
        let cluster = try ProcessCluster(nodes: ["a", "b", "c"])
        let a = try cluster.start("a")
        let b = try cluster.start("b", peers: ["a": a.port])
        try cluster.start("c", peers: ["a": a.port, "b": b.port])
        try cluster.waitFor("c", "link with b (node) up")
        let inventory = cluster.root.appendingPathComponent("inventory.yaml").path
        try (["cluster: test", "nodes:"] + cluster.names.map { "  - {name: \($0), address: 127.0.0.1:\(cluster.node($0).port), board: linux-host}" })
            .joined(separator: "\n").write(toFile: inventory, atomically: true, encoding: .utf8)
        let state = cluster.root.appendingPathComponent("orchestrator").path
        let common = ["--inventory", inventory, "--boards", ProcessCluster.boards, "--certs", cluster.certs, "--state", state]
        let manifest = cluster.root.appendingPathComponent("pong.yaml").path
        try "app: pong\nmodules:\n  - {name: pong, wasm: \(Self.examples)/pong.wasm, serves: [fireball://pong/echo]}\n"
            .write(toFile: manifest, atomically: true, encoding: .utf8)
        let applied = try cluster.cli(["apply", manifest] + common)
        #expect(applied.status == 0, "\(applied.output)")

        let controller = try cluster.spawn(["controller"] + common, log: "controller.log")
        defer { if controller.process.isRunning { kill(controller.process.processIdentifier, SIGKILL); controller.process.waitUntilExit() } }
        try cluster.waitFor(file: controller.logPath, "controller: watching 3 node(s)")
        for call in 1...6 {
            let status = try cluster.cli(["status", "-o", "json"] + common)
            #expect(status.status == 0, "status call \(call): \(status.output)")
            struct Output: Decodable { let nodes: [String: NodeReport]; let unreachable: [String] }
            let output = try JSONDecoder().decode(Output.self, from: Data(status.stdout.utf8))
            #expect(output.unreachable.isEmpty && Set(output.nodes.keys) == ["a", "b", "c"], "status call \(call): \(status.output)")
            #expect(output.nodes.values.flatMap(\.guests).map(\.assignment.key) == ["pong/pong"], "status call \(call)")
            let logs = try cluster.cli(["logs", "pong", "--lines", "5"] + common)
            #expect(logs.status == 0, "logs call \(call): \(logs.output)")
        }
        kill(controller.process.processIdentifier, SIGTERM)
        controller.process.waitUntilExit()
        let log = (try? String(contentsOfFile: controller.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("controller: stopped"), "\(log)")
        // No link change at all, no node dead, nothing re-placed.
        #expect(!log.contains("controller: link to node") && !log.contains("controller: node ") && !log.contains("started 1"), "the controller saw a live node go: \(log)")
        // Every node served the sessions side by side: none was closed as a duplicate.
        for name in cluster.names { #expect(!cluster.node(name).log.contains("duplicate"), "\(cluster.node(name).log)") }
        for name in cluster.names { #expect(cluster.stop(name) == 0) }
    }
}
