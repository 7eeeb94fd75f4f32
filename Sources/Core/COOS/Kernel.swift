// COOS: the cooperative, single-threaded kernel. Round-robin over runnable tasks; a guest runs
// until its slice ends, it blocks on a channel, or it exits. Nothing here blocks the thread: an
// event loop calls `runUntilIdle` and sleeps until `nextDeadline` or an outside event.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The kernel's time source, injected so that tests replay exactly.
public protocol KernelClock: AnyObject {
    var nanoseconds: UInt64 { get }
}

/// CLOCK_MONOTONIC.
public final class SystemClock: KernelClock {
    public init() {}
    public var nanoseconds: UInt64 { Execution.nowNanoseconds() }
}

/// A clock that moves only when told: for deterministic runs.
public final class ManualClock: KernelClock {
    public var nanoseconds: UInt64
    public init(start: UInt64 = 0) { nanoseconds = start }
    public func advance(by delta: UInt64) { nanoseconds &+= delta }
}

public struct TaskID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: Int
    public init(raw: Int) { self.raw = raw }
    public static func < (a: TaskID, b: TaskID) -> Bool { a.raw < b.raw }
    public var description: String { "task \(raw)" }
}

/// Roles are fixed when a task is created (DESIGN.md §6).
public enum TaskRole: String, Sendable, CaseIterable {
    case guest, service, hal, logging, router
}

public enum ExitReason: Sendable, Equatable, CustomStringConvertible {
    case completed
    /// `proc_exit(code)` from a WASI guest.
    case exited(code: Int32)
    case trapped(Trap)
    case killed
    /// The kernel ended it: what it did wrong (or which partition ran out).
    case fault(String)

    public var description: String {
        switch self {
        case .completed: "completed"
        case .exited(let code): "exited with code \(code)"
        case .trapped(let trap): "\(trap)"
        case .killed: "killed"
        case .fault(let why): "fault: \(why)"
        }
    }
}

public enum TaskState: Sendable, Equatable {
    case runnable
    case blocked
    case sleeping
    case exited(ExitReason)
}

/// How the kernel runs slices.
public struct KernelConfiguration: Sendable {
    /// A guest's slice: `.standard` (300 µs) on a board, `.safePoints(n)` for deterministic runs.
    public var slice: SliceBudget
    /// Record one line per scheduling event in `trace` (tests compare runs with it).
    public var tracing: Bool
    public var executionLimits: ExecutionLimits
    /// The node's predefined log texts (after `Logger.kernelTexts`); guests name them by offset.
    public var logTexts: [String]
    /// Seeds the guests' random source (WASI `random_get`) for replayable runs; nil: the system's.
    public var randomSeed: UInt64? = nil
    /// Console lines each guest may produce (Docs/kernel.md, "Logs").
    public var logRateLimit: LogRateLimit = .standard
    public init(slice: SliceBudget = .standard, tracing: Bool = false, executionLimits: ExecutionLimits = ExecutionLimits(slots: 1 << 14, frames: 1_000),
                logTexts: [String] = []) {
        self.slice = slice
        self.tracing = tracing
        self.executionLimits = executionLimits
        self.logTexts = logTexts
    }
}

/// What `runUntilIdle` found when it stopped.
public enum KernelIdle: Equatable, Sendable {
    /// Every task has exited (daemon services aside).
    case allExited
    /// Tasks wait on channels or timers; the earliest timer, if any (clock nanoseconds).
    case waiting(nextDeadline: UInt64?)
    /// `maxSlices` ran out with tasks still runnable.
    case sliceLimit
    /// A kernel or runtime partition ran out (see `Kernel.panicReport`).
    case panicked
}

