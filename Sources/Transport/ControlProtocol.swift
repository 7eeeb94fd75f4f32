// The control plane's wire protocol: an orchestrator's requests to a node and the node's answers,
// as JSON in link frames of their own kinds. Only links whose certificate carries the orchestrator
// role may send requests; nodes refuse them from anyone else.
import Core
import Foundation

public enum ControlFrame {
    /// Orchestrator → node: a `ControlRequest`.
    public static let request: UInt8 = 32
    /// Node → orchestrator: a `ControlResponse` with the request's id.
    public static let response: UInt8 = 33
    /// Module bytes per push request: the JSON (base64) stays well under a frame's 64 KiB.
    public static let chunkBytes = 32 * 1024
}

/// One module a node should run: what the orchestrator assigned, as the node stores it.
public struct ModuleAssignment: Codable, Sendable, Equatable {
    public var app: String
    /// The replica's name: the task's name on the node, unique per app.
    public var replica: String
    public var module: String
    /// SHA-256 of the module's bytes, pushed before the start.
    public var sha256: String
    /// `guest` or `service` (tier 1).
    public var tier: String
    /// Device kinds or names the module may open; the node grants its board's matching devices.
    public var devices: [String]
    /// `stop`, `restart`, or `up-to N within MS`.
    public var restart: String
    public var serves: [String]
    public var uses: [String]
    /// The manifest's `memory:` when it tightens the module's declared maximum: the node caps the
    /// guest's linear memory there (the planner reserved no more). Absent in assignments from before it.
    public var memoryBytes: Int?

    public init(app: String, replica: String, module: String, sha256: String, tier: String = "guest", devices: [String] = [],
                restart: String = "stop", serves: [String] = [], uses: [String] = [], memoryBytes: Int? = nil) {
        self.app = app
        self.replica = replica
        self.module = module
        self.sha256 = sha256
        self.tier = tier
        self.devices = devices
        self.restart = restart
        self.serves = serves
        self.uses = uses
        self.memoryBytes = memoryBytes
    }

    /// The node-wide key of the assignment.
    public var key: String { "\(app)/\(replica)" }
}

/// A field of a control request (or of a stored assignment) that is out of range or malformed.
public struct ControlFieldError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let detail: String
    public init(field: String, detail: String) { self.field = field; self.detail = detail }
    public var description: String { "field \(field): \(detail)" }
}

/// The range of everything a control request carries (Docs/cluster.md lists them). A node checks a
/// `start` against these before it acts on it, and again when it restores its data directory.
public enum ControlLimits {
    /// App, replica and module names: what manifests allow (48), plus a replica suffix.
    public static let nameBytesMax = 64
    /// Devices, served URIs and used URIs of one assignment, each.
    public static let listCountMax = 64
    public static let uriBytesMax = 255
    /// A manifest's `memory:` as the node caps a guest with it: all a wasm32 memory can address.
    public static let memoryBytes = 0...(1 << 32)
    /// Console lines one `logs` request may ask for.
    public static let logLinesMax = 100_000
    /// Words of one `hal` request, and bytes of all of them.
    public static let halWordsMax = 64
    public static let halBytesMax = 4096
    /// Assignments one node keeps, at most.
    public static let assignmentsMax = 4096
}

