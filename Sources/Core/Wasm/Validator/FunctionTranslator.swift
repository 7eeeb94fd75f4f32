// Validates one function body and translates it into register-form words in the same pass.
// The operand stack is tracked at translation time: each wasm stack position has a fixed frame
// slot, and `local.get` / constants stay pending until something needs them in a slot.

/// What the translator knows of the module around a function.
struct ModuleContext {
    var functionTypes: [FunctionType]          // by function index, imports first
    var types: [FunctionType]
    var tables: [TableType]
    var hasMemory: Bool
    var globals: [GlobalType]
    var elementTypes: [ValueType]
    var dataCount: UInt32?
    var declaredReferences: Set<UInt32>
    var allowFloat: Bool
}

/// Where a pending operand's value is.
enum OperandLocation: Equatable {
    /// In its own stack slot.
    case slot
    /// Still in a local's slot (a `local.get` not yet copied).
    case local(Int)
    /// A constant not yet written anywhere (raw slot bits).
    case constant(UInt64)
}

struct Operand {
    /// nil: unknown (the polymorphic stack of unreachable code).
    var type: ValueType?
    var location: OperandLocation
}

/// A place in the emitted code that will receive a branch offset once its target is known.
struct PatchSite {
    /// The branch instruction's first word; offsets are relative to it.
    var instruction: Int
    /// The word holding the offset.
    var word: Int
    /// true: the offset is bits 32–63 of `word`; false: the whole word (or its low 32 bits).
    var inHighBits: Bool
    /// The word's high 32 bits hold an immediate: write the offset to the low 32 bits only.
    var keepsHighBits = false
}

struct ControlFrame {
    enum Kind { case function, block, loop, `if`, `else` }
    var kind: Kind
    var parameters: [ValueType]
    var results: [ValueType]
    /// Operand stack height below the frame's parameters.
    var height: Int
    /// After an unconditional branch: the operand stack is polymorphic until the frame ends.
    var unreachable = false
    /// Entered in unreachable code: validated as usual, but nothing is emitted.
    var dead = false
    /// Loops: where a branch to the label goes.
    var loopStart = 0
    /// Forward branches to the frame's end.
    var patches: [PatchSite] = []
    /// An `if`'s branch to its `else` (or end).
    var elseBranch: PatchSite?

    var labelTypes: [ValueType] { kind == .loop ? parameters : results }
}

struct FunctionTranslator {
    let context: ModuleContext
    let functionIndex: Int
    let type: FunctionType
    /// Parameter and local types, by local index.
    var locals: [ValueType]
    var code: [UInt64]

    var operands: [Operand] = []
    var controls: [ControlFrame] = []
    var maxHeight = 0
    /// Operands on the stack that are `.local`: when zero, `local.set` has nothing to flush.
    var pendingLocalCount = 0
    /// The last emitted instruction if it wrote its result (field A) to a stack slot: a following
    /// `local.set` may retarget it instead of copying.
    var lastProducer: (word: Int, slot: Int, end: Int)?
    var usesFloat = false

    /// The reader's offset of the instruction being translated, for errors.
    var instructionOffset = 0

    var localCount: Int { locals.count }

    // MARK: errors

    func invalid(_ detail: String) -> WasmError {
        WasmError(.invalid, section: "code", function: functionIndex, offset: instructionOffset, detail)
    }

    // MARK: operand stack

    /// False in code that can never run: it is validated but not emitted.
    var reachable: Bool {
        guard let frame = controls.last else { return false }
        return !frame.unreachable && !frame.dead
    }

    func slot(ofHeight height: Int) -> Int { localCount + height }

    mutating func push(_ type: ValueType?, _ location: OperandLocation = .slot) {
        if case .local = location { pendingLocalCount += 1 }
        operands.append(Operand(type: type, location: location))
        if operands.count > maxHeight { maxHeight = operands.count }
    }

    /// Pops any operand; in unreachable code an empty frame yields an unknown one.
    mutating func popOperand() throws(WasmError) -> Operand {
        let frame = controls[controls.count - 1]
        if operands.count == frame.height {
            if frame.unreachable { return Operand(type: nil, location: .slot) }
            throw invalid("type mismatch: operand stack is empty")
        }
        let operand = operands.removeLast()
        if case .local = operand.location { pendingLocalCount -= 1 }
        return operand
    }

    /// Pops an operand that must have `type`.
    @discardableResult
    mutating func pop(_ type: ValueType) throws(WasmError) -> Operand {
        let operand = try popOperand()
        if let actual = operand.type, actual != type {
            throw invalid("type mismatch: expected \(type), found \(actual)")
        }
        return operand
    }

    /// Pops operands for `types` (last type on top) and returns them bottom first.
    mutating func pop(_ types: [ValueType]) throws(WasmError) -> [Operand] {
        var popped: [Operand] = []
        popped.reserveCapacity(types.count)
        for type in types.reversed() { popped.append(try pop(type)) }
        return popped.reversed()
    }

    // MARK: emitting

    @discardableResult
    mutating func emit(_ word: UInt64) -> Int {
        lastProducer = nil
        guard reachable else { return code.count }
        code.append(word)
        return code.count - 1
    }

    /// Emits an instruction whose field A is its result slot.
    mutating func emitProducer(_ word: UInt64, extra: UInt64? = nil) {
        guard reachable else { return }
        let at = emit(word)
        if let extra { code.append(extra) }
        lastProducer = (at, Word.a(word), code.count)
    }

