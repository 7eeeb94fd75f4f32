// The contents of each section. Each function reads one section from where it starts; the
// caller checks that exactly the declared size was consumed.

extension ModuleParser {
    /// Custom sections never make a module malformed beyond their name; the `name` section is
    /// read for function names on a best-effort basis and ignored if it does not decode.
    mutating func parseCustomSection(_ r: inout ByteReader) throws(WasmError) {
        let name = try r.readUTF8Name()
        if name == "name" {
            var payload = r
            if let names = try? Self.decodeFunctionNames(&payload) {
                module.functionNames = names
            }
        }
        r.offset = r.end
    }

    /// The function-names subsection (id 1) of a `name` section, or an empty map if it has none.
    static func decodeFunctionNames(_ r: inout ByteReader) throws(WasmError) -> [UInt32: String] {
        while !r.isAtEnd {
            let id = try r.readByte()
            let size = try r.readLength()
            guard id == 1 else {
                r.offset += size
                continue
            }
            var subsection = ByteReader(bytes: r.bytes, offset: r.offset, end: r.offset + size)
            var names: [UInt32: String] = [:]
            let count = try subsection.readCount("function names")
            for _ in 0..<count {
                let index = try subsection.readU32()
                names[index] = try subsection.readUTF8Name()
            }
            guard subsection.isAtEnd else { throw subsection.malformed("name subsection size mismatch") }
            return names
        }
        return [:]
    }

    mutating func parseTypeSection(_ r: inout ByteReader) throws(WasmError) {
        let count = try r.readCount("types")
        module.types.reserveCapacity(count)
        for _ in 0..<count {
            let start = r.offset
            // The form is a signed 7-bit integer to the reference decoder: 0xE0 0x7F is
            // "integer representation too long", not a wrong form.
            guard try r.readSigned(bits: 7) == -0x20 else {
                throw r.malformed("malformed function type 0x\(String(r.bytes[start], radix: 16))", at: start)
            }
            let parameters = try readValueTypes(&r, "parameters")
            let results = try readValueTypes(&r, "results")
            module.types.append(FunctionType(parameters: parameters, results: results))
        }
    }

    func readValueTypes(_ r: inout ByteReader, _ what: String) throws(WasmError) -> [ValueType] {
        let count = try r.readCount(what)
        var types: [ValueType] = []
        types.reserveCapacity(count)
        for _ in 0..<count { types.append(try r.readValueType()) }
        return types
    }

    mutating func parseImportSection(_ r: inout ByteReader) throws(WasmError) {
        let count = try r.readCount("imports")
        module.imports.reserveCapacity(count)
        for _ in 0..<count {
            let moduleName = try r.readUTF8Name()
            let name = try r.readUTF8Name()
            let kindOffset = r.offset
            let descriptor: Import.Descriptor
            switch try r.readByte() {
            case 0:
                descriptor = .function(typeIndex: try r.readU32())
                importedFunctionCount += 1
            case 1:
                descriptor = .table(try r.readTableType())
            case 2:
                descriptor = .memory(try r.readMemoryType())
            case 3:
                let type = try r.readGlobalType()
                importedGlobalTypes.append(type)
                descriptor = .global(type)
            case let kind:
                throw r.malformed("malformed import kind \(kind)", at: kindOffset)
            }
            module.imports.append(Import(module: moduleName, name: name, descriptor: descriptor))
        }
    }

    mutating func parseFunctionSection(_ r: inout ByteReader) throws(WasmError) {
        let count = try r.readCount("functions")
        module.functionTypeIndices.reserveCapacity(count)
        for _ in 0..<count { module.functionTypeIndices.append(try r.readU32()) }
    }

    mutating func parseTableSection(_ r: inout ByteReader) throws(WasmError) {
        let count = try r.readCount("tables")
        module.tables.reserveCapacity(count)
        for _ in 0..<count { module.tables.append(try r.readTableType()) }
    }

    mutating func parseMemorySection(_ r: inout ByteReader) throws(WasmError) {
        let count = try r.readCount("memories")
        module.memories.reserveCapacity(count)
        for _ in 0..<count { module.memories.append(try r.readMemoryType()) }
    }

    mutating func parseGlobalSection(_ r: inout ByteReader) throws(WasmError) {
        let count = try r.readCount("globals")
        module.globals.reserveCapacity(count)
        for _ in 0..<count {
            let type = try r.readGlobalType()
            let initializer = try readConstantExpression(&r)
            module.globals.append(Global(type: type, initializer: initializer))
        }
    }

    mutating func parseExportSection(_ r: inout ByteReader) throws(WasmError) {
        let count = try r.readCount("exports")
        module.exports.reserveCapacity(count)
        for _ in 0..<count {
            let name = try r.readUTF8Name()
            let kindOffset = r.offset
            let kindByte = try r.readByte()
            guard let kind = ExternalKind(rawValue: kindByte) else {
                throw r.malformed("malformed export kind \(kindByte)", at: kindOffset)
            }
            module.exports.append(Export(name: name, kind: kind, index: try r.readU32()))
        }
    }

