// Guests: untrusted wasm tasks, each in its own store, reaching the kernel only through the
// guest ABI (Docs/guest-abi.md). A blocking call suspends the guest's execution, never the thread.

extension Kernel {
    /// Runtime-partition bytes for one guest's execution context (registers, handle table).
    static let executionContextBytes = 256
    /// Interrupt handlers one guest may run in one turn before the others get theirs.
    static let interruptsPerSlice = 8

    /// Why a guest could not be started.
    public struct SpawnError: Error, CustomStringConvertible {
        public let detail: String
        public var description: String { detail }
    }

    /// Instantiates `module` as a new guest task and makes it runnable. It starts at its exported
    /// `_start` (a WASI command) or `run`, which take no arguments.
    /// `devices` names the board devices it may open (its manifest's grant); others are `EPERM`.
    /// `memoryLimitBytes` caps the guest's linear memory below what the module declares (the
    /// planner reserved only that much for it): growth past it fails as at the declared maximum;
    /// the co_values it owns count against it too. `kernelBudgetBytes` is the guest's kernel budget
    /// (KernelBudget.swift), taken from its heap partition; nil: `KernelBudget.defaultBytes`.
    public func spawnGuest(_ module: LoadedModule, name: String, role: TaskRole = .guest, restart: RestartPolicy = .stop,
                           devices: Set<String> = [], memoryLimitBytes: Int? = nil, kernelBudgetBytes: Int? = nil,
                           arguments: GuestArguments = .none, capability: borrowing ProcessCapability) throws -> TaskID {
        try startGuest(module, name: name, role: role, restart: restart, devices: devices, memoryLimitBytes: memoryLimitBytes,
                       kernelBudgetBytes: kernelBudgetBytes ?? KernelBudget.defaultBytes, history: [], arguments: arguments)
    }

