// A resumable call into wasm: all state (slots, frames, program counter) lives here, so a run can
// stop at any safe point or host call and continue later from exactly there, on the same thread.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The interrupt-pending flag of one execution: the one thing another thread (a device's ISR)
/// may touch. Setting it stops the guest at its next safe point.
public final class InterruptLine: Sendable {
    let pending = Atomic<UInt32>(0)
    public init() {}
    /// Raise: a relaxed store, safe from any thread.
    public func raise() { pending.store(1, ordering: .releasing) }
    var isRaised: Bool { pending.load(ordering: .relaxed) != 0 }
    /// True while a raise has not been taken by the guest yet.
    public var isPending: Bool { pending.load(ordering: .acquiring) != 0 }
    func clear() { pending.store(0, ordering: .relaxed) }
}

/// How long one `run` may go before it yields.
public enum SliceBudget: Sendable, Equatable {
    /// Until the call completes, traps or suspends (interrupts still stop it).
    case unlimited
    /// Exactly this many safe points (taken backward branches and calls): deterministic.
    case safePoints(Int)
    /// About this much wall-clock time; the clock is read every `clockCheckSafePoints` safe points.
    case microseconds(Int)

    /// The upstream slice: 300 µs.
    public static let standard = SliceBudget.microseconds(300)
}

public enum YieldReason: Sendable, Equatable {
    case sliceEnded
    case interrupt
}

public enum ExecutionResult: Sendable, Equatable {
    case completed([WasmValue])
    case trapped(Trap)
    /// Stopped at a safe point; `run` again to continue.
    case yielded(YieldReason)
    /// A host function asked to suspend; call `resume(results:)`, then `run` again.
    case suspended(FunctionAddress)
}

/// Bounds on one execution's stacks. Exceeding either is the `callStackExhausted` trap.
public struct ExecutionLimits: Sendable {
    /// 64-bit value slots for locals and operands of all active frames.
    public var slots: Int
    /// Active calls.
    public var frames: Int
    public init(slots: Int = 1 << 20, frames: Int = 20_000) {
        self.slots = slots
        self.frames = frames
    }
    /// Bytes these stacks take, to charge to a partition.
    public var bytes: Int { slots * 8 + frames * MemoryLayout<CallFrame>.stride }
    /// Bytes of one call frame, to size a stack slot.
    public static var frameBytes: Int { MemoryLayout<CallFrame>.stride }
}

@usableFromInline
struct CallFrame {
    var returnPC: UnsafePointer<UInt64>
    var fp: UnsafeMutablePointer<UInt64>
    var function: UnsafeMutablePointer<FunctionEntry>
}

/// One call into wasm, run in slices.
public final class Execution {
    public let store: Store
    let limits: ExecutionLimits
    let slots: UnsafeMutablePointer<UInt64>
    let frames: UnsafeMutablePointer<CallFrame>
    var frameCount = 0

    // The registers, saved whenever `interpret` returns.
    var pc: UnsafePointer<UInt64>
    var fp: UnsafeMutablePointer<UInt64>
    var function: UnsafeMutablePointer<FunctionEntry>

    enum State { case ready, suspended(results: UnsafeMutablePointer<UInt64>, count: Int), finished }
    var state = State.ready
    /// Why `interpret` stopped; a field rather than a local so the dispatch loop carries less state.
    var exit = Exit.completed
    /// For an entry that is a host function: it has suspended, so the next run completes.
    var hostEntryReturned = false
    let entry: UnsafeMutablePointer<FunctionEntry>
    let resultTypes: [ValueType]

    /// Raised from outside (a device's interrupt, any thread) to stop the guest at its next safe point.
    public let interruptLine = InterruptLine()
    /// Safe points counted so far: with `.safePoints` slices, the same inputs give the same count.
    public private(set) var safePointsPassed = 0

    /// Safe points between clock reads in `.microseconds` slices.
    public static let clockCheckSafePoints = 256
    /// Bytes one step of a bulk memory operation handles before passing a safe point.
    static let bulkChunkBytes = 1 << 16

    /// Where the slot stack and the frame stack came from; they go back there.
    let slotProvider: MemoryProvider
    let frameProvider: MemoryProvider

