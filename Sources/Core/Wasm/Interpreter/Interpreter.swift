// The interpreter loop: one switch over register-form words (Op.swift), all state in locals
// that are written back to the Execution whenever the loop stops.
// Generated once from a table of ops and then edited by hand; keep one case per op.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always) func A(_ w: UInt64) -> Int { Word.a(w) }
@inline(__always) func B(_ w: UInt64) -> Int { Word.b(w) }
@inline(__always) func C(_ w: UInt64) -> Int { Word.c(w) }
@inline(__always) func u32(_ x: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: x) }
@inline(__always) func s32(_ x: UInt64) -> Int32 { Int32(truncatingIfNeeded: x) }
@inline(__always) func s64(_ x: UInt64) -> Int64 { Int64(bitPattern: x) }
@inline(__always) func f32(_ x: UInt64) -> Float { Float(bitPattern: UInt32(truncatingIfNeeded: x)) }
@inline(__always) func f64(_ x: UInt64) -> Double { Double(bitPattern: x) }
@inline(__always) func bit(_ c: Bool) -> UInt64 { c ? 1 : 0 }
@inline(__always) func ws32(_ v: Int32) -> UInt64 { UInt64(UInt32(bitPattern: v)) }
@inline(__always) func ws64(_ v: Int64) -> UInt64 { UInt64(bitPattern: v) }
@inline(__always) func wf32(_ v: Float) -> UInt64 { UInt64(v.bitPattern) }
@inline(__always) func wf64(_ v: Double) -> UInt64 { v.bitPattern }

extension Execution {
    enum Exit {
        case completed
        case trapped(Trap.Reason)
        case safePoint
        case suspended(UnsafeMutablePointer<FunctionEntry>)
    }

    func tableObject(_ context: UnsafeMutablePointer<InstanceContext>, _ index: Int) -> Table {
        let state = context.pointee.tables[index]
        return store.tables.first { $0.state == state }!
    }

