// Watching real node processes (issue 15): a node's metrics scraped over HTTP, `fireball top`
// into a file, and `fireball events` (and -f following a link going down).
import Foundation
import Orchestrator
import Testing
import Transport

@Suite struct WatchProcessTests {
    static let examples = ProcessCluster.packageRoot.appendingPathComponent("Deploy/examples").path

    @Test func metricsTopAndEventsOfARunningCluster() throws {
        let cluster = try ProcessCluster(nodes: ["a", "b"])
        let a = try cluster.start("a", extra: ["--metrics", "127.0.0.1:0"])
        try cluster.start("b", peers: ["a": a.port])
        try cluster.waitFor("a", "link with b (node) up")
        let inventory = cluster.root.appendingPathComponent("inventory.yaml").path
        try (["cluster: test", "nodes:"] + cluster.names.map { "  - {name: \($0), address: 127.0.0.1:\(cluster.node($0).port), board: linux-host}" })
            .joined(separator: "\n").write(toFile: inventory, atomically: true, encoding: .utf8)
        let common = ["--inventory", inventory, "--boards", ProcessCluster.boards, "--certs", cluster.certs,
                      "--state", cluster.root.appendingPathComponent("orchestrator").path]
        let manifest = cluster.root.appendingPathComponent("pong.yaml").path
        try "app: pong\nmodules:\n  - {name: pong, wasm: \(Self.examples)/pong.wasm, serves: [fireball://pong/echo]}\n"
            .write(toFile: manifest, atomically: true, encoding: .utf8)
        let applied = try cluster.cli(["apply", manifest] + common)
        #expect(applied.status == 0, "\(applied.output)")

        // The node process says where its metrics are; a scrape parses.
        let line = try #require(a.log.split(separator: "\n").first { $0.contains("metrics on http://") })
        let port = try #require(UInt16(line.split(separator: ":").last!.prefix { $0.isNumber }))
        let answer = MetricsTests.blockingExchange(port: port, request: Array("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "\(answer.prefix(300))")
        let samples = try MetricsTests.parse(answer.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n"))
        #expect(samples.contains { $0.name == "fireball_link_up" && $0.labels["peer"] == "b" && $0.value == 1 })
        #expect(samples.contains { $0.name == "fireball_link_frames_total" && $0.labels["peer"] == "b" && $0.labels["direction"] == "in" && $0.value > 0 })
        #expect(samples.first { $0.name == "fireball_guests" && $0.labels["state"] == "exited" } != nil)
        let roundTrip = try #require(samples.first { $0.name == "fireball_link_round_trip_seconds" && $0.labels["peer"] == "b" })
        #expect(roundTrip.value > 0 && roundTrip.value < 1, "loopback: well under a second")

        // top into a file: one block per refresh, every node up.
        let top = try cluster.cli(["top", "--count", "2", "--interval", "0.3"] + common)
        #expect(top.status == 0, "\(top.output)")
        #expect(top.stdout.components(separatedBy: "--- test: 2 of 2 node(s) up").count == 3, "\(top.output)")
        #expect(!top.stdout.contains("\u{1B}["), "no terminal codes into a file")
        #expect(top.stdout.split(separator: "\n").contains { $0.hasPrefix("a ") && $0.contains(" up ") }, "\(top.output)")

        // events: what happened, in time order, by node.
        let events = try cluster.cli(["events", "--lines", "0"] + common)
        #expect(events.status == 0, "\(events.output)")
        let lines = events.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("a ") && $0.contains(" boot ") } && lines.contains { $0.hasPrefix("b ") && $0.contains(" link-up a") }, "\(events.output)")
        #expect(lines.contains { $0.contains(" start pong/") }, "\(events.output)")
        let times = lines.map { $0.split(separator: " ")[1] }
        #expect(times == times.sorted(), "time order across nodes")

        // events -f sees b go away as a link down on a.
        let follow = try cluster.spawn(["events", "-f", "--lines", "1", "--interval", "0.2"] + common, log: "events.log")
        defer { if follow.process.isRunning { kill(follow.process.processIdentifier, SIGKILL); follow.process.waitUntilExit() } }
        try cluster.waitFor(file: follow.logPath, "a 20")
        #expect(cluster.stop("b") == 0)
        try cluster.waitFor(file: follow.logPath, "link-down b")
        kill(follow.process.processIdentifier, SIGINT)
        follow.process.waitUntilExit()
        #expect(follow.process.terminationStatus == 0)
    }
}

@Suite struct CertificateReloadProcessTests {
    /// `certs renew`, then SIGHUP: the node reports the new expiry on a new control connection, its
    /// guest and its link to b stay, and a renewal for a name without a certificate is refused.
    @Test func aRenewedCertificateIsReloadedOnSIGHUPKeepingGuestsAndLinks() throws {
        let cluster = try ProcessCluster(nodes: ["a", "b"])
        let a = try cluster.start("a")
        try cluster.start("b", peers: ["a": a.port])
        try cluster.waitFor("a", "link with b (node) up")
        let inventory = try cluster.inventory()
        var client = try cluster.client(for: inventory)
        let deployer = Deployer(inventory: inventory, client: client, progress: { _ in })
        let app = try cluster.manifest("app: pong\nmodules:\n  - {name: pong, wasm: \(WatchProcessTests.examples)/pong.wasm, serves: [fireball://pong/echo], affinity: {node-labels: {node: a}}}\n")
        _ = try deployer.reconcile(app, view: deployer.view())
        let before = try client.status("a")
        #expect(before.guests.count == 1 && (before.certificateNotAfter ?? 0) > Int64(Date().timeIntervalSince1970) + 300 * 86400)
        cluster.pump = nil
        client.close()

        let renewed = try cluster.cli(["certs", "renew", "a", "--days", "30", "--dir", cluster.certs])
        #expect(renewed.status == 0 && renewed.stdout.contains("role node"), "\(renewed.output)")
        let key = try FileManager.default.attributesOfItem(atPath: cluster.certs + "/a.key")[.posixPermissions] as? Int
        #expect(key == 0o600)
        kill(a.process.processIdentifier, SIGHUP)
        try cluster.waitFor("a", "certificate reloaded")
        #expect(!a.log.contains("link with b closed"), "\(a.log)")

        client = try cluster.client(for: inventory)
        defer { client.close() }
        let after = try client.status("a")
        let days = Double((after.certificateNotAfter ?? 0) - Int64(Date().timeIntervalSince1970)) / 86400
        #expect(days > 29 && days < 31, "\(days)")
        #expect(after.guests.map(\.assignment.key) == ["pong/pong"] && after.guests.first?.restarts == 0 && after.links == ["b"])
        #expect(after.guests.first?.task == before.guests.first?.task, "the same task: the guest was not restarted")

        let unknown = try cluster.cli(["certs", "renew", "nobody", "--dir", cluster.certs])
        #expect(unknown.status == 1 && unknown.output.contains("nobody.pem"), "\(unknown.output)")
    }
}

@Suite struct RemoteHALProcessTests {
    /// A node without a local socket (as on another host): `fireball hal` reaches it through the
    /// control plane; following and file loads are refused with a reason.
    @Test func halReachesANodeThroughTheControlPlane() throws {
        let cluster = try ProcessCluster(nodes: ["a"])
        let a = try cluster.start("a")
        let inventory = cluster.root.appendingPathComponent("inventory.yaml").path
        try "cluster: test\nnodes:\n  - {name: a, address: 127.0.0.1:\(a.port), board: linux-host}\n".write(toFile: inventory, atomically: true, encoding: .utf8)
        let common = ["--inventory", inventory, "--boards", ProcessCluster.boards, "--certs", cluster.certs]
        let list = try cluster.cli(["hal"] + common + ["a", "list"])
        #expect(list.status == 0 && list.stdout.contains("gpio"), "\(list.output)")
        let set = try cluster.cli(["hal"] + common + ["a", "gpio", "set", "4", "1"])
        #expect(set.status == 0, "\(set.output)")
        #expect(try cluster.cli(["hal"] + common + ["a", "gpio", "get"]).stdout.isEmpty == false)
        let follow = try cluster.cli(["hal"] + common + ["a", "uart", "tail", "-f"])
        #expect(follow.status == 1 && follow.output.contains("local socket"), "\(follow.output)")
        let load = try cluster.cli(["hal"] + common + ["a", "adc", "load", "/etc/passwd", "0"])
        #expect(load.status == 1 && load.output.contains("reads a file on the node's host") && !load.output.contains("root:"), "\(load.output)")
        let wrong = try cluster.cli(["hal"] + common + ["a", "gpio", "set", "4", "7"])
        #expect(wrong.status == 1 && wrong.output.contains("level must be 0 or 1"), "\(wrong.output)")
    }
}
