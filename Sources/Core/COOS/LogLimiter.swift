// What a guest may put on the node's console: a token bucket of lines per guest (a burst, then a
// sustained rate), dropped lines counted and reported, and text escaped so that one guest call
// prints at most one line of at most `LogText.lineBytesMax` bytes and no terminal control sequence.

/// How many console lines one guest may produce: a token bucket that holds `burstLines` and
/// refills at `linesPerSecond` on the kernel clock.
public struct LogRateLimit: Sendable, Equatable, CustomStringConvertible {
    public let burstLines: Int
    public let linesPerSecond: Int

    /// Both values lie in this range: the bucket's fixed-point arithmetic then stays far from
    /// overflow (at most 10^5 lines of 10^9 units each).
    public static let valueRange = 1...100_000
    /// 200 lines at once, then 100 a second: a guest that logs every 10 ms never loses a line; a
    /// flooding one prints at most ~100 lines (~400 KiB, at `LogText.lineBytesMax` escaped) a second.
    public static let standard = LogRateLimit(checkedBurstLines: 200, linesPerSecond: 100)!

    /// Nil if a value lies outside `valueRange` (callers name the field or flag).
    public init?(checkedBurstLines burstLines: Int, linesPerSecond: Int) {
        guard Self.valueRange.contains(burstLines), Self.valueRange.contains(linesPerSecond) else { return nil }
        self.burstLines = burstLines
        self.linesPerSecond = linesPerSecond
    }

    public var description: String { "burst \(burstLines) lines, then \(linesPerSecond) lines/s" }
}

/// Per-guest token buckets and drop counts, on the kernel clock (deterministic under `ManualClock`).
struct LogLimiter {
    /// One line costs this many units; the bucket refills `linesPerSecond` units per nanosecond.
    static let unitsPerLine: UInt64 = 1_000_000_000
    /// Dropped lines are reported at most this often per guest (and when it ends).
    static let reportIntervalNanoseconds: UInt64 = 1_000_000_000

    struct Bucket {
        var units: UInt64
        var refilledAt: UInt64
        var droppedTotal = 0
        /// Dropped since the last report; the interval started at `firstUnreportedDropAt`.
        var droppedUnreported = 0
        var firstUnreportedDropAt: UInt64 = 0
    }

    let limit: LogRateLimit
    private var buckets: [TaskID: Bucket] = [:]

    init(limit: LogRateLimit) { self.limit = limit }

    var capacityUnits: UInt64 { UInt64(limit.burstLines) * Self.unitsPerLine }

    /// Takes one line from `task`'s bucket: true if the line may be printed. `report` is the count
    /// of dropped lines to announce now (an interval has passed since the first unreported drop).
    mutating func admit(_ task: TaskID, now: UInt64) -> (admitted: Bool, report: Int) {
        var bucket = buckets[task] ?? Bucket(units: capacityUnits, refilledAt: now)
        refill(&bucket, now: now)
        let admitted = bucket.units >= Self.unitsPerLine
        if admitted {
            bucket.units -= Self.unitsPerLine
        } else {
            if bucket.droppedUnreported == 0 { bucket.firstUnreportedDropAt = now }
            bucket.droppedUnreported += 1
            bucket.droppedTotal += 1
        }
        var report = 0
        if bucket.droppedUnreported > 0, now &- bucket.firstUnreportedDropAt >= Self.reportIntervalNanoseconds {
            report = bucket.droppedUnreported
            bucket.droppedUnreported = 0
        }
        buckets[task] = bucket
        return (admitted, report)
    }

    private func refill(_ bucket: inout Bucket, now: UInt64) {
        guard now > bucket.refilledAt else { return }
        let elapsed = now - bucket.refilledAt
        bucket.refilledAt = now
        let missing = capacityUnits - bucket.units
        let rate = UInt64(limit.linesPerSecond)
        // elapsed * rate could overflow for long pauses; but a pause this long fills the bucket anyway.
        if elapsed >= missing / rate + 1 { bucket.units = capacityUnits } else { bucket.units += elapsed * rate }
    }

    /// Lines of `task` dropped so far.
    func dropped(_ task: TaskID) -> Int { buckets[task]?.droppedTotal ?? 0 }

    /// The task ended: its unreported drops, to announce now (its bucket keeps only the total).
    mutating func finish(_ task: TaskID) -> Int {
        guard var bucket = buckets[task] else { return 0 }
        let report = bucket.droppedUnreported
        guard bucket.droppedTotal > 0 else { buckets[task] = nil; return 0 }
        bucket.droppedUnreported = 0
        buckets[task] = bucket
        return report
    }
}

/// Guest text made safe for one console line.
public enum LogText {
    /// Bytes of guest text in one line; longer text is cut (a log call) or split (stdout, whose
    /// partial line is flushed at this size, so a guest writing without newlines holds no more).
    public static let lineBytesMax = 1024