    /// Prepares a call; the value slots come from `slotProvider` and the call frames from
    /// `frameProvider` (a kernel charges them to the guest and stack partitions). Throws a trap if
    /// the arguments do not match, or if there is no room for the stacks (`callStackExhausted`).
    public init(store: Store, function address: FunctionAddress, arguments: [WasmValue], limits: ExecutionLimits = ExecutionLimits(),
                slotProvider: MemoryProvider = SystemMemoryProvider.shared,
                frameProvider: MemoryProvider = SystemMemoryProvider.shared) throws(Trap) {
        self.store = store
        self.limits = limits
        let entry = store.functions[address.index]
        let type = store.type(of: address)
        guard arguments.count == type.parameters.count else {
            throw Trap(.host("\(store.name(of: address)) takes \(type.parameters.count) arguments, got \(arguments.count)"))
        }
        for (i, (argument, expected)) in zip(arguments, type.parameters).enumerated() where argument.type != expected {
            throw Trap(.host("argument \(i) of \(store.name(of: address)) must be \(expected), got \(argument.type)"))
        }
        self.entry = entry
        self.resultTypes = type.results
        guard let slotBytes = slotProvider.allocate(limits.slots * 8) else {
            throw Trap(.callStackExhausted)
        }
        guard let frameBytes = frameProvider.allocate(max(limits.frames, 1) * MemoryLayout<CallFrame>.stride) else {
            slotProvider.free(slotBytes)
            throw Trap(.callStackExhausted)
        }
        self.slotProvider = slotProvider
        self.frameProvider = frameProvider
        slots = slotBytes.bindMemory(to: UInt64.self, capacity: limits.slots)
        frames = frameBytes.bindMemory(to: CallFrame.self, capacity: max(limits.frames, 1))
        for (i, argument) in arguments.enumerated() { slots[i] = store.bits(argument) }
        pc = entry.pointee.code ?? UnsafePointer(slots)   // a host entry has no code; pc is unused
        fp = slots
        function = entry
        if entry.pointee.frameSlots > limits.slots {
            state = .finished
        }
    }

    deinit {
        slotProvider.free(UnsafeMutableRawPointer(slots))
        frameProvider.free(UnsafeMutableRawPointer(frames))
    }

    /// Asks the guest to stop at its next safe point (the interpreter's interrupt-pending check).
    public func requestInterrupt() { interruptLine.raise() }

    /// After `.suspended`: the host call's results, in its result types. Then `run` continues after the call.
    public func resume(results: [WasmValue]) {
        guard case .suspended(let target, let count) = state else {
            preconditionFailure("resume(results:) without a suspended host call")
        }
        precondition(results.count == count, "host call needs \(count) results, got \(results.count)")
        for (i, value) in results.enumerated() { target[i] = store.bits(value) }
        state = .ready
    }

    /// Calls `function` on top of a stopped execution — how an interrupt reaches a guest: after a
    /// `.yielded(.interrupt)`, the kernel injects the guest's `interrupt_handler(cause)`; the next
    /// `run` executes it, and when it returns the interrupted code continues exactly where it was.
    /// The handler's frame goes above the interrupted function's; no room is `callStackExhausted`.
    public func injectCall(_ address: FunctionAddress, arguments: [WasmValue]) throws(Trap) {
        guard case .ready = state, entry.pointee.code != nil else {
            throw Trap(.host("an interrupt handler can only be injected into a stopped wasm call"))
        }
        let callee = store.functions[address.index]
        let type = store.type(of: address)
        guard callee.pointee.code != nil, type.parameters == arguments.map(\.type), type.results.isEmpty else {
            throw Trap(.host("\(store.name(of: address)) must be a wasm function \(arguments.map(\.type)) -> ()"))
        }
        let base = fp + function.pointee.frameSlots
        guard frameCount < limits.frames, base + callee.pointee.frameSlots <= slots + limits.slots else {
            throw Trap(.callStackExhausted)
        }
        frames[frameCount] = CallFrame(returnPC: pc, fp: fp, function: function)
        frameCount += 1
        for (i, argument) in arguments.enumerated() { base[i] = store.bits(argument) }
        fp = base
        function = callee
        pc = callee.pointee.code!
    }

    /// `resume(results:)` for the common case of one i32 result (or none), without an array.
    public func resume(i32 value: UInt32?) {
        guard case .suspended(let target, let count) = state else {
            preconditionFailure("resume(i32:) without a suspended host call")
        }
        precondition(count == (value == nil ? 0 : 1), "host call needs \(count) results")
        if let value { target[0] = UInt64(value) }
        state = .ready
    }

