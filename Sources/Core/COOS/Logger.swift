// The logging subsystem: dictionary messages (predefined texts, values filled in), five levels each
// switchable, timestamps added here. A log record on the wire is a key-value message whose
// dictionary-scope entry names the text and whose functional entries fill its `{}` in key order.

public enum LogLevel: UInt32, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case trace = 0, debug = 1, info = 2, error = 3, fatal = 4
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
    public var description: String {
        switch self {
        case .trace: "TRACE"
        case .debug: "DEBUG"
        case .info: "INFO"
        case .error: "ERROR"
        case .fatal: "FATAL"
        }
    }
}

/// Formats dictionary log messages and hands the lines to a sink. Lines a guest causes (its `log`,
/// `log_message`, stdout and UART lines, and kernel lines about what it did) are escaped and
/// charged to its token bucket (`LogRateLimit`); dropped lines are counted and announced.
public final class Logger {
    /// The node's predefined texts; a guest names one by its offset (a dictionary-scope key).
    public let dictionary: MessageDictionary
    /// Levels that are printed; the others are counted and dropped.
    public var enabled: Set<LogLevel> = [.info, .error, .fatal]
    public var sink: (String) -> Void
    /// Told of every line printed on a guest's account (its `log` and `log_message` records, its
    /// stdout, stderr and UART lines, kernel lines about what it did, its drop announcements), with
    /// the task it is charged to, after `sink`: a node keeps them per guest for `fireball logs`.
    public var guestSink: ((TaskID, String) -> Void)?
    /// Lines of a switched-off level.
    public private(set) var dropped = 0
    let clock: KernelClock
    var limiter: LogLimiter

    /// The kernel's own texts, always in the dictionary (guests may use them too).
    public static let kernelTexts = [
        "task {} started", "task {} exited: {}", "open of {} denied", "kernel panic in partition {}",
        "reading {}", "value {} of {}",
    ]

    public init(texts: [String] = [], clock: KernelClock, rateLimit: LogRateLimit = .standard,
                sink: @escaping (String) -> Void) throws(MessageError) {
        dictionary = try MessageDictionary(strings: Self.kernelTexts + texts)
        self.clock = clock
        self.sink = sink
        limiter = LogLimiter(limit: rateLimit)
    }

    /// Each guest's token bucket.
    public var rateLimit: LogRateLimit { limiter.limit }

    /// Logs a dictionary message from `source`, charged to `task` if a guest caused it. Throws if
    /// the message names no text of the dictionary or has the wrong number of values; nothing is
    /// printed then (and nothing charged).
    public func log(_ level: LogLevel, _ message: Message, from source: String, task: TaskID? = nil) throws(MessageError) {
        guard let line = try format(message) else { return }
        emit(level, from: source, task: task) { line }
    }

    /// Logs plain text (the convenience path for guests without a dictionary), charged to `task`.
    public func log(_ level: LogLevel, text: String, from source: String, task: TaskID? = nil) {
        emit(level, from: source, task: task) { text }
    }

    /// Logs the text `text()` makes, made only if the line is printed (a dropped line costs no copy).
    func emit(_ level: LogLevel, from source: String, task: TaskID?, _ text: () -> String) {
        guard enabled.contains(level) else { dropped += 1; return }
        guard admit(task, source: source) else { return }
        let nanoseconds = clock.nanoseconds
        let stamp = "\(nanoseconds / 1_000_000_000).\(String(nanoseconds / 1_000 % 1_000_000).leftPadded(to: 6))"
        put("\(stamp) [\(LogText.escaped(source))] \(level) \(LogText.escaped(text()))", task: task)
    }

    /// One line to the sink, and to `guestSink` if a guest is charged for it.
    private func put(_ line: String, task: TaskID?) {
        sink(line)
        if let task, let guestSink { guestSink(task, line) }
    }

    /// A raw output line of a guest (stdout, a UART): `[source] text`, escaped and charged to
    /// `task`. The escaped text if it was printed, nil if the bucket dropped it.
    @discardableResult
    public func guestLine(_ bytes: some Collection<UInt8>, from source: String, task: TaskID) -> String? {
        guard admit(task, source: source) else { return nil }
        let text = LogText.line(bytes)
        put("[\(LogText.escaped(source))] \(text)", task: task)
        return text
    }

    /// Takes a line from `task`'s bucket (always true for the kernel's own lines), announcing
    /// the lines dropped over the last interval when one has passed.
    func admit(_ task: TaskID?, source: String) -> Bool {
        guard let task else { return true }
        let (admitted, report) = limiter.admit(task, now: clock.nanoseconds)
        if report > 0 { announceDropped(report, source: source, task: task) }
        return admitted
    }

    func announceDropped(_ count: Int, source: String, task: TaskID) {
        put("[\(LogText.escaped(source))] \(count) log line\(count == 1 ? "" : "s") dropped (rate limit: \(limiter.limit))", task: task)
    }

    /// Lines of `task` its bucket dropped so far (for the node's status).
    public func linesDropped(by task: TaskID) -> Int { limiter.dropped(task) }

    /// `task` ended: the drops not yet announced are announced now.
    func taskEnded(_ task: TaskID, name: String) {
        let report = limiter.finish(task)
        if report > 0 { announceDropped(report, source: name, task: task) }
    }

    /// The text with its `{}` filled by the functional entries in key order.
    public func format(_ message: Message) throws(MessageError) -> String? {
        let entries = message.entriesByKey
        guard let textEntry = entries.first(where: { $0.key.scope == .dictionary }),
              let text = dictionary.string(at: textEntry.key.raw) else {
            throw MessageError(.dictionaryOffsetOutOfRange, detail: "a log message must name one text of the dictionary")
        }
        let values = entries.filter { $0.key.scope == .functional }
        let pieces = text.split(separator: "{}", omittingEmptySubsequences: false).map(String.init)
        guard pieces.count - 1 == values.count else {
            throw MessageError(.unknownType, detail: "text \"\(text)\" takes \(pieces.count - 1) values, the message has \(values.count)")
        }
        var line = pieces[0]
        for (value, piece) in zip(values, pieces.dropFirst()) {
            line += Self.render(value) + piece
        }
        return line
    }

    static func render(_ entry: MessageEntry) -> String {
        switch entry.type {
        case .int32: "\(Int32(messageBits: entry.bits))"
        case .uint32: "\(entry.bits)"
        case .float32: "\(Float(messageBits: entry.bits))"
        case .sharedMemory: "\(SharedMemoryID(entry.bits))"
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
