// A decoded wasm module: everything but the instructions of function bodies, which stay in place
// in `bytes` until the validator-translator reads them.

/// A constant expression of WebAssembly 2.0: exactly one instruction before `end`.
public enum ConstantExpression: Sendable, Hashable {
    case i32(UInt32)
    case i64(UInt64)
    case f32(UInt32)          // bit pattern
    case f64(UInt64)          // bit pattern
    case referenceNull(ValueType)
    case referenceFunction(UInt32)
    case globalGet(UInt32)
}

public struct Import: Sendable, Hashable {
    public enum Descriptor: Sendable, Hashable {
        case function(typeIndex: UInt32)
        case table(TableType)
        case memory(MemoryType)
        case global(GlobalType)
    }
    public var module: String
    public var name: String
    public var descriptor: Descriptor
    public init(module: String, name: String, descriptor: Descriptor) {
        self.module = module
        self.name = name
        self.descriptor = descriptor
    }
}

public struct Export: Sendable, Hashable {
    public var name: String
    public var kind: ExternalKind
    public var index: UInt32
    public init(name: String, kind: ExternalKind, index: UInt32) {
        self.name = name
        self.kind = kind
        self.index = index
    }
}

public struct Global: Sendable, Hashable {
    public var type: GlobalType
    public var initializer: ConstantExpression
    public init(type: GlobalType, initializer: ConstantExpression) {
        self.type = type
        self.initializer = initializer
    }
}

public struct ElementSegment: Sendable, Hashable {
    public enum Mode: Sendable, Hashable {
        case passive
        case active(table: UInt32, offset: ConstantExpression)
        case declarative
    }
    /// `.funcref` or `.externref`.
    public var type: ValueType
    public var mode: Mode
    /// One constant expression per element (function indices are stored as `.referenceFunction`).
    public var initializers: [ConstantExpression]
    public init(type: ValueType, mode: Mode, initializers: [ConstantExpression]) {
        self.type = type
        self.mode = mode
        self.initializers = initializers
    }
}

public struct DataSegment: Sendable, Hashable {
    public enum Mode: Sendable, Hashable {
        case passive
        case active(memory: UInt32, offset: ConstantExpression)
    }
    public var mode: Mode
    /// Where the segment's bytes are in the module's bytes (not copied).
    public var bytes: Range<Int>
    public init(mode: Mode, bytes: Range<Int>) {
        self.mode = mode
        self.bytes = bytes
    }
}

/// A function body, still undecoded: its locals and where its instructions are.
public struct FunctionBody: Sendable, Hashable {
    /// Locals after the parameters, run-length grouped as in the binary: (count, type).
    public var locals: [(count: UInt32, type: ValueType)]
    /// Byte range of the instructions in the module's bytes, ending with the final `end` (0x0B).
    public var code: Range<Int>
    public init(locals: [(count: UInt32, type: ValueType)], code: Range<Int>) {
        self.locals = locals
        self.code = code
    }
    public static func == (a: FunctionBody, b: FunctionBody) -> Bool {
        a.code == b.code && a.locals.elementsEqual(b.locals, by: { $0.count == $1.count && $0.type == $1.type })
    }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    public var localCount: UInt64 { locals.reduce(0) { $0 + UInt64($1.count) } }
}

/// A decoded module. Function indices count imported functions first, as in the spec;
/// `functionTypeIndices` and `bodies` cover only the module's own functions.
public struct WasmModule: Sendable {
    /// The whole binary; bodies and data segments point into it.
    public var bytes: [UInt8]
    public var types: [FunctionType] = []
    public var imports: [Import] = []
    public var functionTypeIndices: [UInt32] = []
    public var tables: [TableType] = []
    public var memories: [MemoryType] = []
    public var globals: [Global] = []
    public var exports: [Export] = []
    public var start: UInt32?
    public var elements: [ElementSegment] = []
    public var dataCount: UInt32?
    public var data: [DataSegment] = []
    public var bodies: [FunctionBody] = []
    /// From the `name` custom section, if present: function index → name.
    public var functionNames: [UInt32: String] = [:]
    /// Byte offset of each body's size field, for error messages (parallel to `bodies`).
    public var bodyOffsets: [Int] = []

    public init(bytes: [UInt8]) { self.bytes = bytes }

    // Index spaces (imports first).
    public var importedFunctionTypes: [UInt32] {
        imports.compactMap { if case .function(let t) = $0.descriptor { t } else { nil } }
    }
    public var importedTables: [TableType] { imports.compactMap { if case .table(let t) = $0.descriptor { t } else { nil } } }
    public var importedMemories: [MemoryType] { imports.compactMap { if case .memory(let t) = $0.descriptor { t } else { nil } } }
    /// Memory 0 (imported or defined), the one a guest's loads and stores use; nil without one.
    public var firstMemory: MemoryType? { importedMemories.first ?? memories.first }
    public var importedGlobals: [GlobalType] { imports.compactMap { if case .global(let t) = $0.descriptor { t } else { nil } } }
}
