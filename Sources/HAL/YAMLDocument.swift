// Reading the project's YAML files field by field, so that every error names the file, the line
// and the field (board files here; manifests and inventories use the same reader).
import Core
import Yams

/// A refused file: what is wrong, and where.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let field: String
    public let detail: String
    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(field): \(detail)" }

    public init(file: String, line: Int?, field: String, detail: String) {
        self.file = file
        self.line = line
        self.field = field
        self.detail = detail
    }
}

/// A YAML mapping with the position of every key, read once; unknown keys are refused.
public struct YAMLMapping {
    let file: String
    let path: String
    let line: Int?
    let pairs: [(key: String, value: Node, line: Int)]

    /// Parses `text` and expects a mapping at the top.
    public init(text: String, file: String) throws(ConfigurationError) {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw ConfigurationError(file: file, line: (error as? YamlError).flatMap(Self.line), field: "(file)", detail: "not valid YAML: \(error)")
        }
        guard let node else { throw ConfigurationError(file: file, line: nil, field: "(file)", detail: "empty file") }
        try self.init(node: node, file: file, path: "")
    }

    init(node: Node, file: String, path: String) throws(ConfigurationError) {
        guard let mapping = node.mapping else {
            throw ConfigurationError(file: file, line: node.mark.map { $0.line }, field: path.isEmpty ? "(top)" : path, detail: "expected a mapping of fields")
        }
        self.file = file
        self.path = path
        self.line = node.mark?.line
        var pairs: [(String, Node, Int)] = []
        for (key, value) in mapping {
            guard let name = key.string else {
                throw ConfigurationError(file: file, line: key.mark?.line, field: path, detail: "field names must be text")
            }
            pairs.append((name, value, key.mark?.line ?? 0))
        }
        self.pairs = pairs
    }

    static func line(_ error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Refuses any field not in `known`, naming it and its line.
    public func allowOnly(_ known: Set<String>) throws(ConfigurationError) {
        for pair in pairs where !known.contains(pair.key) {
            throw ConfigurationError(file: file, line: pair.line, field: name(pair.key),
                                     detail: "unknown field (known: \(known.sorted().joined(separator: ", ")))")
        }
    }

    func node(_ key: String) -> (Node, Int)? {
        pairs.first { $0.key == key }.map { ($0.value, $0.line) }
    }

    public func error(_ key: String, _ detail: String) -> ConfigurationError {
        ConfigurationError(file: file, line: node(key)?.1 ?? line, field: name(key), detail: detail)
    }

    public func has(_ key: String) -> Bool { node(key) != nil }

    public func string(_ key: String) throws(ConfigurationError) -> String {
        guard let (node, _) = node(key) else { throw error(key, "missing") }
        guard let text = node.string else { throw error(key, "expected text") }
        return text
    }

    public func optionalString(_ key: String) throws(ConfigurationError) -> String? {
        has(key) ? try string(key) : nil
    }

    public func bool(_ key: String) throws(ConfigurationError) -> Bool {
        guard let (node, _) = node(key) else { throw error(key, "missing") }
        guard let value = node.bool else { throw error(key, "expected true or false") }
        return value
    }

    /// A whole number in `range` (decimal, or hex as `0x…` for addresses and register numbers).
    /// Every integer field states its range, so nothing read from a file can overflow later;
    /// `meaning` (such as "a 7-bit device address") is added to a refusal.
    public func int(_ key: String, in range: ClosedRange<Int>, meaning: String? = nil) throws(ConfigurationError) -> Int {
        guard let (node, _) = node(key) else { throw error(key, "missing") }
        guard let value = node.int ?? node.string.flatMap(Self.parseHex) else {
            throw error(key, "expected a whole number in \(range.lowerBound)…\(range.upperBound)")
        }
        do { return try Quantity.check(value, in: range) } catch {
            throw self.error(key, error.description + (meaning.map { " (\($0))" } ?? ""))
        }
    }

    static func parseHex(_ text: String) -> Int? {
        guard text.hasPrefix("0x"), text.count > 2, text.count <= 18 else { return nil }
        return Int(text.dropFirst(2), radix: 16)
    }

    /// A finite number in `range` (NaN and infinities are refused with the rest).
    public func double(_ key: String, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
        guard let (node, _) = node(key) else { throw error(key, "missing") }
        guard let value = node.float ?? node.int.map(Double.init) else { throw error(key, "expected a number") }
        guard range.contains(value) else { throw error(key, "\(value) is outside \(range.lowerBound)…\(range.upperBound)") }
        return value
    }

    /// A size in `range`: a number of bytes, or a number with B, KiB, MiB or GiB ("64 KiB").
    public func bytes(_ key: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let (node, _) = node(key) else { throw error(key, "missing") }
        guard let text = node.string else { throw error(key, "expected a size such as 4096, \"4 KiB\" or \"1 MiB\"") }
        do {
            if let value = node.int { return try Quantity.bytes(value, in: range) }
            return try Quantity.bytes(text, in: range)
        } catch { throw self.error(key, error.description) }
    }

    /// A duration in `range`, as text with a unit ("500 ms", "60 s", "5 min", "1 h"), in nanoseconds.
    public func nanoseconds(_ key: String, in range: ClosedRange<UInt64>) throws(ConfigurationError) -> UInt64 {
        let text = try string(key)
        do { return try Quantity.nanoseconds(text, in: range) } catch { throw self.error(key, error.description) }
    }

    /// A whole number of milliseconds (a field named `…-ms`) in `range`, in nanoseconds.
    public func milliseconds(_ key: String, in range: ClosedRange<UInt64>) throws(ConfigurationError) -> UInt64 {
        let count = try int(key, in: 0...Int.max)
        do { return try Quantity.nanoseconds(UInt64(count), unitNanoseconds: 1_000_000, in: range) } catch { throw self.error(key, error.description) }
    }

    public func mapping(_ key: String) throws(ConfigurationError) -> YAMLMapping {
        guard let (node, _) = node(key) else { throw error(key, "missing") }
        return try YAMLMapping(node: node, file: file, path: name(key))
    }

    public func sequence(_ key: String) throws(ConfigurationError) -> [Node] {
        guard let (node, _) = node(key) else { return [] }
        guard let items = node.sequence else { throw error(key, "expected a list") }
        return Array(items)
    }

    public var keys: [String] { pairs.map(\.key) }

    /// "4096", "64 KiB", "64KiB", "1 MiB", "2 GiB"; nil for anything else, or a size past `Int.max`
    /// (the command line's sizes; file fields use `bytes(_:in:)` with their range).
    public static func parseSize(_ text: String) -> Int? { try? Quantity.bytes(text, in: 0...Int.max) }
}

