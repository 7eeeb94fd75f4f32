// What `fireball status` prints from the nodes' reports: one row per node (DOWN when it did not
// answer), its router's receive-ahead figures, the modules, and the partitions as bars.
import Foundation
import Testing
import Transport
@testable import Orchestrator

@Suite struct StatusTableTests {
    @Test func nodesModulesAndReceivingAheadAreShown() throws {
        let c3 = try Fixtures.board("esp32-c3")
        let inventory = ClusterInventory(name: "t", nodes: [Fixtures.node("a", c3), Fixtures.node("b", c3), Fixtures.node("c", c3)])
        let guest = NodeReport.Guest(assignment: ModuleAssignment(app: "farm", replica: "pump", module: "pump", sha256: "00", serves: ["fireball://pump/on"]),
                                     state: "blocked", task: 3, restarts: 1)
        let partitions = [NodeReport.PartitionUse(kind: "guest", capacity: 1000, used: 250, largestFree: 750)]
        let reports = [
            "a": NodeReport(name: "a", board: c3.name, uptimeMilliseconds: 65_000, partitions: partitions, guests: [guest], links: ["b"],
                            served: ["fireball://pump/on"], remote: [:], channelsOpen: 4, routerPending: 0, aheadTaken: 120, aheadReturned: 3),
            // A node of an earlier version reports no receive-ahead figures.
            "b": NodeReport(name: "b", board: c3.name, uptimeMilliseconds: 1_000, partitions: partitions, guests: [], links: ["a"],
                            served: [], remote: [:], channelsOpen: 1, routerPending: 0),
        ]
        let text = StatusTable.render(ClusterView(reports: reports, unreachable: ["c"]), inventory: inventory)
        let lines = text.split(separator: "\n").map(String.init)
        let row = { (name: String) in lines.first { $0.hasPrefix(name + " ") }?.split(separator: " ").map(String.init) ?? [] }
        #expect(lines.first?.hasSuffix("CHANNELS  AHEAD  CERT") == true, "\(text)")
        #expect(row("a").dropLast().last == "120/3" && row("a").contains("up"))
        #expect(row("b").suffix(2) == ["-", "-"], "no receive-ahead figures, no certificate expiry")
        #expect(row("c").contains("DOWN"), "a node that did not answer")
        #expect(lines.contains { $0.hasPrefix("farm") && $0.contains("pump") && $0.contains("blocked") && $0.contains("fireball://pump/on") })
        #expect(lines.contains("node a partitions (\(c3.name)):"))
    }

