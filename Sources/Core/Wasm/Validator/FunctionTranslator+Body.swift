// The instruction loop: decode each wasm instruction, check its types, emit its words.

extension FunctionTranslator {
    /// Translates the body in `reader` (positioned at the first instruction) and returns the frame size.
    mutating func translate(_ reader: inout ByteReader) throws(WasmError) -> Int {
        controls.append(ControlFrame(kind: .function, parameters: [], results: type.results, height: 0))
        if localCount > type.parameters.count {
            code.append(Word.make(.enter, type.parameters.count, localCount))
        }
        while !controls.isEmpty {
            instructionOffset = reader.offset
            guard !reader.isAtEnd else {
                throw WasmError(.malformed, section: "code", function: functionIndex, offset: reader.offset, "unexpected end of section or function")
            }
            let opcode = try reader.readByte()
            try translateInstruction(opcode, &reader)
        }
        guard reader.isAtEnd else {
            throw WasmError(.malformed, section: "code", function: functionIndex, offset: reader.offset, "section size mismatch: bytes after the function's end")
        }
        let frameSlots = localCount + max(maxHeight, 1)
        guard frameSlots <= WasmLimits.frameSlotsMax else {
            throw WasmError(.limitExceeded, section: "code", function: functionIndex, offset: instructionOffset,
                            "function needs \(frameSlots) frame slots, Fireball allows \(WasmLimits.frameSlotsMax)")
        }
        return max(frameSlots, type.results.count)
    }

    mutating func noteFloat(_ type: ValueType?) throws(WasmError) {
        guard let type, type.isFloat else { return }
        usesFloat = true
        guard context.allowFloat else {
            throw WasmError(.refusedByPolicy, section: "code", function: functionIndex, offset: instructionOffset,
                            "uses floating point (\(type)) and this board has no FPU")
        }
    }

    mutating func readBlockType(_ reader: inout ByteReader) throws(WasmError) -> FunctionType {
        let first = reader.bytes[reader.offset]
        if first == 0x40 {
            reader.offset += 1
            return FunctionType(parameters: [], results: [])
        }
        if let value = ValueType(rawValue: first) {
            reader.offset += 1
            try noteFloat(value)
            return FunctionType(parameters: [], results: [value])
        }
        let index = try reader.readS33()
        guard index >= 0, index < context.types.count else { throw invalid("unknown type \(index)") }
        return context.types[Int(index)]
    }

    mutating func readMemoryArgument(_ reader: inout ByteReader, naturalAlignment: UInt32) throws(WasmError) -> UInt32 {
        let alignment = try reader.readU32()
        let offset = try reader.readU32()
        guard context.hasMemory else { throw invalid("unknown memory 0") }
        guard alignment <= naturalAlignment else { throw invalid("alignment must not be larger than natural") }
        return offset
    }

    mutating func readLocalIndex(_ reader: inout ByteReader) throws(WasmError) -> Int {
        let index = Int(try reader.readU32())
        guard index < localCount else { throw invalid("unknown local \(index)") }
        return index
    }

    mutating func readTableIndex(_ reader: inout ByteReader) throws(WasmError) -> Int {
        let index = Int(try reader.readU32())
        guard index < context.tables.count else { throw invalid("unknown table \(index)") }
        return index
    }

    mutating func checkControlDepth() throws(WasmError) {
        guard controls.count < WasmLimits.controlDepthMax else {
            throw WasmError(.limitExceeded, section: "code", function: functionIndex, offset: instructionOffset,
                            "blocks nested deeper than \(WasmLimits.controlDepthMax)")
        }
    }

    mutating func enterBlock(_ kind: ControlFrame.Kind, _ blockType: FunctionType) throws(WasmError) {
        try checkControlDepth()
        let parameters = try pop(blockType.parameters)
        let height = operands.count
        for (value, type) in zip(parameters, blockType.parameters) { push(type, value.location) }
        materializeAll()
        lastProducer = nil
        var frame = ControlFrame(kind: kind, parameters: blockType.parameters, results: blockType.results, height: height)
        frame.dead = !reachable
        frame.loopStart = code.count
        controls.append(frame)
    }