extension ModuleAssignment {
    /// Checks every field against `ControlLimits`; the error names the field. The restart policy
    /// must parse (`RestartPolicy.parse`: count and window in range).
    public func validate() throws(ControlFieldError) {
        func name(_ text: String, _ field: String) throws(ControlFieldError) {
            guard !text.isEmpty, text.utf8.count <= ControlLimits.nameBytesMax,
                  text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ControlFieldError(field: field, detail: "'\(text.prefix(80))': use 1–\(ControlLimits.nameBytesMax) letters, digits, '-' or '_'")
            }
        }
        try name(app, "app")
        try name(replica, "replica")
        try name(module, "module")
        guard sha256.utf8.count == 64, sha256.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }) else {
            throw ControlFieldError(field: "sha256", detail: "'\(sha256.prefix(80))' is not a SHA-256 (64 lowercase hex digits)")
        }
        guard tier == "guest" || tier == "service" else { throw ControlFieldError(field: "tier", detail: "'\(tier.prefix(80))' is not guest or service") }
        do { _ = try RestartPolicy.parse(restart) } catch { throw ControlFieldError(field: "restart", detail: error.description) }
        for (field, list) in [("devices", devices), ("serves", serves), ("uses", uses)] {
            guard list.count <= ControlLimits.listCountMax else {
                throw ControlFieldError(field: field, detail: "\(list.count) entries, at most \(ControlLimits.listCountMax)")
            }
        }
        for (index, device) in devices.enumerated() { try name(device, "devices[\(index)]") }
        for (field, list) in [("serves", serves), ("uses", uses)] {
            for (index, uri) in list.enumerated() {
                guard uri.utf8.count <= ControlLimits.uriBytesMax, let parsed = ServiceURI(uri), field == "uses" || parsed.node == nil else {
                    throw ControlFieldError(field: "\(field)[\(index)]", detail: "'\(uri.prefix(80))' is not a fireball://service/stream URI of at most \(ControlLimits.uriBytesMax) bytes")
                }
            }
        }
        if let memoryBytes, !ControlLimits.memoryBytes.contains(memoryBytes) {
            throw ControlFieldError(field: "memoryBytes", detail: "\(memoryBytes) is outside \(ControlLimits.memoryBytes.lowerBound)…\(ControlLimits.memoryBytes.upperBound)")
        }
    }
}

public struct ControlRequest: Codable, Sendable {
    public var id: UInt64
    public var operation: Operation

    public enum Operation: Codable, Sendable {
        /// The node's report.
        case status
        /// Part of a module's bytes; the last part (offset + bytes = total) makes the node check the
        /// digest, validate the module for its board and store it.
        case push(sha256: String, total: Int, offset: Int, bytes: Data)
        /// Start a pushed module (and keep it across restarts of the node).
        case start(ModuleAssignment)
        /// Stop the replica `key` (app/replica) and forget it.
        case stop(key: String)
        /// What replica `key` logged (`log` and `log_message` records, stdout, stderr and UART lines,
        /// its exits): the last `lines` (0: all the node holds) of those logged in the last
        /// `sinceMilliseconds` (nil: any time); with `after`, the lines that follow that cursor
        /// (the first `lines` of them), for following. An answer holds what fits one frame and
        /// says if there is `more`.
        case logs(key: String, lines: Int, sinceMilliseconds: UInt64? = nil, after: LogCursor? = nil)
        /// What happened on the node (placements, starts, stops, exits, traps, restarts, links up and
        /// down, refusals), from its bounded ring of events: like `logs`, the last `lines` (0: all
        /// it holds), or with `after` those that follow that cursor.
        case events(lines: Int, after: LogCursor? = nil)
        /// A `fireball hal` command for the node's devices (`DeviceControl`), as its words: the
        /// answer's lines. Commands that would read a file on the node's host (`adc load`) and
        /// following (`-f`) are refused: they belong to the node's local socket.
        case hal(words: [String])
    }

    public init(id: UInt64, _ operation: Operation) {
        self.id = id
        self.operation = operation
    }
}

public struct ControlResponse: Codable, Sendable {
    public var id: UInt64
    /// Why the request was refused, naming what and where; nil on success.
    public var error: String?
    public var report: NodeReport?
    public var lines: [String]?
    /// `logs`: the place after the last line returned (or where the log stands, if none was), to
    /// ask for what follows; whether more lines wait; and how many lines between the request's
    /// cursor and the first returned the node no longer holds (dropped as its buffer filled, or a
    /// log begun anew: `restarted`).
    public var cursor: LogCursor?
    public var more: Bool?
    public var skipped: Int?
    public var restarted: Bool?

    public init(id: UInt64, error: String? = nil, report: NodeReport? = nil, lines: [String]? = nil) {
        self.id = id
        self.error = error
        self.report = report
        self.lines = lines
    }
}

/// A place in one guest's log on one node: which log (a new one for every placement of the replica
/// and every start of the node) and the sequence number of a line in it (from 1).
public struct LogCursor: Codable, Sendable, Equatable {
    public var log: UInt64
    public var sequence: UInt64
    public init(log: UInt64, sequence: UInt64) { self.log = log; self.sequence = sequence }
}