    /// Runs from the saved registers until an exit; `fuel` counts down one per safe point.
    @inline(never)
    func interpret(_ fuelLeft: inout Int) -> Exit {
        var fuel = fuelLeft
        defer { fuelLeft = fuel }
        var pc = self.pc
        var fp = self.fp
        var context = self.function.pointee.instance.unsafelyUnwrapped
        var memory = UnsafeMutableRawPointer(fp)
        var memorySize = 0
        if let m = context.pointee.memory { memory = m.pointee.base; memorySize = m.pointee.byteCount }
        // Only the hottest state lives in locals; call-path state stays in `self` to spare registers.
        let line = interruptLine

        dispatch: while true {
            let w = pc.pointee
            pc += 1
            #if FIREBALL_OP_PROFILE
            OpProfile.record(Word.op(w))
            #endif
            switch Word.op(w) {
            case .i32Eqz:
                fp[A(w)] = bit(u32(fp[B(w)]) == 0)
            case .i32Eq:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = bit(l == r)
            case .i32Ne:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = bit(l != r)
            case .i32LtS:
                let l = s32(fp[B(w)]), r = s32(fp[C(w)])
                fp[A(w)] = bit(l < r)
            case .i32LtU:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = bit(l < r)
            case .i32GtS:
                let l = s32(fp[B(w)]), r = s32(fp[C(w)])
                fp[A(w)] = bit(l > r)
            case .i32GtU:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = bit(l > r)
            case .i32LeS:
                let l = s32(fp[B(w)]), r = s32(fp[C(w)])
                fp[A(w)] = bit(l <= r)
            case .i32LeU:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = bit(l <= r)
            case .i32GeS:
                let l = s32(fp[B(w)]), r = s32(fp[C(w)])
                fp[A(w)] = bit(l >= r)
            case .i32GeU:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = bit(l >= r)
            case .i64Eqz:
                fp[A(w)] = bit(fp[B(w)] == 0)
            case .i64Eq:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = bit(l == r)
            case .i64Ne:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = bit(l != r)
            case .i64LtS:
                let l = s64(fp[B(w)]), r = s64(fp[C(w)])
                fp[A(w)] = bit(l < r)
            case .i64LtU:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = bit(l < r)
            case .i64GtS:
                let l = s64(fp[B(w)]), r = s64(fp[C(w)])
                fp[A(w)] = bit(l > r)
            case .i64GtU:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = bit(l > r)
            case .i64LeS:
                let l = s64(fp[B(w)]), r = s64(fp[C(w)])
                fp[A(w)] = bit(l <= r)
            case .i64LeU:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = bit(l <= r)
            case .i64GeS:
                let l = s64(fp[B(w)]), r = s64(fp[C(w)])
                fp[A(w)] = bit(l >= r)
            case .i64GeU:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = bit(l >= r)
            case .f32Eq:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = bit(l == r)
            case .f32Ne:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = bit(l != r)
            case .f32Lt:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = bit(l < r)
            case .f32Gt:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = bit(l > r)
            case .f32Le:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = bit(l <= r)
            case .f32Ge:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = bit(l >= r)
            case .f64Eq:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = bit(l == r)
            case .f64Ne:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = bit(l != r)
            case .f64Lt:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = bit(l < r)
            case .f64Gt:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = bit(l > r)
            case .f64Le:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = bit(l <= r)
            case .f64Ge:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = bit(l >= r)
            case .i32Clz:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(UInt32(u32(x).leadingZeroBitCount))
            case .i32Ctz:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(UInt32(u32(x).trailingZeroBitCount))
            case .i32Popcnt:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(UInt32(u32(x).nonzeroBitCount))
            case .i32Add:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = UInt64(l &+ r)
            case .i32Sub:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = UInt64(l &- r)
            case .i32Mul:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = UInt64(l &* r)
            case .i32DivS:
                let l = s32(fp[B(w)]), r = s32(fp[C(w)])
                if r == 0 { self.exit = .trapped(.integerDivideByZero); break dispatch }
                if l == Int32.min && r == -1 { self.exit = .trapped(.integerOverflow); break dispatch }
                fp[A(w)] = ws32(l / r)
            case .i32DivU:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                if r == 0 { self.exit = .trapped(.integerDivideByZero); break dispatch }
                fp[A(w)] = UInt64(l / r)
            case .i32RemS:
                let l = s32(fp[B(w)]), r = s32(fp[C(w)])
                if r == 0 { self.exit = .trapped(.integerDivideByZero); break dispatch }
                fp[A(w)] = r == -1 ? 0 : ws32(l % r)
            case .i32RemU:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                if r == 0 { self.exit = .trapped(.integerDivideByZero); break dispatch }
                fp[A(w)] = UInt64(l % r)
            case .i32And:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = UInt64(l & r)
            case .i32Or:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = UInt64(l | r)
            case .i32Xor:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = UInt64(l ^ r)
            case .i32Shl:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = UInt64(l &<< r)
            case .i32ShrS:
                let l = s32(fp[B(w)]), r = s32(fp[C(w)])
                fp[A(w)] = ws32(l &>> r)
            case .i32ShrU:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = UInt64(l &>> r)
            case .i32Rotl:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = UInt64((l &<< r) | (l &>> (32 &- (r & 31))))
            case .i32Rotr:
                let l = u32(fp[B(w)]), r = u32(fp[C(w)])
                fp[A(w)] = UInt64((l &>> r) | (l &<< (32 &- (r & 31))))
            case .i64Clz:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(x.leadingZeroBitCount)
            case .i64Ctz:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(x.trailingZeroBitCount)
            case .i64Popcnt:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(x.nonzeroBitCount)
            case .i64Add:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = l &+ r
            case .i64Sub:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = l &- r
            case .i64Mul:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = l &* r
            case .i64DivS:
                let l = s64(fp[B(w)]), r = s64(fp[C(w)])
                if r == 0 { self.exit = .trapped(.integerDivideByZero); break dispatch }
                if l == Int64.min && r == -1 { self.exit = .trapped(.integerOverflow); break dispatch }
                fp[A(w)] = ws64(l / r)
            case .i64DivU:
                let l = fp[B(w)], r = fp[C(w)]
                if r == 0 { self.exit = .trapped(.integerDivideByZero); break dispatch }
                fp[A(w)] = l / r
            case .i64RemS:
                let l = s64(fp[B(w)]), r = s64(fp[C(w)])
                if r == 0 { self.exit = .trapped(.integerDivideByZero); break dispatch }
                fp[A(w)] = r == -1 ? 0 : ws64(l % r)
            case .i64RemU:
                let l = fp[B(w)], r = fp[C(w)]
                if r == 0 { self.exit = .trapped(.integerDivideByZero); break dispatch }
                fp[A(w)] = l % r
            case .i64And:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = l & r
            case .i64Or:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = l | r
            case .i64Xor:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = l ^ r
            case .i64Shl:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = l &<< r
            case .i64ShrS:
                let l = s64(fp[B(w)]), r = s64(fp[C(w)])
                fp[A(w)] = ws64(l &>> r)
            case .i64ShrU:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = l &>> r
            case .i64Rotl:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = (l &<< r) | (l &>> (64 &- (r & 63)))
            case .i64Rotr:
                let l = fp[B(w)], r = fp[C(w)]
                fp[A(w)] = (l &>> r) | (l &<< (64 &- (r & 63)))
            case .f32Abs:
                fp[A(w)] = fp[B(w)] & UInt64(0x7FFF_FFFF)
            case .f32Neg:
                fp[A(w)] = fp[B(w)] ^ 0x8000_0000
            case .f32Ceil:
                let x = fp[B(w)]
                fp[A(w)] = wf32(f32(x).rounded(.up))
            case .f32Floor:
                let x = fp[B(w)]
                fp[A(w)] = wf32(f32(x).rounded(.down))
            case .f32Trunc:
                let x = fp[B(w)]
                fp[A(w)] = wf32(f32(x).rounded(.towardZero))
            case .f32Nearest:
                let x = fp[B(w)]
                fp[A(w)] = wf32(f32(x).rounded(.toNearestOrEven))
            case .f32Sqrt:
                let x = fp[B(w)]
                fp[A(w)] = wf32(f32(x).squareRoot())
            case .f32Add:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = wf32(l + r)
            case .f32Sub:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = wf32(l - r)
            case .f32Mul:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = wf32(l * r)
            case .f32Div:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = wf32(l / r)
            case .f32Min:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = wf32(wasmMin(l, r))
            case .f32Max:
                let l = f32(fp[B(w)]), r = f32(fp[C(w)])
                fp[A(w)] = wf32(wasmMax(l, r))
            case .f32Copysign:
                fp[A(w)] = (fp[B(w)] & UInt64(0x7FFF_FFFF)) | (fp[C(w)] & 0x8000_0000)
            case .f64Abs:
                fp[A(w)] = fp[B(w)] & UInt64(0x7FFF_FFFF_FFFF_FFFF)
            case .f64Neg:
                fp[A(w)] = fp[B(w)] ^ 0x8000_0000_0000_0000
            case .f64Ceil:
                let x = fp[B(w)]
                fp[A(w)] = wf64(f64(x).rounded(.up))
            case .f64Floor:
                let x = fp[B(w)]
                fp[A(w)] = wf64(f64(x).rounded(.down))
            case .f64Trunc:
                let x = fp[B(w)]
                fp[A(w)] = wf64(f64(x).rounded(.towardZero))
            case .f64Nearest:
                let x = fp[B(w)]
                fp[A(w)] = wf64(f64(x).rounded(.toNearestOrEven))
            case .f64Sqrt:
                let x = fp[B(w)]
                fp[A(w)] = wf64(f64(x).squareRoot())
            case .f64Add:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = wf64(l + r)
            case .f64Sub:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = wf64(l - r)
            case .f64Mul:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = wf64(l * r)
            case .f64Div:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = wf64(l / r)
            case .f64Min:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = wf64(wasmMin(l, r))
            case .f64Max:
                let l = f64(fp[B(w)]), r = f64(fp[C(w)])
                fp[A(w)] = wf64(wasmMax(l, r))
            case .f64Copysign:
                fp[A(w)] = (fp[B(w)] & UInt64(0x7FFF_FFFF_FFFF_FFFF)) | (fp[C(w)] & 0x8000_0000_0000_0000)
            case .i32WrapI64:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(u32(x))
            case .i32TruncF32S:
                let v = f32(fp[B(w)])
                if v.isNaN { self.exit = .trapped(.invalidConversionToInteger); break dispatch }
                guard v > -2147483904.0 && v < 2147483648.0 else { self.exit = .trapped(.integerOverflow); break dispatch }
                fp[A(w)] = ws32(Int32(v))
            case .i32TruncF32U:
                let v = f32(fp[B(w)])
                if v.isNaN { self.exit = .trapped(.invalidConversionToInteger); break dispatch }
                guard v > -1.0 && v < 4294967296.0 else { self.exit = .trapped(.integerOverflow); break dispatch }
                fp[A(w)] = UInt64(UInt32(v))
            case .i32TruncF64S:
                let v = f64(fp[B(w)])
                if v.isNaN { self.exit = .trapped(.invalidConversionToInteger); break dispatch }
                guard v > -2147483649.0 && v < 2147483648.0 else { self.exit = .trapped(.integerOverflow); break dispatch }
                fp[A(w)] = ws32(Int32(v))
            case .i32TruncF64U:
                let v = f64(fp[B(w)])
                if v.isNaN { self.exit = .trapped(.invalidConversionToInteger); break dispatch }
                guard v > -1.0 && v < 4294967296.0 else { self.exit = .trapped(.integerOverflow); break dispatch }
                fp[A(w)] = UInt64(UInt32(v))
            case .i64ExtendI32S:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(bitPattern: Int64(s32(x)))
            case .i64ExtendI32U:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(u32(x))
            case .i64TruncF32S:
                let v = f32(fp[B(w)])
                if v.isNaN { self.exit = .trapped(.invalidConversionToInteger); break dispatch }
                guard v > -9223373136366403584.0 && v < 9223372036854775808.0 else { self.exit = .trapped(.integerOverflow); break dispatch }
                fp[A(w)] = UInt64(bitPattern: Int64(v))
            case .i64TruncF32U:
                let v = f32(fp[B(w)])
                if v.isNaN { self.exit = .trapped(.invalidConversionToInteger); break dispatch }
                guard v > -1.0 && v < 18446744073709551616.0 else { self.exit = .trapped(.integerOverflow); break dispatch }
                fp[A(w)] = UInt64(v)
            case .i64TruncF64S:
                let v = f64(fp[B(w)])
                if v.isNaN { self.exit = .trapped(.invalidConversionToInteger); break dispatch }
                guard v > -9223372036854777856.0 && v < 9223372036854775808.0 else { self.exit = .trapped(.integerOverflow); break dispatch }
                fp[A(w)] = UInt64(bitPattern: Int64(v))
            case .i64TruncF64U:
                let v = f64(fp[B(w)])
                if v.isNaN { self.exit = .trapped(.invalidConversionToInteger); break dispatch }
                guard v > -1.0 && v < 18446744073709551616.0 else { self.exit = .trapped(.integerOverflow); break dispatch }
                fp[A(w)] = UInt64(v)
            case .f32ConvertI32S:
                let x = fp[B(w)]
                fp[A(w)] = wf32(Float(s32(x)))
            case .f32ConvertI32U:
                let x = fp[B(w)]
                fp[A(w)] = wf32(Float(u32(x)))
            case .f32ConvertI64S:
                let x = fp[B(w)]
                fp[A(w)] = wf32(Float(s64(x)))
            case .f32ConvertI64U:
                let x = fp[B(w)]
                fp[A(w)] = wf32(Float(x))
            case .f32DemoteF64:
                let x = fp[B(w)]
                fp[A(w)] = wf32(Float(f64(x)))
            case .f64ConvertI32S:
                let x = fp[B(w)]
                fp[A(w)] = wf64(Double(s32(x)))
            case .f64ConvertI32U:
                let x = fp[B(w)]
                fp[A(w)] = wf64(Double(u32(x)))
            case .f64ConvertI64S:
                let x = fp[B(w)]
                fp[A(w)] = wf64(Double(s64(x)))
            case .f64ConvertI64U:
                let x = fp[B(w)]
                fp[A(w)] = wf64(Double(x))
            case .f64PromoteF32:
                let x = fp[B(w)]
                fp[A(w)] = wf64(Double(f32(x)))
            case .i32ReinterpretF32:
                fp[A(w)] = fp[B(w)]
            case .i64ReinterpretF64:
                fp[A(w)] = fp[B(w)]
            case .f32ReinterpretI32:
                fp[A(w)] = fp[B(w)]
            case .f64ReinterpretI64:
                fp[A(w)] = fp[B(w)]
            case .i32Extend8S:
                let x = fp[B(w)]
                fp[A(w)] = ws32(Int32(Int8(truncatingIfNeeded: x)))
            case .i32Extend16S:
                let x = fp[B(w)]
                fp[A(w)] = ws32(Int32(Int16(truncatingIfNeeded: x)))
            case .i64Extend8S:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: x)))
            case .i64Extend16S:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: x)))
            case .i64Extend32S:
                let x = fp[B(w)]
                fp[A(w)] = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: x)))
            case .i32TruncSatF32S:
                let x = fp[B(w)]
                fp[A(w)] = saturateS32(f32(x))
            case .i32TruncSatF32U:
                let x = fp[B(w)]
                fp[A(w)] = saturateU32(f32(x))
            case .i32TruncSatF64S:
                let x = fp[B(w)]
                fp[A(w)] = saturateS32(f64(x))
            case .i32TruncSatF64U:
                let x = fp[B(w)]
                fp[A(w)] = saturateU32(f64(x))
            case .i64TruncSatF32S:
                let x = fp[B(w)]
                fp[A(w)] = saturateS64(f32(x))
            case .i64TruncSatF32U:
                let x = fp[B(w)]
                fp[A(w)] = saturateU64(f32(x))
            case .i64TruncSatF64S:
                let x = fp[B(w)]
                fp[A(w)] = saturateS64(f64(x))
            case .i64TruncSatF64U:
                let x = fp[B(w)]
                fp[A(w)] = saturateU64(f64(x))
            case .i32AddImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = UInt64(l &+ UInt32(bitPattern: i))
            case .i32AndImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = UInt64(l & UInt32(bitPattern: i))
            case .i32OrImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = UInt64(l | UInt32(bitPattern: i))
            case .i32XorImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = UInt64(l ^ UInt32(bitPattern: i))
            case .i32ShlImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = UInt64(l &<< UInt32(bitPattern: i))
            case .i32ShrSImm:
                let l = s32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = ws32(l &>> i)
            case .i32ShrUImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = UInt64(l &>> UInt32(bitPattern: i))
            case .i32MulImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = UInt64(l &* UInt32(bitPattern: i))
            case .i32EqImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = bit(l == UInt32(bitPattern: i))
            case .i32NeImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = bit(l != UInt32(bitPattern: i))
            case .i32LtSImm:
                let l = s32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = bit(l < i)
            case .i32LtUImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = bit(l < UInt32(bitPattern: i))
            case .i32GtSImm:
                let l = s32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = bit(l > i)
            case .i32GtUImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = bit(l > UInt32(bitPattern: i))
            case .i32LeSImm:
                let l = s32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = bit(l <= i)
            case .i32LeUImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = bit(l <= UInt32(bitPattern: i))
            case .i32GeSImm:
                let l = s32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = bit(l >= i)
            case .i32GeUImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = bit(l >= UInt32(bitPattern: i))
            case .i64AddImm:
                fp[A(w)] = fp[B(w)] &+ pc.pointee
                pc += 1
            case .i32RotlImm:
                let l = u32(fp[B(w)]), i = Int32(truncatingIfNeeded: pc.pointee)
                pc += 1
                fp[A(w)] = UInt64((l &<< UInt32(bitPattern: i)) | (l &>> (32 &- (UInt32(bitPattern: i) & 31))))
            case .copy:
                fp[A(w)] = fp[B(w)]
            case .const32:
                fp[A(w)] = UInt64(Word.imm32(w))
            case .const64:
                fp[A(w)] = pc.pointee
                pc += 1
            case .addressOffset:
                fp[A(w)] = UInt64(u32(fp[B(w)])) &+ pc.pointee
                pc += 1
            case .br:
                let o = Word.offset32(w)
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
            case .brIf:
                if fp[A(w)] != 0 {
                let o = Word.offset32(w)
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                }
            case .brIfNot:
                if fp[A(w)] == 0 {
                let o = Word.offset32(w)
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                }
            case .brIfEq:
                if u32(fp[B(w)]) == u32(fp[C(w)]) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfEqImm:
                if u32(fp[B(w)]) == UInt32(truncatingIfNeeded: pc.pointee >> 32) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfNe:
                if u32(fp[B(w)]) != u32(fp[C(w)]) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfNeImm:
                if u32(fp[B(w)]) != UInt32(truncatingIfNeeded: pc.pointee >> 32) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfLtS:
                if s32(fp[B(w)]) < s32(fp[C(w)]) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfLtSImm:
                if s32(fp[B(w)]) < Int32(truncatingIfNeeded: pc.pointee >> 32) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfLtU:
                if u32(fp[B(w)]) < u32(fp[C(w)]) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfLtUImm:
                if u32(fp[B(w)]) < UInt32(truncatingIfNeeded: pc.pointee >> 32) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfGtS:
                if s32(fp[B(w)]) > s32(fp[C(w)]) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfGtSImm:
                if s32(fp[B(w)]) > Int32(truncatingIfNeeded: pc.pointee >> 32) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfGtU:
                if u32(fp[B(w)]) > u32(fp[C(w)]) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfGtUImm:
                if u32(fp[B(w)]) > UInt32(truncatingIfNeeded: pc.pointee >> 32) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfLeS:
                if s32(fp[B(w)]) <= s32(fp[C(w)]) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfLeSImm:
                if s32(fp[B(w)]) <= Int32(truncatingIfNeeded: pc.pointee >> 32) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfLeU:
                if u32(fp[B(w)]) <= u32(fp[C(w)]) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfLeUImm:
                if u32(fp[B(w)]) <= UInt32(truncatingIfNeeded: pc.pointee >> 32) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfGeS:
                if s32(fp[B(w)]) >= s32(fp[C(w)]) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfGeSImm:
                if s32(fp[B(w)]) >= Int32(truncatingIfNeeded: pc.pointee >> 32) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfGeU:
                if u32(fp[B(w)]) >= u32(fp[C(w)]) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brIfGeUImm:
                if u32(fp[B(w)]) >= UInt32(truncatingIfNeeded: pc.pointee >> 32) {
                let o = Int(Int32(truncatingIfNeeded: pc.pointee))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
                } else { pc += 1 }
            case .brTable:
                let count = Int(Word.imm32(w))
                let index = Int(min(u32(fp[A(w)]), UInt32(count)))
                let o = Int(truncatingIfNeeded: Int64(bitPattern: pc[index]))
                pc += o &- 1
                if o <= 0 { fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch } }
            case .unreachable:
                self.exit = .trapped(.unreachable); break dispatch
            case .return:
                if frameCount == 0 { self.exit = .completed; break dispatch }
                frameCount &-= 1
                let frame = frames[frameCount]
                pc = frame.returnPC
                fp = frame.fp
                function = frame.function
                if function.pointee.instance != context {
                    context = function.pointee.instance.unsafelyUnwrapped
                    if let m = context.pointee.memory { memory = m.pointee.base; memorySize = m.pointee.byteCount } else { memorySize = 0 }
                }
            case .call:
                let instructionStart = pc - 1
                let callee = context.pointee.functions[Int(Word.imm32(w))]
                let argumentsBase = fp + A(w)
                if callee.pointee.code == nil {
                    switch callHost(callee, arguments: argumentsBase, context: context) {
                    case .returned: break
                    case .trap(let trap): self.exit = .trapped(trap.reason); break dispatch
                    case .suspend: self.exit = .suspended(callee); break dispatch
                    }
                    if let m = context.pointee.memory { memory = m.pointee.base; memorySize = m.pointee.byteCount }
                } else {
                    guard frameCount < limits.frames, argumentsBase + callee.pointee.frameSlots <= slots + limits.slots else {
                        pc = instructionStart; self.exit = .trapped(.callStackExhausted); break dispatch
                    }
                    frames[frameCount] = CallFrame(returnPC: pc, fp: fp, function: function)
                    frameCount &+= 1
                    fp = argumentsBase
                    function = callee
                    pc = callee.pointee.code.unsafelyUnwrapped
                    if callee.pointee.instance != context {
                        context = callee.pointee.instance!
                        if let m = context.pointee.memory { memory = m.pointee.base; memorySize = m.pointee.byteCount } else { memorySize = 0 }
                    }
                    // The safe point is at the callee's entry, so a yield here has made progress.
                    fuel &-= 1
                    if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch }
                }
            case .callIndirect:
                let instructionStart = pc - 1
                let table = context.pointee.tables[C(w)]
                let index = Int(u32(fp[B(w)]))
                guard index < table.pointee.count else { self.exit = .trapped(.undefinedElement); break dispatch }
                guard let callee = ReferenceBits.entry(table.pointee.elements[index]) else { self.exit = .trapped(.uninitializedElement); break dispatch }
                guard callee.pointee.typeID == context.pointee.typeIDs[Int(truncatingIfNeeded: pc.pointee)] else { self.exit = .trapped(.indirectCallTypeMismatch); break dispatch }
                pc += 1
                let argumentsBase = fp + A(w)
                if callee.pointee.code == nil {
                    switch callHost(callee, arguments: argumentsBase, context: context) {
                    case .returned: break
                    case .trap(let trap): self.exit = .trapped(trap.reason); break dispatch
                    case .suspend: self.exit = .suspended(callee); break dispatch
                    }
                    if let m = context.pointee.memory { memory = m.pointee.base; memorySize = m.pointee.byteCount }
                } else {
                    guard frameCount < limits.frames, argumentsBase + callee.pointee.frameSlots <= slots + limits.slots else {
                        pc = instructionStart; self.exit = .trapped(.callStackExhausted); break dispatch
                    }
                    frames[frameCount] = CallFrame(returnPC: pc, fp: fp, function: function)
                    frameCount &+= 1
                    fp = argumentsBase
                    function = callee
                    pc = callee.pointee.code.unsafelyUnwrapped
                    if callee.pointee.instance != context {
                        context = callee.pointee.instance!
                        if let m = context.pointee.memory { memory = m.pointee.base; memorySize = m.pointee.byteCount } else { memorySize = 0 }
                    }
                    // The safe point is at the callee's entry, so a yield here has made progress.
                    fuel &-= 1
                    if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch }
                }
            case .enter:
                var i = A(w)
                let end = B(w)
                while i < end { fp[i] = 0; i &+= 1 }
            case .select:
                let condition = fp[Int(truncatingIfNeeded: pc.pointee)]
                pc += 1
                fp[A(w)] = condition != 0 ? fp[B(w)] : fp[C(w)]
            case .globalGet:
                fp[A(w)] = context.pointee.globals[Int(Word.imm32(w))].pointee
            case .globalSet:
                context.pointee.globals[Int(Word.imm32(w))].pointee = fp[A(w)]
            case .i32Load:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 4 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = UInt32(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: UInt32.self))
                fp[A(w)] = UInt64(v)
            case .i64Load:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 8 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = UInt64(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: UInt64.self))
                fp[A(w)] = v
            case .i32Load8S:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 1 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = Int8(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: Int8.self))
                fp[A(w)] = ws32(Int32(v))
            case .i32Load8U:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 1 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = UInt8(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: UInt8.self))
                fp[A(w)] = UInt64(v)
            case .i32Load16S:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 2 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = Int16(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: Int16.self))
                fp[A(w)] = ws32(Int32(v))
            case .i32Load16U:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 2 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = UInt16(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: UInt16.self))
                fp[A(w)] = UInt64(v)
            case .i64Load8S:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 1 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = Int8(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: Int8.self))
                fp[A(w)] = UInt64(bitPattern: Int64(v))
            case .i64Load8U:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 1 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = UInt8(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: UInt8.self))
                fp[A(w)] = UInt64(v)
            case .i64Load16S:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 2 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = Int16(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: Int16.self))
                fp[A(w)] = UInt64(bitPattern: Int64(v))
            case .i64Load16U:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 2 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = UInt16(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: UInt16.self))
                fp[A(w)] = UInt64(v)
            case .i64Load32S:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 4 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = Int32(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: Int32.self))
                fp[A(w)] = UInt64(bitPattern: Int64(v))
            case .i64Load32U:
                let address = Int(truncatingIfNeeded: fp[B(w)]) &+ C(w)
                guard address &+ 4 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let v = UInt32(littleEndian: memory.loadUnaligned(fromByteOffset: address, as: UInt32.self))
                fp[A(w)] = UInt64(v)
            case .i32Store:
                let address = Int(truncatingIfNeeded: fp[A(w)]) &+ C(w)
                guard address &+ 4 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                memory.storeBytes(of: UInt32(truncatingIfNeeded: fp[B(w)]).littleEndian, toByteOffset: address, as: UInt32.self)
            case .i64Store:
                let address = Int(truncatingIfNeeded: fp[A(w)]) &+ C(w)
                guard address &+ 8 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                memory.storeBytes(of: UInt64(truncatingIfNeeded: fp[B(w)]).littleEndian, toByteOffset: address, as: UInt64.self)
            case .i32Store8:
                let address = Int(truncatingIfNeeded: fp[A(w)]) &+ C(w)
                guard address &+ 1 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                memory.storeBytes(of: UInt8(truncatingIfNeeded: fp[B(w)]).littleEndian, toByteOffset: address, as: UInt8.self)
            case .i32Store16:
                let address = Int(truncatingIfNeeded: fp[A(w)]) &+ C(w)
                guard address &+ 2 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                memory.storeBytes(of: UInt16(truncatingIfNeeded: fp[B(w)]).littleEndian, toByteOffset: address, as: UInt16.self)
            case .i64Store8:
                let address = Int(truncatingIfNeeded: fp[A(w)]) &+ C(w)
                guard address &+ 1 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                memory.storeBytes(of: UInt8(truncatingIfNeeded: fp[B(w)]).littleEndian, toByteOffset: address, as: UInt8.self)
            case .i64Store16:
                let address = Int(truncatingIfNeeded: fp[A(w)]) &+ C(w)
                guard address &+ 2 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                memory.storeBytes(of: UInt16(truncatingIfNeeded: fp[B(w)]).littleEndian, toByteOffset: address, as: UInt16.self)
            case .i64Store32:
                let address = Int(truncatingIfNeeded: fp[A(w)]) &+ C(w)
                guard address &+ 4 <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                memory.storeBytes(of: UInt32(truncatingIfNeeded: fp[B(w)]).littleEndian, toByteOffset: address, as: UInt32.self)
            case .memorySize:
                fp[A(w)] = UInt64(memorySize >> (context.pointee.memory?.pointee.pageShift ?? 16))
            case .memoryGrow:
                let pages = Int(u32(fp[B(w)]))
                let owner = context.pointee.owner.takeUnretainedValue()
                let old = owner.memory?.grow(by: pages)
                fp[A(w)] = old.map { UInt64($0) } ?? UInt64(UInt32.max)
                if let m = context.pointee.memory { memory = m.pointee.base; memorySize = m.pointee.byteCount }
            case .memoryFill:
                let destination = Int(u32(fp[A(w)])), value = UInt8(truncatingIfNeeded: fp[B(w)]), count = Int(u32(fp[C(w)]))
                guard destination &+ count <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let chunk = min(count, Execution.bulkChunkBytes)
                (memory + destination).initializeMemory(as: UInt8.self, repeating: value, count: chunk)
                if chunk < count {
                    fp[A(w)] = UInt64(destination &+ chunk); fp[C(w)] = UInt64(count &- chunk)
                    pc -= 1
                    fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch }
                }
            case .memoryCopy:
                let destination = Int(u32(fp[A(w)])), source = Int(u32(fp[B(w)])), count = Int(u32(fp[C(w)]))
                guard destination &+ count <= memorySize, source &+ count <= memorySize else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let chunk = min(count, Execution.bulkChunkBytes)
                if destination <= source {
                    memmove(memory + destination, memory + source, chunk)
                    if chunk < count {
                        fp[A(w)] = UInt64(destination &+ chunk); fp[B(w)] = UInt64(source &+ chunk); fp[C(w)] = UInt64(count &- chunk)
                        pc -= 1
                    fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch }
                    }
                } else {
                    // Overlap with the destination above the source: copy from the end.
                    memmove(memory + destination + count - chunk, memory + source + count - chunk, chunk)
                    if chunk < count {
                        fp[C(w)] = UInt64(count &- chunk)
                        pc -= 1
                    fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch }
                    }
                }
            case .memoryInit:
                let destination = Int(u32(fp[A(w)])), source = Int(u32(fp[B(w)])), count = Int(u32(fp[C(w)]))
                let owner = context.pointee.owner.takeUnretainedValue()
                let segment = owner.dataSegments[Int(truncatingIfNeeded: pc.pointee)]
                guard destination &+ count <= memorySize, source &+ count <= segment.count else { self.exit = .trapped(.memoryOutOfBounds); break dispatch }
                let chunk = min(count, Execution.bulkChunkBytes)
                owner.module.module.bytes.withUnsafeBytes { raw in
                    (memory + destination).copyMemory(from: raw.baseAddress! + segment.lowerBound + source, byteCount: chunk)
                }
                if chunk < count {
                    fp[A(w)] = UInt64(destination &+ chunk); fp[B(w)] = UInt64(source &+ chunk); fp[C(w)] = UInt64(count &- chunk)
                    pc -= 1
                    fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch }
                } else {
                    pc += 1
                }
            case .dataDrop:
                context.pointee.owner.takeUnretainedValue().dataSegments[Int(Word.imm32(w))] = 0..<0
            case .refNull:
                fp[A(w)] = 0
            case .refIsNull:
                fp[A(w)] = bit(fp[B(w)] == 0)
            case .refFunc:
                fp[A(w)] = ReferenceBits.function(context.pointee.functions[Int(Word.imm32(w))])
            case .tableGet:
                let table = context.pointee.tables[Int(truncatingIfNeeded: pc.pointee)]
                pc += 1
                let index = Int(u32(fp[B(w)]))
                guard index < table.pointee.count else { self.exit = .trapped(.tableOutOfBounds); break dispatch }
                fp[A(w)] = table.pointee.elements[index]
            case .tableSet:
                let table = context.pointee.tables[Int(truncatingIfNeeded: pc.pointee)]
                pc += 1
                let index = Int(u32(fp[A(w)]))
                guard index < table.pointee.count else { self.exit = .trapped(.tableOutOfBounds); break dispatch }
                table.pointee.elements[index] = fp[B(w)]
            case .tableSize:
                fp[A(w)] = UInt64(context.pointee.tables[Int(Word.imm32(w))].pointee.count)
            case .tableGrow:
                let tableIndex = Int(truncatingIfNeeded: pc.pointee)
                pc += 1
                let old = tableObject(context, tableIndex).grow(by: Int(u32(fp[C(w)])), initial: fp[B(w)])
                fp[A(w)] = old.map { UInt64($0) } ?? UInt64(UInt32.max)
            case .tableFill:
                let table = context.pointee.tables[Int(truncatingIfNeeded: pc.pointee)]
                let destination = Int(u32(fp[A(w)])), value = fp[B(w)], count = Int(u32(fp[C(w)]))
                guard destination &+ count <= table.pointee.count else { self.exit = .trapped(.tableOutOfBounds); break dispatch }
                let chunk = min(count, Execution.bulkChunkBytes / 8)
                (table.pointee.elements + destination).update(repeating: value, count: chunk)
                if chunk < count {
                    fp[A(w)] = UInt64(destination &+ chunk); fp[C(w)] = UInt64(count &- chunk)
                    pc -= 1
                    fuel &-= 1; if fuel <= 0 || line.isRaised { self.exit = .safePoint; break dispatch }
                } else {
                    pc += 1
                }
            case .tableCopy:
                let tables = pc.pointee
                pc += 1
                let target = context.pointee.tables[Int(truncatingIfNeeded: tables & 0xFFFF_FFFF)]
                let origin = context.pointee.tables[Int(truncatingIfNeeded: tables >> 32)]
                let destination = Int(u32(fp[A(w)])), source = Int(u32(fp[B(w)])), count = Int(u32(fp[C(w)]))
                guard destination &+ count <= target.pointee.count, source &+ count <= origin.pointee.count else { self.exit = .trapped(.tableOutOfBounds); break dispatch }
                (target.pointee.elements + destination).update(from: origin.pointee.elements + source, count: count)
            case .tableInit:
                let operands = pc.pointee
                pc += 1
                let table = context.pointee.tables[Int(truncatingIfNeeded: operands & 0xFFFF_FFFF)]
                let owner = context.pointee.owner.takeUnretainedValue()
                let segment = Int(truncatingIfNeeded: operands >> 32)
                let destination = Int(u32(fp[A(w)])), source = Int(u32(fp[B(w)])), count = Int(u32(fp[C(w)]))
                guard destination &+ count <= table.pointee.count, source &+ count <= owner.elementSegments[segment].count else { self.exit = .trapped(.tableOutOfBounds); break dispatch }
                owner.elementSegments[segment].withUnsafeBufferPointer { items in
                    (table.pointee.elements + destination).update(from: items.baseAddress! + source, count: count)
                }
            case .elemDrop:
                context.pointee.owner.takeUnretainedValue().elementSegments[Int(Word.imm32(w))] = []
            }
        }
        self.pc = pc
        self.fp = fp
        return self.exit
    }
}
