// A readable listing of translated code, for `fireball inspect` and for tuning the translator.

extension LoadedModule {
    /// The translated code of the module's own function `index` (imports not counted), one instruction a line.
    public func disassemble(function index: Int) -> String {
        precondition(index >= 0 && index < functions.count, "function \(index) out of range")
        let start = functions[index].codeStart
        let end = index + 1 < functions.count ? functions[index + 1].codeStart : codeWords
        var lines: [String] = ["; frame \(functions[index].frameSlots) slots"]
        var at = start
        while at < end {
            let w = code[at]
            let op = Word.op(w)
            let extra = Self.extraWords(op, w)
            var text = "\(at - start): \(op) a=\(Word.a(w)) b=\(Word.b(w)) c=\(Word.c(w)) imm32=\(Int32(bitPattern: Word.imm32(w)))"
            for k in 1...max(extra, 1) where extra > 0 { text += " [\(Int64(bitPattern: code[at + k]))]" }
            lines.append(text)
            at += 1 + extra
        }
        return lines.joined(separator: "\n")
    }

    /// Words that follow an instruction's first word.
    static func extraWords(_ op: Op, _ w: UInt64) -> Int {
        switch op {
        case .i32AddImm, .i32AndImm, .i32OrImm, .i32XorImm, .i32ShlImm, .i32ShrSImm, .i32ShrUImm, .i32MulImm,
             .i32EqImm, .i32NeImm, .i32LtSImm, .i32LtUImm, .i32GtSImm, .i32GtUImm, .i32LeSImm, .i32LeUImm, .i32GeSImm, .i32GeUImm,
             .i64AddImm, .i32RotlImm:
            return 1
        case .const64, .addressOffset, .select, .callIndirect, .tableGet, .tableSet, .tableGrow, .tableFill, .tableCopy, .tableInit, .memoryInit:
            return 1
        case .brIfEq, .brIfNe, .brIfLtS, .brIfLtU, .brIfGtS, .brIfGtU, .brIfLeS, .brIfLeU, .brIfGeS, .brIfGeU,
             .brIfEqImm, .brIfNeImm, .brIfLtSImm, .brIfLtUImm, .brIfGtSImm, .brIfGtUImm, .brIfLeSImm, .brIfLeUImm, .brIfGeSImm, .brIfGeUImm:
            return 1
        case .brTable:
            return Int(Word.imm32(w)) + 1
        default:
            return 0
        }
    }
}
