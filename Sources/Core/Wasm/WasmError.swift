// Why a module was refused at load, link or instantiation, and where.

/// A refused module. Names the section, the function index and the byte offset where they apply.
public struct WasmError: Error, Sendable, CustomStringConvertible {
    public enum Code: UInt8, Sendable {
        /// The bytes are not a well-formed binary (the spec's "malformed").
        case malformed = 1
        /// Well-formed, but fails validation (the spec's "invalid").
        case invalid = 2
        /// An import cannot be satisfied (unknown, or of the wrong kind or type).
        case unlinkable = 3
        /// Instantiation trapped (an active segment out of bounds, a trapping start function).
        case uninstantiable = 4
        /// Valid wasm that exceeds one of Fireball's limits (see `WasmLimits`).
        case limitExceeded = 5
        /// Refused by a loader option (e.g. floating point on a board without an FPU).
        case refusedByPolicy = 6
    }

    public let code: Code
    public let section: String?
    public let functionIndex: Int?
    public let byteOffset: Int?
    public let detail: String

    public init(_ code: Code, section: String? = nil, function: Int? = nil, offset: Int? = nil, _ detail: String) {
        self.code = code
        self.section = section
        self.functionIndex = function
        self.byteOffset = offset
        self.detail = detail
    }

    public var description: String {
        var place: [String] = []
        if let section { place.append("\(section) section") }
        if let functionIndex { place.append("function \(functionIndex)") }
        if let byteOffset { place.append("offset 0x\(String(byteOffset, radix: 16))") }
        return "\(code)" + (place.isEmpty ? "" : " (" + place.joined(separator: ", ") + ")") + ": \(detail)"
    }
}

/// Fireball's own limits on what a module may contain; every one is checked at load.
public enum WasmLimits {
    /// Nesting of blocks, loops and ifs in one function.
    public static let controlDepthMax = 10_000
    /// Locals (parameters included) in one function; slot numbers are 16 bits in translated code.
    public static let localsMax = 50_000
    /// Value-stack height plus locals in one function frame.
    public static let frameSlotsMax = 65_535
    /// Functions, types, globals, segments, exports... in one module.
    public static let entitiesMax = 1_000_000
    /// Elements in one table.
    public static let tableElementsMax = 10_000_000
    /// Bytes of one function body.
    public static let bodyBytesMax = 8 * 1024 * 1024
}
