// The internal instruction set that validated wasm is translated into (Docs/interpreter.md).
// Register form: operands are frame slots, not an implicit stack, so `local.get a; local.get b;
// i32.add; local.set c` becomes one instruction `i32Add c, a, b`.
//
// Word layout: bits 0–15 op, 16–31 A, 32–47 B, 48–63 C (slot numbers relative to the frame);
// some ops use bits 32–63 as one 32-bit immediate, and some take further words.

/// One internal operation. Numeric ops keep the order of their wasm opcodes (0x45…0xC4), so the
/// translator maps a wasm opcode to its op by offset. Cases are contiguous from 0: the
/// interpreter turns a word's low bits into an `Op` with `unsafeBitCast` (checked in a test).
@usableFromInline
enum Op: UInt8, CaseIterable {
    // 0x45…0x50: i32 tests and comparisons, A = B op C
    case i32Eqz, i32Eq, i32Ne, i32LtS, i32LtU, i32GtS, i32GtU, i32LeS, i32LeU, i32GeS, i32GeU
    case i64Eqz, i64Eq, i64Ne, i64LtS, i64LtU, i64GtS, i64GtU, i64LeS, i64LeU, i64GeS, i64GeU
    case f32Eq, f32Ne, f32Lt, f32Gt, f32Le, f32Ge
    case f64Eq, f64Ne, f64Lt, f64Gt, f64Le, f64Ge
    case i32Clz, i32Ctz, i32Popcnt
    case i32Add, i32Sub, i32Mul, i32DivS, i32DivU, i32RemS, i32RemU, i32And, i32Or, i32Xor, i32Shl, i32ShrS, i32ShrU, i32Rotl, i32Rotr
    case i64Clz, i64Ctz, i64Popcnt
    case i64Add, i64Sub, i64Mul, i64DivS, i64DivU, i64RemS, i64RemU, i64And, i64Or, i64Xor, i64Shl, i64ShrS, i64ShrU, i64Rotl, i64Rotr
    case f32Abs, f32Neg, f32Ceil, f32Floor, f32Trunc, f32Nearest, f32Sqrt
    case f32Add, f32Sub, f32Mul, f32Div, f32Min, f32Max, f32Copysign
    case f64Abs, f64Neg, f64Ceil, f64Floor, f64Trunc, f64Nearest, f64Sqrt
    case f64Add, f64Sub, f64Mul, f64Div, f64Min, f64Max, f64Copysign
    case i32WrapI64, i32TruncF32S, i32TruncF32U, i32TruncF64S, i32TruncF64U
    case i64ExtendI32S, i64ExtendI32U, i64TruncF32S, i64TruncF32U, i64TruncF64S, i64TruncF64U
    case f32ConvertI32S, f32ConvertI32U, f32ConvertI64S, f32ConvertI64U, f32DemoteF64
    case f64ConvertI32S, f64ConvertI32U, f64ConvertI64S, f64ConvertI64U, f64PromoteF32
    case i32ReinterpretF32, i64ReinterpretF64, f32ReinterpretI32, f64ReinterpretI64
    case i32Extend8S, i32Extend16S, i64Extend8S, i64Extend16S, i64Extend32S
    // 0xFC 0…7
    case i32TruncSatF32S, i32TruncSatF32U, i32TruncSatF64S, i32TruncSatF64U
    case i64TruncSatF32S, i64TruncSatF32U, i64TruncSatF64S, i64TruncSatF64U

    // Fused with a constant operand in the next word: A = B op imm.
    case i32AddImm, i32AndImm, i32OrImm, i32XorImm, i32ShlImm, i32ShrSImm, i32ShrUImm, i32MulImm
    case i32EqImm, i32NeImm, i32LtSImm, i32LtUImm, i32GtSImm, i32GtUImm, i32LeSImm, i32LeUImm, i32GeSImm, i32GeUImm
    case i64AddImm, i32RotlImm

    // Moves. copy: A = B. const32: A = bits 32–63 (zero-extended). const64: A = next word.
    case copy, const32, const64
    /// A = zext(B) + next word: an address plus a large static offset, before a load or store.
    case addressOffset

