// Why a message was refused: a fixed code (it crosses the wire), where, and a sentence for people.

/// A refused message. `entry` and `byteOffset` say where, when the fault has a place.
public struct MessageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fixed numbers: these codes travel in error replies between nodes.
    public enum Code: UInt8, Sendable {
        case truncated = 1
        case tooManyEntries = 2
        case unsupportedVersion = 3
        case reservedNotZero = 4
        case unknownScope = 5
        case unknownType = 6
        case indexNotPermutation = 7
        case indexNotSorted = 8
        case duplicateKey = 9
        case dictionaryOffsetOutOfRange = 10
        case dictionaryOffsetNotStringStart = 11
        case trailingBytes = 12
    }

    public let code: Code
    /// The entry number (wire order) at fault, if the fault is in one entry.
    public let entry: Int?
    /// The byte offset in the encoded message where the fault was found, if decoding.
    public let byteOffset: Int?
    public let detail: String

    public init(_ code: Code, entry: Int? = nil, byteOffset: Int? = nil, detail: String) {
        self.code = code
        self.entry = entry
        self.byteOffset = byteOffset
        self.detail = detail
    }

    public var description: String {
        var place: [String] = []
        if let entry { place.append("entry \(entry)") }
        if let byteOffset { place.append("byte \(byteOffset)") }
        let at = place.isEmpty ? "" : " at " + place.joined(separator: ", ")
        return "message \(code)\(at): \(detail)"
    }
}
