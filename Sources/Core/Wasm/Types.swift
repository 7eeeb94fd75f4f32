// WebAssembly 2.0 types (without SIMD), as the binary format encodes them.

/// A value type; the raw value is its binary encoding.
public enum ValueType: UInt8, Sendable, Hashable, CustomStringConvertible {
    case i32 = 0x7F
    case i64 = 0x7E
    case f32 = 0x7D
    case f64 = 0x7C
    case funcref = 0x70
    case externref = 0x6F

    public var isReference: Bool { self == .funcref || self == .externref }
    public var isFloat: Bool { self == .f32 || self == .f64 }

    public var description: String {
        switch self {
        case .i32: "i32"
        case .i64: "i64"
        case .f32: "f32"
        case .f64: "f64"
        case .funcref: "funcref"
        case .externref: "externref"
        }
    }
}

/// A function signature.
public struct FunctionType: Sendable, Hashable, CustomStringConvertible {
    public var parameters: [ValueType]
    public var results: [ValueType]
    public init(parameters: [ValueType], results: [ValueType]) {
        self.parameters = parameters
        self.results = results
    }
    public var description: String {
        "(" + parameters.map(\.description).joined(separator: " ") + ") -> (" + results.map(\.description).joined(separator: " ") + ")"
    }
}

/// Size limits of a memory (in 64 KiB pages) or a table (in elements).
public struct Limits: Sendable, Hashable {
    public var min: UInt64
    public var max: UInt64?
    public init(min: UInt64, max: UInt64?) {
        self.min = min
        self.max = max
    }
}

public struct TableType: Sendable, Hashable {
    /// `.funcref` or `.externref`.
    public var element: ValueType
    public var limits: Limits
    public init(element: ValueType, limits: Limits) {
        self.element = element
        self.limits = limits
    }
}

public struct MemoryType: Sendable, Hashable {
    /// In pages (64 KiB unless the module chose another size); at most 4 GiB in all for wasm32.
    public var limits: Limits
    /// log2 of the page size: 16 (64 KiB), or 0 (1 byte) under the custom-page-sizes proposal,
    /// which lets a guest for a small board declare, say, exactly 16 KiB of memory.
    public var pageSizeLog2: UInt8
    public init(limits: Limits, pageSizeLog2: UInt8 = 16) {
        self.limits = limits
        self.pageSizeLog2 = pageSizeLog2
    }
    public static let pageBytes = 65536
    public static let pagesMax: UInt64 = 65536
    public var bytesPerPage: Int { 1 << Int(pageSizeLog2) }
    /// The most pages a wasm32 memory of this page size may have (4 GiB in all, or 2^32 - 1 one-byte pages).
    public var pagesLimit: UInt64 { pageSizeLog2 == 0 ? UInt64(UInt32.max) : (UInt64(1) << 32) >> UInt64(pageSizeLog2) }
    /// Bytes at the declared minimum and maximum.
    public var minimumBytes: Int { Int(limits.min) << Int(pageSizeLog2) }
    public var maximumBytes: Int? { limits.max.map { Int($0) << Int(pageSizeLog2) } }
}

public struct GlobalType: Sendable, Hashable {
    public var value: ValueType
    public var mutable: Bool
    public init(value: ValueType, mutable: Bool) {
        self.value = value
        self.mutable = mutable
    }
}

/// What an import asks for or an export offers.
public enum ExternalKind: UInt8, Sendable, Hashable, CustomStringConvertible {
    case function = 0, table = 1, memory = 2, global = 3
    public var description: String {
        switch self {
        case .function: "function"
        case .table: "table"
        case .memory: "memory"
        case .global: "global"
        }
    }
}
