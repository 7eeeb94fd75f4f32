// One node without its sockets: the kernel for a board, its capabilities and device service, the
// router, the data directory, the assigned guests with their logs, the events, and the answers to
// control requests. The daemon drives it with libuv and TLS links; the cluster simulator drives it
// on a simulated clock and network. Nothing else wires a kernel to a router.
//
// The host gives it a clock, its data files, a transport for router frames and a sink for lines,
// and calls it on one thread: `runKernel` when it may run guests, `linkUp`/`linkDown` and
// `routerFrame` as links change and frames come, `handle` for each control request.
import Core
import Foundation
import HAL
import Transport

/// Carries the router's frames to peers (the node's TLS links, or a simulated network).
public protocol RouterTransport: AnyObject {
    /// Queues a frame for `peer`; false if there is no link to it now or its queue is full.
    func send(kind: UInt8, payload: [UInt8], to peer: String) -> Bool
}

public final class NodeCore {
    public let configuration: NodeConfiguration
    public let kernel: Kernel
    public let router: Router
    public let store: ModuleStore
    /// The kernel's capabilities: held here only (starting and stopping guests takes them); internal
    /// so that test harnesses can spawn guests the planner sized.
    let capabilities: KernelCapabilities
    public let devices: DeviceService?
    /// Assigned modules by key (app/replica).
    private var guests: [String: Guest] = [:]
    /// What each assigned replica logged, by key (app/replica); see GuestLog.
    private var logs: [String: GuestLog] = [:]
    /// Which assignment each task is (every incarnation), filled as lines come; rebuilt on a miss.
    private var taskKeys: [TaskID: String] = [:]
    /// Tasks that are no assignment's (services): no walk over the guests for each of their lines.
    private var unassignedTasks: Set<TaskID> = []
    /// Log ids: a random start per process, so that a cursor from before a restart names no log here.
    private var nextLogID: UInt64
    /// Module bytes being pushed, by SHA-256.
    private var uploads: [String: [UInt8]] = [:]
    private let bootedAt: UInt64
    private let output: (String) -> Void
    private let transport: RouterTransport
    /// The wall-clock time for event lines (the simulator gives its own, so that runs replay).
    private let wallTime: () -> String
    private var panicReported = false
    /// What happened here, for `fireball events`: a ring of `eventsKept` lines (and 64 KiB per
    /// 500 of them), read with a cursor like a guest's log.
    private var events: GuestLog
    /// Events recorded since boot (the ring holds the newest of them).
    public var eventCount: Int { Int(events.nextSequence - 1) }
    /// Node peers whose link is up, in name order.
    public private(set) var links: [String] = []
    public var guestCount: Int { guests.count }

    final class Guest {
        var assignment: ModuleAssignment
        /// The first task of this assignment (restarts follow `Kernel.successor`); nil if its start failed.
        var firstTask: TaskID?
        var failure: String?
        init(assignment: ModuleAssignment, firstTask: TaskID?, failure: String?) {
            self.assignment = assignment
            self.firstTask = firstTask
            self.failure = failure
        }
    }