/// The kernel of one node.
public final class Kernel {
    public let clock: KernelClock
    public let configuration: KernelConfiguration
    /// Tasks by id (ids are dense, from 1): index = raw id.
    var tasks = TaskTable()
    var runQueue = RingQueue<TaskID>()
    /// Channels by id (dense, from 1).
    var channels = ChannelTable()
    var registry: [String: (channel: ChannelID, role: TaskRole)] = [:] { didSet { servedVersion &+= 1 } }
    /// Changes whenever what `servedURIs` returns may have changed (a URI registered or dropped, a
    /// channel closed): the router announces again only then.
    public private(set) var servedVersion = 0
    /// Who may open whose channels; fixed at boot.
    public let rolePolicy: RolePolicy
    /// Each registry entry's bytes: in the subsystem partition for system and trusted services, in
    /// the serving guest's budget for a guest's URI (the entry goes when that guest ends).
    var registryCharges: [String: (block: UnsafeMutableRawPointer, home: Partition)] = [:]
    var nextTaskID = 1
    var nextTicket = 1
    /// co_values by handle (Kernel+Value.swift); freed entries keep their number.
    var values: [ValueRecord] = []
    var liveValueCount = 0
    /// Freed slots of `values`, reused last freed first.
    var freeValueSlots: [Int] = []
    /// No timer is due before this; spares `fireTimers` a walk over all tasks on every slice.
    var nextDeadlineHint: UInt64 = 0
    /// Console lines (a guest's stdout/stderr, and the logger's output), prefixed with its name.
    public var console: (String) -> Void = { print($0) }
    /// The router, when the node has links: it carries mirror channels' traffic to the nodes that
    /// serve them, and receives for remote tasks on channels served here.
    public weak var remoteDirectory: RemoteDirectory?
    /// What the router has to act on, queued as it happens (see `RemoteEvent`).
    var remoteEvents: [RemoteEvent] = []
    /// This node's name in the cluster: a URI that names it (`…@name`) opens the local channel.
    public var nodeName: String?
    /// Told of every task that ends (device drivers drop its timers and subscriptions).
    public var exitObservers: [(TaskID, ExitReason) -> Void] = []
    /// The logging subsystem; its lines go to `console`.
    public private(set) var logger: Logger!
    /// Random bytes for guests: injected (seeded) in deterministic runs.
    var random: KernelRandom
    public private(set) var trace: [String] = []
    /// Context switches so far (slices run).
    public private(set) var switches = 0
    /// Interrupt handler calls injected into guests so far.
    public internal(set) var interruptsDelivered = 0
    /// Guest slices that used their whole budget and were preempted (the rest blocked, yielded or ended).
    public internal(set) var slicesPreempted = 0
    /// Tasks that ended by a trap or a fault, and guests started again by their restart policy.
    public internal(set) var trapsTotal = 0, restartsTotal = 0
    /// Told of every restart: the task that ended and the one that replaced it.
    public var restartObservers: [(TaskID, TaskID) -> Void] = []
    /// The six partitions, allocated once at boot.
    public let partitions: [PartitionKind: Partition]
    /// Set when a kernel or runtime partition ran out; the kernel runs nothing after it.
    public private(set) var panicReport: KernelPanic?

    public init(clock: KernelClock = SystemClock(), configuration: KernelConfiguration = KernelConfiguration(),
                partitions table: PartitionTable = .host, rolePolicy: RolePolicy = .upstream) {
        self.clock = clock
        self.rolePolicy = rolePolicy
        self.configuration = configuration
        var partitions: [PartitionKind: Partition] = [:]
        for kind in PartitionKind.allCases { partitions[kind] = Partition(kind: kind, bytes: max(table[kind], 64)) }
        self.partitions = partitions
        self.partitionTable = table
        random = KernelRandom(seed: configuration.randomSeed)
        do {
            logger = try Logger(texts: configuration.logTexts, clock: clock, rateLimit: configuration.logRateLimit) { [unowned self] in self.console($0) }
        } catch {
            preconditionFailure("log texts of the kernel configuration: \(error)")
        }
        // A guest that ends announces the lines its bucket dropped since the last announcement.
        exitObservers.append { [unowned self] task, _ in self.logger.taskEnded(task, name: self.name(of: task) ?? "\(task)") }
    }