    func startGuest(_ module: LoadedModule, name: String, role: TaskRole, restart: RestartPolicy, devices: Set<String>,
                    memoryLimitBytes: Int?, kernelBudgetBytes: Int, history: [UInt64], arguments: GuestArguments = .none) throws -> TaskID {
        guard (KernelBudget.bytesMin...KernelBudget.bytesMax).contains(kernelBudgetBytes) else {
            throw SpawnError(detail: "\(name): a kernel budget of \(kernelBudgetBytes) bytes is outside \(KernelBudget.bytesMin)...\(KernelBudget.bytesMax)")
        }
        let record = newTask(name: name, role: role)
        record.module = module
        record.deviceGrants = devices
        record.startupArguments = arguments
        record.restartPolicy = restart
        record.restartHistory = history
        record.memoryLimitBytes = memoryLimitBytes
        record.kernelBudgetBytes = kernelBudgetBytes
        // A guest's memory and value stack come from the guest partition (tier-1 services from
        // theirs); its call frames fill its stack slot; its execution context is runtime memory.
        let heap = partition(role == .service ? .tier1 : .guest)
        let store = Store(memoryProvider: heap)
        if let limit = memoryLimitBytes {
            // The kernel's thread is the only one that runs the guest, so its record is safe here.
            nonisolated(unsafe) unowned(unsafe) let owner = record
            store.memoryLimiter = { _, newBytes in newBytes <= limit - owner.valueBytesOwned }
        }
        let imports = guestImports(for: record, in: store)
        let instance: Instance
        do {
            instance = try store.instantiate(module) { moduleName, field in imports[moduleName]?[field] }
        } catch {
            tasks[record.id] = nil
            throw SpawnError(detail: "\(name): \(error) (\(heap.kind) partition: \(heap.freeBytes) of \(heap.capacity) bytes free, largest block \(heap.largestFreeBlock))")
        }
        guard let entry = instance.exportedFunction("_start") ?? instance.exportedFunction("run") else {
            tasks[record.id] = nil
            throw SpawnError(detail: "\(name): exports neither _start nor run")
        }
        guard store.type(of: entry).parameters.isEmpty else {
            tasks[record.id] = nil
            throw SpawnError(detail: "\(name): its entry function must take no arguments, it takes \(store.type(of: entry).parameters)")
        }
        var limits = configuration.executionLimits
        limits.frames = partitionTable.stackSlotBytes / ExecutionLimits.frameBytes
        guard let context = allocateOrPanic(.runtime, Self.executionContextBytes, for: "execution context of \(name)") else {
            tasks[record.id] = nil
            throw SpawnError(detail: "\(name): \(panicReport?.description ?? "runtime partition full")")
        }
        let execution: Execution
        do {
            execution = try Execution(store: store, function: entry, arguments: [], limits: limits, slotProvider: heap, frameProvider: partition(.stacks))
        } catch {
            partition(.runtime).free(context)
            tasks[record.id] = nil
            let stacks = partition(.stacks)
            throw SpawnError(detail: "\(name): no room for its stacks (\(limits.slots * 8) bytes of \(heap.kind) partition, \(heap.freeBytes) free; a \(partitionTable.stackSlotBytes)-byte stack slot, \(stacks.freeBytes) of \(stacks.capacity) free)")
        }
        // Last, so that a guest that cannot start leaves nothing behind (and the planner's model
        // charges in this order).
        do {
            record.budget = try GuestBudget(bytes: kernelBudgetBytes, from: heap)
        } catch {
            partition(.runtime).free(context)
            tasks[record.id] = nil
            throw SpawnError(detail: "\(name): no room for its kernel budget (\(kernelBudgetBytes) bytes of \(heap.kind) partition, \(heap.freeBytes) free, largest block \(heap.largestFreeBlock))")
        }
        record.guest = GuestRuntime(record: record, store: store, instance: instance, execution: execution)
        if let handler = instance.exportedFunction("interrupt_handler") {
            guard store.type(of: handler) == FunctionType(parameters: [.i32], results: []) else {
                partition(.runtime).free(context)
                if let budget = record.budget { budget.home.free(budget.block) }
                tasks[record.id] = nil
                throw SpawnError(detail: "\(name): interrupt_handler must take one i32 (the cause) and return nothing")
            }
            record.guest?.interrupts.handler = handler
        }
        record.runtimeBlock = context
        makeRunnable(record)
        note("spawn \(name) as \(record.id)")
        return record.id
    }

    func runGuest(_ record: TaskRecord) {
        guard let guest = record.guest else { return }
        if let wake = record.wake {
            record.wake = nil
            // A device call whose request went out now waits for its reply.
            guard deliver(wake, to: guest) else { return }
        }
        // The switch is where the kernel checks the interrupt flags (upstream ISR safety).
        deliverInterrupt(to: guest)
        note("run \(record.name)")
        var result = guest.execution.run(configuration.slice)
        // An interrupt stopped it at a safe point: its handler runs at once, within this turn,
        // up to a bound so that a flood of interrupts cannot keep the CPU from other tasks.
        var handled = 0
        while result == .yielded(.interrupt), handled < Self.interruptsPerSlice {
            deliverInterrupt(to: guest)
            handled += 1
            result = guest.execution.run(configuration.slice)
        }
        switch result {
        case .completed:
            finish(record, .completed)
        case .trapped(let trap):
            if let code = guest.exitCode { finish(record, .exited(code: code)) } else { finish(record, .trapped(trap)) }
        case .yielded:
            slicesPreempted += 1
            makeRunnable(record)
        case .suspended:
            // The host function set the state: blocked or sleeping, or runnable for a yield.
            if record.state == .runnable { runQueue.append(record.id) }
        }
    }

