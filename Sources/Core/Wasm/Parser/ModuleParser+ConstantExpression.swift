// Constant expressions (global initializers, segment offsets, element expressions): a valid
// one is a single constant instruction and `end`.

extension ModuleParser {
    /// Decodes one constant expression through its `end`. An expression that decodes but cannot be
    /// valid is recorded as the module's pending `.invalid` error and returned as a placeholder.
    ///
    /// Anything but one constant instruction is still decoded to its `end`, to tell a malformed
    /// module (an unknown opcode, a missing `end`) from an invalid one ("constant expression
    /// required", "type mismatch"), as the reference decoder and validator do. Nested blocks only
    /// move a depth counter: no recursion on input.
    mutating func readConstantExpression(_ r: inout ByteReader) throws(WasmError) -> ConstantExpression {
        let start = r.offset
        var first: ConstantExpression?
        var instructionCount = 0
        var depth = 0
        // The first instruction, in order, that makes the expression non-constant.
        var problem: (offset: Int, detail: String)?

        while true {
            let opcodeOffset = r.offset
            let opcode = try r.readByte()
            if opcode == 0x0B {
                if depth == 0 { break }
                depth -= 1
                continue
            }
            instructionCount += 1
            var constant: ConstantExpression?
            switch opcode {
            case 0x41: constant = .i32(UInt32(bitPattern: try r.readS32()))
            case 0x42: constant = .i64(UInt64(bitPattern: try r.readS64()))
            case 0x43: constant = .f32(try r.readF32Bits())
            case 0x44: constant = .f64(try r.readF64Bits())
            case 0xD0: constant = .referenceNull(try r.readReferenceType())
            case 0xD2: constant = .referenceFunction(try r.readU32())
            case 0x23:
                let index = try r.readU32()
                constant = .globalGet(index)
                // Only an expression of several instructions is judged here; a lone global.get
                // is representable and left to the module validator.
                if problem == nil {
                    if Int(index) >= importedGlobalTypes.count {
                        problem = (opcodeOffset, "unknown global \(index)")
                    } else if importedGlobalTypes[Int(index)].mutable {
                        problem = (opcodeOffset, "constant expression required: global \(index) is mutable")
                    }
                }
            default:
                try Self.skipNonConstantInstruction(opcode, at: opcodeOffset, &r, depth: &depth)
                if problem == nil {
                    problem = (opcodeOffset, "constant expression required: opcode 0x\(String(opcode, radix: 16))")
                }
            }
            if instructionCount == 1 { first = constant }
        }

        if instructionCount == 1, let first {
            return first
        }
        if let problem {
            recordInvalid(at: problem.offset, problem.detail)
        } else {
            // Only constant instructions, but zero or several values: a typing failure.
            recordInvalid(at: start, "type mismatch: a constant expression must be exactly one instruction, found \(instructionCount)")
        }
        return .i32(0)
    }

    /// Reads the immediates of any other WebAssembly 2.0 (non-SIMD) instruction, so decoding can
    /// find the expression's end; unknown opcodes are malformed, as in a function body.
    static func skipNonConstantInstruction(_ opcode: UInt8, at offset: Int, _ r: inout ByteReader, depth: inout Int) throws(WasmError) {
        switch opcode {
        case 0x00, 0x01, 0x05, 0x0F, 0x1A, 0x1B, 0x45...0xC4, 0xD1:
            break                                           // no immediates
        case 0x02, 0x03, 0x04:                              // block, loop, if: a block type
            _ = try r.readS33()
            depth += 1
        case 0x0C, 0x0D, 0x10, 0x20...0x22, 0x24, 0x25, 0x26:
            _ = try r.readU32()                             // one index
        case 0x0E:                                          // br_table
            let count = try r.readCount("br_table targets")
            for _ in 0...count { _ = try r.readU32() }
        case 0x11:                                          // call_indirect: type, table
            _ = try r.readU32()
            _ = try r.readU32()
        case 0x1C:                                          // typed select
            let count = try r.readCount("select types")
            for _ in 0..<count { _ = try r.readValueType() }
        case 0x28...0x3E:                                   // memory access: alignment, offset
            _ = try r.readU32()
            _ = try r.readU32()
        case 0x3F, 0x40:                                    // memory.size, memory.grow
            try readZeroByte(&r)
        case 0xFC:
            let subOpcode = try r.readU32()
            switch subOpcode {
            case 0...7: break                               // saturating truncations
            case 8:                                         // memory.init
                _ = try r.readU32()
                try readZeroByte(&r)
            case 9, 13, 15, 16, 17: _ = try r.readU32()     // data.drop, elem.drop, table.grow/size/fill
            case 10:                                        // memory.copy
                try readZeroByte(&r)
                try readZeroByte(&r)
            case 11: try readZeroByte(&r)                   // memory.fill
            case 12, 14:                                    // table.init, table.copy
                _ = try r.readU32()
                _ = try r.readU32()
            default:
                throw r.malformed("illegal opcode 0xfc \(subOpcode)", at: offset)
            }
        default:
            throw r.malformed("illegal opcode 0x\(String(opcode, radix: 16))", at: offset)
        }
    }

    static func readZeroByte(_ r: inout ByteReader) throws(WasmError) {
        let offset = r.offset
        guard try r.readByte() == 0 else { throw r.malformed("zero byte expected", at: offset) }
    }
}
