// The text `fireball status` prints: nodes (board, links, uptime), modules (where, state, restarts, log lines dropped),
// the URIs served, and each node's partitions as bars.
import Core
import Foundation

public enum StatusTable {
    public static func render(_ view: ClusterView, inventory: ClusterInventory, barWidth: Int = 20, now: Date = Date()) -> String {
        var lines: [String] = []
        // AHEAD: messages received ahead that tasks took / that went back unused (Docs/router.md).
        // CERT: when the node's own certificate expires (`fireball certs renew NAME`, then SIGHUP the node).
        var nodeRows = [["NODE", "BOARD", "ADDRESS", "STATE", "UPTIME", "LINKS", "MODULES", "CHANNELS", "AHEAD", "CERT"]]
        for node in inventory.nodes.sorted(by: { $0.name < $1.name }) {
            guard let report = view.reports[node.name] else {
                nodeRows.append([node.name, node.board.name, node.address, "DOWN", "-", "-", "-", "-", "-", "-"])
                continue
            }
            let peers = report.links.sorted().joined(separator: ",")
            nodeRows.append([node.name, report.board, node.address, report.panic == nil ? "up" : "PANIC", Self.duration(report.uptimeMilliseconds), peers.isEmpty ? "-" : peers,
                             "\(report.guests.count)", "\(report.channelsOpen)",
                             report.aheadTaken.map { "\($0)/\(report.aheadReturned ?? 0)" } ?? "-", expiry(report.certificateNotAfter, now: now)])
        }
        lines += table(nodeRows)
        lines.append("")
        // LOG-DROPS: console lines the node's log rate limit dropped (Docs/kernel.md, "Logs").
        var moduleRows = [["APP", "REPLICA", "NODE", "STATE", "TASK", "RESTARTS", "LOG-DROPS", "SERVES"]]
        for (node, report) in view.reports.sorted(by: { $0.key < $1.key }) {
            for guest in report.guests {
                let a = guest.assignment
                moduleRows.append([a.app, a.replica, node, guest.state, guest.task == 0 ? "-" : "\(guest.task)", "\(guest.restarts)",
                                   guest.logLinesDropped.map { "\($0)" } ?? "-", a.serves.isEmpty ? "-" : a.serves.joined(separator: " ")])
            }
        }
        if moduleRows.count == 1 { lines.append("no modules deployed") } else {
            moduleRows[1...].sort { ($0[0], $0[1], $0[2]) < ($1[0], $1[1], $1[2]) }
            lines += table(moduleRows)
        }
        for (name, report) in view.reports.sorted(by: { $0.key < $1.key }) {
            lines.append("")
            lines.append("node \(name) partitions (\(report.board)):")
            for use in report.partitions { lines.append("  " + Plan.bar(use.kind, used: use.used, capacity: use.capacity, width: barWidth)) }
        }
        return lines.joined(separator: "\n")
    }

    /// Left-aligned columns, two spaces apart.
    static func table(_ rows: [[String]]) -> [String] {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
    }

    /// `2027-12-03 (364d)`, `EXPIRED 2026-01-01`, or `-` for a node that does not say.
    public static func expiry(_ notAfter: Int64?, now: Date) -> String {
        guard let notAfter else { return "-" }
        let date = Date(timeIntervalSince1970: Double(notAfter))
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        let day = formatter.string(from: date)
        let days = Int((date.timeIntervalSince(now) / 86400).rounded(.down))
        return date <= now ? "EXPIRED \(day)" : days < 30 ? "\(day) (\(days)d!)" : "\(day) (\(days)d)"
    }

    static func duration(_ milliseconds: UInt64) -> String {
        let seconds = milliseconds / 1000
        if seconds < 60 { return String(format: "%.1fs", Double(milliseconds) / 1000) }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        return "\(seconds / 3600)h\(seconds % 3600 / 60)m"
    }
}
