// What `fireball logs` asks for: the replica, how many lines, since when; and where it runs.

/// `fireball logs` helpers that need no connection: the `--since` duration and finding the replica.
public enum LogQuery {
    /// "90s", "5m", "5 min", "2h", "1d", "500ms" → milliseconds; nil for anything else (no
    /// number, an unknown unit, or more than a year).
    public static func milliseconds(_ text: String) -> UInt64? {
        let trimmed = text.filter { $0 != " " }
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 9, let value = UInt64(digits) else { return nil }
        let units: [Substring: UInt64] = ["ms": 1, "s": 1_000, "sec": 1_000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000]
        guard let unit = units[trimmed.dropFirst(digits.count)] else { return nil }
        let total = value * unit   // at most 999,999,999 days in ms: fits a UInt64
        return total <= 366 * 86_400_000 ? total : nil
    }

    /// The nodes that report `replica` (an app/replica key, or a replica name), as (node, key),
    /// by node name.
    public static func holders(of replica: String, in view: ClusterView) -> [(node: String, key: String)] {
        view.reports.sorted { $0.key < $1.key }.flatMap { node, report in
            report.guests.filter { $0.assignment.key == replica || $0.assignment.replica == replica }.map { (node, $0.assignment.key) }
        }
    }
}
