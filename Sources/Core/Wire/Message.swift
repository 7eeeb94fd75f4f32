// The typed key-value message that local IPC and cluster links both carry (DESIGN.md §6).
// Fixed-size inline storage: building, copying and decoding a message never allocates.

/// At most 32 typed entries, each with a unique key, plus the sorted index that makes lookup a binary search.
///
/// A `Message` always holds its invariants: at most ``entriesMax`` entries, unique keys, and an index
/// that lists the entries in ascending key order. Only ``MessageBuilder`` and the decoder make one.
public struct Message: Sendable {
    /// The upstream limit: a message carries at most 32 entries of 64 bits.
    public static let entriesMax = 32

    /// Entries in wire order, as their 64-bit wire words.
    @usableFromInline var words: InlineArray<32, UInt64>
    /// Entry numbers in ascending key order (the router-added index).
    @usableFromInline var order: InlineArray<32, UInt8>
    @usableFromInline var storedCount: UInt8

    /// The empty message.
    public init() {
        words = InlineArray(repeating: 0)
        order = InlineArray(repeating: 0)
        storedCount = 0
    }

    public var count: Int { Int(storedCount) }
    public var isEmpty: Bool { storedCount == 0 }

    /// The entry at `position` in wire (insertion) order.
    public subscript(position: Int) -> MessageEntry {
        precondition(position >= 0 && position < count, "message entry \(position) out of 0..<\(count)")
        return Self.entry(fromWord: words[position])
    }

    /// All entries in wire order.
    public var entries: [MessageEntry] { (0..<count).map { self[$0] } }

    /// All entries in ascending key order, as the index lists them.
    public var entriesByKey: [MessageEntry] { (0..<count).map { self[Int(order[$0])] } }

    /// The entry with `key`, found by binary search (lower_bound) over the sorted index.
    @inlinable
    public func entry(for key: MessageKey) -> MessageEntry? {
        let target = key.sortKey
        var low = 0
        var high = Int(storedCount)
        while low < high {
            let mid = (low &+ high) >> 1
            if Self.sortKey(ofWord: words[Int(order[mid])]) < target { low = mid &+ 1 } else { high = mid }
        }
        guard low < Int(storedCount) else { return nil }
        let word = words[Int(order[low])]
        return Self.sortKey(ofWord: word) == target ? Self.entry(fromWord: word) : nil
    }

    /// The value under `key` if present and of type `V`: `let t: Float? = message[.functional(3)]`.
    @inlinable
    public subscript<V: MessageValue>(key: MessageKey) -> V? {
        entry(for: key)?.value(as: V.self)
    }

    // MARK: word helpers (the layout of Docs/wire-format.md)

    @inlinable static func sortKey(ofWord word: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: (word >> 5) & 0x7) << 24 | UInt32(truncatingIfNeeded: (word >> 8) & 0xFF_FFFF)
    }

    /// Only for words that passed validation (scope and type known).
    @inlinable static func entry(fromWord word: UInt64) -> MessageEntry {
        let tag = UInt8(truncatingIfNeeded: word)
        let key = MessageKey(scope: MessageScope(rawValue: tag >> 5)!, raw: UInt32(truncatingIfNeeded: (word >> 8) & 0xFF_FFFF))
        return MessageEntry(key: key, type: MessageType(rawValue: tag & 0x1F)!, bits: UInt32(truncatingIfNeeded: word >> 32))
    }
}

extension Message: Equatable {
    /// Equal when the entries are the same in the same wire order (and so encode to the same bytes).
    public static func == (a: Message, b: Message) -> Bool {
        guard a.storedCount == b.storedCount else { return false }
        for i in 0..<a.count where a.words[i] != b.words[i] { return false }
        return true
    }
}

extension Message: CustomStringConvertible {
    public var description: String { "{" + entries.map(\.description).joined(separator: ", ") + "}" }

    /// Like `description`, with dictionary keys shown by name.
    public func description(using dictionary: MessageDictionary) -> String {
        let parts = entries.map { entry -> String in
            guard entry.key.scope == .dictionary, let name = dictionary.string(at: entry.key.raw) else {
                return entry.description
            }
            let text = entry.description
            return "\"\(name)\"" + text[text.firstIndex(of: "=")!...]
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }
}

/// Builds a ``Message`` entry by entry, keeping the sorted index as it goes.
public struct MessageBuilder: Sendable {
    private var message = Message()

    public init() {}

    public var count: Int { message.count }

    /// Adds an entry. Throws `tooManyEntries` past 32 and `duplicateKey` for a key already present.
    public mutating func add<V: MessageValue>(_ key: MessageKey, _ value: V) throws(MessageError) {
        try add(MessageEntry(key: key, value: value))
    }

    public mutating func add(_ entry: MessageEntry) throws(MessageError) {
        let n = message.count
        guard n < Message.entriesMax else {
            throw MessageError(.tooManyEntries, entry: n, detail: "a message holds at most \(Message.entriesMax) entries")
        }
        let target = entry.key.sortKey
        var low = 0
        var high = n
        while low < high {
            let mid = (low + high) >> 1
            if Message.sortKey(ofWord: message.words[Int(message.order[mid])]) < target { low = mid + 1 } else { high = mid }
        }
        if low < n, Message.sortKey(ofWord: message.words[Int(message.order[low])]) == target {
            throw MessageError(.duplicateKey, entry: n, detail: "key \(entry.key) is already in the message")
        }
        message.words[n] = entry.word
        var i = n
        while i > low {
            message.order[i] = message.order[i - 1]
            i -= 1
        }
        message.order[low] = UInt8(n)
        message.storedCount += 1
    }

    /// The message built so far.
    public func build() -> Message { message }
}