    /// Checks and places the results at the end of a block or at `else`, leaving the stack at the frame's height.
    mutating func closeBranch(of frameIndex: Int) throws(WasmError) {
        let frame = controls[frameIndex]
        let values = try pop(frame.results)
        guard operands.count == frame.height else { throw invalid("type mismatch: \(operands.count - frame.height) values left in block") }
        // Put them back to place them in the label slots, then drop them again.
        for (value, type) in zip(values, frame.results) { push(type, value.location) }
        // The results go where the block's end expects them (for a loop this is not its label).
        if reachable { emitMoves(count: frame.results.count, toHeight: frame.height) }
        for _ in frame.results { _ = try popOperand() }
    }

    /// Emits a branch taken when `condition` (at `height`) is non-zero, or zero if `negate`; fuses a
    /// preceding comparison into it when it can. Returns the site of the branch offset.
    mutating func emitConditionalBranch(_ condition: Operand, height: Int, negate: Bool) -> (instruction: Int, site: PatchSite)? {
        guard reachable else { return nil }
        let conditionSlot = slot(ofHeight: height)
        if condition.location == .slot, let producer = adjacentProducer, producer.slot == conditionSlot {
            let word = code[producer.word]
            let op = Word.op(word)
            if let fused = Self.fusedBranch(for: op, negate: negate) {
                // Compare-and-branch: the comparison's operands, then one word with the target
                // (low 32 bits, patched later) and, for immediate forms, the constant (high 32 bits).
                let immediate = producer.word + 1 < code.count ? code[producer.word + 1] : 0
                code.removeSubrange(producer.word...)
                let at = emit(Word.make(fused, 0, Word.b(word), Word.c(word)))
                code.append(UInt64(UInt32(truncatingIfNeeded: immediate)) << 32)
                return (at, PatchSite(instruction: at, word: at + 1, inHighBits: false, keepsHighBits: true))
            }
            if op == .i32Eqz {
                code.removeSubrange(producer.word...)
                let at = emit(Word.make(negate ? .brIf : .brIfNot, Word.b(word)))
                return (at, PatchSite(instruction: at, word: at, inHighBits: true))
            }
        }
        let source = source(condition, height: height)
        let at = emit(Word.make(negate ? .brIfNot : .brIf, source))
        return (at, PatchSite(instruction: at, word: at, inHighBits: true))
    }

    static func fusedBranch(for op: Op, negate: Bool) -> Op? {
        let compares: [Op] = [.i32Eq, .i32Ne, .i32LtS, .i32LtU, .i32GtS, .i32GtU, .i32LeS, .i32LeU, .i32GeS, .i32GeU]
        let immediates: [Op] = [.i32EqImm, .i32NeImm, .i32LtSImm, .i32LtUImm, .i32GtSImm, .i32GtUImm, .i32LeSImm, .i32LeUImm, .i32GeSImm, .i32GeUImm]
        // Negation pairs by position: eq/ne, lt_s/ge_s, lt_u/ge_u, gt_s/le_s, gt_u/le_u.
        let negated = [1, 0, 8, 9, 6, 7, 4, 5, 2, 3]
        let branches: [Op] = [.brIfEq, .brIfNe, .brIfLtS, .brIfLtU, .brIfGtS, .brIfGtU, .brIfLeS, .brIfLeU, .brIfGeS, .brIfGeU]
        let immediateBranches: [Op] = [.brIfEqImm, .brIfNeImm, .brIfLtSImm, .brIfLtUImm, .brIfGtSImm, .brIfGtUImm, .brIfLeSImm, .brIfLeUImm, .brIfGeSImm, .brIfGeUImm]
        if let i = compares.firstIndex(of: op) { return branches[negate ? negated[i] : i] }
        if let i = immediates.firstIndex(of: op) { return immediateBranches[negate ? negated[i] : i] }
        return nil
    }

    // MARK: the instruction switch