    /// `text` with every control character, newline, backslash and terminal-affecting code point
    /// escaped: C0 and DEL as `\n`, `\r`, `\t`, `\xHH`; C1 controls (CSI is U+009B), line and
    /// paragraph separators and bidirectional overrides as `\u{HHHH}`. A backslash doubles, so a
    /// guest cannot print an escape that looks like the kernel's.
    public static func escaped(_ text: Substring) -> String {
        // Most lines are plain printable ASCII: those are their own escape, with no copy made.
        if text.utf8.allSatisfy({ (0x20...0x7E).contains($0) && $0 != 0x5C }) { return String(text) }
        var out = String()
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x5C: out += "\\\\"
            case 0x00..<0x20, 0x7F: out += "\\x" + hex(scalar.value, digits: 2)
            case 0x80...0x9F, 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069:
                out += "\\u{" + hex(scalar.value, digits: 4) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    public static func escaped(_ text: String) -> String { escaped(text[...]) }

    /// Guest bytes as text for one line, not yet escaped: invalid UTF-8 becomes U+FFFD; past
    /// `lineBytesMax` (of `totalBytes`, when only a prefix was read) the text is cut at a character
    /// boundary and says how much was cut.
    public static func text(_ bytes: some Collection<UInt8>, totalBytes: Int? = nil) -> String {
        let total = totalBytes ?? bytes.count
        guard total > lineBytesMax || bytes.count > lineBytesMax else { return String(decoding: bytes, as: UTF8.self) }
        let kept = Array(bytes.prefix(boundary(bytes.prefix(lineBytesMax))))
        return String(decoding: kept, as: UTF8.self) + " … (\(max(total, bytes.count) - kept.count) more bytes cut)"
    }

    /// `text(bytes)` escaped: what the console shows.
    public static func line(_ bytes: some Collection<UInt8>, totalBytes: Int? = nil) -> String {
        escaped(text(bytes, totalBytes: totalBytes))
    }

    /// Text from a peer for a log line: at most `bytesMax` bytes of it (cut at a character
    /// boundary, "…" marks a cut), escaped.
    public static func printable(_ bytes: some Collection<UInt8>, bytesMax: Int) -> String {
        precondition(bytesMax >= 0)
        let prefix = bytes.prefix(bytesMax)
        let kept = bytes.count > bytesMax ? Array(prefix.prefix(boundary(prefix))) : Array(bytes)
        return escaped(String(decoding: kept, as: UTF8.self)) + (bytes.count > bytesMax ? "…" : "")
    }

    public static func printable(_ text: String, bytesMax: Int) -> String { printable(Array(text.utf8), bytesMax: bytesMax) }

    /// The length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence.
    static func boundary(_ bytes: some Collection<UInt8>) -> Int {
        let array = Array(bytes)
        var end = array.count
        // Step back over at most three continuation bytes to the lead byte of the last sequence.
        var back = 0
        while back < 3, end - back > 0, array[end - back - 1] & 0xC0 == 0x80 { back += 1 }
        guard end - back > 0 else { return end }
        let lead = array[end - back - 1]
        let length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        if back + 1 < length { end -= back + 1 }   // the last sequence is incomplete: leave it out
        return end
    }

    static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: false)
        return text.count >= digits ? text : String(repeating: "0", count: digits - text.count) + text
    }
}

/// Splits a guest's stdout into lines. The partial line it holds never exceeds
/// `LogText.lineBytesMax`: at that size it is flushed as a line of its own (cut at a character
/// boundary, the rest carried over), so a guest that writes without newlines holds no host memory.
struct LineAssembler {
    private(set) var pending: [UInt8] = []

    /// Takes written bytes; `line` gets each complete (or flushed) line, without its newline and a
    /// carriage return before it.
    mutating func take(_ bytes: UnsafeRawBufferPointer, line: ([UInt8]) -> Void) {
        var rest = bytes[...]
        while !rest.isEmpty {
            let window = rest.prefix(LogText.lineBytesMax - pending.count)
            if let newline = window.firstIndex(of: 10) {
                pending += rest[rest.startIndex..<newline]
                if pending.last == 13 { pending.removeLast() }
                line(pending)
                pending.removeAll(keepingCapacity: true)
                rest = rest[(newline + 1)...]
                continue
            }
            pending += window
            rest = rest.dropFirst(window.count)
            if pending.count >= LogText.lineBytesMax {
                let cut = LogText.boundary(pending)
                line(Array(pending[..<cut]))
                pending.removeFirst(cut)
            }
        }
    }

    /// The partial line, if any (the guest exits).
    mutating func flush(line: ([UInt8]) -> Void) {
        guard !pending.isEmpty else { return }
        line(pending)
        pending = []
    }
}