    public let partitionTable: PartitionTable
    var capabilitiesMinted = OnceCell<Bool>()

    public func partition(_ kind: PartitionKind) -> Partition { partitions[kind]! }

    /// Allocates kernel-owned bytes; a failure in the kernel or runtime partition is a panic.
    func allocateOrPanic(_ kind: PartitionKind, _ bytes: Int, for allocation: @autoclosure () -> String) -> UnsafeMutableRawPointer? {
        if let block = partition(kind).allocate(bytes) { return block }
        if kind == .kernel || kind == .runtime, panicReport == nil {
            let report = KernelPanic(partition: kind, allocation: allocation(), bytes: bytes, freeBytes: partition(kind).freeBytes)
            panicReport = report
            console(report.description)
            for record in tasks.all { finish(record, .fault("kernel panic")) }
        }
        return nil
    }

    // MARK: tasks

    /// The state of `task`, or nil if the kernel never had it.
    public func state(of task: TaskID) -> TaskState? { tasks[task]?.state }
    public func name(of task: TaskID) -> String? { tasks[task]?.name }
    public func role(of task: TaskID) -> TaskRole? { tasks[task]?.role }
    public var taskIDs: [TaskID] { tasks.all.map(\.id) }
    /// Channels not closed (served, mirrors and private ones), for a node's status.
    public var openChannelCount: Int { channels.openCount }
    /// The task running now (nil between slices).
    public private(set) var currentTask: TaskID?

    func newTask(name: String, role: TaskRole) -> TaskRecord {
        let id = TaskID(raw: nextTaskID)
        nextTaskID += 1
        let record = TaskRecord(id: id, name: name, role: role, kernel: self)
        tasks.insert(record)
        return record
    }

    func makeRunnable(_ record: TaskRecord) {
        record.state = .runnable
        record.deadline = nil
        runQueue.append(record.id)
    }

    func note(_ line: @autoclosure () -> String) {
        if configuration.tracing { trace.append("\(clock.nanoseconds) " + line()) }
    }

    /// Runs slices until no task is runnable, or `maxSlices` have run.
    @discardableResult
    public func runUntilIdle(maxSlices: Int = .max) -> KernelIdle {
        var slices = 0
        while panicReport == nil {
            fireTimers()
            guard let id = runQueue.popFirst() else { break }
            guard let record = tasks[id], record.state == .runnable else { continue }
            if slices == maxSlices {
                runQueue.prepend(id)
                return .sliceLimit
            }
            slices += 1
            switches += 1
            currentTask = id
            runSlice(record)
            currentTask = nil
        }
        if panicReport != nil { return .panicked }
        // Daemons (the device service) serve others for ever: they do not keep a run alive.
        let (allExited, nextDeadline) = tasks.idleState
        return allExited ? .allExited : .waiting(nextDeadline: nextDeadline)
    }

    /// Runs until every task exits or blocks for good, sleeping the thread for timers; for
    /// `fireball run` and tests (a node's event loop does this itself).
    public func runToCompletion(timeoutNanoseconds: UInt64 = .max) -> KernelIdle {
        let start = clock.nanoseconds
        while true {
            let idle = runUntilIdle()
            guard case .waiting(let deadline?) = idle, clock.nanoseconds &- start < timeoutNanoseconds else { return idle }
            if let manual = clock as? ManualClock {
                manual.nanoseconds = max(manual.nanoseconds, deadline)
            } else {
                let now = clock.nanoseconds
                if deadline > now { var pause = timespec(tv_sec: Int((deadline - now) / 1_000_000_000), tv_nsec: Int((deadline - now) % 1_000_000_000)); nanosleep(&pause, nil) }
            }
        }
    }

