// Module-level validation of a decoded module: everything the spec requires except the
// instruction sequences of function bodies, which the body validator checks.

extension WasmModule {
    /// Checks indices, limits, exports, the start function, constant expressions and segments.
    ///
    /// Errors are `.invalid`, worded as the spec tests expect, naming the section and the entity.
    /// They carry no byte offset: the decoded module does not keep one per entity.
    public func validateModuleLevel() throws(WasmError) {
        let validator = ModuleValidator(module: self)
        try validator.validate()
    }

    /// Function indices that appear outside function bodies: in element segments (of any mode),
    /// function exports, and `ref.func` in global initializers and segment offsets.
    ///
    /// `ref.func x` in a body is valid only if `x` is in this set (the spec's C.refs).
    public var declaredFunctionReferences: Set<UInt32> {
        var references = Set<UInt32>()
        func add(_ expression: ConstantExpression) {
            if case .referenceFunction(let index) = expression { references.insert(index) }
        }
        for global in globals { add(global.initializer) }
        for segment in elements {
            if case .active(_, let offset) = segment.mode { add(offset) }
            segment.initializers.forEach(add)
        }
        for segment in data {
            if case .active(_, let offset) = segment.mode { add(offset) }
        }
        for export in exports where export.kind == .function { references.insert(export.index) }
        return references
    }
}

/// The index spaces of a module (imports first), gathered once.
struct ModuleValidator {
    let module: WasmModule
    let functionTypes: [UInt32]
    let tables: [TableType]
    let memoryCount: Int
    /// Constant expressions see only imported globals (WebAssembly 2.0).
    let importedGlobals: [GlobalType]
    let globalCount: Int

    init(module: WasmModule) {
        self.module = module
        functionTypes = module.importedFunctionTypes + module.functionTypeIndices
        tables = module.importedTables + module.tables
        memoryCount = module.importedMemories.count + module.memories.count
        importedGlobals = module.importedGlobals
        globalCount = importedGlobals.count + module.globals.count
    }

    func invalid(_ section: String, function: Int? = nil, _ detail: String) -> WasmError {
        WasmError(.invalid, section: section, function: function, detail)
    }

    func validate() throws(WasmError) {
        try validateImports()
        for (index, typeIndex) in module.functionTypeIndices.enumerated() where Int(typeIndex) >= module.types.count {
            throw invalid("function", function: module.importedFunctionTypes.count + index, "unknown type \(typeIndex)")
        }
        for (index, table) in module.tables.enumerated() {
            try validateTableLimits(table.limits, "table", "table \(index)")
        }
        if memoryCount > 1 {
            throw invalid(module.memories.isEmpty ? "import" : "memory", "multiple memories: \(memoryCount)")
        }
        for (index, memory) in module.memories.enumerated() {
            try validateMemoryLimits(memory, "memory", "memory \(index)")
        }
        for (index, global) in module.globals.enumerated() {
            try expect(global.initializer, global.type.value, "global", "global \(importedGlobals.count + index)")
        }
        try validateExports()
        try validateStart()
        try validateElements()
        try validateData()
    }

    func validateImports() throws(WasmError) {
        for (index, entry) in module.imports.enumerated() {
            let place = "import \(index) (\(entry.module).\(entry.name))"
            switch entry.descriptor {
            case .function(let typeIndex):
                guard Int(typeIndex) < module.types.count else { throw invalid("import", "unknown type \(typeIndex) in \(place)") }
            case .table(let table):
                try validateTableLimits(table.limits, "import", place)
            case .memory(let memory):
                try validateMemoryLimits(memory, "import", place)
            case .global:
                break
            }
        }
    }

    func validateTableLimits(_ limits: Limits, _ section: String, _ place: String) throws(WasmError) {
        if let max = limits.max, limits.min > max {
            throw invalid(section, "size minimum must not be greater than maximum in \(place)")
        }
    }