    /// Hands a finished operation to a suspended guest: results, and a received message into its
    /// memory. False if the guest is still waiting (a device call's request went, its reply not yet).
    func deliver(_ wake: Wake, to guest: GuestRuntime) -> Bool {
        if guest.deviceCall != nil, case .completion(let completion) = wake {
            guard let result = continueDeviceCall(guest, completion) else { return false }
            guest.execution.resume(i32: UInt32(bitPattern: result))
            return true
        }
        switch wake {
        case .resumeEmpty, .serviceEvent:
            guest.execution.resume(i32: nil)
        case .completion(.sent):
            guest.execution.resume(i32: 0)
        case .completion(.failed(let error)):
            guest.execution.resume(i32: UInt32(bitPattern: error.rawValue))
        case .completion(.received(let index)):
            guest.execution.resume(i32: UInt32(bitPattern: write(channelIndex: index, into: guest)))
        }
        return true
    }

    /// Writes a received message where the guest asked; the length, or an error code.
    func write(channelIndex: Int, into guest: GuestRuntime) -> Int32 {
        let message = guest.record.inbox
        guard let target = guest.receiveTarget, let memory = guest.instance.memory else { return KernelError.invalidArgument.rawValue }
        guest.receiveTarget = nil
        let size = message.encodedByteCount
        guard size <= target.capacity else {
            // Dropped: the co_values it carried would have no handle anywhere, so they go.
            for id in sharedIDs(message) { try? freeValue(SharedMemoryID(id), by: guest.record.id) }
            return KernelError.messageTooLarge.rawValue
        }
        guard let destination = memory.bytes(at: target.buffer, count: size) else { return KernelError.invalidArgument.rawValue }
        message.encode(into: destination)
        if let address = target.indexAddress {
            guard memory.write(withUnsafeBytes(of: UInt32(channelIndex).littleEndian, Array.init), at: address) else {
                return KernelError.invalidArgument.rawValue
            }
        }
        return Int32(size)
    }

    // MARK: the ABI