/// A node's counters since it booted: they only grow (a restart of the node begins them anew).
public struct NodeCounters: Codable, Sendable, Equatable {
    /// Slices run, and those a guest used to the end of its budget (preempted).
    public var slices: Int
    public var slicesPreempted: Int
    public var traps: Int
    public var restarts: Int
    /// Router frames in and out over all links.
    public var framesIn: Int
    public var framesOut: Int
    /// Connections refused (every reason), and control sessions open now.
    public var refusedConnections: Int
    public var controlSessions: Int
    public init(slices: Int, slicesPreempted: Int, traps: Int, restarts: Int, framesIn: Int, framesOut: Int,
                refusedConnections: Int, controlSessions: Int) {
        self.slices = slices; self.slicesPreempted = slicesPreempted; self.traps = traps; self.restarts = restarts
        self.framesIn = framesIn; self.framesOut = framesOut
        self.refusedConnections = refusedConnections; self.controlSessions = controlSessions
    }
}

/// What a node says about itself: board, partitions, guests, links and channels.
public struct NodeReport: Codable, Sendable {
    public struct PartitionUse: Codable, Sendable {
        public var kind: String
        public var capacity: Int
        public var used: Int
        public var largestFree: Int
        public init(kind: String, capacity: Int, used: Int, largestFree: Int) {
            self.kind = kind; self.capacity = capacity; self.used = used; self.largestFree = largestFree
        }
    }
    public struct Guest: Codable, Sendable {
        public var assignment: ModuleAssignment
        /// runnable, blocked, sleeping, exited: REASON, or missing (its start failed after a node restart).
        public var state: String
        public var task: Int
        public var restarts: Int
        /// Console lines its log rate limit dropped (all its incarnations). Absent from older nodes.
        public var logLinesDropped: Int?
        public init(assignment: ModuleAssignment, state: String, task: Int, restarts: Int, logLinesDropped: Int? = nil) {
            self.assignment = assignment; self.state = state; self.task = task; self.restarts = restarts
            self.logLinesDropped = logLinesDropped
        }
    }
    public var name: String
    public var board: String
    public var uptimeMilliseconds: UInt64
    public var partitions: [PartitionUse]
    public var guests: [Guest]
    /// Node peers with a link up now.
    public var links: [String]
    /// URIs served here, and URIs served elsewhere as known from announcements (URI → node).
    public var served: [String]
    public var remote: [String: String]
    public var channelsOpen: Int
    public var routerPending: Int
    /// Messages received ahead (Docs/router.md) that a task took, and that went back unused; many
    /// returned means receivers that pause longer than the hold. Absent from older nodes.
    public var aheadTaken: Int?
    public var aheadReturned: Int?
    /// When the node's own certificate expires (Unix seconds). Absent from older nodes.
    public var certificateNotAfter: Int64?
    /// The node's counters since boot (`NodeCounters`), for rates in `fireball top`. Absent from older nodes.
    public var counters: NodeCounters?
    /// Set when the node's kernel panicked (a bug: guests cannot exhaust the kernel partition): its
    /// guests are stopped and the controller counts the node as failed. Absent from older nodes.
    public var panic: String?

    public init(name: String, board: String, uptimeMilliseconds: UInt64, partitions: [PartitionUse], guests: [Guest], links: [String],
                served: [String], remote: [String: String], channelsOpen: Int, routerPending: Int, aheadTaken: Int? = nil, aheadReturned: Int? = nil,
                panic: String? = nil) {
        self.name = name; self.board = board; self.uptimeMilliseconds = uptimeMilliseconds; self.partitions = partitions
        self.guests = guests; self.links = links; self.served = served; self.remote = remote
        self.channelsOpen = channelsOpen; self.routerPending = routerPending
        self.aheadTaken = aheadTaken; self.aheadReturned = aheadReturned
        self.panic = panic
    }
}

extension ControlRequest {
    public func encoded() -> [UInt8] { [UInt8](try! JSONEncoder().encode(self)) }
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> ControlRequest {
        try JSONDecoder().decode(ControlRequest.self, from: Data(bytes))
    }
}

extension ControlResponse {
    public func encoded() -> [UInt8] { [UInt8](try! JSONEncoder().encode(self)) }
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> ControlResponse {
        try JSONDecoder().decode(ControlResponse.self, from: Data(bytes))
    }
}
