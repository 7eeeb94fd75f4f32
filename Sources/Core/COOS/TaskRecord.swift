// One task's kernel-side record: identity, state, what it waits for, and its runtime.

/// What a task finds when it runs again after blocking.
enum Wake {
    /// A channel operation finished.
    case completion(Completion)
    /// A yield or sleep is over: resume with no results.
    case resumeEmpty
    /// A service that used up its slice continues with this event.
    case serviceEvent(ServiceEvent)
}

/// A guest's runtime: its own store (nothing shared with other guests), instance and call.
final class GuestRuntime {
    let store: Store
    let instance: Instance
    let execution: Execution
    /// Guest channel handles → kernel channels.
    var handles = HandleTable<ChannelID>()
    /// Where a pending receive writes its message: buffer, capacity, and the ALT index slot.
    var receiveTarget: (buffer: Int, capacity: Int, indexAddress: Int?)?
    /// Set by `proc_exit`: the trap that follows ends the task with this code.
    var exitCode: Int32?
    var interrupts = InterruptState()
    /// Open devices: the device service's request channel and this guest's private reply channel.
    var devices = HandleTable<(name: String, request: ChannelID, reply: ChannelID)>()
    /// The device call in progress, between its request and its reply.
    var deviceCall: DeviceCall?

    unowned let record: TaskRecord

    /// Whether one of its handles (channel, or a device's reply) is `channel`.
    func holds(_ channel: ChannelID) -> Bool {
        handles.entries.contains { $0.entry == channel } || devices.entries.contains { $0.entry.reply == channel }
    }

    init(record: TaskRecord, store: Store, instance: Instance, execution: Execution) {
        self.record = record
        self.store = store
        self.instance = instance
        self.execution = execution
    }
}

final class TaskRecord {
    let id: TaskID
    let name: String
    let role: TaskRole
    var state: TaskState = .runnable
    var wake: Wake?
    /// The message of a completed receive, until the task runs and takes it.
    var inbox = Message()
    /// The blocking operation the task is in (0: none); completions for other tickets are stale.
    var ticket = 0
    var waitingOn: [ChannelID] = []
    /// A sleep's end or a receive's timeout, in clock nanoseconds.
    var deadline: UInt64? {
        didSet { if let deadline { kernel.nextDeadlineHint = min(kernel.nextDeadlineHint, deadline) } }
    }
    unowned let kernel: Kernel
    /// Rotates the starting arm of ALT so that ready channels are served fairly.
    var altRotation = 0
    var guest: GuestRuntime?
    var service: KernelService?
    /// The task's execution context in the runtime partition.
    var runtimeBlock: UnsafeMutableRawPointer?
    /// A guest's kernel budget: its channels, registry entries and handles (KernelBudget.swift),
    /// and its size (kept for restarts).
    var budget: GuestBudget?
    var kernelBudgetBytes = KernelBudget.defaultBytes
    /// Co_values it owns now, and their bytes (which count against `memoryLimitBytes`).
    var valuesOwned = 0
    var valueBytesOwned = 0
    /// For guests: what to start again, and when earlier restarts happened (clock nanoseconds).
    var module: LoadedModule?
    /// A cap on the guest's linear memory below its declared maximum (the manifest's `memory:`).
    var memoryLimitBytes: Int?
    var restartPolicy = RestartPolicy.stop
    var restartHistory: [UInt64] = []
    /// The task that replaced this one after a restart.
    var successor: TaskID?
    /// Channels this task serves; they close when it ends.
    var served: [ChannelID] = []
    /// A service that runs as long as the node: `runToCompletion` does not wait for it.
    var daemon = false
    /// Board devices this task may open.
    var deviceGrants: Set<String> = []
    /// Its WASI arguments and environment (kept for restarts).
    var startupArguments = GuestArguments.none

    init(id: TaskID, name: String, role: TaskRole, kernel: Kernel) {
        self.kernel = kernel
        self.id = id
        self.name = name
        self.role = role
    }

    /// Drops the runtime (its store, memory and stacks) when the task exits.
    func release() {
        guest = nil
        service = nil
        wake = nil
    }
}
