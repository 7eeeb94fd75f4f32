// What a guest gets from WASI's args_get and environ_get: a list fixed at spawn (and kept for its
// restarts), bounded so that a command line cannot make the kernel copy without limit.

/// A guest's WASI arguments (argv, argv[0] first) and environment (`KEY=VALUE` strings).
public struct GuestArguments: Sendable, Equatable {
    public private(set) var arguments: [String]
    public private(set) var environment: [String]

    /// Strings in each list, at most.
    public static let stringsMax = 256
    /// Bytes of each list, NUL terminators included, at most.
    public static let bytesMax = 16 * 1024

    public static let none = GuestArguments(checkedArguments: [], environment: [])

    init(checkedArguments: [String], environment: [String]) {
        self.arguments = checkedArguments
        self.environment = environment
    }

    /// Checks both lists: no NUL inside a string, each environment entry `KEY=VALUE` with a
    /// non-empty key, and each list within `stringsMax` strings and `bytesMax` bytes.
    public init(arguments: [String], environment: [String]) throws(ArgumentsError) {
        for (list, what) in [(arguments, "argument"), (environment, "environment entry")] {
            guard list.count <= Self.stringsMax else { throw ArgumentsError("\(list.count) \(what)s, at most \(Self.stringsMax)") }
            var total = 0
            for (index, text) in list.enumerated() {
                guard !text.utf8.contains(0) else { throw ArgumentsError("\(what) \(index) contains a NUL byte") }
                total += text.utf8.count + 1
                guard total <= Self.bytesMax else { throw ArgumentsError("\(what)s take more than \(Self.bytesMax) bytes") }
            }
        }
        for entry in environment {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw ArgumentsError("environment entry '\(entry)': expected KEY=VALUE")
            }
        }
        self.arguments = arguments
        self.environment = environment
    }

    public struct ArgumentsError: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// One list as WASI lays it out: the count, the buffer size, and each string's offset in the
    /// buffer of NUL-terminated strings.
    static func layout(_ list: [String]) -> (count: Int, buffer: [UInt8], offsets: [Int]) {
        var buffer: [UInt8] = []
        var offsets: [Int] = []
        for text in list {
            offsets.append(buffer.count)
            buffer += text.utf8
            buffer.append(0)
        }
        return (list.count, buffer, offsets)
    }
}