    mutating func translateInstruction(_ opcode: UInt8, _ reader: inout ByteReader) throws(WasmError) {
        switch opcode {
        case 0x00: // unreachable
            emit(Word.make(.unreachable))
            markUnreachable()
        case 0x01: // nop
            break
        case 0x02: try enterBlock(.block, try readBlockType(&reader))
        case 0x03: try enterBlock(.loop, try readBlockType(&reader))
        case 0x04: // if
            try checkControlDepth()
            let blockType = try readBlockType(&reader)
            let condition = try pop(.i32)
            let conditionHeight = operands.count
            let parameters = try pop(blockType.parameters)
            let height = operands.count
            for (value, type) in zip(parameters, blockType.parameters) { push(type, value.location) }
            // Parameters and everything below go to their slots first; the condition was popped.
            materializeAll()
            let branch = emitConditionalBranch(condition, height: conditionHeight, negate: true)
            var frame = ControlFrame(kind: .if, parameters: blockType.parameters, results: blockType.results, height: height)
            frame.dead = !reachable
            frame.elseBranch = branch?.site
            controls.append(frame)
            lastProducer = nil
        case 0x05: // else
            let index = controls.count - 1
            guard controls[index].kind == .if else { throw invalid("else without if") }
            try closeBranch(of: index)
            if reachable {
                let at = emit(Word.make(.br))
                controls[index].patches.append(PatchSite(instruction: at, word: at, inHighBits: true))
            }
            if let site = controls[index].elseBranch { bind(site) }
            controls[index].elseBranch = nil
            controls[index].kind = .else
            controls[index].unreachable = false
            for parameter in controls[index].parameters { push(parameter) }
            lastProducer = nil
        case 0x0B: // end
            let index = controls.count - 1
            let frame = controls[index]
            if frame.kind == .if, frame.parameters != frame.results {
                throw invalid("type mismatch: if without else must leave its parameters as results")
            }
            if frame.kind == .function {
                try emitReturn()
                guard operands.isEmpty else { throw invalid("type mismatch: \(operands.count) values left at the function's end") }
                controls.removeLast()
                return
            }
            try closeBranch(of: index)
            if let site = frame.elseBranch { bind(site) }
            for site in controls[index].patches { bind(site) }
            controls.removeLast()
            for result in frame.results { push(result) }
            lastProducer = nil
        case 0x0C: // br
            let depth = try reader.readU32()
            let frame = try labelFrame(depth)
            let values = try pop(controls[frame].labelTypes)
            for (value, type) in zip(values, controls[frame].labelTypes) { push(type, value.location) }
            try emitBranch(depth: depth)
            markUnreachable()
        case 0x0D: // br_if
            let depth = try reader.readU32()
            let condition = try pop(.i32)
            let conditionHeight = operands.count
            let frame = try labelFrame(depth)
            let values = try pop(controls[frame].labelTypes)
            for (value, type) in zip(values, controls[frame].labelTypes) { push(type, value.location) }
            guard reachable else { break }
            if valuesInPlace(for: frame) {
                if let branch = emitConditionalBranch(condition, height: conditionHeight, negate: false) {
                    link(branch.site, depth: Int(depth))
                }
            } else {
                let skip = emitConditionalBranch(condition, height: conditionHeight, negate: true)
                try emitBranch(depth: depth)
                if let skip { bind(skip.site) }
            }
            lastProducer = nil
        case 0x0E: // br_table
            try translateBranchTable(&reader)
        case 0x0F: // return
            try emitReturn()
            markUnreachable()
        case 0x10: // call
            let index = try reader.readU32()
            guard Int(index) < context.functionTypes.count else { throw invalid("unknown function \(index)") }
            try emitCall(context.functionTypes[Int(index)], Word.make(.call, 0, imm32: index), extra: nil)
        case 0x11: // call_indirect
            let typeIndex = try reader.readU32()
            let table = try readTableIndex(&reader)
            guard Int(typeIndex) < context.types.count else { throw invalid("unknown type \(typeIndex)") }
            guard context.tables[table].element == .funcref else { throw invalid("type mismatch: call_indirect on a table of \(context.tables[table].element)") }
            let element = try pop(.i32)
            let elementSlot = source(element, height: operands.count)
            try emitCall(context.types[Int(typeIndex)], Word.make(.callIndirect, 0, elementSlot, table), extra: UInt64(typeIndex))
        case 0x1A: // drop
            _ = try popOperand()
        case 0x1B, 0x1C: // select, select t
            var declared: ValueType? = nil
            if opcode == 0x1C {
                let count = try reader.readU32()
                guard count == 1 else { throw invalid("invalid result arity for select: \(count)") }
                let byte = try reader.readByte()
                guard let type = ValueType(rawValue: byte) else { throw invalid("malformed value type 0x\(String(byte, radix: 16))") }
                declared = type
            }
            let condition = try pop(.i32)
            let conditionHeight = operands.count
            let second = try popOperand()
            let first = try popOperand()
            var type = declared ?? first.type ?? second.type
            if let declared {
                if let t = first.type, t != declared { throw invalid("type mismatch in select") }
                if let t = second.type, t != declared { throw invalid("type mismatch in select") }
            } else {
                if let a = first.type, let b = second.type, a != b { throw invalid("type mismatch in select") }
                if let t = type, t.isReference { throw invalid("type mismatch: select without a type on references") }
            }
            if type == nil && declared != nil { type = declared }
            try noteFloat(type)
            let height = operands.count
            let a = source(first, height: height)
            let b = source(second, height: height + 1)
            let c = source(condition, height: conditionHeight)
            emitProducer(Word.make(.select, slot(ofHeight: height), a, b), extra: UInt64(c))
            push(type)
        case 0x20: // local.get
            let index = try readLocalIndex(&reader)
            try noteFloat(locals[index])
            push(locals[index], .local(index))
        case 0x21, 0x22: // local.set, local.tee
            let index = try readLocalIndex(&reader)
            let value = try pop(locals[index])
            try setLocal(index, value, height: operands.count)
            if opcode == 0x22 { push(locals[index], .local(index)) }
        case 0x23: // global.get
            let index = Int(try reader.readU32())
            guard index < context.globals.count else { throw invalid("unknown global \(index)") }
            try noteFloat(context.globals[index].value)
            emitProducer(Word.make(.globalGet, slot(ofHeight: operands.count), imm32: UInt32(index)))
            push(context.globals[index].value)
        case 0x24: // global.set
            let index = Int(try reader.readU32())
            guard index < context.globals.count else { throw invalid("unknown global \(index)") }
            guard context.globals[index].mutable else { throw invalid("global is immutable: global.set \(index)") }
            let value = try pop(context.globals[index].value)
            emit(Word.make(.globalSet, source(value, height: operands.count), imm32: UInt32(index)))
        case 0x25: // table.get
            let table = try readTableIndex(&reader)
            let index = try pop(.i32)
            let height = operands.count
            emitProducer(Word.make(.tableGet, slot(ofHeight: height), source(index, height: height)), extra: UInt64(table))
            push(context.tables[table].element)
        case 0x26: // table.set
            let table = try readTableIndex(&reader)
            let value = try pop(context.tables[table].element)
            let index = try pop(.i32)
            let height = operands.count
            emit(Word.make(.tableSet, source(index, height: height), source(value, height: height + 1)))
            emitExtra(UInt64(table))
        case 0x28...0x35:
            try translateLoad(opcode, &reader)
        case 0x36...0x3E:
            try translateStore(opcode, &reader)
        case 0x3F: // memory.size
            guard try reader.readByte() == 0 else { throw WasmError(.malformed, section: "code", function: functionIndex, offset: reader.offset - 1, "zero byte expected") }
            guard context.hasMemory else { throw invalid("unknown memory 0") }
            emitProducer(Word.make(.memorySize, slot(ofHeight: operands.count)))
            push(.i32)
        case 0x40: // memory.grow
            guard try reader.readByte() == 0 else { throw WasmError(.malformed, section: "code", function: functionIndex, offset: reader.offset - 1, "zero byte expected") }
            guard context.hasMemory else { throw invalid("unknown memory 0") }
            let delta = try pop(.i32)
            let height = operands.count
            emitProducer(Word.make(.memoryGrow, slot(ofHeight: height), source(delta, height: height)))
            push(.i32)
        case 0x41: // i32.const
            push(.i32, .constant(UInt64(UInt32(bitPattern: try reader.readS32()))))
        case 0x42: // i64.const
            push(.i64, .constant(UInt64(bitPattern: try reader.readS64())))
        case 0x43: // f32.const
            let bits = try reader.readF32Bits()
            try noteFloat(.f32)
            push(.f32, .constant(UInt64(bits)))
        case 0x44: // f64.const
            let bits = try reader.readF64Bits()
            try noteFloat(.f64)
            push(.f64, .constant(bits))
        case 0x45...0xC4:
            try translateNumeric(Op(rawValue: opcode - 0x45)!)
        case 0xD0: // ref.null t
            let byte = try reader.readByte()
            guard let type = ValueType(rawValue: byte), type.isReference else { throw WasmError(.malformed, section: "code", function: functionIndex, offset: reader.offset - 1, "malformed reference type") }
            push(type, .constant(0))
        case 0xD1: // ref.is_null
            let value = try popOperand()
            if let type = value.type, !type.isReference { throw invalid("type mismatch: ref.is_null on \(type)") }
            let height = operands.count
            emitProducer(Word.make(.refIsNull, slot(ofHeight: height), source(value, height: height)))
            push(.i32)
        case 0xD2: // ref.func
            let index = try reader.readU32()
            guard Int(index) < context.functionTypes.count else { throw invalid("unknown function \(index)") }
            guard context.declaredReferences.contains(index) else { throw invalid("undeclared function reference \(index)") }
            emitProducer(Word.make(.refFunc, slot(ofHeight: operands.count), imm32: index))
            push(.funcref)
        case 0xFC:
            try translatePrefixed(&reader)
        default:
            throw WasmError(.malformed, section: "code", function: functionIndex, offset: instructionOffset, "illegal opcode 0x\(String(opcode, radix: 16))")
        }
    }