    func guestImports(for owner: TaskRecord, in store: Store) -> [String: [String: ExternalValue]] {
        // The store's host functions must not own the kernel or the task: both own the store,
        // so both outlive every call into these closures (unowned(unsafe): no reference counting
        // on the IPC path).
        unowned(unsafe) let kernel = self
        unowned(unsafe) let record = owner
        var fireball: [String: ExternalValue] = [:]
        var wasi: [String: ExternalValue] = [:]
        let i32 = ValueType.i32, i64 = ValueType.i64
        func define(_ table: inout [String: ExternalValue], _ name: String, _ parameters: [ValueType], _ results: [ValueType],
                    _ body: @escaping (inout HostCall, GuestRuntime) -> HostOutcome) {
            let address = store.addHostFunction(name, type: FunctionType(parameters: parameters, results: results)) { call in
                guard let guest = record.guest else { return .trap(Trap(.host("guest runtime gone"))) }
                return body(&call, guest)
            }
            table[name] = .function(address)
        }
        /// Ends a host call with an i32 result.
        func answer(_ call: inout HostCall, _ value: Int32) -> HostOutcome {
            call.setI32(0, UInt32(bitPattern: value))
            return .returned
        }
        func string(_ call: HostCall, _ pointer: Int, _ length: Int) -> String? {
            guard let bytes = call.memory?.read(at: Int(call.i32(pointer)), count: Int(call.i32(length))) else { return nil }
            return String(validating: bytes, as: UTF8.self)
        }
        func channel(_ guest: GuestRuntime, _ handle: UInt32) -> ChannelID? { guest.handles[handle] }
        /// A channel operation's outcome for the guest: an answer now, or a suspension.
        func finishOperation(_ call: inout HostCall, _ guest: GuestRuntime, _ completion: Completion?) -> HostOutcome {
            switch completion {
            case nil:
                record.state = .blocked
                return .suspend
            case .sent?:
                return answer(&call, 0)
            case .failed(let error)?:
                guest.receiveTarget = nil
                return answer(&call, error.rawValue)
            case .received(let index)?:
                return answer(&call, kernel.write(channelIndex: index, into: guest))
            }
        }
        func registerHandle(_ call: inout HostCall, _ guest: GuestRuntime, _ open: (String) throws(KernelError) -> ChannelID) -> HostOutcome {
            guard let uri = string(call, 0, 1) else { return answer(&call, KernelError.invalidArgument.rawValue) }
            do throws(KernelError) {
                guard let budget = record.budget else { throw .noMemory }
                let id = try open(uri)
                return answer(&call, try guest.handles.add(id, paidBy: budget))
            } catch {
                kernel.note("\(record.name) cannot use \(uri): \(error)")
                return answer(&call, error.rawValue)
            }
        }

        define(&fireball, "channel_serve", [i32, i32], [i32]) { call, guest in
            registerHandle(&call, guest) { (uri) throws(KernelError) in try kernel.serve(uri, by: record) }
        }
        define(&fireball, "channel_open", [i32, i32], [i32]) { call, guest in
            registerHandle(&call, guest) { (uri) throws(KernelError) in try kernel.open(uri, as: record.role, by: record.name, paidBy: record) }
        }
        define(&fireball, "channel_send", [i32, i32, i32], [i32]) { call, guest in
            guard let id = channel(guest, call.i32(0)) else { return answer(&call, KernelError.badHandle.rawValue) }
            guard let bytes = call.memory?.bytes(at: Int(call.i32(1)), count: Int(call.i32(2))) else {
                return answer(&call, KernelError.invalidArgument.rawValue)
            }
            // Decoded straight from guest memory: the kernel keeps a validated copy, never a pointer.
            guard let message = try? Message(decoding: UnsafeRawBufferPointer(bytes)) else { return answer(&call, KernelError.badMessage.rawValue) }
            return finishOperation(&call, guest, kernel.send(message, on: id, by: record))
        }
        define(&fireball, "channel_recv", [i32, i32, i32], [i32]) { call, guest in
            guard let id = channel(guest, call.i32(0)) else { return answer(&call, KernelError.badHandle.rawValue) }
            let buffer = Int(call.i32(1)), capacity = Int(call.i32(2))
            guard call.memory?.bytes(at: buffer, count: capacity) != nil else { return answer(&call, KernelError.invalidArgument.rawValue) }
            guest.receiveTarget = (buffer, capacity, nil)
            return finishOperation(&call, guest, kernel.receive(on: [id], by: record, timeout: nil))
        }
        define(&fireball, "channel_alt", [i32, i32, i64, i32, i32, i32], [i32]) { call, guest in
            let count = Int(call.i32(1))
            guard count > 0, count <= 64, let raw = call.memory?.read(at: Int(call.i32(0)), count: count * 4) else {
                return answer(&call, KernelError.invalidArgument.rawValue)
            }
            var ids: [ChannelID] = []
            for k in 0..<count {
                let handle = UInt32(raw[4 * k]) | UInt32(raw[4 * k + 1]) << 8 | UInt32(raw[4 * k + 2]) << 16 | UInt32(raw[4 * k + 3]) << 24
                guard let id = channel(guest, handle) else { return answer(&call, KernelError.badHandle.rawValue) }
                ids.append(id)
            }
            let buffer = Int(call.i32(3)), capacity = Int(call.i32(4)), indexAddress = Int(call.i32(5))
            guard call.memory?.bytes(at: buffer, count: capacity) != nil, call.memory?.bytes(at: indexAddress, count: 4) != nil else {
                return answer(&call, KernelError.invalidArgument.rawValue)
            }
            let timeout = Int64(bitPattern: call.i64(2))
            guest.receiveTarget = (buffer, capacity, indexAddress)
            return finishOperation(&call, guest, kernel.receive(on: ids, by: record, timeout: timeout < 0 ? nil : UInt64(timeout)))
        }
        define(&fireball, "channel_close", [i32], [i32]) { call, guest in
            guard let id = channel(guest, call.i32(0)) else { return answer(&call, KernelError.badHandle.rawValue) }
            do throws(KernelError) { try kernel.close(id) } catch { return answer(&call, error.rawValue) }
            // The handle is gone (EBADF from now on) and its slot may be reused by a later open.
            if let budget = record.budget { _ = guest.handles.remove(call.i32(0), paidBy: budget) }
            return answer(&call, 0)
        }
        define(&fireball, "value_alloc", [i32], [i32]) { call, _ in
            do throws(KernelError) {
                return answer(&call, Int32(try kernel.allocateValue(Int(call.i32(0)), for: record).raw))
            } catch { return answer(&call, error.rawValue) }
        }
        /// value_write / value_read: copy between guest memory and a value the guest owns.
        func transfer(_ call: inout HostCall, toValue: Bool) -> HostOutcome {
            do throws(KernelError) {
                let block = try kernel.valueBytes(SharedMemoryID(call.i32(0)), for: record.id)
                let offset = Int(call.i32(1)), length = Int(call.i32(3))
                guard offset <= block.count, length <= block.count - offset,
                      let memory = call.memory?.bytes(at: Int(call.i32(2)), count: length) else { throw .invalidArgument }
                let inBlock = UnsafeMutableRawBufferPointer(rebasing: block[offset..<offset + length])
                if toValue { inBlock.copyMemory(from: UnsafeRawBufferPointer(memory)) } else { memory.copyMemory(from: UnsafeRawBufferPointer(inBlock)) }
                return answer(&call, 0)
            } catch { return answer(&call, error.rawValue) }
        }
        define(&fireball, "value_write", [i32, i32, i32, i32], [i32]) { call, _ in transfer(&call, toValue: true) }
        define(&fireball, "value_read", [i32, i32, i32, i32], [i32]) { call, _ in transfer(&call, toValue: false) }
        define(&fireball, "value_free", [i32], [i32]) { call, _ in
            do throws(KernelError) {
                try kernel.freeValue(SharedMemoryID(call.i32(0)), by: record.id)
                return answer(&call, 0)
            } catch { return answer(&call, error.rawValue) }
        }
        /// interrupt_enable / _mask / _ack: one bit of the guest's cause masks.
        func interruptCall(_ call: inout HostCall, _ guest: GuestRuntime, _ change: (inout InterruptState, UInt32) -> Void) -> HostOutcome {
            let cause = call.i32(0)
            guard cause < UInt32(InterruptState.causes) else { return answer(&call, KernelError.invalidArgument.rawValue) }
            guard guest.interrupts.handler != nil else { return answer(&call, KernelError.denied.rawValue) }
            change(&guest.interrupts, UInt32(1) << cause)
            return answer(&call, 0)
        }
        define(&fireball, "interrupt_mask", [i32], [i32]) { call, guest in
            interruptCall(&call, guest) { state, bit in state.masked |= bit }
        }
        define(&fireball, "interrupt_ack", [i32], [i32]) { call, guest in
            let outcome = interruptCall(&call, guest) { state, bit in state.inService &= ~bit }
            // The next waiting interrupt is taken at the guest's next safe point.
            if guest.interrupts.hasDeliverable { guest.execution.requestInterrupt() }
            return outcome
        }
        define(&fireball, "interrupt_enable", [i32], [i32]) { call, guest in
            let outcome = interruptCall(&call, guest) { state, bit in state.enabled |= bit; state.masked &= ~bit }
            if guest.interrupts.hasDeliverable { guest.execution.requestInterrupt() }
            return outcome
        }
        define(&fireball, "yield", [], []) { _, _ in
            record.wake = .resumeEmpty
            return .suspend
        }
        define(&fireball, "sleep", [i64], []) { call, guest in
            record.wake = .resumeEmpty
            // An interrupt is waiting: no sleep, its handler runs first (as on a wake-up).
            if guest.interrupts.hasDeliverable { return .suspend }
            record.state = .sleeping
            record.wake = .resumeEmpty
            // ns <= 0 is a yield; a negative value must not wrap into a near-endless sleep.
            record.deadline = kernel.clock.nanoseconds &+ UInt64(max(0, Int64(bitPattern: call.i64(0))))
            return .suspend
        }
        define(&fireball, "clock_ns", [], [i64]) { call, _ in
            call.setI64(0, kernel.clock.nanoseconds)
            return .returned
        }
        // Guest text reaches the console escaped and through the guest's token bucket (LogLimiter.swift).
        define(&fireball, "log", [i32, i32, i32], []) { call, _ in
            let level = LogLevel(rawValue: min(call.i32(0), LogLevel.fatal.rawValue)) ?? .fatal
            kernel.logger.emit(level, from: record.name, task: record.id) {
                // Read only when printed, and only what one line shows (a text may be megabytes long).
                let length = Int(call.i32(2))
                guard call.memory?.bytes(at: Int(call.i32(1)), count: length) != nil,
                      let bytes = call.memory?.read(at: Int(call.i32(1)), count: min(length, LogText.lineBytesMax + 1)) else {
                    return "<invalid log text>"
                }
                return LogText.text(bytes, totalBytes: length)
            }
            return .returned
        }
        define(&fireball, "log_message", [i32, i32, i32], [i32]) { call, _ in
            let level = LogLevel(rawValue: min(call.i32(0), LogLevel.fatal.rawValue)) ?? .fatal
            guard let bytes = call.memory?.bytes(at: Int(call.i32(1)), count: Int(call.i32(2))) else {
                return answer(&call, KernelError.invalidArgument.rawValue)
            }
            do {
                let message = try Message(decoding: UnsafeRawBufferPointer(bytes), dictionary: kernel.logger.dictionary)
                try kernel.logger.log(level, message, from: record.name, task: record.id)
                return answer(&call, 0)
            } catch {
                return answer(&call, KernelError.badMessage.rawValue)
            }
        }

        // WASI preview 1, the subset C programs need to print and exit.
        let success: UInt32 = 0, badFileNumber: UInt32 = 8, fault: UInt32 = 21
        var lines = LineAssembler()
        func printLine(_ line: [UInt8]) { kernel.logger.guestLine(line, from: record.name, task: record.id) }
        // One call takes at most `writeBytesMax` (a short write, which C's stdio repeats), so a guest
        // cannot hold the kernel in one host call with millions of vectors over its whole memory.
        let invalid: UInt32 = 28, vectorsMax = 1024, writeBytesMax = 64 * 1024
        define(&wasi, "fd_write", [i32, i32, i32, i32], [i32]) { call, _ in
            let fd = call.i32(0)
            guard fd == 1 || fd == 2 else { call.setI32(0, badFileNumber); return .returned }
            let count = Int(call.i32(2))
            guard count <= vectorsMax else { call.setI32(0, invalid); return .returned }
            guard let memory = call.memory, let vectors = memory.read(at: Int(call.i32(1)), count: count * 8) else {
                call.setI32(0, fault); return .returned
            }
            var written = 0
            for k in 0..<count where written < writeBytesMax {
                let base = vectors[(8 * k)..<(8 * k + 8)].enumerated().reduce(into: (UInt32(0), UInt32(0))) { sum, item in
                    if item.offset < 4 { sum.0 |= UInt32(item.element) << (8 * UInt32(item.offset)) } else { sum.1 |= UInt32(item.element) << (8 * UInt32(item.offset - 4)) }
                }
                guard memory.bytes(at: Int(base.0), count: Int(base.1)) != nil,
                      let bytes = memory.bytes(at: Int(base.0), count: min(Int(base.1), writeBytesMax - written)) else {
                    call.setI32(0, fault); return .returned
                }
                // Split in place: the bytes are not copied, and the partial line stays bounded.
                lines.take(UnsafeRawBufferPointer(bytes), line: printLine)
                written += bytes.count
            }
            guard memory.write(withUnsafeBytes(of: UInt32(written).littleEndian, Array.init), at: Int(call.i32(3))) else {
                call.setI32(0, fault); return .returned
            }
            call.setI32(0, success)
            return .returned
        }
        define(&wasi, "proc_exit", [i32], []) { call, guest in
            lines.flush(line: printLine)
            guest.exitCode = Int32(bitPattern: call.i32(0))
            return .trap(Trap(.host("proc_exit(\(Int32(bitPattern: call.i32(0))))")))
        }
        define(&wasi, "clock_time_get", [i32, i64, i32], [i32]) { call, _ in
            let time = kernel.clock.nanoseconds
            let ok = call.memory?.write(withUnsafeBytes(of: time.littleEndian, Array.init), at: Int(call.i32(2))) ?? false
            call.setI32(0, ok ? success : fault)
            return .returned
        }
        define(&wasi, "random_get", [i32, i32], [i32]) { call, _ in
            let count = Int(call.i32(1))
            guard count <= 1 << 20 else { call.setI32(0, fault); return .returned }
            let ok = call.memory?.write(kernel.random.bytes(count), at: Int(call.i32(0))) ?? false
            call.setI32(0, ok ? success : fault)
            return .returned
        }
        // The standard streams are character devices that cannot seek or close; other fds do not exist.
        define(&wasi, "fd_close", [i32], [i32]) { call, _ in
            call.setI32(0, call.i32(0) <= 2 ? success : badFileNumber)
            return .returned
        }
        define(&wasi, "fd_seek", [i32, i64, i32, i32], [i32]) { call, _ in
            let illegalSeek: UInt32 = 70
            call.setI32(0, call.i32(0) <= 2 ? illegalSeek : badFileNumber)
            return .returned
        }
        define(&wasi, "fd_fdstat_get", [i32, i32], [i32]) { call, _ in
            guard call.i32(0) <= 2 else { call.setI32(0, badFileNumber); return .returned }
            // struct fdstat: filetype u8 (2 = character device), flags u16, rights_base u64, rights_inheriting u64.
            var stat = [UInt8](repeating: 0, count: 24)
            stat[0] = 2
            stat[8] = 0x40   // right to write (fd_write)
            let ok = call.memory?.write(stat, at: Int(call.i32(1))) ?? false
            call.setI32(0, ok ? success : fault)
            return .returned
        }
        // args_* and environ_*: the lists given at spawn (GuestArguments, bounded there). The sizes
        // calls give the count and the buffer's bytes; the get calls write the pointers, then the
        // NUL-terminated strings. A write outside memory is EFAULT and writes nothing further.
        let startup = record.startupArguments
        for (prefix, list) in [("args", startup.arguments), ("environ", startup.environment)] {
            let (count, buffer, offsets) = GuestArguments.layout(list)
            define(&wasi, "\(prefix)_sizes_get", [i32, i32], [i32]) { call, _ in
                let ok = (call.memory?.write(withUnsafeBytes(of: UInt32(count).littleEndian, Array.init), at: Int(call.i32(0))) ?? false)
                    && (call.memory?.write(withUnsafeBytes(of: UInt32(buffer.count).littleEndian, Array.init), at: Int(call.i32(1))) ?? false)
                call.setI32(0, ok ? success : fault)
                return .returned
            }
            define(&wasi, "\(prefix)_get", [i32, i32], [i32]) { call, _ in
                guard let memory = call.memory else { call.setI32(0, fault); return .returned }
                let pointers = Int(call.i32(0)), strings = Int(call.i32(1))
                // Both pointers are u32, so every string's address fits a u32 once the buffer fits in memory.
                guard memory.write(buffer, at: strings) else { call.setI32(0, fault); return .returned }
                var table: [UInt8] = []
                table.reserveCapacity(4 * count)
                for offset in offsets {
                    guard let address = UInt32(exactly: strings + offset) else { call.setI32(0, fault); return .returned }
                    table += withUnsafeBytes(of: address.littleEndian, Array.init)
                }
                call.setI32(0, memory.write(table, at: pointers) ? success : fault)
                return .returned
            }
        }
        defineDeviceCalls(&fireball, for: record, in: store)
        return ["fireball": fireball, "wasi_snapshot_preview1": wasi]
    }
}