    func fireTimers() {
        guard nextDeadlineHint != .max else { return }   // no timer at all: no clock read either
        let now = clock.nanoseconds
        guard nextDeadlineHint <= now else { return }
        nextDeadlineHint = .max
        for record in tasks.all {
            guard let deadline = record.deadline else { continue }
            guard deadline <= now else { nextDeadlineHint = min(nextDeadlineHint, deadline); continue }
            record.deadline = nil
            switch record.state {
            case .sleeping:
                note("\(record.name) wakes")
                record.wake = .resumeEmpty
                makeRunnable(record)
            case .blocked:
                cancelRegistrations(of: record)
                note("\(record.name) times out")
                record.wake = .completion(.failed(.timedOut))
                makeRunnable(record)
            default:
                break
            }
        }
    }

    func runSlice(_ record: TaskRecord) {
        if let service = record.service {
            runService(record, service)
        } else {
            runGuest(record)
        }
    }

    /// Ends a task: its channel registrations go, its co_values are freed, its memory returns.
    public func kill(_ task: TaskID, reason: ExitReason = .killed, capability: borrowing ProcessCapability) {
        guard let record = tasks[task] else { return }
        finish(record, reason)
    }

    func finish(_ record: TaskRecord, _ reason: ExitReason) {
        if case .exited = record.state { return }
        cancelRegistrations(of: record)
        releaseValues(of: record.id)
        record.state = .exited(reason)
        switch reason {
        case .trapped, .fault: trapsTotal += 1
        default: break
        }
        // Peers blocked on what it served fail with ECLOSED instead of waiting forever.
        for id in record.served { try? close(id) }
        record.served = []
        record.deadline = nil
        record.release()
        if let block = record.runtimeBlock {
            partition(.runtime).free(block)
            record.runtimeBlock = nil
        }
        releaseBudget(of: record)
        note("\(record.name) exits: \(reason)")
        for observer in exitObservers { observer(record.id, reason) }
        if case .completed = reason {} else if case .exited(0) = reason {} else {
            console("[\(record.name)] \(reason)")
        }
        restartIfPolicyAllows(record, after: reason)
    }

    // MARK: channels

    /// Registers `uri` as served by a new channel of a guest or service (the registry only grows).
    public func serve(_ uri: String, role: TaskRole = .guest) throws(KernelError) -> ChannelID {
        guard role == .guest || role == .service else { throw .denied }
        return try register(uri, role: role)
    }

    /// A task serves `uri`: when it ends, the channel closes so that no peer waits forever.
    func serve(_ uri: String, by record: TaskRecord) throws(KernelError) -> ChannelID {
        guard record.role == .guest || record.role == .service else { throw .denied }
        return try register(uri, role: record.role, server: record)
    }

    /// Registers `uri` under a system role (hal, logging, router): privileged.
    public func serve(_ uri: String, systemRole role: TaskRole, capability: borrowing SystemRoleCapability) throws(KernelError) -> ChannelID {
        try register(uri, role: role)
    }

    func register(_ uri: String, role: TaskRole, server: TaskRecord? = nil) throws(KernelError) -> ChannelID {
        guard let parsed = ServiceURI(uri), parsed.node == nil else { throw .invalidArgument }
        // A URI whose channel closed (its server closed it, or it was a mirror) may be served again
        // on a fresh channel that peers reopen.
        if let existing = registry[uri] {
            // A mirror gives way: the service now runs here (its peers' handles get ECLOSED and reopen).
            if channels[existing.channel]?.isMirror == true { try? closeChannel(existing.channel, propagating: false) }
            guard channels[existing.channel]?.isClosed == true, existing.role == role || channels[existing.channel]?.isMirror == true else { throw .denied }
        }
        // The entry is paid by the serving guest's budget (system services: the subsystem
        // partition, where running out stops IPC growing and the node goes on); so is the channel.
        let home = server?.budget?.partition ?? partition(.subsystem)
        guard let block = home.allocate(KernelBudget.registryEntryBytes(uri)) else { throw .noMemory }
        let id: ChannelID
        do { id = try makeChannel(uri: uri, paidBy: server) } catch { home.free(block); throw error }
        if let old = registryCharges[uri] { old.home.free(old.block) }
        registryCharges[uri] = (block, home)
        registry[uri] = (id, role)
        server?.served.append(id)
        return id
    }

