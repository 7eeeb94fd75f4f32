// The store: every function, table, memory, global and instance of one guest world (the spec's store).
// Single-threaded by design: a store belongs to one kernel thread.

/// Arguments in, results out: the raw slots of a host call. Values are in the slot encoding
/// (i32 zero-extended, floats as bits, references as store bits).
public struct HostCall {
    let slots: UnsafeMutablePointer<UInt64>
    public let parameterCount: Int
    public let resultCount: Int
    /// The caller's memory, for arguments that are pointers (nil if the caller has none).
    /// A HostCall lives only for the call, while its instance and execution are alive.
    public unowned(unsafe) let memory: LinearMemory?
    /// The execution making the call; a host function that suspends keeps it to resume later.
    public unowned(unsafe) let execution: Execution

    public func i32(_ index: Int) -> UInt32 { UInt32(truncatingIfNeeded: slots[index]) }
    public func i64(_ index: Int) -> UInt64 { slots[index] }
    public func f32(_ index: Int) -> Float { Float(bitPattern: UInt32(truncatingIfNeeded: slots[index])) }
    public func f64(_ index: Int) -> Double { Double(bitPattern: slots[index]) }
    public func setI32(_ index: Int, _ value: UInt32) { slots[index] = UInt64(value) }
    public func setI64(_ index: Int, _ value: UInt64) { slots[index] = value }
    public func setF32(_ index: Int, _ value: Float) { slots[index] = UInt64(value.bitPattern) }
    public func setF64(_ index: Int, _ value: Double) { slots[index] = value.bitPattern }
}

/// What a host function did.
public enum HostOutcome {
    /// Results are in place; the guest continues.
    case returned
    /// The guest's call traps with this reason.
    case trap(Trap)
    /// The guest stops at this call until `Execution.resume(results:)`; its run returns `.suspended`.
    case suspend
}

public typealias HostFunctionBody = (inout HostCall) -> HostOutcome

/// Owns all runtime objects; instances and executions refer into it.
public final class Store {
    var functions: [UnsafeMutablePointer<FunctionEntry>] = []
    /// Host functions by `FunctionEntry.hostIndex`: bodies apart from names, so that a call
    /// retains one closure and no strings. Their types are in the entries.
    var hostBodies: ContiguousArray<HostFunctionBody> = []
    var hostNames: [String] = []
    var memories: [LinearMemory] = []
    var tables: [Table] = []
    var globals: [(cell: UnsafeMutablePointer<UInt64>, type: GlobalType)] = []
    var instances: [Instance] = []
    var typeIDs: [FunctionType: Int] = [:]
    var types: [FunctionType] = []

    /// Applied to every memory created from now on.
    public var memoryLimiter: GrowthLimiter?
    /// Applied to every table created from now on.
    public var tableLimiter: GrowthLimiter?
    /// Where memories created from now on get their bytes.
    public let memoryProvider: MemoryProvider

    public init(memoryProvider: MemoryProvider = SystemMemoryProvider.shared) {
        self.memoryProvider = memoryProvider
    }

    deinit {
        for entry in functions { entry.deallocate() }
        for global in globals { global.cell.deallocate() }
        for instance in instances { instance.release() }
    }

    func typeID(_ type: FunctionType) -> Int {
        if let id = typeIDs[type] { return id }
        let id = types.count
        typeIDs[type] = id
        types.append(type)
        return id
    }

    // MARK: host objects

    /// Registers a host function the guests can import.
    public func addHostFunction(_ name: String, type: FunctionType, _ body: @escaping HostFunctionBody) -> FunctionAddress {
        let entry = UnsafeMutablePointer<FunctionEntry>.allocate(capacity: 1)
        entry.initialize(to: FunctionEntry(code: nil, parameterCount: type.parameters.count, resultCount: type.results.count,
                                           frameSlots: max(type.parameters.count, type.results.count), typeID: typeID(type),
                                           instance: nil, storeIndex: functions.count, hostIndex: hostBodies.count, moduleIndex: 0))
        hostBodies.append(body)
        hostNames.append(name)
        functions.append(entry)
        return FunctionAddress(index: functions.count - 1)
    }

    public func addMemory(_ type: MemoryType) throws(WasmError) -> MemoryAddress {
        memories.append(try LinearMemory(type: type, limiter: memoryLimiter, provider: memoryProvider))
        return MemoryAddress(index: memories.count - 1)
    }

    public func addTable(_ type: TableType, initial: WasmValue? = nil) throws(WasmError) -> TableAddress {
        tables.append(try Table(type: type, initial: initial.map(bits) ?? 0, limiter: tableLimiter))
        return TableAddress(index: tables.count - 1)
    }

    public func addGlobal(_ type: GlobalType, value: WasmValue) -> GlobalAddress {
        let cell = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        cell.initialize(to: bits(value))
        globals.append((cell, type))
        return GlobalAddress(index: globals.count - 1)
    }

    // MARK: inspection

    public func memory(_ address: MemoryAddress) -> LinearMemory { memories[address.index] }
    public func table(_ address: TableAddress) -> Table { tables[address.index] }
    public func type(of function: FunctionAddress) -> FunctionType { types[functions[function.index].pointee.typeID] }
    public func globalType(_ address: GlobalAddress) -> GlobalType { globals[address.index].type }
    public func value(of global: GlobalAddress) -> WasmValue {
        let g = globals[address: global]
        return value(bits: g.cell.pointee, type: g.type.value)
    }
    public func setValue(_ value: WasmValue, of global: GlobalAddress) {
        globals[global.index].cell.pointee = bits(value)
    }

    /// The function's name: the host name, or the wasm name section's, or "function N".
    public func name(of function: FunctionAddress) -> String {
        let entry = functions[function.index].pointee
        if entry.code == nil { return hostNames[entry.hostIndex] }
        return entry.instance!.pointee.owner.takeUnretainedValue().functionName(entry.moduleIndex)
    }

    // MARK: value encoding

    func bits(_ value: WasmValue) -> UInt64 {
        switch value {
        case .i32(let v): UInt64(v)
        case .i64(let v): v
        case .f32(let v): UInt64(v)
        case .f64(let v): v
        case .funcref(let address): address.map { ReferenceBits.function(functions[$0.index]) } ?? 0
        case .externref(let reference): reference.map { $0 &+ 1 } ?? 0
        }
    }

    func value(bits: UInt64, type: ValueType) -> WasmValue {
        switch type {
        case .i32: .i32(UInt32(truncatingIfNeeded: bits))
        case .i64: .i64(bits)
        case .f32: .f32(UInt32(truncatingIfNeeded: bits))
        case .f64: .f64(bits)
        case .funcref: .funcref(ReferenceBits.entry(bits).map { FunctionAddress(index: $0.pointee.storeIndex) })
        case .externref: .externref(bits == 0 ? nil : bits &- 1)
        }
    }
}

extension Array where Element == (cell: UnsafeMutablePointer<UInt64>, type: GlobalType) {
    subscript(address address: GlobalAddress) -> Element { self[address.index] }
}
