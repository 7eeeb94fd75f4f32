// The node daemon: one board's kernel driven by a libuv loop on one thread, its device service,
// the router over TLS links to the other nodes, and the control plane for orchestrators.
//
// Each loop iteration runs the kernel until it is idle (in bounded batches of slices, so links are
// served between them), then sleeps in libuv until a frame, a kernel timer or a signal arrives.
// Nothing else touches kernel state: frames, control requests and signals all arrive on this thread.
import Core
import Foundation
import HAL
import Synchronization
import Transport

/// Where a node runs and whom it talks to.
public struct NodeConfiguration: Sendable {
    public struct Peer: Sendable, Equatable {
        public var name: String
        public var host: String
        public var port: UInt16
        public init(name: String, host: String, port: UInt16) { self.name = name; self.host = host; self.port = port }
    }
    public var name: String
    public var board: Board
    public var listenHost: String
    public var listenPort: UInt16
    /// Node peers this node dials (they dial it too; the link layer keeps one link per pair).
    public var peers: [Peer]
    /// Holds ca.pem and NAME.pem / NAME.key.
    public var certificateDirectory: String
    /// Modules and assignments, kept across restarts.
    public var dataDirectory: String
    /// The local socket for `fireball hal NAME …`; nil for none.
    public var controlSocketPath: String?
    public var endpoint = EndpointConfiguration()
    public var routerGraceNanoseconds: UInt64 = 3_000_000_000
    /// How long a message received ahead waits for a task (`Router.aheadNanoseconds`); 0 turns receiving ahead off.
    public var receiveAheadNanoseconds: UInt64 = 2_000_000
    /// What `fireball logs` can show of each guest: its newest lines, at most this many and this
    /// many bytes (text plus 48 per line); older lines are dropped first.
    public var logLinesKept = 1000
    public var logBytesKept = 128 * 1024
    /// Slices per loop iteration before links get a turn.
    public var slicesPerIteration = 64
    /// Console lines each guest may print; nil: the board's (`log:` in its file).
    public var logRateLimit: LogRateLimit?
    /// Where to serve metrics over plain HTTP (`GET /metrics`); nil: not at all (the default).
    public var metricsHost: String?
    public var metricsPort: UInt16 = 0
    public var metricsLimits = MetricsLimits()
    /// Events the node keeps for `fireball events` (the newest; older ones are dropped first).
    public var eventsKept = 1000

    public init(name: String, board: Board, listenHost: String, listenPort: UInt16, peers: [Peer], certificateDirectory: String,
                dataDirectory: String, controlSocketPath: String? = nil) {
        self.name = name
        self.board = board
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.peers = peers
        self.certificateDirectory = certificateDirectory
        self.dataDirectory = dataDirectory
        self.controlSocketPath = controlSocketPath
    }
}

public struct NodeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public final class NodeDaemon: LinkDelegate, RouterTransport {
    public let configuration: NodeConfiguration
    public let loop: EventLoop
    public let kernel: Kernel
    public let router: Router
    public let endpoint: Endpoint
    let store: ModuleStore
    /// The kernel's capabilities: held by the daemon only (starting and stopping guests takes them).
    private let capabilities: KernelCapabilities
    private let devices: DeviceService?
    private var localControl: LocalControl?
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
    private var timers: [LoopTimer] = []
    private var wakeTimer: LoopTimer?
    private var signals: [SignalWatcher] = []
    private let bootedAt: UInt64
    private let output: (String) -> Void
    public private(set) var isDraining = false
    /// Link frame kinds reserved for the router (it refuses those it does not know).
    static let routerKinds: ClosedRange<UInt8> = 16...31
    private var panicReported = false
    /// Asks the daemon to drain from another thread.
    public let drainHandle: DrainHandle
    /// The metrics listener, if the configuration asks for one.
    public private(set) var metrics: MetricsListener?
    /// What happened here, for `fireball events`: a ring of `eventsKept` lines (and 64 KiB per
    /// 500 of them), read with a cursor like a guest's log.
    private var events: GuestLog
    /// Events recorded since boot (the ring holds the newest of them).
    public var eventCount: Int { Int(events.nextSequence - 1) }
    /// The node's own certificate's expiry (Unix seconds), read at boot and at each reload.
    private var certificateNotAfter: Int64?

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