    /// Drops the registry entry of `uri` if it still names `channel` (its server ended).
    func unregister(_ uri: String, channel: ChannelID) {
        guard registry[uri]?.channel == channel else { return }
        registry[uri] = nil
        if let charge = registryCharges.removeValue(forKey: uri) { charge.home.free(charge.block) }
    }

    /// The channel serving `uri`, if the role policy lets `role` open it. A denied open is logged.
    public func open(_ uri: String, as role: TaskRole = .guest, by client: String = "kernel") throws(KernelError) -> ChannelID {
        try open(uri, as: role, by: client, paidBy: nil)
    }

    /// An open by a guest: a mirror it makes is paid by its budget.
    func open(_ uri: String, as role: TaskRole, by client: String, paidBy guest: TaskRecord?) throws(KernelError) -> ChannelID {
        guard let parsed = ServiceURI(uri) else { throw .invalidArgument }
        // `@<this node>` is the local channel; another node's name gets a mirror of its own, bound
        // to that node (the router never moves it elsewhere).
        if let node = parsed.node, node == nodeName {
            guard localChannel(serving: parsed.unpinned) != nil else { throw .noSuchService }
            return try open(parsed.unpinned, as: role, by: client, paidBy: guest)
        }
        // Served on another node: a mirror, made anew when an earlier one closed (its node died
        // and the service moved).
        let stale = registry[uri].map { channels[$0.channel].map { $0.isMirror && $0.isClosed } ?? true } ?? true
        if stale, let role = remoteDirectory?.remoteRole(of: uri) {
            _ = try openMirror(uri, role: role, paidBy: guest)
        } else if let entry = registry[uri], let channel = channels[entry.channel], channel.isMirror, channel.isClosed {
            // Its node is gone and no other serves it (yet): as if it had never been served.
            throw .noSuchService
        }
        guard let (id, serverRole) = registry[uri] else { throw .noSuchService }
        guard rolePolicy.allows(client: role, server: serverRole) else {
            logger.log(.error, text: "denied: \(client) (\(role)) may not open \(uri) served by a \(serverRole)", from: "router", task: currentTask)
            // Served elsewhere: that node logs the refusal too.
            if channels[id]?.isMirror == true { post(.openDenied(uri: uri, client: client, role: role)) }
            throw .denied
        }
        return id
    }

    /// A channel with no URI, for wiring two tasks directly (trusted code). Its one-entry buffer and
    /// record come from the kernel partition; if that is full the kernel panics and this throws `noMemory`.
    public func makeChannel(uri: String? = nil) throws(KernelError) -> ChannelID {
        try makeChannel(uri: uri, paidBy: nil)
    }

    /// A channel paid by `guest`'s budget (`noMemory` when it is spent: only that guest notices),
    /// or by the kernel partition for trusted code (nil, or a task without a budget).
    func makeChannel(uri: String?, paidBy guest: TaskRecord?) throws(KernelError) -> ChannelID {
        let home: Partition, buffer: UnsafeMutableRawPointer
        if let budget = guest?.budget {
            guard let block = budget.allocate(Channel.kernelBytes) else { throw .noMemory }
            (home, buffer) = (budget.partition, block)
        } else {
            guard let block = allocateOrPanic(.kernel, Channel.kernelBytes, for: "channel \(uri ?? "#\(channels.openCount + 1)")") else {
                throw .noMemory
            }
            (home, buffer) = (partition(.kernel), block)
        }
        let id = channels.nextID()
        channels.insert(Channel(id: id, uri: uri, kernelBlock: buffer, home: home))
        return id
    }