// Lists and maps for manifests and inventories (small additions; errors keep naming file, line, field).
extension YAMLMapping {
    /// The file this mapping came from, its dotted field path ("" at the top) and its line.
    public var sourceFile: String { file }
    public var fieldPath: String { path }
    public var sourceLine: Int? { line }

    /// The line of `key` in the file, if the field is present.
    public func line(of key: String) -> Int? { node(key)?.1 }

    /// True if `key` holds a mapping (rather than a scalar or a list).
    public func isMapping(_ key: String) -> Bool { node(key)?.0.mapping != nil }

    /// An error about this mapping as a whole (or a field under it that is not one of its keys).
    public func error(field: String, line: Int?, _ detail: String) -> ConfigurationError {
        ConfigurationError(file: file, line: line ?? self.line, field: name(field), detail: detail)
    }

    /// The items of a list of mappings (absent: empty), each named `key[i]` in its errors.
    public func mappings(_ key: String) throws(ConfigurationError) -> [YAMLMapping] {
        var result: [YAMLMapping] = []
        for (index, item) in try sequence(key).enumerated() {
            result.append(try YAMLMapping(node: item, file: file, path: "\(name(key))[\(index)]"))
        }
        return result
    }

    /// The texts of a list field (absent: empty), each with its line; a non-text item is refused.
    public func strings(_ key: String) throws(ConfigurationError) -> [(text: String, line: Int?)] {
        var result: [(text: String, line: Int?)] = []
        for (index, item) in try sequence(key).enumerated() {
            guard item.scalar != nil, let text = item.string else {
                throw ConfigurationError(file: file, line: item.mark?.line ?? line(of: key), field: "\(name(key))[\(index)]", detail: "expected text")
            }
            result.append((text, item.mark?.line))
        }
        return result
    }

    /// A mapping of text to text (such as labels), in file order, each with its line (absent: empty).
    public func stringPairs(_ key: String) throws(ConfigurationError) -> [(key: String, value: String, line: Int)] {
        guard has(key) else { return [] }
        let inner = try mapping(key)
        var result: [(key: String, value: String, line: Int)] = []
        for pair in inner.pairs {
            guard pair.value.scalar != nil, let text = pair.value.string else {
                throw ConfigurationError(file: file, line: pair.line, field: inner.name(pair.key), detail: "expected text")
            }
            result.append((pair.key, text, pair.line))
        }
        return result
    }
}