    /// Boots the kernel for `configuration.board` on `clock`, its devices and router (frames go to
    /// `transport`), and restores the assignments in `store`. `seed` makes the kernel's randomness,
    /// the router's incarnation and the log ids replayable (nil: from the system). `output` receives
    /// console lines (guests') and the node's own lines (prefixed `node NAME:`).
    public init(configuration: NodeConfiguration, clock: KernelClock = SystemClock(), store: ModuleStore,
                transport: RouterTransport, seed: UInt64? = nil, wallTime: @escaping () -> String = NodeCore.timestamp,
                output: @escaping (String) -> Void) throws {
        precondition(configuration.logLinesKept >= 1 && configuration.logBytesKept >= 4096, "log limits of the node configuration")
        precondition((16...1_000_000).contains(configuration.eventsKept), "events kept of the node configuration")
        self.configuration = configuration
        self.store = store
        self.output = output
        self.transport = transport
        self.wallTime = wallTime
        var random = KernelRandom(seed: seed)
        nextLogID = random.next() >> 1
        events = GuestLog(id: nextLogID, linesMax: configuration.eventsKept, bytesMax: max(configuration.eventsKept * 128, 4096))
        nextLogID &+= 1
        let board = configuration.board
        var kernelConfiguration = KernelConfiguration(slice: configuration.slice ?? board.slice, executionLimits: board.executionLimits)
        kernelConfiguration.logRateLimit = configuration.logRateLimit ?? board.logRateLimit
        if seed != nil { kernelConfiguration.randomSeed = random.next() }
        kernel = Kernel(clock: clock, configuration: kernelConfiguration, partitions: board.partitions)
        let capabilities = kernel.mintCapabilities()
        devices = board.devices.isEmpty ? nil
            : try DeviceService.start(on: kernel, board: board, capability: capabilities.systemRole, process: capabilities.process)
        self.capabilities = capabilities
        kernel.nodeName = configuration.name
        router = Router(kernel: kernel, incarnation: seed == nil ? nil : random.next())
        router.graceNanoseconds = configuration.routerGraceNanoseconds
        router.aheadNanoseconds = configuration.receiveAheadNanoseconds
        bootedAt = clock.nanoseconds
        router.log = { [unowned self] line in self.say(line) }
        kernel.console = { [unowned self] line in self.output(line) }
        kernel.logger.guestSink = { [unowned self] task, line in self.guestLine(line, from: task) }
        kernel.exitObservers.append { [unowned self] task, reason in
            if let name = self.kernel.name(of: task) { self.guestLine("[\(LogText.escaped(name))] \(task) exited: \(reason)", from: task) }
            if let key = self.assignmentKey(of: task) {
                switch reason {
                case .trapped, .fault: self.event("trap \(key) \(task): \(reason)")
                case .killed: break   // a stop or a drain: recorded where it is decided
                default: self.event("exit \(key) \(task): \(reason)")
                }
            }
        }
        kernel.restartObservers.append { [unowned self] old, new in
            if let key = self.assignmentKey(of: old) { self.event("restart \(key) \(old) as \(new)") }
        }
    }

    /// Records an event: a line with the wall-clock time first (events are read by people, across nodes).
    public func event(_ text: String) {
        events.append(wallTime() + " " + text, at: kernel.clock.nanoseconds)
    }

