// What `fireball logs` asks for: the replica, how many lines, since when; and where it runs.

import Core

/// `fireball logs` helpers that need no connection: the `--since` duration and finding the replica.
public enum LogQuery {
    /// The longest `--since`: a year (and a day).
    public static let sinceNanosecondsMax: UInt64 = 366 * 86_400_000_000_000

    /// "90s", "5m", "5 min", "2h", "1d", "500ms" → milliseconds, read by `Quantity` (the one
    /// checked duration parser); nil for anything else (no number, an unknown unit, over a year).
    public static func milliseconds(_ text: String) -> UInt64? {
        (try? Quantity.nanoseconds(text, in: 0...sinceNanosecondsMax)).map { $0 / 1_000_000 }
    }

    /// The nodes that report `replica` (an app/replica key, or a replica name), as (node, key),
    /// by node name.
    public static func holders(of replica: String, in view: ClusterView) -> [(node: String, key: String)] {
        view.reports.sorted { $0.key < $1.key }.flatMap { node, report in
            report.guests.filter { $0.assignment.key == replica || $0.assignment.replica == replica }.map { (node, $0.assignment.key) }
        }
    }
}
