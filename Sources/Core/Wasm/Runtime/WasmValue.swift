// Values at the boundary between the interpreter and its host.

/// Where a function lives in a ``Store``. Opaque outside Core.
public struct FunctionAddress: Hashable, Sendable { public let index: Int }
public struct TableAddress: Hashable, Sendable { public let index: Int }
public struct MemoryAddress: Hashable, Sendable { public let index: Int }
public struct GlobalAddress: Hashable, Sendable { public let index: Int }

/// A wasm value. Floats are kept as bit patterns so NaN payloads survive.
public enum WasmValue: Hashable, Sendable, CustomStringConvertible {
    case i32(UInt32)
    case i64(UInt64)
    case f32(UInt32)
    case f64(UInt64)
    case funcref(FunctionAddress?)
    /// A host reference; nil is `ref.null extern`.
    case externref(UInt64?)

    public var type: ValueType {
        switch self {
        case .i32: .i32
        case .i64: .i64
        case .f32: .f32
        case .f64: .f64
        case .funcref: .funcref
        case .externref: .externref
        }
    }

    public static func f32(_ value: Float) -> WasmValue { .f32(value.bitPattern) }
    public static func f64(_ value: Double) -> WasmValue { .f64(value.bitPattern) }

    public var description: String {
        switch self {
        case .i32(let v): "i32:\(Int32(bitPattern: v))"
        case .i64(let v): "i64:\(Int64(bitPattern: v))"
        case .f32(let v): "f32:\(Float(bitPattern: v))"
        case .f64(let v): "f64:\(Double(bitPattern: v))"
        case .funcref(let a): a.map { "funcref:\($0.index)" } ?? "funcref:null"
        case .externref(let r): r.map { "externref:\($0)" } ?? "externref:null"
        }
    }
}

/// An import or export: a thing in a store.
public enum ExternalValue: Hashable, Sendable {
    case function(FunctionAddress)
    case table(TableAddress)
    case memory(MemoryAddress)
    case global(GlobalAddress)
}