    /// Closes a channel: blocked senders fail with `closed`, blocked receivers get "none". A
    /// mirror's close reaches the node that serves it, whose channel closes too, as a local one would.
    public func close(_ id: ChannelID) throws(KernelError) {
        try closeChannel(id, propagating: true)
    }

    /// `propagating: false` for a mirror closed because of the serving node (its service ended or
    /// moved here): that node needs no word of it.
    func closeChannel(_ id: ChannelID, propagating: Bool) throws(KernelError) {
        guard let channel = channels[id] else { throw .badHandle }
        let tellServingNode = propagating && channel.isMirror && !channel.isClosed
        // Its kernel bytes go back at the first close: a closed channel never carries a message
        // again (a URI served anew, or a mirror opened anew, gets a fresh one), so reconnects,
        // restarts and device reply channels of ended guests do not use the partition up.
        if !channel.isClosed { channel.home.free(channel.kernelBlock) }
        servedVersion &+= 1
        let (senders, receivers) = channel.close()
        for (waiter, message) in senders {
            returnValues(in: message)
            complete(waiter, .failed(.closed))
        }
        for waiter in receivers { complete(waiter, .failed(.closed)) }
        if tellServingNode {
            // The closing task, if one is running (a guest's channel_close, a service); else node code.
            let closer = currentTask.flatMap { tasks[$0] }
            if let uri = channel.uri { post(.mirrorClosed(uri: uri, client: closer?.name ?? "kernel", role: closer?.role ?? .guest)) }
        }
        // Its slot may serve a new channel; this id reads as closed from now on.
        channels.retire(id)
    }

    func takeTicket() -> Int {
        nextTicket += 1
        return nextTicket
    }

    /// A send by `record`: done at once if a receiver waits, else the task blocks.
    func send(_ message: Message, on id: ChannelID, by record: TaskRecord) -> Completion? {
        guard let channel = channels[id] else { return .failed(.badHandle) }
        let waiter = Waiter(task: record.id, ticket: takeTicket(), index: 0)
        do {
            try takeValues(in: message, from: record.id)
        } catch {
            return .failed(error)
        }
        do {
            if let receiver = try channel.send(message, from: waiter) {
                if receiver.proxy != 0 {
                    // A receiver on another node: the send completes when it has taken the message.
                    record.ticket = waiter.ticket
                    record.waitingOn = [id]
                    post(.proxyReceived(proxy: receiver.proxy, message, held: HeldMessage(channel: id, sender: waiter)))
                    return nil
                }
                note("\(record.name) -> \(name(of: receiver.task) ?? "?") on \(id)")
                handOver(message, to: receiver)
                return .sent
            }
        } catch {
            returnValues(in: message)
            return .failed(error)
        }
        record.ticket = waiter.ticket
        record.waitingOn = [id]
        if channel.isMirror { post(.mirrorHasSender(id)) }
        return nil
    }

    /// A receive on one or more channels (ALT): the first ready one, fair among ready ones.
    func receive(on ids: [ChannelID], by record: TaskRecord, timeout: UInt64?) -> Completion? {
        var open = 0
        let start = ids.isEmpty ? 0 : record.altRotation % ids.count
        record.altRotation &+= 1
        for k in 0..<ids.count {
            let index = (start + k) % ids.count
            guard let channel = channels[ids[index]] else { return .failed(.badHandle) }
            if let sender = channel.takeMessage(into: &record.inbox) {
                deliverValues(in: record.inbox, to: record.id)
                note("\(record.name) <- \(name(of: sender.task) ?? "?") on \(ids[index])")
                complete(sender, .sent)
                return .received(channelIndex: index)
            }
            if !channel.isClosed { open += 1 }
        }
        guard open > 0 else { return .failed(.closed) }
        if timeout == 0 { return .failed(.timedOut) }
        let ticket = takeTicket()
        for (index, id) in ids.enumerated() where !channels[id]!.isClosed {
            channels[id]!.addReceiver(Waiter(task: record.id, ticket: ticket, index: index))
            if channels[id]!.isMirror { post(.mirrorHasReceiver(id)) }
        }
        record.ticket = ticket
        record.waitingOn = ids
        if let timeout { record.deadline = clock.nanoseconds &+ timeout }
        return nil
    }