    @Test func certificateExpiryIsShownWithTheDaysLeft() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(StatusTable.expiry(nil, now: now) == "-")
        #expect(StatusTable.expiry(1_800_000_000 + 100 * 86400, now: now) == "2027-04-25 (100d)")
        #expect(StatusTable.expiry(1_800_000_000 + 10 * 86400 + 5, now: now) == "2027-01-25 (10d!)", "under 30 days is marked")
        #expect(StatusTable.expiry(1_800_000_000 - 86400, now: now) == "EXPIRED 2027-01-14")
    }

    @Test func topShowsRatesBetweenTwoRoundsAndReplicasThatNeedALook() throws {
        let c3 = try Fixtures.board("esp32-c3")
        let inventory = ClusterInventory(name: "t", nodes: [Fixtures.node("a", c3), Fixtures.node("b", c3)])
        func report(slices: Int, restarts: Int, state: String) -> NodeReport {
            let guests = [NodeReport.Guest(assignment: ModuleAssignment(app: "farm", replica: "pump", module: "pump", sha256: "00"), state: state, task: 3, restarts: restarts),
                          NodeReport.Guest(assignment: ModuleAssignment(app: "farm", replica: "fan", module: "fan", sha256: "00"), state: "blocked", task: 4, restarts: 0)]
            var report = NodeReport(name: "a", board: c3.name, uptimeMilliseconds: 5_000,
                                    partitions: [NodeReport.PartitionUse(kind: "guest", capacity: 2 << 20, used: 512 << 10, largestFree: 1 << 20)],
                                    guests: guests, links: ["b"], served: [], remote: [:], channelsOpen: 2, routerPending: 0, aheadTaken: 5, aheadReturned: 1)
            report.counters = NodeCounters(slices: slices, slicesPreempted: slices / 4, traps: restarts, restarts: restarts, framesIn: slices, framesOut: 0,
                                           refusedConnections: 7, controlSessions: 1)
            return report
        }
        let first = TopTable.Sample(view: ClusterView(reports: ["a": report(slices: 1000, restarts: 0, state: "runnable")], unreachable: ["b"]), nanoseconds: 0)
        let second = TopTable.Sample(view: ClusterView(reports: ["a": report(slices: 3000, restarts: 1, state: "exited: trap unreachable")], unreachable: ["b"]),
                                     nanoseconds: 2_000_000_000)
        let once = TopTable.render(first, previous: nil, inventory: inventory)
        let text = TopTable.render(second, previous: first, inventory: inventory)
        let rows = text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let header = try #require(rows.first)
        let a = try #require(rows.first { $0.first == "a" })
        func column(_ name: String) -> String? { header.firstIndex(of: name).map { a[$0] } }
        #expect(column("SLICES/s") == "1000" && column("FRAMES/s") == "1000" && column("PREEMPT") == "25%", "\(text)")
        #expect(column("GUESTS") == "1/2" && column("RESTARTS") == "1" && column("GUEST-MEM") == "512K/2.0M" && column("REFUSED") == "7")
        #expect(rows.first { $0.first == "b" }?.contains("DOWN") == true)
        #expect(text.contains("farm/pump") && text.contains("(+)") && !text.contains("farm/fan"), "only the replica that needs a look")
        // A single round has no rates yet.
        #expect(once.split(separator: "\n").first { $0.hasPrefix("a ") }?.contains(" - ") == true)
    }

    @Test func aNodeWhoseKernelPanickedIsNotUp() throws {
        let c3 = try Fixtures.board("esp32-c3")
        let inventory = ClusterInventory(name: "t", nodes: [Fixtures.node("a", c3)])
        let report = NodeReport(name: "a", board: c3.name, uptimeMilliseconds: 1_000, partitions: [], guests: [], links: [], served: [], remote: [:],
                                channelsOpen: 0, routerPending: 0, panic: "KERNEL PANIC: kernel partition exhausted allocating channel #9 (344 bytes, 100 free)")
        let text = StatusTable.render(ClusterView(reports: ["a": report], unreachable: []), inventory: inventory)
        let row = text.split(separator: "\n").first { $0.hasPrefix("a ") }.map(String.init) ?? ""
        #expect(row.contains("PANIC") && !row.contains(" up "), "\(text)")
        // It crosses the control plane: a report decoded from JSON still says so.
        let decoded = try JSONDecoder().decode(NodeReport.self, from: JSONEncoder().encode(report))
        #expect(decoded.panic == report.panic)
    }

    @Test func logLinesDroppedAreShownPerModule() throws {
        let c3 = try Fixtures.board("esp32-c3")
        let inventory = ClusterInventory(name: "t", nodes: [Fixtures.node("a", c3)])
        func guest(_ replica: String, dropped: Int?) -> NodeReport.Guest {
            NodeReport.Guest(assignment: ModuleAssignment(app: "farm", replica: replica, module: replica, sha256: "00", serves: []),
                             state: "runnable", task: 2, restarts: 0, logLinesDropped: dropped)
        }
        let report = NodeReport(name: "a", board: c3.name, uptimeMilliseconds: 1_000, partitions: [],
                                guests: [guest("noisy", dropped: 12_345), guest("quiet", dropped: 0), guest("old", dropped: nil)],
                                links: [], served: [], remote: [:], channelsOpen: 0, routerPending: 0)
        let lines = StatusTable.render(ClusterView(reports: ["a": report], unreachable: []), inventory: inventory).split(separator: "\n").map(String.init)
        let words = { (replica: String) in lines.first { $0.hasPrefix("farm") && $0.contains(" \(replica) ") }?.split(separator: " ").map(String.init) ?? [] }
        #expect(lines.contains { $0.contains("RESTARTS  LOG-DROPS  SERVES") })
        #expect(words("noisy").suffix(2) == ["12345", "-"])
        #expect(words("quiet").suffix(2) == ["0", "-"])
        #expect(words("old").suffix(2) == ["-", "-"], "a node of an earlier version reports no count")
        // The count travels in the node's JSON report.
        let decoded = try JSONDecoder().decode(NodeReport.self, from: JSONEncoder().encode(report))
        #expect(decoded.guests.map(\.logLinesDropped) == [12_345, 0, nil])
    }
}
