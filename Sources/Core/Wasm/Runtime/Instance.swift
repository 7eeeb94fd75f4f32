// Instantiation: link imports, allocate the module's own objects, run segments and the start function.

/// Looks up an import by module and field name; nil means "unknown import".
public typealias ImportResolver = (_ module: String, _ name: String) -> ExternalValue?

/// A module instance: its exports, and the runtime state its code runs against.
public final class Instance {
    public let module: LoadedModule
    /// Exports by exact name (byte-wise, see `WasmName`).
    public internal(set) var exportsByName: [WasmName: ExternalValue] = [:]
    /// Exports keyed by `String`, for convenience; canonically equivalent names collapse here.
    public var exports: [String: ExternalValue] {
        Dictionary(exportsByName.map { ($0.key.string, $0.value) }, uniquingKeysWith: { first, _ in first })
    }
    let context: UnsafeMutablePointer<InstanceContext>
    var functionAddresses: [FunctionAddress] = []
    var memoryAddress: MemoryAddress?
    /// Element segments as reference bits; emptied when dropped.
    var elementSegments: [[UInt64]] = []
    /// Data segment ranges in the module's bytes; emptied when dropped.
    var dataSegments: [Range<Int>] = []

    init(module: LoadedModule) {
        self.module = module
        context = .allocate(capacity: 1)
    }

    /// Frees the context blocks; called by the store, which outlives every execution.
    func release() {
        context.pointee.globals.deallocate()
        context.pointee.functions.deallocate()
        context.pointee.tables.deallocate()
        context.pointee.typeIDs.deallocate()
        context.deallocate()
    }

    public func export(_ name: String) -> ExternalValue? { exportsByName[WasmName(name)] }

    /// An exported function's address, if `name` is one.
    public func exportedFunction(_ name: String) -> FunctionAddress? {
        if case .function(let address)? = export(name) { return address }
        return nil
    }

    /// The instance's memory, if it has one.
    /// The instance's memory, if it has one (imported or its own).
    public internal(set) var memory: LinearMemory?

    func functionName(_ index: Int) -> String {
        module.module.functionNames[UInt32(index)] ?? "function \(index)"
    }
}

extension Store {
    /// Instantiates with imports from a two-level dictionary (module name → field name → value).
    public func instantiate(_ module: LoadedModule, imports: [String: [String: ExternalValue]] = [:]) throws(WasmError) -> Instance {
        try instantiate(module) { imports[$0]?[$1] }
    }

    /// Instantiates with imports matched byte-wise by name, as the spec requires.
    public func instantiate(_ module: LoadedModule, exactImports imports: [WasmName: [WasmName: ExternalValue]]) throws(WasmError) -> Instance {
        try instantiate(module) { imports[WasmName($0)]?[WasmName($1)] }
    }

