// The raw, stable-address state the interpreter reads on its hot path. Classes in Runtime/ own
// these blocks; the interpreter sees only pointers, so it pays no reference counting.

/// A function as the interpreter calls it. Allocated once per function, never moves; a funcref
/// value is the address of its entry (0 is null).
@usableFromInline
struct FunctionEntry {
    /// First word of the translated code (its `enter`), or nil for a host function.
    var code: UnsafePointer<UInt64>?
    var parameterCount: Int
    var resultCount: Int
    /// Slots the frame needs: locals plus the deepest operand stack (at least the result count).
    var frameSlots: Int
    /// The store-wide id of the function's type, compared by `call_indirect`.
    var typeID: Int
    /// The defining instance (nil for host functions).
    var instance: UnsafeMutablePointer<InstanceContext>?
    /// Index in the store's function list and, for host functions, in its host bodies.
    var storeIndex: Int
    var hostIndex: Int
    /// Index in the defining module's function space, for trap messages.
    var moduleIndex: Int
}

/// A linear memory's current extent. `base` may move when the memory grows.
@usableFromInline
struct MemoryState {
    var base: UnsafeMutableRawPointer
    var byteCount: Int
    var pagesMax: Int
    /// log2 of the page size (16, or 0 for one-byte pages).
    var pageShift: Int
}

/// A table's elements (funcref: FunctionEntry addresses; externref: host value + 1; 0 is null).
@usableFromInline
struct TableState {
    var elements: UnsafeMutablePointer<UInt64>
    var count: Int
    var capacity: Int
    var max: Int
    var elementType: ValueType
}

/// Per-instance pointers for the interpreter: memory, globals, functions, tables, type ids.
@usableFromInline
struct InstanceContext {
    var memory: UnsafeMutablePointer<MemoryState>?
    var globals: UnsafeMutablePointer<UnsafeMutablePointer<UInt64>>
    var functions: UnsafeMutablePointer<UnsafeMutablePointer<FunctionEntry>>
    var tables: UnsafeMutablePointer<UnsafeMutablePointer<TableState>>
    var typeIDs: UnsafeMutablePointer<Int>
    /// The owning `Instance`, for slow paths (segments, names). Unowned: the store keeps it alive.
    var owner: Unmanaged<Instance>
}

/// Slot encodings of reference values.
@usableFromInline
enum ReferenceBits {
    @inline(__always) static func function(_ entry: UnsafeMutablePointer<FunctionEntry>) -> UInt64 {
        UInt64(UInt(bitPattern: entry))
    }
    @inline(__always) static func entry(_ bits: UInt64) -> UnsafeMutablePointer<FunctionEntry>? {
        UnsafeMutablePointer(bitPattern: UInt(truncatingIfNeeded: bits))
    }
}
