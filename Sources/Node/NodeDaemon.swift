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
    /// The kernel's slice; nil: the board's (`slice-us:`). The simulator counts safe points instead.
    public var slice: SliceBudget?
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
    public let endpoint: Endpoint
    /// The node itself: kernel, router, guests, control answers.
    public private(set) var core: NodeCore!
    public var kernel: Kernel { core.kernel }
    public var router: Router { core.router }
    private var localControl: LocalControl?
    private var timers: [LoopTimer] = []
    private var wakeTimer: LoopTimer?
    private var signals: [SignalWatcher] = []
    private let output: (String) -> Void
    public private(set) var isDraining = false
    /// Asks the daemon to drain from another thread.
    public let drainHandle: DrainHandle
    /// The metrics listener, if the configuration asks for one.
    public private(set) var metrics: MetricsListener?
    /// Events recorded since boot.
    public var eventCount: Int { core.eventCount }
    /// The node's own certificate's expiry (Unix seconds), read at boot and at each reload.
    private var certificateNotAfter: Int64?

    /// Boots the node core with its data directory, then its links, control socket and metrics.
    /// `output` receives console lines (guests') and the node's own lines (prefixed `node NAME:`).
    public init(configuration: NodeConfiguration, output: @escaping (String) -> Void) throws {
        // The router sizes its frames for the link layer, which Core cannot see: they must agree.
        precondition(RouterFrame.payloadBytesMax == Frame.payloadBytesMax, "router and link frame limits differ")
        self.configuration = configuration
        self.output = output
        let store = try ModuleStore(directory: configuration.dataDirectory)
        let tls = try TLSContext(directory: configuration.certificateDirectory, name: configuration.name)
        guard tls.identity.name == configuration.name, tls.identity.role == .node else {
            throw NodeError("\(configuration.certificateDirectory)/\(configuration.name).pem is for \(tls.identity), not node \(configuration.name)")
        }
        certificateNotAfter = Self.notAfter(directory: configuration.certificateDirectory, name: configuration.name)
        loop = try EventLoop()
        do {
            endpoint = try Endpoint(loop: loop, tls: tls, configuration: configuration.endpoint) { line in output("node \(configuration.name): \(line)") }
        } catch {
            loop.close()
            throw error
        }
        drainHandle = DrainHandle(remote: loop.remote)
        do {
            core = try NodeCore(configuration: configuration, store: store, transport: self, output: output)
        } catch {
            endpoint.close()
            loop.close()
            throw error
        }
        endpoint.delegate = self
        do {
            try endpoint.listen(host: configuration.listenHost, port: configuration.listenPort)
            for peer in configuration.peers where peer.name != configuration.name {
                try endpoint.connect(to: peer.name, host: peer.host, port: peer.port)
            }
            if let path = configuration.controlSocketPath, let devices = core.devices {
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
        endpoint.refusalObserver = { [unowned self] line in self.core.event("refused \(line)") }
        startTimers()
        loop.setWakeHandler { [unowned self] in if self.drainHandle.isRequested { self.drain(because: "requested") } }
        let board = configuration.board
        say("\(board.name) board up, listening on \(configuration.listenHost):\(endpoint.listeningPort ?? configuration.listenPort), "
            + "\(configuration.peers.count) peer(s), data in \(configuration.dataDirectory)")
        if let members = configuration.endpoint.members {
            say("members: \(members.sorted().joined(separator: ", ")); other node certificates are refused at hello")
        } else {
            say("no membership given: every node certificate of the cluster CA may link")
        }
        if let metrics { say("metrics on http://\(configuration.metricsHost ?? "?"):\(metrics.port)\(metrics.path)") }
        core.event("boot \(board.name) board, listening on port \(endpoint.listeningPort ?? configuration.listenPort)")
        core.restoreAssignments()
    }

    /// The expiry of `directory/name.pem` (Unix seconds), nil if it cannot be read.
    static func notAfter(directory: String, name: String) -> Int64? {
        guard let summary = try? CertificateAuthority.summary(certificatePath: directory + "/" + name + ".pem") else { return nil }
        return Int64(summary.notAfter.timeIntervalSince1970)
    }

    private func say(_ line: String) { output("node \(configuration.name): \(line)") }

    /// The answer to one control request (the core's; see `NodeCore.handle`).
    public func handle(_ request: ControlRequest) -> ControlResponse {
        guard case .status = request.operation else { return core.handle(request) }
        return ControlResponse(id: request.id, report: report())
    }

    /// The core's report with what only the daemon knows: its certificate and its sockets' counters.
    public func report() -> NodeReport {
        var report = core.report()
        report.certificateNotAfter = certificateNotAfter
        report.counters?.refusedConnections = endpoint.refusedConnections.values.reduce(0, +)
        report.counters?.controlSessions = endpoint.sessionCount
        return report
    }

    private func startTimers() {
        loop.addIterationCallback { [unowned self] in self.runKernel() }
        timers.append(loop.schedule(afterNanoseconds: 100_000_000, repeatNanoseconds: 100_000_000) { [unowned self] in self.core.routerTick() })
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
            do { try self.reloadCertificate() } catch { self.say("certificate reload: \(error)"); self.core.event("certificate reload failed: \(error)") }
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
        say("certificate reloaded\(expiry); new connections use it, \(endpoint.connectedPeers.count) link(s) and \(core.guestCount) guest(s) kept")
        core.event("certificate reloaded\(expiry)")
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
        switch core.runKernel(maxSlices: configuration.slicesPerIteration) {
        case .busy:
            return true
        case .idle(let deadline?):
            // A one-shot timer closes once it fired: then a new one.
            if let wakeTimer, wakeTimer.isActive { wakeTimer.reschedule(atNanoseconds: deadline) } else { wakeTimer = loop.schedule(atNanoseconds: deadline) {} }
            return false
        case .idle(nil):
            return false
        }
    }

    /// Stops the guests (their assignments stay on disk), tells peers, closes links and ends `run()`.
    public func drain(because reason: String) {
        guard !isDraining else { return }
        core.event("drain (\(reason))")
        say("draining (\(reason)): stopping \(core.guestCount) guest(s), closing links")
        core.stopGuests()
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
    public func spawnService(_ service: KernelService, name: String) -> TaskID { core.spawnService(service, name: name) }

    // MARK: links

    public func linkUp(_ peer: PeerIdentity) {
        if peer.role == .node { core.linkUp(peer.name) } else { say("orchestrator \(peer.name) connected") }
    }

    public func linkDown(_ peer: PeerIdentity, reason: LinkCloseReason) {
        if peer.role == .node && !isDraining { core.linkDown(peer.name, reason: "\(reason)") }
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
            core.event("refused a control request from \(peer): not an orchestrator certificate")
            reply(ControlResponse(id: 0, error: "refused: \(peer.name) is a \(peer.role), the control plane takes orchestrator certificates only"), to: peer.name)
            return
        }
        guard peer.role == .node else {
            say("refused router frames from \(peer): only node certificates take part in channels; closing that link")
            endpoint.disconnect(peer.name)
            return
        }
        do { try core.routerFrame(kind: kind, payload: [UInt8](payload), from: peer.name) } catch {
            say("\(error); closing that link")
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
