// The quick restart of issue 14 with real node processes: the sender's node is stopped (SIGTERM)
// and started again at once, well within the router's grace period. Its module comes back from its
// data directory and numbers its messages from 1 again; every send that returns OK reaches the
// receiver once, and nothing arrives twice.
import Foundation
import Testing
@testable import Orchestrator

@Suite(.serialized) struct QuickRestartProcessTests {
    static func numbers(_ word: String, in log: String) -> [Int] {
        log.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "restart: \(word) ") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
    }

    @Test func aQuickRestartOfTheSendersNodeLosesAndDoublesNothing() throws {
        let cluster = try ProcessCluster(nodes: ["a", "b"])
        let a = try cluster.start("a")
        try cluster.start("b", peers: ["a": a.port])
        try cluster.waitFor("b", "link with a (node) up")
        let inventory = try cluster.inventory(labels: ["a": ["side": "sender"]])
        let client = try cluster.client(for: inventory)
        defer { client.close() }
        #expect(client.waitForLinks(["a", "b"], seconds: 10).isEmpty, "the client reaches both nodes")
        let sender = try cluster.guest("Restart.c", ["SENDER"], name: "sender")
        let receiver = try cluster.guest("Restart.c", ["RECEIVER"], name: "receiver")
        let manifest = try cluster.manifest("""
            app: restart
            modules:
              - {name: sender, wasm: \(sender), uses: [fireball://restart/in], affinity: {node-labels: {side: sender}}}
              - {name: receiver, wasm: \(receiver), serves: [fireball://restart/in], affinity: {avoid-node-labels: {side: sender}}}
            """)
        let deployer = Deployer(inventory: inventory, client: client) { _ in }
        _ = try deployer.reconcile(manifest, view: deployer.view())
        try cluster.waitFor("b", "restart: got", times: 40, seconds: 15)

        // SIGTERM, then straight back with the same data directory (3 s grace: b keeps its records).
        #expect(cluster.stop("a") == 0)
        let firstLog = cluster.node("a").log
        try cluster.start("a")
        try cluster.waitFor("a", "restored 1 of 1 module(s)")
        try cluster.waitFor("a", "restart: sent", times: 60, seconds: 15)
        try cluster.waitFor("b", "router: a restarted")

        let secondLog = cluster.node("a").log
        // The receiver's last lines may trail the sender's by a message or two: let them land.
        Thread.sleep(forTimeInterval: 0.3)
        let got = Self.numbers("got", in: cluster.node("b").log)
        let sentFirst = Self.numbers("sent", in: firstLog), sentSecond = Self.numbers("sent", in: secondLog)
        #expect(sentFirst.count >= 40 && sentSecond.count >= 60)
        #expect(Set(got).count == got.count, "nothing taken twice")
        for sent in [sentFirst, Array(sentSecond.dropLast(2))] {
            let taken = got.filter { Set(sent).contains($0) }
            #expect(taken == sent, "every send that returned OK was taken once, in order: sent \(sent), taken \(taken)")
        }
        for name in ["a", "b"] { #expect(cluster.stop(name) == 0) }
    }
}