    /// Boots the kernel, its devices and links, and restores the modules in the data directory.
    /// `output` receives console lines (guests') and the node's own lines (prefixed `node NAME:`).
    public init(configuration: NodeConfiguration, output: @escaping (String) -> Void) throws {
        // The router sizes its frames for the link layer, which Core cannot see: they must agree.
        precondition(RouterFrame.payloadBytesMax == Frame.payloadBytesMax, "router and link frame limits differ")
        self.configuration = configuration
        self.output = output
        precondition(configuration.logLinesKept >= 1 && configuration.logBytesKept >= 4096, "log limits of the node configuration")
        var system = SystemRandomNumberGenerator()
        nextLogID = system.next() >> 1
        precondition((16...1_000_000).contains(configuration.eventsKept), "events kept of the node configuration")
        events = GuestLog(id: nextLogID, linesMax: configuration.eventsKept, bytesMax: max(configuration.eventsKept * 128, 4096))
        nextLogID &+= 1
        let board = configuration.board
        store = try ModuleStore(directory: configuration.dataDirectory)
        let tls = try TLSContext(directory: configuration.certificateDirectory, name: configuration.name)
        guard tls.identity.name == configuration.name, tls.identity.role == .node else {
            throw NodeError("\(configuration.certificateDirectory)/\(configuration.name).pem is for \(tls.identity), not node \(configuration.name)")
        }
        certificateNotAfter = Self.notAfter(directory: configuration.certificateDirectory, name: configuration.name)
        loop = try EventLoop()
        var kernelConfiguration = KernelConfiguration(slice: board.slice, executionLimits: board.executionLimits)
        kernelConfiguration.logRateLimit = configuration.logRateLimit ?? board.logRateLimit
        kernel = Kernel(configuration: kernelConfiguration, partitions: board.partitions)
        let capabilities = kernel.mintCapabilities()
        devices = board.devices.isEmpty ? nil
            : try DeviceService.start(on: kernel, board: board, capability: capabilities.systemRole, process: capabilities.process)
        self.capabilities = capabilities
        kernel.nodeName = configuration.name
        router = Router(kernel: kernel)
        router.graceNanoseconds = configuration.routerGraceNanoseconds
        router.aheadNanoseconds = configuration.receiveAheadNanoseconds
        do {
            endpoint = try Endpoint(loop: loop, tls: tls, configuration: configuration.endpoint) { line in output("node \(configuration.name): \(line)") }
        } catch {
            loop.close()
            throw error
        }
        bootedAt = loop.nowNanoseconds
        drainHandle = DrainHandle(remote: loop.remote)
        router.transport = self
        router.log = { [unowned self] line in self.say(line) }
        endpoint.delegate = self
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
        do {
            try endpoint.listen(host: configuration.listenHost, port: configuration.listenPort)
            for peer in configuration.peers where peer.name != configuration.name {
                try endpoint.connect(to: peer.name, host: peer.host, port: peer.port)
            }
            if let path = configuration.controlSocketPath, let devices {
                localControl = try LocalControl(path: path, bus: devices.bus)
            }
            if let host = configuration.metricsHost {
                metrics = try MetricsListener(loop: loop, host: host, port: configuration.metricsPort, limits: configuration.metricsLimits) {
                    [unowned self] in self.metricsText()
                }
            }
        } catch {
            metrics?.close()
            endpoint.close()
            loop.close()
            throw error
        }
        endpoint.refusalObserver = { [unowned self] line in self.event("refused \(line)") }
        startTimers()
        loop.setWakeHandler { [unowned self] in if self.drainHandle.isRequested { self.drain(because: "requested") } }
        say("\(board.name) board up, listening on \(configuration.listenHost):\(endpoint.listeningPort ?? configuration.listenPort), "
            + "\(configuration.peers.count) peer(s), data in \(configuration.dataDirectory)")
        if let members = configuration.endpoint.members {
            say("members: \(members.sorted().joined(separator: ", ")); other node certificates are refused at hello")
        } else {
            say("no membership given: every node certificate of the cluster CA may link")
        }
        if let metrics { say("metrics on http://\(configuration.metricsHost ?? "?"):\(metrics.port)\(metrics.path)") }
        event("boot \(board.name) board, listening on port \(endpoint.listeningPort ?? configuration.listenPort)")
        restoreAssignments()
    }

