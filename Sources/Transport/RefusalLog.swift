// Log lines for refused connections, rate-limited: a flood of connections must not become a flood
// of log lines (nor of the memory and disk behind them). Sans-IO: the Endpoint passes the clock in.

/// Says which refusals to log: in each interval the first `linesPerInterval` refusals line by line,
/// then, when the interval is over, one line that sums up all of its refusals if some were not logged:
/// `refused 20000 connections from 64 addresses in 10.0 s (5 logged above): overloaded 19700, …`.
struct RefusalLog {
    let intervalNanoseconds: UInt64
    let linesPerInterval: Int
    /// When the current interval began; nil while there is none (no refusal since the last summary).
    private var intervalStart: UInt64?
    private var refused = 0
    private var logged = 0
    private var hosts: Set<String> = []
    private var reasons: [LinkCloseReason.Code: Int] = [:]
    /// Distinct source addresses counted per interval (the set is bounded too); past it the summary says "at least".
    static let hostsCounted = 1024

    init(intervalNanoseconds: UInt64, linesPerInterval: Int) {
        precondition(intervalNanoseconds > 0 && linesPerInterval >= 0)
        self.intervalNanoseconds = intervalNanoseconds
        self.linesPerInterval = linesPerInterval
    }

    /// Counts a connection from `host` refused for `code`; returns what to log now: the summary of an
    /// interval that just ended, if due, and `line()` if this interval still logs refusals one by one.
    mutating func refused(from host: String, code: LinkCloseReason.Code, now: UInt64, line: () -> String) -> [String] {
        var lines: [String] = []
        if let summary = summary(now: now) { lines.append(summary) }
        if intervalStart == nil { intervalStart = now }
        refused += 1
        reasons[code, default: 0] += 1
        if hosts.count < Self.hostsCounted { hosts.insert(host) }
        if logged < linesPerInterval {
            logged += 1
            lines.append(line())
        }
        return lines
    }

    /// The summary of the interval if it ended by `now` and some of its refusals were not logged;
    /// an interval that ended starts the count afresh either way.
    mutating func summary(now: UInt64) -> String? {
        guard let start = intervalStart, now &- start >= intervalNanoseconds else { return nil }
        defer {
            intervalStart = nil
            refused = 0
            logged = 0
            hosts.removeAll(keepingCapacity: false)
            reasons.removeAll()
        }
        guard refused > logged else { return nil }
        let addresses = hosts.count >= Self.hostsCounted ? "at least \(hosts.count) addresses" : hosts.count == 1 ? "1 address" : "\(hosts.count) addresses"
        let why = reasons.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "refused \(refused) connections from \(addresses) in \(seconds(now &- start)) s (\(logged) logged above): \(why)"
    }

    /// Refusals counted in the current interval, for tests.
    var refusedInInterval: Int { refused }
}