    mutating func emitExtra(_ word: UInt64) {
        guard reachable else { return }
        code.append(word)
    }

    mutating func setLocal(_ index: Int, _ value: Operand, height: Int) throws(WasmError) {
        guard reachable else { return }
        if value.location == .local(index) { return }
        let valueSlot = slot(ofHeight: height)
        if value.location == .slot, let producer = adjacentProducer, producer.slot == valueSlot,
           !operands.contains(where: { $0.location == .local(index) }) {
            // Retarget the producer to write the local directly.
            code[producer.word] = (code[producer.word] & ~(UInt64(0xFFFF) << 16)) | UInt64(index) << 16
            lastProducer = nil
            return
        }
        flushPending(local: index)
        switch value.location {
        case .slot: emit(Word.make(.copy, index, valueSlot))
        case .local(let other): emit(Word.make(.copy, index, other))
        case .constant(let bits):
            emitConstant(bits, into: index)
            lastProducer = nil
        }
    }

    mutating func emitReturn() throws(WasmError) {
        let values = try pop(type.results)
        guard reachable else { return }
        emitReturnSequence(values, base: operands.count)
    }

    /// Moves `values` (which sat from `base` up) to slots 0..<n, where the caller expects
    /// results, and returns. Used by `return`, the function's `end` and branches to its label.
    mutating func emitReturnSequence(_ values: [Operand], base: Int) {
        if values.count == 1, values[0].location == .slot, let producer = adjacentProducer, producer.slot == slot(ofHeight: base) {
            code[producer.word] &= ~(UInt64(0xFFFF) << 16)
            lastProducer = nil
        } else {
            // Slots 0..<n are locals: if a result still pending on local l is needed after slot l
            // has been written, stage every result through its stack slot first.
            let clobbered = values.enumerated().contains { j, value in
                if case .local(let l) = value.location { return l < j }
                return false
            }
            if clobbered {
                for (i, value) in values.enumerated() { pushValue(value, at: base + i) }
            }
            for (i, value) in values.enumerated() {
                switch value.location {
                case .slot: emit(Word.make(.copy, i, slot(ofHeight: base + i)))
                case _ where clobbered: emit(Word.make(.copy, i, slot(ofHeight: base + i)))
                case .local(let local): if local != i { emit(Word.make(.copy, i, local)) }
                case .constant(let bits): emitConstant(bits, into: i)
                }
            }
        }
        emit(Word.make(.return))
    }

    /// Writes `value` into the slot at `height` (used when results must be staged).
    mutating func pushValue(_ value: Operand, at height: Int) {
        let target = slot(ofHeight: height)
        if height + 1 > maxHeight { maxHeight = height + 1 }
        switch value.location {
        case .slot: return
        case .local(let local): emit(Word.make(.copy, target, local))
        case .constant(let bits): emitConstant(bits, into: target)
        }
    }

    mutating func emitCall(_ callee: FunctionType, _ word: UInt64, extra: UInt64?) throws(WasmError) {
        for t in callee.parameters { try noteFloat(t) }
        for t in callee.results { try noteFloat(t) }
        let arguments = try pop(callee.parameters)
        let base = operands.count
        // Arguments go to consecutive slots at the top; they become the callee's first locals.
        for (i, argument) in arguments.enumerated() { pushValue(argument, at: base + i) }
        emit((word & ~(UInt64(0xFFFF) << 16)) | UInt64(slot(ofHeight: base)) << 16)
        if let extra { emitExtra(extra) }
        for result in callee.results { push(result) }
    }
}