    /// Gives `message` to a waiting receiver: into its inbox (if that operation is still the one it
    /// waits in), with ownership of the co_values it carries, and wakes it.
    func handOver(_ message: Message, to receiver: Waiter) {
        if let target = tasks[receiver.task], target.ticket == receiver.ticket { target.inbox = message }
        deliverValues(in: message, to: receiver.task)
        complete(receiver, .received(channelIndex: receiver.index))
    }

    /// Wakes the task behind `waiter` with `completion` (if that operation is still what it waits for).
    func complete(_ waiter: Waiter, _ completion: Completion) {
        if waiter.proxy != 0 {
            post(.proxyCompleted(proxy: waiter.proxy, failed: { if case .failed(let error) = completion { error } else { nil } }()))
            return
        }
        guard let record = tasks[waiter.task], record.ticket == waiter.ticket else { return }
        guard record.state == .blocked else { return }
        cancelRegistrations(of: record)
        record.wake = .completion(completion)
        makeRunnable(record)
    }

    func cancelRegistrations(of record: TaskRecord) {
        for id in record.waitingOn { channels[id]?.cancel(ticket: record.ticket) }
        record.waitingOn = []
        record.ticket = 0
    }
}

/// A parsed `fireball://<service>/<stream>`, or `fireball://<service>/<stream>@<node>` to open the
/// one on a named node (opens only: a URI is served without a node).
public struct ServiceURI: Hashable, Sendable {
    public let service: String
    public let stream: String
    /// The node named after `@`: the open goes to that node and to no other.
    public let node: String?

    public init?(_ text: String) {
        guard text.hasPrefix("fireball://") else { return nil }
        let parts = text.dropFirst("fireball://".count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let streamAndNode = parts[1].split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let names = [parts[0]] + streamAndNode
        guard names.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) } }) else { return nil }
        service = String(parts[0])
        stream = String(streamAndNode[0])
        node = streamAndNode.count == 2 ? String(streamAndNode[1]) : nil
    }

    /// The URI without its node: what the serving node serves and what router frames carry.
    public var unpinned: String { "fireball://\(service)/\(stream)" }
}

/// A bounded-growth FIFO without the O(n) `removeFirst` of an array.
struct RingQueue<Element> {
    private var storage: [Element?] = []
    private var head = 0
    private(set) var count = 0

    mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    mutating func prepend(_ element: Element) {
        if count == storage.count { grow() }
        head = (head - 1 + storage.count) % storage.count
        storage[head] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    private mutating func grow() {
        var bigger = [Element?](repeating: nil, count: max(8, storage.count * 2))
        for i in 0..<count { bigger[i] = storage[(head + i) % storage.count] }
        storage = bigger
        head = 0
    }
}

/// Tasks indexed by their dense ids; removal leaves a hole (ids are never reused).
struct TaskTable {
    private var storage: [TaskRecord?] = [nil]
    subscript(id: TaskID) -> TaskRecord? {
        get { id.raw < storage.count ? storage[id.raw] : nil }
        set {
            precondition(newValue == nil || newValue!.id == id)
            if id.raw < storage.count { storage[id.raw] = newValue }
        }
    }
    mutating func insert(_ record: TaskRecord) {
        precondition(record.id.raw == storage.count, "task ids are dense")
        storage.append(record)
    }
    /// Whether every task has exited (daemons, which serve others for ever, count as exited), and
    /// the earliest deadline of any task: one pass, no allocation (asked at the end of every `runUntilIdle`).
    var idleState: (allExited: Bool, nextDeadline: UInt64?) {
        var allExited = true
        var next: UInt64?
        for case let record? in storage {
            if allExited, !record.daemon {
                if case .exited = record.state {} else { allExited = false }
            }
            if let deadline = record.deadline { next = min(next ?? deadline, deadline) }
        }
        return (allExited, next)
    }
    /// Every task, without making an array.
    var all: LazyMapSequence<LazyFilterSequence<LazyMapSequence<LazySequence<[TaskRecord?]>.Elements, TaskRecord?>>, TaskRecord> {
        storage.lazy.compactMap { $0 }
    }
}

/// Channels by id. An id is a slot (its low 20 bits) and the slot's generation (the 11 above, so
/// it fits a message's u32 and stays a positive i32): a closed channel's slot is reused, oldest
/// first, so a guest that serves and closes for ever does not grow the table, and its old id reads
/// as a closed channel (a shared one that nothing can be sent on or added to). A slot whose
/// generation would wrap is not reused again, so an old id never names a new channel.
struct ChannelTable {
    static let slotBits = 20
    static let slotsMax = 1 << slotBits
    static let generationMax = (1 << 11) - 1
    private var storage: [Channel?] = [nil]
    private var generations: [Int] = [0]
    private var freeSlots = RingQueue<Int>()
    /// What a retired id reads as.
    private let closed: Channel

