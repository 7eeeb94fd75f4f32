// Translation of br_table, memory, numeric and 0xFC-prefixed instructions.

extension FunctionTranslator {
    mutating func translateBranchTable(_ reader: inout ByteReader) throws(WasmError) {
        let count = Int(try reader.readU32())
        guard count <= WasmLimits.entitiesMax else { throw invalid("br_table with \(count) targets") }
        var depths: [UInt32] = []
        depths.reserveCapacity(count + 1)
        for _ in 0...count { depths.append(try reader.readU32()) }
        let index = try pop(.i32)
        let indexHeight = operands.count
        let defaultFrame = try labelFrame(depths[count])
        let arity = controls[defaultFrame].labelTypes.count
        for depth in depths {
            let frame = try labelFrame(depth)
            let types = controls[frame].labelTypes
            guard types.count == arity else { throw invalid("type mismatch: br_table targets of different arity") }
            // Each target's types must accept the operands (checked without consuming them).
            let saved = operands
            let savedPending = pendingLocalCount
            _ = try pop(types)
            operands = saved
            pendingLocalCount = savedPending
        }
        if reachable {
            let indexSlot = source(index, height: indexHeight)
            let at = emit(Word.make(.brTable, indexSlot, imm32: UInt32(count)))
            let table = code.count
            code.append(contentsOf: repeatElement(0, count: count + 1))
            // Targets that need moves get a trampoline after the table: moves, then a plain br.
            var trampolines: [(entry: Int, depth: UInt32)] = []
            for (i, depth) in depths.enumerated() {
                let frame = controls.count - 1 - Int(depth)
                if frame > 0 && (valuesInPlace(for: frame) || arity == 0) {
                    link(PatchSite(instruction: at, word: table + i, inHighBits: false), depth: Int(depth))
                } else {
                    trampolines.append((table + i, depth))
                }
            }
            for trampoline in trampolines {
                code[trampoline.entry] = UInt64(bitPattern: Int64(code.count - at))
                try emitBranch(depth: trampoline.depth)
            }
        }
        _ = try pop(controls[defaultFrame].labelTypes)
        markUnreachable()
    }

    mutating func translateLoad(_ opcode: UInt8, _ reader: inout ByteReader) throws(WasmError) {
        // opcode → (op, natural alignment log2, result type)
        let table: [(Op, UInt32, ValueType)] = [
            (.i32Load, 2, .i32), (.i64Load, 3, .i64), (.i32Load, 2, .f32), (.i64Load, 3, .f64),
            (.i32Load8S, 0, .i32), (.i32Load8U, 0, .i32), (.i32Load16S, 1, .i32), (.i32Load16U, 1, .i32),
            (.i64Load8S, 0, .i64), (.i64Load8U, 0, .i64), (.i64Load16S, 1, .i64), (.i64Load16U, 1, .i64),
            (.i64Load32S, 2, .i64), (.i64Load32U, 2, .i64),
        ]
        let (op, alignment, type) = table[Int(opcode - 0x28)]
        let offset = try readMemoryArgument(&reader, naturalAlignment: alignment)
        try noteFloat(type)
        let address = try pop(.i32)
        let height = operands.count
        let target = slot(ofHeight: height)
        var addressSlot = source(address, height: height)
        var staticOffset = offset
        if offset > 0xFFFF {
            emit(Word.make(.addressOffset, target, addressSlot))
            emitExtra(UInt64(offset))
            addressSlot = target
            staticOffset = 0
        }
        emitProducer(Word.make(op, target, addressSlot, Int(staticOffset)))
        push(type)
    }

    mutating func translateStore(_ opcode: UInt8, _ reader: inout ByteReader) throws(WasmError) {
        let table: [(Op, UInt32, ValueType)] = [
            (.i32Store, 2, .i32), (.i64Store, 3, .i64), (.i32Store, 2, .f32), (.i64Store, 3, .f64),
            (.i32Store8, 0, .i32), (.i32Store16, 1, .i32), (.i64Store8, 0, .i64), (.i64Store16, 1, .i64), (.i64Store32, 2, .i64),
        ]
        let (op, alignment, type) = table[Int(opcode - 0x36)]
        let offset = try readMemoryArgument(&reader, naturalAlignment: alignment)
        try noteFloat(type)
        let value = try pop(type)
        let address = try pop(.i32)
        let height = operands.count
        var addressSlot = source(address, height: height)
        let valueSlot = source(value, height: height + 1)
        var staticOffset = offset
        if offset > 0xFFFF {
            // The address slot is free scratch space: the store's operands were both popped.
            let scratch = slot(ofHeight: height)
            emit(Word.make(.addressOffset, scratch, addressSlot))
            emitExtra(UInt64(offset))
            addressSlot = scratch
            staticOffset = 0
        }
        emit(Word.make(op, addressSlot, valueSlot, Int(staticOffset)))
    }