    func validateMemoryLimits(_ memory: MemoryType, _ section: String, _ place: String) throws(WasmError) {
        let limits = memory.limits
        guard limits.min <= memory.pagesLimit, (limits.max ?? 0) <= memory.pagesLimit else {
            throw invalid(section, "memory size must be at most \(memory.pagesLimit) pages (4GiB) in \(place)")
        }
        if let max = limits.max, limits.min > max {
            throw invalid(section, "size minimum must not be greater than maximum in \(place)")
        }
    }

    /// The type of a constant expression, checking the indices it uses.
    func type(of expression: ConstantExpression, _ section: String, _ place: String) throws(WasmError) -> ValueType {
        switch expression {
        case .i32: return .i32
        case .i64: return .i64
        case .f32: return .f32
        case .f64: return .f64
        case .referenceNull(let type): return type
        case .referenceFunction(let index):
            guard Int(index) < functionTypes.count else { throw invalid(section, "unknown function \(index) in \(place)") }
            return .funcref
        case .globalGet(let index):
            guard Int(index) < importedGlobals.count else {
                // A module's own globals exist, but are out of a constant expression's reach.
                throw invalid(section, "unknown global \(index) in \(place)"
                              + (Int(index) < globalCount ? ": only imported globals are visible here" : ""))
            }
            guard !importedGlobals[Int(index)].mutable else {
                throw invalid(section, "constant expression required in \(place): global \(index) is mutable")
            }
            return importedGlobals[Int(index)].value
        }
    }

    func expect(_ expression: ConstantExpression, _ expected: ValueType, _ section: String, _ place: String) throws(WasmError) {
        let actual = try type(of: expression, section, place)
        guard actual == expected else {
            throw invalid(section, "type mismatch in \(place): expected \(expected), found \(actual)")
        }
    }

    func validateExports() throws(WasmError) {
        // Names are compared as bytes: Swift's `String` equality is canonical equivalence, under
        // which "\u{C5}" and "A\u{30A}" are equal, but to wasm they are two names.
        var names = Set<[UInt8]>()
        names.reserveCapacity(module.exports.count)
        for export in module.exports {
            guard names.insert(Array(export.name.utf8)).inserted else {
                throw invalid("export", "duplicate export name \"\(export.name)\"")
            }
            let count = switch export.kind {
            case .function: functionTypes.count
            case .table: tables.count
            case .memory: memoryCount
            case .global: globalCount
            }
            guard Int(export.index) < count else {
                throw invalid("export", "unknown \(export.kind) \(export.index) in export \"\(export.name)\"")
            }
        }
    }

    func validateStart() throws(WasmError) {
        guard let start = module.start else { return }
        guard Int(start) < functionTypes.count else { throw invalid("start", "unknown function \(start)") }
        // The type index was checked above (imports and function section).
        let type = module.types[Int(functionTypes[Int(start)])]
        guard type.parameters.isEmpty, type.results.isEmpty else {
            throw invalid("start", function: Int(start), "start function must have type [] -> [], has \(type)")
        }
    }

    func validateElements() throws(WasmError) {
        for (index, segment) in module.elements.enumerated() {
            let place = "element segment \(index)"
            if case .active(let table, let offset) = segment.mode {
                guard Int(table) < tables.count else { throw invalid("element", "unknown table \(table) in \(place)") }
                try expect(offset, .i32, "element", place + " offset")
                guard tables[Int(table)].element == segment.type else {
                    throw invalid("element", "type mismatch in \(place): table \(table) holds \(tables[Int(table)].element), segment is \(segment.type)")
                }
            }
            for (item, initializer) in segment.initializers.enumerated() {
                try expect(initializer, segment.type, "element", place + " item \(item)")
            }
        }
    }

    func validateData() throws(WasmError) {
        for (index, segment) in module.data.enumerated() {
            guard case .active(let memory, let offset) = segment.mode else { continue }
            let place = "data segment \(index)"
            // WebAssembly 2.0 has at most one memory, so any index but 0 is unknown.
            guard Int(memory) < memoryCount else { throw invalid("data", "unknown memory \(memory) in \(place)") }
            try expect(offset, .i32, "data", place + " offset")
        }
    }
}