    /// Runs until the call completes, traps, suspends, or the budget or an interrupt stops it.
    public func run(_ budget: SliceBudget = .unlimited) -> ExecutionResult {
        switch state {
        case .finished: return .trapped(Trap(.callStackExhausted))
        case .suspended: preconditionFailure("run() while suspended: resume(results:) first")
        case .ready: break
        }
        if entry.pointee.code == nil {
            if hostEntryReturned {
                state = .finished
                return .completed(resultTypes.enumerated().map { store.value(bits: slots[$0.offset], type: $0.element) })
            }
            return runHostEntry()
        }
        var fuel: Int
        // A time slice starts its clock at the first check, 256 safe points in (a few µs): a
        // guest that blocks sooner, as on every IPC round trip, never pays for a clock read.
        var deadline: UInt64 = 0
        switch budget {
        case .unlimited: fuel = Int.max
        case .safePoints(let count): fuel = max(count, 1)
        case .microseconds: fuel = Self.clockCheckSafePoints
        }
        while true {
            let startFuel = fuel
            let exit = interpret(&fuel)
            safePointsPassed &+= startFuel &- fuel
            switch exit {
            case .completed:
                state = .finished
                return .completed(resultTypes.enumerated().map { store.value(bits: slots[$0.offset], type: $0.element) })
            case .trapped(let reason):
                state = .finished
                let index = function.pointee.code == nil ? nil : function.pointee.moduleIndex
                let name = function.pointee.instance.map { $0.pointee.owner.takeUnretainedValue().module.module.functionNames[UInt32(function.pointee.moduleIndex)] } ?? nil
                return .trapped(Trap(reason, functionIndex: index, functionName: name ?? nil))
            case .suspended(let callee):
                return .suspended(FunctionAddress(index: callee.pointee.storeIndex))
            case .safePoint:
                if interruptLine.isRaised {
                    interruptLine.clear()
                    return .yielded(.interrupt)
                }
                if case .microseconds(let microseconds) = budget {
                    let now = Self.nowNanoseconds()
                    if deadline == 0 { deadline = now &+ UInt64(max(microseconds, 0)) &* 1000 }
                    if now < deadline {
                        fuel = Self.clockCheckSafePoints
                        continue
                    }
                }
                return .yielded(.sliceEnded)
            }
        }
    }

    /// An execution whose entry is itself a host function.
    func runHostEntry() -> ExecutionResult {
        let resultCount = entry.pointee.resultCount
        var call = HostCall(slots: slots, parameterCount: entry.pointee.parameterCount, resultCount: resultCount, memory: nil, execution: self)
        switch store.hostBodies[entry.pointee.hostIndex](&call) {
        case .returned:
            state = .finished
            return .completed(resultTypes.enumerated().map { store.value(bits: slots[$0.offset], type: $0.element) })
        case .trap(let trap):
            state = .finished
            return .trapped(trap)
        case .suspend:
            state = .suspended(results: slots, count: resultCount)
            hostEntryReturned = true
            return .suspended(FunctionAddress(index: entry.pointee.storeIndex))
        }
    }

    /// Calls a host function from wasm; `arguments` is the callee's frame.
    @inline(never)
    func callHost(_ callee: UnsafeMutablePointer<FunctionEntry>, arguments: UnsafeMutablePointer<UInt64>,
                  context: UnsafeMutablePointer<InstanceContext>) -> HostOutcome {
        let owner = context.pointee.owner.takeUnretainedValue()
        var call = HostCall(slots: arguments, parameterCount: callee.pointee.parameterCount, resultCount: callee.pointee.resultCount,
                            memory: owner.memory, execution: self)
        let outcome = store.hostBodies[callee.pointee.hostIndex](&call)
        if case .suspend = outcome {
            state = .suspended(results: arguments, count: callee.pointee.resultCount)
        }
        return outcome
    }

    static func nowNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }
}

extension Store {
    /// Runs `function` to completion (no slicing), or in forced slices of one safe point each when
    /// `yieldAtEverySafePoint` is set — which must give the same results.
    public func invoke(_ function: FunctionAddress, _ arguments: [WasmValue], yieldAtEverySafePoint: Bool = false,
                       limits: ExecutionLimits = ExecutionLimits()) -> ExecutionResult {
        let execution: Execution
        do { execution = try Execution(store: self, function: function, arguments: arguments, limits: limits) }
        catch { return .trapped(error) }
        while true {
            let result = execution.run(yieldAtEverySafePoint ? .safePoints(1) : .unlimited)
            switch result {
            case .yielded: continue
            case .suspended: return .trapped(Trap(.host("a host function suspended outside a scheduler")))
            default: return result
            }
        }
    }
}