    init() {
        let home = Partition(kind: .kernel, bytes: Partition.bytesMin)
        closed = Channel(id: ChannelID(raw: 0), uri: nil, kernelBlock: home.allocate(8)!, home: home)
        closed.isMirror = true   // so that an open of its URI looks for the service anew
        _ = closed.close()
    }

    subscript(id: ChannelID) -> Channel? {
        let slot = id.raw & (Self.slotsMax - 1), generation = id.raw >> Self.slotBits
        guard id.raw > 0, slot > 0, slot < storage.count, generation <= generations[slot] else { return nil }
        if generation == generations[slot], let channel = storage[slot] { return channel }
        return closed
    }

    /// The id the next `insert` must carry.
    mutating func nextID() -> ChannelID {
        if let slot = freeSlots.popFirst() {
            return ChannelID(raw: slot | generations[slot] << Self.slotBits)
        }
        precondition(storage.count < Self.slotsMax, "channel table full")
        storage.append(nil)
        generations.append(0)
        return ChannelID(raw: storage.count - 1)
    }

    mutating func insert(_ channel: Channel) {
        let slot = channel.id.raw & (Self.slotsMax - 1)
        precondition(storage[slot] == nil && channel.id.raw >> Self.slotBits == generations[slot], "a fresh id from nextID")
        storage[slot] = channel
    }

    /// `id` closed: its slot is free for a later channel (unless its generations are used up).
    mutating func retire(_ id: ChannelID) {
        let slot = id.raw & (Self.slotsMax - 1)
        guard slot > 0, slot < storage.count, storage[slot]?.id == id else { return }
        storage[slot] = nil
        generations[slot] += 1
        if generations[slot] <= Self.generationMax { freeSlots.append(slot) }
    }

    var openCount: Int { storage.reduce(0) { $0 + ($1.map { $0.isClosed ? 0 : 1 } ?? 0) } }
    /// Slots ever made (a flood of serve and close does not grow it).
    var slotCount: Int { storage.count - 1 }
    /// Open channels whose bytes `home` holds, lowest id first.
    func openIDs(homedIn home: Partition) -> [ChannelID] {
        storage.compactMap { channel in channel.flatMap { !$0.isClosed && $0.home === home ? $0.id : nil } }
    }
}

/// SplitMix64 when seeded (the same bytes every run), the system generator otherwise.
public struct KernelRandom {
    private var state: UInt64?
    public init(seed: UInt64?) { state = seed }
    public mutating func next() -> UInt64 {
        guard var z = state else {
            var system = SystemRandomNumberGenerator()
            return system.next()
        }
        z &+= 0x9E37_79B9_7F4A_7C15
        state = z
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count + 8)
        while out.count < count { withUnsafeBytes(of: next().littleEndian) { out += $0 } }
        return Array(out.prefix(count))
    }
}