    /// Links `module` against `resolve`, creates its objects, initializes segments and runs its start function.
    public func instantiate(_ loaded: LoadedModule, resolve: ImportResolver) throws(WasmError) -> Instance {
        let module = loaded.module
        let instance = Instance(module: loaded)
        var functionEntries: [UnsafeMutablePointer<FunctionEntry>] = []
        var tableStates: [UnsafeMutablePointer<TableState>] = []
        var tableAddresses: [TableAddress] = []
        var globalCells: [UnsafeMutablePointer<UInt64>] = []
        var globalAddresses: [GlobalAddress] = []
        var memory: UnsafeMutablePointer<MemoryState>?

        // 1. Imports, checked against what the module declares.
        for item in module.imports {
            guard let value = resolve(item.module, item.name) else {
                throw WasmError(.unlinkable, section: "import", "unknown import \(item.module).\(item.name)")
            }
            func incompatible(_ why: String) -> WasmError {
                WasmError(.unlinkable, section: "import", "incompatible import type for \(item.module).\(item.name): \(why)")
            }
            switch (item.descriptor, value) {
            case (.function(let typeIndex), .function(let address)):
                let expected = module.types[Int(typeIndex)]
                let actual = type(of: address)
                guard expected == actual else { throw incompatible("expected \(expected), found \(actual)") }
                functionEntries.append(functions[address.index])
                instance.functionAddresses.append(address)
            case (.table(let expected), .table(let address)):
                let table = tables[address.index]
                guard table.type.element == expected.element,
                      Self.limits(UInt64(table.count), table.type.limits.max, fit: expected.limits) else {
                    throw incompatible("table limits or element type differ")
                }
                tableStates.append(table.state)
                tableAddresses.append(address)
            case (.memory(let expected), .memory(let address)):
                let linear = memories[address.index]
                guard linear.type.pageSizeLog2 == expected.pageSizeLog2,
                      Self.limits(UInt64(linear.pageCount), linear.type.limits.max, fit: expected.limits) else {
                    throw incompatible(linear.type.pageSizeLog2 == expected.pageSizeLog2 ? "memory limits differ" : "memory page sizes differ")
                }
                memory = linear.state
                instance.memoryAddress = address
                instance.memory = linear
            case (.global(let expected), .global(let address)):
                guard globals[address.index].type == expected else { throw incompatible("global type differs") }
                globalCells.append(globals[address.index].cell)
                globalAddresses.append(address)
            default:
                throw incompatible("expected a \(item.descriptor.kind), found another kind")
            }
        }

        // 2. The module's own functions.
        let importedCount = functionEntries.count
        for (i, compiled) in loaded.functions.enumerated() {
            let type = module.types[Int(compiled.typeIndex)]
            let entry = UnsafeMutablePointer<FunctionEntry>.allocate(capacity: 1)
            entry.initialize(to: FunctionEntry(code: UnsafePointer(loaded.code + compiled.codeStart), parameterCount: type.parameters.count,
                                               resultCount: type.results.count, frameSlots: compiled.frameSlots, typeID: typeID(type),
                                               instance: instance.context, storeIndex: functions.count, hostIndex: 0, moduleIndex: importedCount + i))
            functions.append(entry)
            functionEntries.append(entry)
            instance.functionAddresses.append(FunctionAddress(index: functions.count - 1))
        }

        // 3. Globals: initializers may read imported globals and reference functions.
        func evaluate(_ expression: ConstantExpression) -> UInt64 {
            switch expression {
            case .i32(let v): UInt64(v)
            case .i64(let v): v
            case .f32(let v): UInt64(v)
            case .f64(let v): v
            case .referenceNull: 0
            case .referenceFunction(let index): ReferenceBits.function(functionEntries[Int(index)])
            case .globalGet(let index): globalCells[Int(index)].pointee
            }
        }
        var ownGlobals: [UInt64] = []
        for global in module.globals { ownGlobals.append(evaluate(global.initializer)) }
        for (global, bits) in zip(module.globals, ownGlobals) {
            let address = addGlobal(global.type, value: .i64(0))
            globals[address.index].cell.pointee = bits
            globalCells.append(globals[address.index].cell)
            globalAddresses.append(address)
        }

        // 4. Tables and memory.
        for type in module.tables {
            let address = try addTable(type)
            tableAddresses.append(address)
            tableStates.append(tables[address.index].state)
        }
        for type in module.memories {
            let address = try addMemory(type)
            memory = memories[address.index].state
            instance.memoryAddress = address
            instance.memory = memories[address.index]
        }

        // 5. The context the interpreter reads.
        let functionsPointer = UnsafeMutablePointer<UnsafeMutablePointer<FunctionEntry>>.allocate(capacity: max(functionEntries.count, 1))
        functionsPointer.initialize(from: functionEntries, count: functionEntries.count)
        let globalsPointer = UnsafeMutablePointer<UnsafeMutablePointer<UInt64>>.allocate(capacity: max(globalCells.count, 1))
        globalsPointer.initialize(from: globalCells, count: globalCells.count)
        let tablesPointer = UnsafeMutablePointer<UnsafeMutablePointer<TableState>>.allocate(capacity: max(tableStates.count, 1))
        tablesPointer.initialize(from: tableStates, count: tableStates.count)
        let typeIDsPointer = UnsafeMutablePointer<Int>.allocate(capacity: max(module.types.count, 1))
        typeIDsPointer.initialize(from: module.types.map(typeID), count: module.types.count)
        instance.context.initialize(to: InstanceContext(memory: memory, globals: globalsPointer, functions: functionsPointer,
                                                        tables: tablesPointer, typeIDs: typeIDsPointer, owner: .passUnretained(instance)))
        instances.append(instance)

        // 6. Exports.
        for export in module.exports {
            let value: ExternalValue
            switch export.kind {
            case .function: value = .function(instance.functionAddresses[Int(export.index)])
            case .table: value = .table(tableAddresses[Int(export.index)])
            case .memory: value = .memory(instance.memoryAddress!)
            case .global: value = .global(globalAddresses[Int(export.index)])
            }
            instance.exportsByName[WasmName(export.name)] = value
        }

        // 7. Element and data segments: active ones are applied in order, then dropped.
        instance.elementSegments = module.elements.map { $0.initializers.map(evaluate) }
        instance.dataSegments = module.data.map(\.bytes)
        for (i, segment) in module.elements.enumerated() {
            switch segment.mode {
            case .active(let table, let offset):
                let state = tableStates[Int(table)]
                let start = Int(UInt32(truncatingIfNeeded: evaluate(offset)))
                let items = instance.elementSegments[i]
                guard start <= state.pointee.count, items.count <= state.pointee.count - start else {
                    throw WasmError(.uninstantiable, section: "element", "out of bounds table access: element segment \(i) at \(start) + \(items.count) exceeds table size \(state.pointee.count)")
                }
                for (k, item) in items.enumerated() { state.pointee.elements[start + k] = item }
                instance.elementSegments[i] = []
            case .declarative:
                instance.elementSegments[i] = []
            case .passive:
                break
            }
        }
        for (i, segment) in module.data.enumerated() {
            guard case .active(_, let offset) = segment.mode else { continue }
            let start = Int(UInt32(truncatingIfNeeded: evaluate(offset)))
            let count = segment.bytes.count
            guard let memory, start <= memory.pointee.byteCount, count <= memory.pointee.byteCount - start else {
                throw WasmError(.uninstantiable, section: "data", "out of bounds memory access: data segment \(i) at \(start) + \(count) exceeds memory size")
            }
            module.bytes.withUnsafeBytes { raw in
                (memory.pointee.base + start).copyMemory(from: raw.baseAddress! + segment.bytes.lowerBound, byteCount: count)
            }
            instance.dataSegments[i] = 0..<0
        }

        // 8. The start function.
        if let start = module.start {
            let result = invoke(instance.functionAddresses[Int(start)], [])
            if case .trapped(let trap) = result {
                throw WasmError(.uninstantiable, section: "start", "start function trapped: \(trap.specText)")
            }
        }
        return instance
    }

    /// Import subtyping of limits: the provided size and maximum must fit within the declared ones.
    static func limits(_ current: UInt64, _ max: UInt64?, fit declared: Limits) -> Bool {
        guard current >= declared.min else { return false }
        if let declaredMax = declared.max {
            guard let max, max <= declaredMax else { return false }
        }
        return true
    }
}

extension Import.Descriptor {
    var kind: ExternalKind {
        switch self {
        case .function: .function
        case .table: .table
        case .memory: .memory
        case .global: .global
        }
    }
}
