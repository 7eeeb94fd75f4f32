// What one guest logged, kept by its node for `fireball logs`: the newest lines within a fixed
// number of lines and bytes, each with its sequence number and the node's clock when it came.
import Transport

/// One guest's log: at most `linesMax` lines and `bytesMax` bytes (text plus a fixed charge per
/// line), the oldest dropped first. It lives in the node's memory beside the guest's assignment,
/// in no partition: the bounds, not the guest, decide its size, and it goes when the replica stops.
struct GuestLog {
    struct Entry {
        let sequence: UInt64
        let nanoseconds: UInt64
        let text: String
    }

    /// Which log this is (see `LogCursor.log`).
    let id: UInt64
    let linesMax: Int
    let bytesMax: Int
    /// What a line costs beyond its text (the entry and the string's header), so that many empty
    /// lines are bounded by bytes as well.
    static let entryBytes = 48
    /// Every entry, oldest first, from `start` on (the dropped prefix is removed in bulk).
    private var entries: [Entry] = []
    private var start = 0
    private(set) var bytes = 0
    /// The sequence number the next line gets.
    private(set) var nextSequence: UInt64 = 1
    /// Lines dropped to stay within the bounds, since the log began.
    private(set) var dropped = 0

    init(id: UInt64, linesMax: Int, bytesMax: Int) {
        precondition(linesMax >= 1 && bytesMax >= Self.entryBytes + 256, "a guest log must hold a line")
        self.id = id
        self.linesMax = linesMax
        self.bytesMax = bytesMax
    }

    var count: Int { entries.count - start }

    /// Adds a line logged at `nanoseconds` (node clock), dropping the oldest past the bounds.
    mutating func append(_ line: String, at nanoseconds: UInt64) {
        // An escaped line can be longer than its guest text; one that would not fit alone is cut.
        let text = Self.cost(line) <= bytesMax ? line : Self.prefix(line, bytes: bytesMax - Self.entryBytes - 4) + " …"
        let cost = Self.cost(text)
        while count > 0 && (count >= linesMax || bytes + cost > bytesMax) {
            bytes -= Self.cost(entries[start].text)
            start += 1
            dropped += 1
        }
        if start > 64 && start * 2 > entries.count {
            entries.removeFirst(start)
            start = 0
        }
        entries.append(Entry(sequence: nextSequence, nanoseconds: nanoseconds, text: text))
        nextSequence += 1
        bytes += cost
        precondition(count <= linesMax && bytes <= bytesMax, "guest log over its bounds")
    }

    static func cost(_ text: String) -> Int { text.utf8.count + entryBytes }

    /// The longest prefix of whole characters within `bytes` UTF-8 bytes.
    static func prefix(_ text: String, bytes: Int) -> String {
        var used = 0
        return String(text.prefix { character in
            used += character.utf8.count
            return used <= bytes
        })
    }

    /// What a `logs` request gets. See `ControlRequest.Operation.logs`.
    struct Selection: Equatable {
        var lines: [String] = []
        var cursor: LogCursor
        var more = false
        var skipped = 0
        var restarted = false
    }

    /// The lines a request asks for: with no cursor (or one of another log: `restarted`), the last
    /// `lines` (0: all) of those no older than `sinceNanoseconds`; with a cursor, those after it
    /// (the first `lines`, 0: all). Oldest first, as many as `answerBytesMax` holds when each
    /// line costs twice its bytes (JSON may escape every character) and at least one.
    func select(lines wanted: Int, sinceNanoseconds: UInt64?, after: LogCursor?, now: UInt64, answerBytesMax: Int) -> Selection {
        let held = entries[start...]
        let oldestTime = sinceNanoseconds.map { now > $0 ? now - $0 : 0 }
        var selection = Selection(cursor: LogCursor(log: id, sequence: nextSequence - 1))
        var candidates: ArraySlice<Entry>
        if let after, after.log == id {
            selection.cursor = after
            // Lines after the cursor that are gone: dropped while the reader was away.
            let firstHeld = held.first?.sequence ?? nextSequence
            if after.sequence + 1 < firstHeld { selection.skipped = Int(firstHeld - after.sequence - 1) }
            candidates = held.drop { $0.sequence <= after.sequence }
            if let oldestTime { candidates = candidates.drop { $0.nanoseconds < oldestTime } }
            if wanted > 0 { candidates = candidates.prefix(wanted) }
        } else {
            selection.restarted = after != nil
            candidates = held
            if let oldestTime { candidates = candidates.drop { $0.nanoseconds < oldestTime } }
            if wanted > 0 { candidates = candidates.suffix(wanted) }
            if let first = candidates.first { selection.cursor.sequence = first.sequence - 1 }
        }
        var budget = answerBytesMax
        for entry in candidates {
            let cost = entry.text.utf8.count * 2 + 4
            guard cost <= budget || selection.lines.isEmpty else { selection.more = true; break }
            budget -= cost
            selection.lines.append(entry.text)
            selection.cursor.sequence = entry.sequence
        }
        // Lines newer than those asked for (a cursor's `lines` cut them off) wait as well.
        if let last = held.last, last.sequence > selection.cursor.sequence, after?.log == id { selection.more = true }
        return selection
    }
}