    /// Operand and result types of the numeric opcodes 0x45…0xC4.
    static func numericSignature(_ op: Op) -> (inputs: [ValueType], result: ValueType) {
        switch op {
        case .i32TruncSatF32S, .i32TruncSatF32U: return ([.f32], .i32)
        case .i32TruncSatF64S, .i32TruncSatF64U: return ([.f64], .i32)
        case .i64TruncSatF32S, .i64TruncSatF32U: return ([.f32], .i64)
        case .i64TruncSatF64S, .i64TruncSatF64U: return ([.f64], .i64)
        default: break
        }
        let o = Int(op.rawValue) + 0x45
        switch o {
        case 0x45: return ([.i32], .i32)
        case 0x46...0x4F: return ([.i32, .i32], .i32)
        case 0x50: return ([.i64], .i32)
        case 0x51...0x5A: return ([.i64, .i64], .i32)
        case 0x5B...0x60: return ([.f32, .f32], .i32)
        case 0x61...0x66: return ([.f64, .f64], .i32)
        case 0x67...0x69: return ([.i32], .i32)
        case 0x6A...0x78: return ([.i32, .i32], .i32)
        case 0x79...0x7B: return ([.i64], .i64)
        case 0x7C...0x8A: return ([.i64, .i64], .i64)
        case 0x8B...0x91: return ([.f32], .f32)
        case 0x92...0x98: return ([.f32, .f32], .f32)
        case 0x99...0x9F: return ([.f64], .f64)
        case 0xA0...0xA6: return ([.f64, .f64], .f64)
        case 0xA7: return ([.i64], .i32)
        case 0xA8, 0xA9: return ([.f32], .i32)
        case 0xAA, 0xAB: return ([.f64], .i32)
        case 0xAC, 0xAD: return ([.i32], .i64)
        case 0xAE, 0xAF: return ([.f32], .i64)
        case 0xB0, 0xB1: return ([.f64], .i64)
        case 0xB2, 0xB3: return ([.i32], .f32)
        case 0xB4, 0xB5: return ([.i64], .f32)
        case 0xB6: return ([.f64], .f32)
        case 0xB7, 0xB8: return ([.i32], .f64)
        case 0xB9, 0xBA: return ([.i64], .f64)
        case 0xBB: return ([.f32], .f64)
        case 0xBC: return ([.f32], .i32)
        case 0xBD: return ([.f64], .i64)
        case 0xBE: return ([.i32], .f32)
        case 0xBF: return ([.i64], .f64)
        case 0xC0, 0xC1: return ([.i32], .i32)
        default: return ([.i64], .i64)   // 0xC2…0xC4
        }
    }

    /// Ops with a form that takes a constant right operand (subtraction becomes adding the negation).
    static func immediateForm(_ op: Op) -> Op? {
        switch op {
        case .i32Add, .i32Sub: .i32AddImm
        case .i32And: .i32AndImm
        case .i32Or: .i32OrImm
        case .i32Xor: .i32XorImm
        case .i32Shl: .i32ShlImm
        case .i32ShrS: .i32ShrSImm
        case .i32ShrU: .i32ShrUImm
        case .i32Mul: .i32MulImm
        case .i32Eq: .i32EqImm
        case .i32Ne: .i32NeImm
        case .i32LtS: .i32LtSImm
        case .i32LtU: .i32LtUImm
        case .i32GtS: .i32GtSImm
        case .i32GtU: .i32GtUImm
        case .i32LeS: .i32LeSImm
        case .i32LeU: .i32LeUImm
        case .i32GeS: .i32GeSImm
        case .i32GeU: .i32GeUImm
        case .i64Add, .i64Sub: .i64AddImm
        case .i32Rotl, .i32Rotr: .i32RotlImm
        default: nil
        }
    }

    mutating func translateNumeric(_ op: Op) throws(WasmError) {
        let (inputs, result) = Self.numericSignature(op)
        for t in inputs { try noteFloat(t) }
        try noteFloat(result)
        // Reinterpretations and zero-extension change only the type: slots hold the same bits.
        if op == .i32ReinterpretF32 || op == .i64ReinterpretF64 || op == .f32ReinterpretI32 || op == .f64ReinterpretI64 || op == .i64ExtendI32U {
            let value = try pop(inputs[0])
            push(result, value.location)
            return
        }
        if inputs.count == 1 {
            let value = try pop(inputs[0])
            let height = operands.count
            emitProducer(Word.make(op, slot(ofHeight: height), source(value, height: height)))
            push(result)
            return
        }
        let right = try pop(inputs[1])
        let left = try pop(inputs[0])
        let height = operands.count
        let target = slot(ofHeight: height)
        if case .constant(let bits) = right.location, let immediateOp = Self.immediateForm(op) {
            var immediate = bits
            switch op {
            case .i32Sub: immediate = UInt64(0 &- UInt32(truncatingIfNeeded: bits))
            case .i64Sub: immediate = 0 &- bits
            case .i32Shl, .i32ShrS, .i32ShrU: immediate = bits & 31
            case .i32Rotl: immediate = bits & 31
            case .i32Rotr: immediate = (32 - (bits & 31)) & 31   // rotr k = rotl (32 - k)
            default: break
            }
            emitProducer(Word.make(immediateOp, target, source(left, height: height)), extra: immediate)
            push(result)
            return
        }
        let a = source(left, height: height)
        let b = source(right, height: height + 1)
        emitProducer(Word.make(op, target, a, b))
        push(result)
    }