    /// The slot that holds `operand`, which sat at `height`; constants are written to their own slot first.
    mutating func source(_ operand: Operand, height: Int) -> Int {
        switch operand.location {
        case .slot: return slot(ofHeight: height)
        case .local(let index): return index
        case .constant(let bits):
            let target = slot(ofHeight: height)
            emitConstant(bits, into: target)
            return target
        }
    }

    mutating func emitConstant(_ bits: UInt64, into target: Int) {
        if bits <= UInt64(UInt32.max) {
            emitProducer(Word.make(.const32, target, imm32: UInt32(bits)))
        } else {
            emitProducer(Word.make(.const64, target), extra: bits)
        }
    }

    /// Writes the operand at stack position `index` into its own slot.
    mutating func materialize(_ index: Int) {
        let operand = operands[index]
        let target = slot(ofHeight: index)
        switch operand.location {
        case .slot: return
        case .local(let local):
            emit(Word.make(.copy, target, local))
            pendingLocalCount -= 1
        case .constant(let bits):
            emitConstant(bits, into: target)
        }
        operands[index].location = .slot
    }

    /// Before any control-flow split or merge, every operand lives in its own slot, so that all
    /// paths agree on where values are.
    mutating func materializeAll() {
        for index in operands.indices where operands[index].location != .slot { materialize(index) }
    }

    /// Before `local` is written: operands that still refer to it get their own copy.
    mutating func flushPending(local: Int) {
        guard pendingLocalCount > 0 else { return }
        for index in operands.indices where operands[index].location == .local(local) { materialize(index) }
    }

    // MARK: labels and branches

    /// Binds forward branches to the current position.
    mutating func bind(_ site: PatchSite) {
        write(offset: code.count - site.instruction, at: site)
    }

    mutating func write(offset: Int, at site: PatchSite) {
        if site.inHighBits {
            code[site.word] = (code[site.word] & 0xFFFF_FFFF) | UInt64(UInt32(bitPattern: Int32(offset))) << 32
        } else if site.keepsHighBits {
            code[site.word] = (code[site.word] & ~0xFFFF_FFFF) | UInt64(UInt32(bitPattern: Int32(offset)))
        } else {
            code[site.word] = UInt64(bitPattern: Int64(offset))
        }
    }

    /// Records a branch at `instruction` (offset field `word`) to the label of control frame `depth`.
    mutating func link(_ site: PatchSite, depth: Int) {
        let target = controls.count - 1 - depth
        if controls[target].kind == .loop {
            write(offset: controls[target].loopStart - site.instruction, at: site)
        } else {
            controls[target].patches.append(site)
        }
    }

    /// Checks that the top of the stack fits label `depth` and returns the label's frame index.
    func labelFrame(_ depth: UInt32) throws(WasmError) -> Int {
        guard Int(depth) < controls.count else { throw invalid("unknown label \(depth)") }
        return controls.count - 1 - Int(depth)
    }

    /// True if the values for label `frame` (the top `arity` operands) already sit in its slots.
    /// Never for the function's own label: a branch to it is a return, which moves its results.
    func valuesInPlace(for frame: Int) -> Bool {
        guard frame > 0 else { return false }
        let arity = controls[frame].labelTypes.count
        let base = controls[frame].height
        let top = operands.count - arity
        guard top >= 0 else { return false }
        for i in 0..<arity where !(top + i == base + i && operands[top + i].location == .slot) { return false }
        return true
    }

    /// Copies the top operands into label `frame`'s slots (for a taken branch).
    mutating func emitMoves(for frame: Int) {
        emitMoves(count: controls[frame].labelTypes.count, toHeight: controls[frame].height)
    }

    /// Copies the top `count` operands to the slots from `base` up (label values, block results).
    mutating func emitMoves(count arity: Int, toHeight base: Int) {
        let top = operands.count - arity
        guard top >= 0 else { return }   // unreachable code with a polymorphic stack emits nothing
        for i in 0..<arity {
            let operand = operands[top + i]
            let target = slot(ofHeight: base + i)
            switch operand.location {
            case .slot where top + i == base + i: continue
            case .slot: emit(Word.make(.copy, target, slot(ofHeight: top + i)))
            case .local(let local): emit(Word.make(.copy, target, local))
            case .constant(let bits): emitConstant(bits, into: target)
            }
        }
    }

    /// Emits an unconditional branch to label `depth` (moves included).
    mutating func emitBranch(depth: UInt32) throws(WasmError) {
        let frame = try labelFrame(depth)
        guard reachable else { return }
        if frame == 0 {
            let arity = type.results.count
            emitReturnSequence(Array(operands.suffix(arity)), base: operands.count - arity)
            return
        }
        emitMoves(for: frame)
        let at = emit(Word.make(.br))
        link(PatchSite(instruction: at, word: at, inHighBits: true), depth: Int(depth))
    }

    /// The last producer, if nothing has been emitted after it.
    var adjacentProducer: (word: Int, slot: Int)? {
        guard let producer = lastProducer, producer.end == code.count else { return nil }
        return (producer.word, producer.slot)
    }

    mutating func markUnreachable() {
        let frame = controls.count - 1
        for operand in operands[controls[frame].height...] {
            if case .local = operand.location { pendingLocalCount -= 1 }
        }
        operands.removeSubrange(controls[frame].height...)
        controls[frame].unreachable = true
        lastProducer = nil
    }
}