    /// UTC now as `2026-12-03T20:23:00.123Z` (gmtime_r; no formatter object to share between threads).
    public static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let milliseconds = now.tv_nsec / 1_000_000
        let fraction = milliseconds < 10 ? "00\(milliseconds)" : milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }

    func say(_ line: String) { output("node \(configuration.name): \(line)") }

    // MARK: running

    /// What `runKernel` left: guests still runnable, or idle until a deadline (nil: an outside event).
    public enum RunResult: Equatable {
        case busy
        case idle(until: UInt64?)
    }

    /// One batch of at most `maxSlices` slices, with the router's deadlines due now served first.
    public func runKernel(maxSlices: Int) -> RunResult {
        // The router's own deadlines (messages received ahead that wait too long) are due here,
        // not at its 100 ms tick.
        if let due = router.nextDeadline, due <= kernel.clock.nanoseconds { send(router.tick()) }
        var deadline: UInt64?
        let result = kernel.runUntilIdle(maxSlices: maxSlices)
        // What the guests did on channels to other nodes; acting on it may wake tasks here.
        if router.hasKernelEvents {
            send(router.takeKernelEvents())
            return .busy
        }
        switch result {
        case .sliceLimit:
            return .busy
        case .waiting(let kernelDeadline?):
            deadline = kernelDeadline
        case .panicked where !panicReported:
            panicReported = true
            say("kernel panicked: \(kernel.panicReport?.description ?? "?"); guests stopped, the node keeps its links for status")
        default:
            break
        }
        if let routerDeadline = router.nextDeadline { deadline = min(deadline ?? routerDeadline, routerDeadline) }
        return .idle(until: deadline)
    }

    /// Stops every guest (their assignments stay on disk) and tells the peers at once that the
    /// services here are gone: the first half of a drain.
    public func stopGuests() {
        for (_, guest) in guests.sorted(by: { $0.key < $1.key }) {   // in a fixed order: a simulated run replays in any process
            if let task = currentTask(guest) { kernel.kill(task, capability: capabilities.process) }
        }
        _ = kernel.runUntilIdle(maxSlices: 1_000)
        routerTick()
    }

    /// The router's timeouts and announcements: every 100 ms or so (`runKernel` serves its
    /// deadlines as they fall due).
    public func routerTick() { send(router.tick()) }

    /// Puts the router's frames on the links.
    private func send(_ frames: [RouterOutput]) {
        for frame in frames { _ = transport.send(kind: frame.kind, payload: frame.payload, to: frame.peer) }
    }

    /// Starts a trusted Swift service on this node's kernel (wiring code only: benchmarks, tests, tools).
    @discardableResult
    public func spawnService(_ service: KernelService, name: String) -> TaskID {
        kernel.spawnService(service, name: name, capability: capabilities.process)
    }

    // MARK: links

    /// A link to node `peer` came up (the host has checked it is a node's).
    public func linkUp(_ peer: String) {
        if let index = links.firstIndex(where: { $0 >= peer }) {
            if links[index] != peer { links.insert(peer, at: index) }
        } else {
            links.append(peer)
        }
        send(router.linkUp(peer))
        event("link-up \(peer)")
    }

    public func linkDown(_ peer: String, reason: String) {
        links.removeAll { $0 == peer }
        event("link-down \(peer): \(reason)")
        send(router.linkDown(peer))
    }

    /// Link frame kinds reserved for the router (it refuses those it does not know).
    public static let routerKinds: ClosedRange<UInt8> = 16...31

    /// A router frame from node `peer`; an error means the host should close that link.
    public func routerFrame(kind: UInt8, payload: [UInt8], from peer: String) throws {
        guard Self.routerKinds.contains(kind) else { throw NodeError("frame of unknown kind \(kind) from \(peer)") }
        do { send(try router.received(kind: kind, payload: payload, from: peer)) } catch {
            throw NodeError("malformed router frame from \(peer): \(error)")
        }
    }

    // MARK: guest logs

    /// A line a guest is charged for: into its assignment's log (other tasks' lines only go to the console).
    private func guestLine(_ line: String, from task: TaskID) {
        guard let key = assignmentKey(of: task) else { return }
        logs[key]?.append(line, at: kernel.clock.nanoseconds)
    }

    /// The assignment whose incarnation `task` is, if any.
    private func assignmentKey(of task: TaskID) -> String? {
        if let key = taskKeys[task] { return key }
        if unassignedTasks.contains(task) { return nil }
        // A task not seen yet: a new start or a restart. The walk is over the node's assignments and
        // their restarts, done once per task.
        taskKeys = [:]
        for (key, guest) in guests {
            var each = guest.firstTask
            while let current = each { taskKeys[current] = key; each = kernel.successor(of: current) }
        }
        if let key = taskKeys[task] { return key }
        if unassignedTasks.count >= 1024 { unassignedTasks = [] }   // bounded; a miss only costs a walk
        unassignedTasks.insert(task)
        return nil
    }

    /// A new log for `key` (its first start on this node, or after its stop).
    private func openLog(_ key: String) {
        guard logs[key] == nil else { return }
        logs[key] = GuestLog(id: nextLogID, linesMax: configuration.logLinesKept, bytesMax: configuration.logBytesKept)
        nextLogID &+= 1
    }

    /// Answers `logs`: see `ControlRequest.Operation.logs`.
    func logLines(key: String, lines: Int, sinceMilliseconds: UInt64?, after: LogCursor?, id: UInt64) throws -> ControlResponse {
        guard guests[key] != nil, let log = logs[key] else { throw NodeError("no module \(key.prefix(130)) on node \(configuration.name)") }
        guard lines >= 0 else { throw NodeError("logs of \(key.prefix(130)): lines \(lines) is negative") }
        let lines = min(lines, ControlLimits.logLinesMax)
        let since = sinceMilliseconds.map { $0 > UInt64.max / 1_000_000 ? UInt64.max : $0 * 1_000_000 }
        // What fits a frame beside the JSON around the lines.
        return Self.answer(id, log.select(lines: lines, sinceNanoseconds: since, after: after, now: kernel.clock.nanoseconds,
                                          answerBytesMax: Frame.payloadBytesMax - 1024))
    }

    /// Answers `events`: see `ControlRequest.Operation.events`.
    func eventLines(lines: Int, after: LogCursor?, id: UInt64) throws -> ControlResponse {
        guard (0...ControlLimits.logLinesMax).contains(lines) else { throw NodeError("events: lines \(lines) is outside 0…\(ControlLimits.logLinesMax)") }
        return Self.answer(id, events.select(lines: lines, sinceNanoseconds: nil, after: after, now: kernel.clock.nanoseconds,
                                             answerBytesMax: Frame.payloadBytesMax - 1024))
    }

    /// A `logs` or `events` answer: the lines selected, and where to go on from.
    private static func answer(_ id: UInt64, _ selection: GuestLog.Selection) -> ControlResponse {
        var response = ControlResponse(id: id, lines: selection.lines)
        response.cursor = selection.cursor
        response.more = selection.more
        response.skipped = selection.skipped
        response.restarted = selection.restarted
        return response
    }

    // MARK: control plane

    /// The answer to one control request; every failure is an error answer naming the node and request.
    public func handle(_ request: ControlRequest) -> ControlResponse {
        do {
            switch request.operation {
            case .status:
                return ControlResponse(id: request.id, report: report())
            case .push(let sha256, let total, let offset, let bytes):
                let complete = try push(sha256: sha256, total: total, offset: offset, bytes: [UInt8](bytes))
                return ControlResponse(id: request.id, lines: [complete ? "stored" : "partial"])
            case .start(let assignment):
                return ControlResponse(id: request.id, lines: [try start(assignment, persist: true)])
            case .stop(let key):
                return ControlResponse(id: request.id, lines: [try stop(key)])
            case .logs(let key, let count, let since, let after):
                return try logLines(key: key, lines: count, sinceMilliseconds: since, after: after, id: request.id)
            case .events(let count, let after):
                return try eventLines(lines: count, after: after, id: request.id)
            case .hal(let words):
                return ControlResponse(id: request.id, lines: try hal(words))
            }
        } catch {
            return ControlResponse(id: request.id, error: "node \(configuration.name): request \(request.id): \(error)")
        }
    }

    /// Answers `hal`: see `ControlRequest.Operation.hal`. The device bus is the one the local socket
    /// drives, on this same thread, so a command never races the kernel.
    func hal(_ words: [String]) throws -> [String] {
        guard let devices else { throw NodeError("hal: the \(configuration.board.name) board of node \(configuration.name) has no devices") }
        guard !words.isEmpty, words.count <= ControlLimits.halWordsMax, words.reduce(0, { $0 + $1.utf8.count }) <= ControlLimits.halBytesMax else {
            throw NodeError("hal: 1…\(ControlLimits.halWordsMax) words of at most \(ControlLimits.halBytesMax) bytes in all")
        }
        if words.last == "-f" { throw NodeError("hal: following (-f) works through the node's local socket only (on its host); over the cluster, ask again") }
        // The verb follows the device kind or name, and perhaps a device name after the kind.
        if words.dropFirst().prefix(2).contains("load") { throw NodeError("hal: 'load' reads a file on the node's host: run it there (`fireball hal \(configuration.name) …` beside the node)") }
        do { return try DeviceControl.run(words, on: devices.bus) } catch { throw NodeError("hal: \(error)") }
    }

    /// Takes one part of a module; true once the module is complete, checked and stored.
    func push(sha256: String, total: Int, offset: Int, bytes: [UInt8]) throws -> Bool {
        guard sha256.count == 64, sha256.allSatisfy(\.isHexDigit), sha256 == sha256.lowercased() else {
            throw NodeError("push: '\(sha256)' is not a SHA-256 (64 lowercase hex digits)")
        }
        let board = configuration.board
        guard total > 0, total <= board.flashBytes else {
            throw NodeError("push of \(sha256.prefix(12)): \(total) bytes does not fit the \(board.name)'s \(board.flashBytes) bytes of flash")
        }
        if offset == 0 && store.hasModule(sha256) && (try? store.loadModule(sha256)) != nil {
            uploads[sha256] = nil
            return true
        }
        var buffer = offset == 0 ? [] : uploads[sha256] ?? []
        // `offset` is the length of a buffer here, so `total - offset` cannot overflow.
        guard buffer.count == offset, bytes.count <= total - offset else {
            uploads[sha256] = nil
            throw NodeError("push of \(sha256.prefix(12)): part at offset \(offset) (\(bytes.count) bytes) does not follow the \(buffer.count) bytes received of \(total)")
        }
        buffer += bytes
        guard buffer.count == total else {
            uploads[sha256] = buffer
            return false
        }
        uploads[sha256] = nil
        let digest = Digest.sha256Hex(buffer)
        guard digest == sha256 else { throw NodeError("push: the bytes' SHA-256 is \(digest.prefix(12))…, not \(sha256.prefix(12))…: refused") }
        let loaded: LoadedModule
        do { loaded = try LoadedModule.load(buffer, options: board.loadOptions) } catch {
            throw NodeError("module \(sha256.prefix(12)) does not validate for \(board.name)\(board.hasFPU ? "" : " (no FPU)"): \(error)")
        }
        if let memory = loaded.module.firstMemory {
            let room = max(kernel.partition(.guest).largestFreeBlock, kernel.partition(.tier1).largestFreeBlock)
            guard memory.minimumBytes <= room else {
                throw NodeError("module \(sha256.prefix(12)) needs \(memory.minimumBytes) bytes of linear memory; the largest free block of the guest and tier-1 partitions is \(room) bytes")
            }
        }
        try store.saveModule(buffer, sha256: sha256)
        return true
    }

    /// Starts an assignment whose module was pushed; records it on disk if `persist`.
    @discardableResult
    func start(_ assignment: ModuleAssignment, persist: Bool) throws -> String {
        let board = configuration.board
        do { try assignment.validate() } catch { throw NodeError("start \(assignment.key.prefix(130)): \(error)") }
        let restart: RestartPolicy
        do { restart = try RestartPolicy.parse(assignment.restart) } catch { throw NodeError("\(assignment.key): field restart: \(error)") }
        guard let role: TaskRole = ["guest": .guest, "service": .service][assignment.tier] else {
            throw NodeError("\(assignment.key): tier '\(assignment.tier)' is not guest or service")
        }
        var grants: Set<String> = []
        for wanted in assignment.devices {
            let matching = board.devices(matching: wanted)
            guard !matching.isEmpty else { throw NodeError("\(assignment.key) needs a device '\(wanted)'; the \(board.name) has \(board.devices.map(\.name).joined(separator: ", "))") }
            grants.formUnion(matching.map(\.name))
        }
        if let existing = guests[assignment.key] {
            if existing.assignment == assignment, let task = currentTask(existing), !isExited(task) { return "\(assignment.key) already runs" }
            if let task = currentTask(existing) { kernel.kill(task, capability: capabilities.process) }
            guests[assignment.key] = nil
        }
        let bytes = try store.loadModule(assignment.sha256)
        let loaded = try LoadedModule.load(bytes, options: board.loadOptions)
        if let limit = assignment.memoryBytes {
            guard let memory = loaded.module.firstMemory else {
                throw NodeError("\(assignment.key): memory \(limit) bytes, but the module has no linear memory")
            }
            guard limit >= memory.minimumBytes else {
                throw NodeError("\(assignment.key): memory \(limit) bytes is less than the module's initial \(memory.minimumBytes) bytes")
            }
        }
        // The limits the planner charged: linear memory (the manifest's `memory:`, else the declared
        // maximum; co_values count against it too) and the kernel budget, from the same formula.
        let budget = KernelBudget.bytes(serves: assignment.serves, uses: assignment.uses, devices: grants.count)
        let task = try kernel.spawnGuest(loaded, name: assignment.replica, role: role, restart: restart, devices: grants,
                                         memoryLimitBytes: assignment.memoryBytes ?? loaded.module.firstMemory?.maximumBytes,
                                         kernelBudgetBytes: budget, capability: capabilities.process)
        guests[assignment.key] = Guest(assignment: assignment, firstTask: task, failure: nil)
        taskKeys[task] = assignment.key
        openLog(assignment.key)
        if persist { try saveAssignments() }
        say("started \(assignment.key) (\(assignment.module), \(assignment.sha256.prefix(12))) as \(task)")
        event("start \(assignment.key) (\(assignment.module), \(assignment.sha256.prefix(12))) as \(task)\(persist ? "" : ", restored")")
        return "started \(assignment.key) as \(task)"
    }

    func stop(_ key: String) throws -> String {
        guard let guest = guests.removeValue(forKey: key) else { return "\(key) is not on node \(configuration.name)" }
        if let task = currentTask(guest) { kernel.kill(task, capability: capabilities.process) }
        logs[key] = nil
        taskKeys = taskKeys.filter { $0.value != key }
        try saveAssignments()
        if !guests.values.contains(where: { $0.assignment.sha256 == guest.assignment.sha256 }) { store.removeModule(guest.assignment.sha256) }
        say("stopped \(key)")
        event("stop \(key)")
        return "stopped \(key)"
    }

    private func isExited(_ task: TaskID) -> Bool {
        if case .exited? = kernel.state(of: task) { return true }
        return false
    }

    private func saveAssignments() throws { try store.saveAssignments(guests.values.map(\.assignment)) }

    /// Starts every assignment the data directory holds, as at boot; one that cannot start is
    /// reported as missing (status shows why), and the others start.
    public func restoreAssignments() {
        let (assignments, refusals) = store.loadAssignments()
        for line in refusals { say("data directory: \(line)") }
        for assignment in assignments {
            do { try start(assignment, persist: false) } catch {
                say("could not restore \(assignment.key): \(error)")
                event("missing \(assignment.key): could not restore: \(error)")
                guests[assignment.key] = Guest(assignment: assignment, firstTask: nil, failure: "\(error)")
                openLog(assignment.key)
                logs[assignment.key]?.append("could not restore \(assignment.key): \(error)", at: kernel.clock.nanoseconds)
            }
        }
        if !assignments.isEmpty { say("restored \(guests.values.count { $0.firstTask != nil }) of \(assignments.count) module(s) from \(store.directory)") }
    }

    /// The task running an assignment now (after restarts), if any.
    private func currentTask(_ guest: Guest) -> TaskID? { incarnation(guest)?.task }

    /// The latest task of an assignment and how many restarts led to it.
    private func incarnation(_ guest: Guest) -> (task: TaskID, restarts: Int)? {
        guard var task = guest.firstTask else { return nil }
        var restarts = 0
        while let next = kernel.successor(of: task) { task = next; restarts += 1 }
        return (task, restarts)
    }

    /// The status report, with the host's own figures (links' counters, certificate) left to it.
    public func report() -> NodeReport {
        let partitions = PartitionKind.allCases.map { kind in
            let partition = kernel.partition(kind)
            return NodeReport.PartitionUse(kind: kind.rawValue, capacity: partition.capacity, used: partition.capacity - partition.freeBytes,
                                           largestFree: partition.largestFreeBlock)
        }
        let guestReports = guests.values.sorted { $0.assignment.key < $1.assignment.key }.map { guest -> NodeReport.Guest in
            guard let (task, restarts) = incarnation(guest) else {
                return NodeReport.Guest(assignment: guest.assignment, state: "missing: \(guest.failure ?? "?")", task: 0, restarts: 0)
            }
            let state: String
            switch kernel.state(of: task) {
            case .exited(let reason)?: state = "exited: \(reason)"
            case let other?: state = "\(other)"
            case nil: state = "gone"
            }
            // Every incarnation's drops: a guest that floods and crashes keeps its count.
            var dropped = 0
            var incarnation = guest.firstTask
            while let each = incarnation { dropped += kernel.logger.linesDropped(by: each); incarnation = kernel.successor(of: each) }
            return NodeReport.Guest(assignment: guest.assignment, state: state, task: task.raw, restarts: restarts, logLinesDropped: dropped)
        }
        let pending = router.pendingCount
        var report = NodeReport(name: configuration.name, board: configuration.board.name,
                                uptimeMilliseconds: (kernel.clock.nanoseconds &- bootedAt) / 1_000_000, partitions: partitions, guests: guestReports,
                                links: links, served: kernel.servedURIs.map(\.uri),
                                remote: router.remoteURIs, channelsOpen: kernel.openChannelCount, routerPending: pending.sends + pending.wants + pending.held,
                                aheadTaken: router.offersTaken, aheadReturned: router.offersReturned, panic: kernel.panicReport?.description)
        report.counters = NodeCounters(slices: kernel.switches, slicesPreempted: kernel.slicesPreempted, traps: kernel.trapsTotal,
                                       restarts: kernel.restartsTotal, framesIn: router.framesIn, framesOut: router.framesOut,
                                       refusedConnections: 0, controlSessions: 0)
        return report
    }
}

extension NodeCore {
    /// A node for a simulation or an in-memory test cluster: its data directory in memory (`files`,
    /// which may outlive it, as a disk outlives a crash), slices of `slice` (safe points, so that a
    /// run replays), randomness from `seed`, event times from `wallTime`.
    public static func simulated(name: String, board: Board, clock: KernelClock, slice: SliceBudget, files: MemoryFiles? = nil,
                                 transport: RouterTransport, seed: UInt64, wallTime: @escaping () -> String = { "-" },
                                 configure: (inout NodeConfiguration) -> Void = { _ in },
                                 output: @escaping (String) -> Void) throws -> NodeCore {
        let files = files ?? MemoryFiles(location: "memory:\(name)")
        var configuration = NodeConfiguration(name: name, board: board, listenHost: "-", listenPort: 0, peers: [],
                                              certificateDirectory: "-", dataDirectory: files.location)
        configuration.slice = slice
        configure(&configuration)
        return try NodeCore(configuration: configuration, clock: clock, store: ModuleStore(files: files), transport: transport,
                            seed: seed, wallTime: wallTime, output: output)
    }
}