    mutating func translatePrefixed(_ reader: inout ByteReader) throws(WasmError) {
        let sub = try reader.readU32()
        switch sub {
        case 0...7:
            try translateNumeric(Op(rawValue: Op.i32TruncSatF32S.rawValue + UInt8(sub))!)
        case 8: // memory.init
            let segment = try reader.readU32()
            guard try reader.readByte() == 0 else { throw WasmError(.malformed, section: "code", function: functionIndex, offset: reader.offset - 1, "zero byte expected") }
            guard context.hasMemory else { throw invalid("unknown memory 0") }
            guard let dataCount = context.dataCount else { throw WasmError(.malformed, section: "code", function: functionIndex, offset: instructionOffset, "data count section required") }
            guard segment < dataCount else { throw invalid("unknown data segment \(segment)") }
            try emitTernary(.memoryInit, .i32, .i32, .i32, extra: UInt64(segment))
        case 9: // data.drop
            let segment = try reader.readU32()
            guard let dataCount = context.dataCount else { throw WasmError(.malformed, section: "code", function: functionIndex, offset: instructionOffset, "data count section required") }
            guard segment < dataCount else { throw invalid("unknown data segment \(segment)") }
            emit(Word.make(.dataDrop, 0, imm32: segment))
        case 10: // memory.copy
            guard try reader.readByte() == 0, try reader.readByte() == 0 else { throw WasmError(.malformed, section: "code", function: functionIndex, offset: reader.offset - 1, "zero byte expected") }
            guard context.hasMemory else { throw invalid("unknown memory 0") }
            try emitTernary(.memoryCopy, .i32, .i32, .i32, extra: nil)
        case 11: // memory.fill
            guard try reader.readByte() == 0 else { throw WasmError(.malformed, section: "code", function: functionIndex, offset: reader.offset - 1, "zero byte expected") }
            guard context.hasMemory else { throw invalid("unknown memory 0") }
            try emitTernary(.memoryFill, .i32, .i32, .i32, extra: nil)
        case 12: // table.init
            let segment = try reader.readU32()
            let table = try readTableIndex(&reader)
            guard Int(segment) < context.elementTypes.count else { throw invalid("unknown elem segment \(segment)") }
            guard context.elementTypes[Int(segment)] == context.tables[table].element else { throw invalid("type mismatch: table.init element types differ") }
            try emitTernary(.tableInit, .i32, .i32, .i32, extra: UInt64(table) | UInt64(segment) << 32)
        case 13: // elem.drop
            let segment = try reader.readU32()
            guard Int(segment) < context.elementTypes.count else { throw invalid("unknown elem segment \(segment)") }
            emit(Word.make(.elemDrop, 0, imm32: segment))
        case 14: // table.copy
            let destination = try readTableIndex(&reader)
            let sourceTable = try readTableIndex(&reader)
            guard context.tables[destination].element == context.tables[sourceTable].element else { throw invalid("type mismatch: table.copy element types differ") }
            try emitTernary(.tableCopy, .i32, .i32, .i32, extra: UInt64(destination) | UInt64(sourceTable) << 32)
        case 15: // table.grow
            let table = try readTableIndex(&reader)
            let count = try pop(.i32)
            let initial = try pop(context.tables[table].element)
            let height = operands.count
            let a = source(initial, height: height)
            let b = source(count, height: height + 1)
            emitProducer(Word.make(.tableGrow, slot(ofHeight: height), a, b), extra: UInt64(table))
            push(.i32)
        case 16: // table.size
            let table = try readTableIndex(&reader)
            emitProducer(Word.make(.tableSize, slot(ofHeight: operands.count), imm32: UInt32(table)))
            push(.i32)
        case 17: // table.fill
            let table = try readTableIndex(&reader)
            try emitTernary(.tableFill, .i32, context.tables[table].element, .i32, extra: UInt64(table))
        default:
            throw WasmError(.malformed, section: "code", function: functionIndex, offset: instructionOffset, "illegal opcode 0xfc \(sub)")
        }
    }

    /// An instruction of three operands and no result (bulk memory and table operations).
    /// Their operands are copied to their own slots, because the interpreter updates them in
    /// place as it works through a large operation in chunks.
    mutating func emitTernary(_ op: Op, _ t0: ValueType, _ t1: ValueType, _ t2: ValueType, extra: UInt64?) throws(WasmError) {
        let third = try pop(t2)
        let second = try pop(t1)
        let first = try pop(t0)
        let height = operands.count
        pushValue(first, at: height)
        pushValue(second, at: height + 1)
        pushValue(third, at: height + 2)
        emit(Word.make(op, slot(ofHeight: height), slot(ofHeight: height + 1), slot(ofHeight: height + 2)))
        if let extra { emitExtra(extra) }
    }
}