    /// Records an event: a line with the wall-clock time first (events are read by people, across nodes).
    func event(_ text: String) {
        events.append(Self.timestamp() + " " + text, at: loop.nowNanoseconds)
    }

    /// UTC now as `2026-12-03T20:23:00.123Z` (gmtime_r; no formatter object to share between threads).
    static func timestamp() -> String {
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

    /// The expiry of `directory/name.pem` (Unix seconds), nil if it cannot be read.
    static func notAfter(directory: String, name: String) -> Int64? {
        guard let summary = try? CertificateAuthority.summary(certificatePath: directory + "/" + name + ".pem") else { return nil }
        return Int64(summary.notAfter.timeIntervalSince1970)
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

    /// Answers `events`: see `ControlRequest.Operation.events`.
    func eventLines(lines: Int, after: LogCursor?, id: UInt64) throws -> ControlResponse {
        guard (0...ControlLimits.logLinesMax).contains(lines) else { throw NodeError("events: lines \(lines) is outside 0…\(ControlLimits.logLinesMax)") }
        return Self.answer(id, events.select(lines: lines, sinceNanoseconds: nil, after: after, now: loop.nowNanoseconds,
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

    private func say(_ line: String) { output("node \(configuration.name): \(line)") }

    private func startTimers() {
        loop.addIterationCallback { [unowned self] in self.runKernel() }
        timers.append(loop.schedule(afterNanoseconds: 100_000_000, repeatNanoseconds: 100_000_000) { [unowned self] in self.router.tick() })
        if localControl != nil {
            timers.append(loop.schedule(afterNanoseconds: 20_000_000, repeatNanoseconds: 20_000_000) { [unowned self] in
                self.localControl?.poll(milliseconds: 0)
            })
        }
    }

    /// Installs SIGTERM and SIGINT handlers that drain the node, and SIGHUP, which reloads its certificate.
    public func handleSignals() throws {
        for signal in [SIGTERM, SIGINT] {
            signals.append(try SignalWatcher(loop: loop, signal: signal) { [unowned self] in self.drain(because: "signal \(signal)") })
        }
        signals.append(try SignalWatcher(loop: loop, signal: SIGHUP) { [unowned self] in
            do { try self.reloadCertificate() } catch { self.say("certificate reload: \(error)"); self.event("certificate reload failed: \(error)") }
        })
    }

    /// Reads ca.pem, NAME.pem and NAME.key again: connections from now on use them; guests and the
    /// links up now are not touched. A pair that does not load, or names another node, is refused
    /// and the old one stays.
    public func reloadCertificate() throws {
        let tls = try TLSContext(directory: configuration.certificateDirectory, name: configuration.name)
        try endpoint.reload(tls)
        certificateNotAfter = Self.notAfter(directory: configuration.certificateDirectory, name: configuration.name)
        let expiry = certificateNotAfter.map { " (expires \(Self.day($0)))" } ?? ""
        say("certificate reloaded\(expiry); new connections use it, \(endpoint.connectedPeers.count) link(s) and \(guests.count) guest(s) kept")
        event("certificate reloaded\(expiry)")
    }

    /// `2027-12-03` for Unix seconds.
    static func day(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    }

    /// Runs until drained; then closes the loop.
    public func run() {
        loop.run()
        loop.close()
    }

    /// One batch of slices; true while runnable tasks remain (the loop then polls without blocking).
    private func runKernel() -> Bool {
        guard !isDraining else { return false }
        // The router's own deadlines (messages received ahead that wait too long) are due here,
        // not at its 100 ms tick.
        if let due = router.nextDeadline, due <= kernel.clock.nanoseconds { router.tick() }
        var deadline: UInt64?
        switch kernel.runUntilIdle(maxSlices: configuration.slicesPerIteration) {
        case .sliceLimit:
            return true
        case .waiting(let kernelDeadline?):
            deadline = kernelDeadline
        case .panicked where !panicReported:
            panicReported = true
            say("kernel panicked: \(kernel.panicReport?.description ?? "?"); guests stopped, the node keeps its links for status")
        default:
            break
        }
        if let routerDeadline = router.nextDeadline { deadline = min(deadline ?? routerDeadline, routerDeadline) }
        if let deadline {
            // A one-shot timer closes once it fired: then a new one.
            if let wakeTimer, wakeTimer.isActive { wakeTimer.reschedule(atNanoseconds: deadline) } else { wakeTimer = loop.schedule(atNanoseconds: deadline) {} }
        }
        return false
    }

    /// Stops the guests (their assignments stay on disk), tells peers, closes links and ends `run()`.
    public func drain(because reason: String) {
        guard !isDraining else { return }
        event("drain (\(reason))")
        say("draining (\(reason)): stopping \(guests.count) guest(s), closing links")
        for guest in guests.values { if let task = currentTask(guest) { kernel.kill(task, capability: capabilities.process) } }
        _ = kernel.runUntilIdle(maxSlices: 1_000)
        router.tick()   // peers hear at once that the services here are gone
        isDraining = true
        endpoint.close()
        for timer in timers { timer.cancel() }
        wakeTimer?.cancel()
        for watcher in signals { watcher.cancel() }
        metrics?.close()
        localControl = nil
        loop.stop()
        say("drained")
    }

    /// Starts a trusted Swift service on this node's kernel (wiring code only: benchmarks, tests, tools).
    @discardableResult
    public func spawnService(_ service: KernelService, name: String) -> TaskID {
        kernel.spawnService(service, name: name, capability: capabilities.process)
    }

    // MARK: links

    public func linkUp(_ peer: PeerIdentity) {
        if peer.role == .node { router.linkUp(peer.name); event("link-up \(peer.name)") } else { say("orchestrator \(peer.name) connected") }
    }

    public func linkDown(_ peer: PeerIdentity, reason: LinkCloseReason) {
        if peer.role == .node { event("link-down \(peer.name): \(reason)") }
        if peer.role == .node && !isDraining { router.linkDown(peer.name) }
    }

    /// Control requests come on orchestrators' sessions, one answer each, on the session that asked.
    public func frameReceived(from session: SessionID, peer: PeerIdentity, kind: UInt8, payload: UnsafeRawBufferPointer) {
        guard kind == ControlFrame.request else {
            say("frame of kind \(kind) on \(session) of \(peer.name): a control session carries control requests only; closing it")
            endpoint.close(session, reason: LinkCloseReason(.protocolViolation, "kind \(kind) on a control session"))
            return
        }
        let request: ControlRequest
        do { request = try ControlRequest.decode(payload) } catch {
            say("malformed control request on \(session) of \(peer.name): \(error); closing it")
            endpoint.close(session, reason: LinkCloseReason(.protocolViolation, "malformed control request"))
            return
        }
        let response = handle(request)
        var bytes = response.encoded()
        if bytes.count > Frame.payloadBytesMax {
            bytes = ControlResponse(id: response.id, error: "answer of \(bytes.count) bytes is over a frame's \(Frame.payloadBytesMax)").encoded()
        }
        do { try endpoint.send(to: session, kind: ControlFrame.response, bytes: bytes) } catch {
            say("could not answer on \(session) of \(peer.name): \(error)")
        }
    }

    public func frameReceived(from peer: PeerIdentity, kind: UInt8, payload: UnsafeRawBufferPointer) {
        if kind == ControlFrame.request {
            say("refused a control request from \(peer): only orchestrator certificates may use the control plane")
            event("refused a control request from \(peer): not an orchestrator certificate")
            reply(ControlResponse(id: 0, error: "refused: \(peer.name) is a \(peer.role), the control plane takes orchestrator certificates only"), to: peer.name)
            return
        }
        guard Self.routerKinds.contains(kind) else {
            say("frame of unknown kind \(kind) from \(peer.name); closing that link")
            endpoint.disconnect(peer.name)
            return
        }
        guard peer.role == .node else {
            say("refused router frames from \(peer): only node certificates take part in channels; closing that link")
            endpoint.disconnect(peer.name)
            return
        }
        do { try router.received(kind: kind, payload: [UInt8](payload), from: peer.name) } catch {
            say("malformed router frame from \(peer.name): \(error); closing that link")
            endpoint.disconnect(peer.name)
        }
    }

    public func send(kind: UInt8, payload: [UInt8], to peer: String) -> Bool {
        do { try endpoint.send(to: peer, kind: kind, bytes: payload); return true } catch { return false }
    }

    private func reply(_ response: ControlResponse, to peer: String) {
        let bytes = response.encoded()
        guard bytes.count <= Frame.payloadBytesMax else {
            reply(ControlResponse(id: response.id, error: "answer of \(bytes.count) bytes is over a frame's \(Frame.payloadBytesMax)"), to: peer)
            return
        }
        if !send(kind: ControlFrame.response, payload: bytes, to: peer) { say("could not answer \(peer): link gone or full") }
    }

    // MARK: guest logs

    /// A line a guest is charged for: into its assignment's log (other tasks' lines only go to the console).
    private func guestLine(_ line: String, from task: TaskID) {
        guard let key = assignmentKey(of: task) else { return }
        logs[key]?.append(line, at: loop.nowNanoseconds)
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
        return Self.answer(id, log.select(lines: lines, sinceNanoseconds: since, after: after, now: loop.nowNanoseconds,
                                          answerBytesMax: Frame.payloadBytesMax - 1024))
    }

    // MARK: control plane

    func handle(_ request: ControlRequest) -> ControlResponse {
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

    private func restoreAssignments() {
        let (assignments, refusals) = store.loadAssignments()
        for line in refusals { say("data directory: \(line)") }
        for assignment in assignments {
            do { try start(assignment, persist: false) } catch {
                say("could not restore \(assignment.key): \(error)")
                event("missing \(assignment.key): could not restore: \(error)")
                guests[assignment.key] = Guest(assignment: assignment, firstTask: nil, failure: "\(error)")
                openLog(assignment.key)
                logs[assignment.key]?.append("could not restore \(assignment.key): \(error)", at: loop.nowNanoseconds)
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
        return NodeReport(name: configuration.name, board: configuration.board.name,
                          uptimeMilliseconds: (loop.nowNanoseconds - bootedAt) / 1_000_000, partitions: partitions, guests: guestReports,
                          links: endpoint.connectedPeers.filter { $0.role == .node }.map(\.name), served: kernel.servedURIs.map(\.uri),
                          remote: router.remoteURIs, channelsOpen: kernel.openChannelCount, routerPending: pending.sends + pending.wants + pending.held,
                          aheadTaken: router.offersTaken, aheadReturned: router.offersReturned, panic: kernel.panicReport?.description)
            .with { report in
                report.certificateNotAfter = certificateNotAfter
                report.counters = NodeCounters(slices: kernel.switches, slicesPreempted: kernel.slicesPreempted, traps: kernel.trapsTotal,
                                               restarts: kernel.restartsTotal, framesIn: router.framesIn, framesOut: router.framesOut,
                                               refusedConnections: endpoint.refusedConnections.values.reduce(0, +),
                                               controlSessions: endpoint.sessionCount)
            }
    }
}

extension NodeReport {
    /// A copy changed by `body`.
    func with(_ body: (inout NodeReport) -> Void) -> NodeReport {
        var copy = self
        body(&copy)
        return copy
    }
}

/// Drains a daemon from any thread: the request wakes the daemon's loop, which drains on its own thread.
public final class DrainHandle: Sendable {
    private let remote: EventLoopRemote
    private let requested = Atomic<Bool>(false)
    init(remote: EventLoopRemote) { self.remote = remote }
    public func request() {
        requested.store(true, ordering: .sequentiallyConsistent)
        remote.wake()
    }
    var isRequested: Bool { requested.load(ordering: .sequentiallyConsistent) }
}