    /// The eight encodings of an element segment: bit 0 passive or declarative, bit 1 an explicit
    /// table index (active) or declarative (otherwise), bit 2 expressions instead of function indices.
    mutating func parseElementSection(_ r: inout ByteReader) throws(WasmError) {
        let count = try r.readCount("element segments")
        module.elements.reserveCapacity(count)
        for _ in 0..<count {
            let flagsOffset = r.offset
            let flags = try r.readU32()
            guard flags <= 7 else {
                throw r.malformed("malformed elements segment kind \(flags)", at: flagsOffset)
            }
            let isPassiveOrDeclarative = flags & 1 != 0
            let hasTableIndexOrIsDeclarative = flags & 2 != 0
            let usesExpressions = flags & 4 != 0

            let mode: ElementSegment.Mode
            if isPassiveOrDeclarative {
                mode = hasTableIndexOrIsDeclarative ? .declarative : .passive
            } else {
                let table = hasTableIndexOrIsDeclarative ? try r.readU32() : 0
                mode = .active(table: table, offset: try readConstantExpression(&r))
            }
            // Encodings 0 and 4 have neither element kind nor type: funcref is implied.
            let hasType = isPassiveOrDeclarative || hasTableIndexOrIsDeclarative
            var type = ValueType.funcref
            if usesExpressions {
                if hasType { type = try r.readReferenceType() }
                let itemCount = try r.readCount("element expressions")
                var items: [ConstantExpression] = []
                items.reserveCapacity(itemCount)
                for _ in 0..<itemCount { items.append(try readConstantExpression(&r)) }
                module.elements.append(ElementSegment(type: type, mode: mode, initializers: items))
            } else {
                if hasType {
                    let kindOffset = r.offset
                    let kind = try r.readByte()
                    guard kind == 0x00 else { throw r.malformed("malformed element kind \(kind)", at: kindOffset) }
                }
                let itemCount = try r.readCount("element function indices")
                var items: [ConstantExpression] = []
                items.reserveCapacity(itemCount)
                for _ in 0..<itemCount { items.append(.referenceFunction(try r.readU32())) }
                module.elements.append(ElementSegment(type: type, mode: mode, initializers: items))
            }
        }
    }

    mutating func parseCodeSection(_ r: inout ByteReader) throws(WasmError) {
        sawCodeSection = true
        let countOffset = r.offset
        let count = try r.readCount("function bodies")
        guard count == module.functionTypeIndices.count else {
            throw r.malformed("function and code section have inconsistent lengths: \(module.functionTypeIndices.count) functions, \(count) bodies", at: countOffset)
        }
        module.bodies.reserveCapacity(count)
        module.bodyOffsets.reserveCapacity(count)
        for index in 0..<count {
            do {
                try parseBody(&r, index)
            } catch {
                throw error.placed(section: "code", function: importedFunctionCount + index)
            }
        }
    }

    /// One body: its locals are decoded, its instructions only located. The last byte must be the
    /// function's final `end`; a body that lacks it cannot decode, whatever precedes it.
    mutating func parseBody(_ r: inout ByteReader, _ index: Int) throws(WasmError) {
        let sizeOffset = r.offset
        let size = try r.readLength()
        guard size <= WasmLimits.bodyBytesMax else {
            throw WasmError(.limitExceeded, offset: sizeOffset, "function body too large: \(size) bytes, at most \(WasmLimits.bodyBytesMax)")
        }
        let bodyEnd = r.offset + size
        var body = ByteReader(bytes: r.bytes, offset: r.offset, end: bodyEnd)
        let groupCount = try body.readCount("local groups")
        var locals: [(count: UInt32, type: ValueType)] = []
        locals.reserveCapacity(groupCount)
        var localCount: UInt64 = 0
        for _ in 0..<groupCount {
            let groupOffset = body.offset
            let count = try body.readU32()
            let type = try body.readValueType()
            localCount += UInt64(count)
            // The spec's own bound; Fireball's, much lower, is checked below with the parameters.
            guard localCount <= UInt64(UInt32.max) else {
                throw body.malformed("too many locals: more than 2^32-1", at: groupOffset)
            }
            locals.append((count: count, type: type))
        }
        // An out-of-range type index is the validator's to report; count no parameters then.
        let typeIndex = Int(module.functionTypeIndices[index])
        let parameterCount = typeIndex < module.types.count ? module.types[typeIndex].parameters.count : 0
        guard UInt64(parameterCount) + localCount <= UInt64(WasmLimits.localsMax) else {
            throw WasmError(.limitExceeded, offset: sizeOffset,
                            "too many locals: \(parameterCount) parameters and \(localCount) locals, at most \(WasmLimits.localsMax) in all")
        }
        let code = body.offset..<bodyEnd
        guard let last = code.last else {
            throw body.malformed(ByteReader.unexpectedEndOfSection + ": body has no instructions")
        }
        guard r.bytes[last] == 0x0B else {
            throw body.malformed("END opcode expected at the end of the body", at: last)
        }
        module.bodies.append(FunctionBody(locals: locals, code: code))
        module.bodyOffsets.append(sizeOffset)
        r.offset = bodyEnd
    }

    mutating func parseDataSection(_ r: inout ByteReader) throws(WasmError) {
        let countOffset = r.offset
        let count = try r.readCount("data segments")
        if let dataCount = module.dataCount, Int(dataCount) != count {
            throw r.malformed("data count and data section have inconsistent lengths: \(dataCount) declared, \(count) segments", at: countOffset)
        }
        module.data.reserveCapacity(count)
        for _ in 0..<count {
            let flagsOffset = r.offset
            let mode: DataSegment.Mode
            switch try r.readU32() {
            case 0: mode = .active(memory: 0, offset: try readConstantExpression(&r))
            case 1: mode = .passive
            case 2:
                let memory = try r.readU32()
                mode = .active(memory: memory, offset: try readConstantExpression(&r))
            case let flags:
                throw r.malformed("malformed data segment kind \(flags)", at: flagsOffset)
            }
            let length = try r.readLength()
            module.data.append(DataSegment(mode: mode, bytes: try r.readBytes(length)))
        }
    }
}
