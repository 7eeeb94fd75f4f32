// The text `fireball top` redraws: one row per node with rates computed between two status rounds,
// then the replicas that are not running or restarted since the previous round.
import Foundation
import Transport

public enum TopTable {
    /// One round of reports and when it was taken (the orchestrator's clock).
    public struct Sample: Sendable {
        public var view: ClusterView
        public var nanoseconds: UInt64
        public init(view: ClusterView, nanoseconds: UInt64) { self.view = view; self.nanoseconds = nanoseconds }
    }

    /// Renders `current`; with `previous`, SLICES/s and FRAMES/s are the rates between them (a node
    /// that restarted in between, whose counters went back, shows `-`).
    public static func render(_ current: Sample, previous: Sample?, inventory: ClusterInventory, now: Date = Date()) -> String {
        var rows = [["NODE", "STATE", "UPTIME", "GUESTS", "RESTARTS", "TRAPS", "SLICES/s", "PREEMPT", "FRAMES/s", "CHANNELS", "LINKS",
                     "GUEST-MEM", "AHEAD", "SESSIONS", "REFUSED", "CERT"]]
        let seconds = previous.map { Double(current.nanoseconds &- $0.nanoseconds) / 1e9 } ?? 0
        for node in inventory.nodes.sorted(by: { $0.name < $1.name }) {
            guard let report = current.view.reports[node.name] else {
                rows.append([node.name, "DOWN"] + Array(repeating: "-", count: rows[0].count - 2))
                continue
            }
            let running = report.guests.filter { ["runnable", "blocked", "sleeping"].contains(stateName($0.state)) }.count
            let counters = report.counters
            let before = previous?.view.reports[node.name]?.counters
            func rate(_ value: (NodeCounters) -> Int) -> String {
                guard let counters, let before, seconds > 0, value(counters) >= value(before) else { return "-" }
                return String(format: "%.0f", Double(value(counters) - value(before)) / seconds)
            }
            let preempted: String
            if let counters, counters.slices > 0 { preempted = String(format: "%.0f%%", 100 * Double(counters.slicesPreempted) / Double(counters.slices)) } else { preempted = "-" }
            let guestMemory = report.partitions.first { $0.kind == "guest" }.map { "\(bytes($0.used))/\(bytes($0.capacity))" } ?? "-"
            rows.append([node.name, report.panic == nil ? "up" : "PANIC", StatusTable.duration(report.uptimeMilliseconds),
                         "\(running)/\(report.guests.count)", "\(report.guests.reduce(0) { $0 + $1.restarts })",
                         counters.map { "\($0.traps)" } ?? "-", rate(\.slices), preempted, rate { $0.framesIn + $0.framesOut },
                         "\(report.channelsOpen)", "\(report.links.count)", guestMemory,
                         report.aheadTaken.map { "\($0)/\(report.aheadReturned ?? 0)" } ?? "-",
                         counters.map { "\($0.controlSessions)" } ?? "-", counters.map { "\($0.refusedConnections)" } ?? "-",
                         StatusTable.expiry(report.certificateNotAfter, now: now)])
        }
        var lines = StatusTable.table(rows)
        // Replicas worth a look: not running, or restarted since the previous round.
        var attention = [["APP/REPLICA", "NODE", "STATE", "RESTARTS"]]
        for (name, report) in current.view.reports.sorted(by: { $0.key < $1.key }) {
            let earlier = Dictionary((previous?.view.reports[name]?.guests ?? []).map { ($0.assignment.key, $0.restarts) }) { a, _ in a }
            for guest in report.guests {
                let running = ["runnable", "blocked", "sleeping"].contains(stateName(guest.state))
                let restarted = earlier[guest.assignment.key].map { guest.restarts > $0 } ?? false
                guard !running || restarted else { continue }
                attention.append([guest.assignment.key, name, String(guest.state.prefix(60)), "\(guest.restarts)\(restarted ? " (+)" : "")"])
            }
        }
        if attention.count > 1 {
            lines.append("")
            lines += StatusTable.table(attention)
        }
        return lines.joined(separator: "\n")
    }

    static func stateName(_ state: String) -> String { String(state.prefix { $0 != ":" && $0 != " " }) }

    /// 12K, 3.4M: short enough for a column.
    static func bytes(_ count: Int) -> String {
        if count < 1024 { return "\(count)" }
        if count < 1024 * 1024 { return "\(count / 1024)K" }
        return String(format: "%.1fM", Double(count) / 1048576)
    }
}