    // Control. Branch targets are a signed word offset from the branch's first word, in bits 32–63
    // for br/brIf/brIfNot (A = condition), or in the next word for fused compare-branches.
    // A taken branch backwards is a safe point.
    case br, brIf, brIfNot
    /// B op C; next word: target offset (low 32 bits).
    case brIfEq, brIfNe, brIfLtS, brIfLtU, brIfGtS, brIfGtU, brIfLeS, brIfLeU, brIfGeS, brIfGeU
    /// B op imm; next word: target offset (low 32 bits) and imm (high 32 bits).
    case brIfEqImm, brIfNeImm, brIfLtSImm, brIfLtUImm, brIfGtSImm, brIfGtUImm, brIfLeSImm, brIfLeUImm, brIfGeSImm, brIfGeUImm
    /// A = index; bits 32–63 = count; then count+1 words of targets (the last is the default).
    case brTable
    case unreachable
    /// Results are already in slots 0..<n of the frame.
    case `return`
    /// A = first argument slot; bits 32–63 = function index in the module.
    case call
    /// A = first argument slot, B = table element index slot, C = table; next word = type id.
    case callIndirect
    /// The function prologue: zero the locals A..<B; bits 48–63 unused. Also a safe point.
    case enter

    // Parametric. select: A = (next word's low 16: cond) != 0 ? B : C.
    case select

    // Variables. globalGet: A = global[bits 32–63]; globalSet: global[bits 32–63] = A.
    case globalGet, globalSet

    // Memory: loads A = mem[zext(B) + C]; stores mem[zext(A) + C] = B. (C is a 16-bit offset;
    // larger offsets go through addressOffset.) Float loads and stores are the integer ones.
    case i32Load, i64Load, i32Load8S, i32Load8U, i32Load16S, i32Load16U
    case i64Load8S, i64Load8U, i64Load16S, i64Load16U, i64Load32S, i64Load32U
    case i32Store, i64Store, i32Store8, i32Store16, i64Store8, i64Store16, i64Store32
    /// A = current size in pages.
    case memorySize
    /// A = grow(B pages) or -1.
    case memoryGrow
    /// fill(dst A, value B, count C); copy(dst A, src B, count C); init(dst A, src B, count C), segment next word.
    case memoryFill, memoryCopy, memoryInit
    /// bits 32–63: segment.
    case dataDrop

    // References and tables. refNull: A = 0. refIsNull: A = B == 0. refFunc: A = function bits 32–63.
    case refNull, refIsNull, refFunc
    /// tableGet: A = table[B], table next word. tableSet: table[A] = B, table next word.
    case tableGet, tableSet
    /// tableSize: A = size, table bits 32–63. tableGrow: A = grow(init B, count C), table next word.
    case tableSize, tableGrow
    /// tableFill(index A, value B, count C), table next word.
    case tableFill
    /// tableCopy(dst A, src B, count C), next word: dst table (low 32) | src table (high 32).
    case tableCopy
    /// tableInit(dst A, src B, count C), next word: table (low 32) | segment (high 32).
    case tableInit
    /// bits 32–63: segment.
    case elemDrop
}

/// Builds and reads instruction words.
@usableFromInline
enum Word {
    @inline(__always) static func make(_ op: Op, _ a: Int = 0, _ b: Int = 0, _ c: Int = 0) -> UInt64 {
        UInt64(op.rawValue) | UInt64(UInt16(truncatingIfNeeded: a)) << 16 | UInt64(UInt16(truncatingIfNeeded: b)) << 32
            | UInt64(UInt16(truncatingIfNeeded: c)) << 48
    }
    @inline(__always) static func make(_ op: Op, _ a: Int, imm32: UInt32) -> UInt64 {
        UInt64(op.rawValue) | UInt64(UInt16(truncatingIfNeeded: a)) << 16 | UInt64(imm32) << 32
    }
    @inline(__always) static func op(_ w: UInt64) -> Op { unsafeBitCast(UInt8(truncatingIfNeeded: w), to: Op.self) }
    @inline(__always) static func a(_ w: UInt64) -> Int { Int(truncatingIfNeeded: (w >> 16) & 0xFFFF) }
    @inline(__always) static func b(_ w: UInt64) -> Int { Int(truncatingIfNeeded: (w >> 32) & 0xFFFF) }
    @inline(__always) static func c(_ w: UInt64) -> Int { Int(truncatingIfNeeded: w >> 48) }
    @inline(__always) static func imm32(_ w: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: w >> 32) }
    @inline(__always) static func offset32(_ w: UInt64) -> Int { Int(Int32(truncatingIfNeeded: w >> 32)) }
}
