// The orchestrator's commands: apply, status, logs, drain, delete and the controller. Each connects
// to the inventory's nodes over the control plane with an orchestrator certificate.
import ArgumentParser
import Core
import Foundation
import Orchestrator
import Transport

/// Options every cluster command shares. Paths come from these flags, else the configuration file's
/// context (`fireball context`), else the defaults relative to the current folder.
struct ClusterOptions: ParsableArguments {
    @OptionGroup var selection: ConfigSelection
    @Option(help: ArgumentHelp("The cluster inventory (default: the context's, else Deploy/clusters/local.yaml).", valueName: "file"))
    var inventory: String?
    @Option(help: ArgumentHelp("Where board names in the inventory are looked up (default: the inventory's `boards:`, the context's, $FIREBALL_BOARDS, the install's).",
                               valueName: "dir"))
    var boards: String?
    @Option(help: ArgumentHelp("The certificate directory: ca.pem and the orchestrator's NAME.pem / NAME.key (default: the context's, else certs).",
                               valueName: "dir"))
    var certs: String?
    @Option(name: .customLong("as"), help: "The orchestrator certificate's name.") var identity = "orchestrator"
    @Option(help: ArgumentHelp("Where the orchestrator keeps applied apps and drained nodes (default: the context's, else .fireball/orchestrator).",
                               valueName: "dir"))
    var state: String?
    @Option(help: ArgumentHelp("How long to wait for the links to all nodes, together (5s, 500ms; a bare number is seconds, deprecated).", valueName: "duration"))
    var connectTimeout = "5s"

    func validate() throws { _ = try connectTimeoutSeconds() }

    func connectTimeoutSeconds() throws -> Double {
        Double(try durationOption(connectTimeout, "--connect-timeout", in: OptionLimits.connectTimeout, bareUnit: ("s", 1_000_000_000))) / 1e9
    }

    func paths() throws -> ClusterPaths {
        try ClusterPaths(selection: selection, inventory: inventory, certs: certs, state: state, boards: boards)
    }

    /// The link layer's lines worth a person's attention here: refusals and failed dials, not every link up and down.
    static func linkProblems(_ line: String) { if line.contains("refused") || line.contains("failed") { note(line) } }

    /// Dials every node at once and waits up to --connect-timeout for all of them together (a node
    /// that is down costs the one wait, not one each).
    func connect(log: @escaping (String) -> Void = ClusterOptions.linkProblems) throws -> (ClusterInventory, ControlClient, Deployer, ClusterPaths) {
        let paths = try paths()
        let cluster = try paths.loadInventory()
        let client: ControlClient
        do { client = try ControlClient(certificateDirectory: paths.certs.path, name: identity, nodes: cluster.nodes, log: log) } catch { throw failure("\(error)") }
        let seconds = try connectTimeoutSeconds()
        let missing = client.waitForLinks(cluster.nodes.map(\.name), seconds: seconds)
        if !missing.isEmpty { note("no link to \(missing.joined(separator: ", ")) after \(connectTimeout): treated as down") }
        return (cluster, client, Deployer(inventory: cluster, client: client, progress: { say("  " + $0) }), paths)
    }
}

/// A line on stderr now, whole (one write(2)).
func note(_ line: String) { OutputLine.write(line, to: STDERR_FILENO) }

/// A line on stdout now, not when a buffer fills: whatever stdout is (a pipe, a file), each line
/// is written by itself, so a reader sees it at once and a signal loses nothing already said.
func say(_ line: String) { OutputLine.write(line, to: STDOUT_FILENO) }

func failure(_ text: String, code: Int32 = 1) -> ExitCode {
    note(text)
    return ExitCode(code)
}

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Deploy an app: place its modules, push and start what is missing, roll out what changed, stop what is extra.",
        discussion: """
            Reads the manifest and its modules once and keeps those copies in the state folder (--state, \
            else the context's): the controller and `drain` work from them, so a file edited or rebuilt \
            afterwards changes nothing until the next apply. Compares the manifest with what the nodes run, \
            plans with the planner (nodes report their free partitions), pushes each module with its SHA-256 \
            and starts it. Replicas whose module or settings changed are upgraded one at a time: in place \
            where the node holds old and new at once, else stopped, then started (the line says how long it \
            was down). If a node refuses a step, the steps of this round are rolled back, the cluster runs \
            what it ran before and the previous apply stays in force. With --watch it then stays as the \
            controller (see `fireball controller`). `apply` is the only command that creates a state folder, \
            and it says where.

            Examples:
              fireball apply Deploy/apps/greenhouse.yaml
              fireball apply greenhouse.yaml --watch
              fireball apply app.yaml --context lab --connect-timeout 10s
            """)
    @Argument(help: "The app manifest.") var manifest: String
    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Keep running as the controller: re-place modules of dead nodes.") var watch = false

    func run() throws {
        let paths = try cluster.paths()
        let stateDirectory = paths.state.path
        if !FileManager.default.fileExists(atPath: stateDirectory) {
            note("creating the orchestrator state at \(ClientConfiguration.absolute(stateDirectory)) (\(paths.state.source)): first apply with it")
        }
        let app: AppManifest
        let applied: AppliedApp
        do { (app, applied) = try ClusterState.capture(manifestPath: manifest, directory: stateDirectory) } catch { throw failure("\(error)") }
        let (inventory, client, deployer, _) = try cluster.connect()
        defer { client.close() }
        do {
            try Planner.check(app, against: inventory)
            for warning in try ServiceCheck.check(app, against: inventory) { note("warning: \(warning)") }
        } catch { throw failure("\(error)") }
        let began = Date()
        say("applying \(app.name) (\(app.modules.count) module(s)) to \(inventory.name):")
        do {
            let outcome = try deployer.apply(app, applied: applied, stateDirectory: stateDirectory)
            for warning in outcome.warnings { note("warning: \(warning)") }
            var line = "\(app.name): \(outcome.started.count) started, \(outcome.upgraded.count) upgraded, \(outcome.kept) kept, "
                + "\(outcome.stopped.count) stopped in \(Int(Date().timeIntervalSince(began) * 1000)) ms"
            let stopStart = outcome.upgraded.filter { $0.mode == .stopThenStart }
            if !stopStart.isEmpty {
                line += "; stopped, then started (old and new do not fit at once): "
                    + stopStart.map { "\($0.key) on \($0.node), down \($0.downMilliseconds) ms" }.joined(separator: "; ")
            }
            say(line)
        } catch {
            throw failure("\(error)", code: 2)
        }
        if watch { runController(deployer, client: client, stateDirectory: stateDirectory) }
    }
}

struct ControllerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Keep every applied app placed: re-place the modules of a dead node within seconds.",
        discussion: """
            Watches the links to every node. A node whose link stays down for --dead-after is dead: its \
            modules are re-placed on nodes that fit and started there under the same URIs, so their peers \
            reconnect by themselves. A node that returns has the copies that moved away stopped. Runs until \
            Ctrl-C or SIGTERM.

            Examples:
              fireball controller
              fireball controller --dead-after 3s --context lab
            """)
    @OptionGroup var cluster: ClusterOptions
    @Option(help: ArgumentHelp("How long a node's link may be down before the node is dead (1s, 500ms).", valueName: "duration"))
    var deadAfter: String?
    @Option(name: .customLong("dead-after-ms"), help: .hidden) var deadAfterMs: Int?

    func validate() throws { _ = try deadAfterNanoseconds() }

    func deadAfterNanoseconds() throws -> UInt64 {
        if let deadAfterMs {
            warnDeprecated("--dead-after-ms", use: "--dead-after \(deadAfterMs)ms")
            return try durationOption("\(max(deadAfterMs, 0))ms", "--dead-after-ms", in: OptionLimits.deadAfter)
        }
        return try durationOption(deadAfter ?? "1s", "--dead-after", in: OptionLimits.deadAfter)
    }

    func run() throws {
        let (_, client, deployer, paths) = try cluster.connect()
        defer { client.close() }
        runController(deployer, client: client, stateDirectory: try paths.existingState(), deadAfterNanoseconds: try deadAfterNanoseconds())
    }
}

/// Runs the controller until SIGINT or SIGTERM.
func runController(_ deployer: Deployer, client: ControlClient, stateDirectory: String, deadAfterNanoseconds: UInt64 = 1_000_000_000) {
    let controller = Controller(deployer: deployer, stateDirectory: stateDirectory) { say("controller: \($0)") }
    deployer.progress = { say("  " + $0) }
    controller.watch.deadAfterNanoseconds = deadAfterNanoseconds
    var stop = false
    let watchers = [SIGINT, SIGTERM].compactMap { signal in try? SignalWatcher(loop: client.loop, signal: signal) { stop = true } }
    say("controller: watching \(deployer.inventory.nodes.count) node(s); a node is dead after \(Quantity.formatNanoseconds(deadAfterNanoseconds)) without a link")
    controller.run { !stop }
    for watcher in watchers { watcher.cancel() }
    say("controller: stopped")
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Nodes, links, modules and partitions of the cluster.",
        discussion: """
            Dials every node at once and waits up to --connect-timeout for all of them together. Exit \
            status: 0 when every node is up and every replica of every applied app runs (or ran to its \
            end with code 0); 3 when something desired is not running (a node down or panicked, a replica \
            missing, trapped, exited with another code or gone; the reasons go to stderr); 1 when the command itself failed. Cordoned nodes (`fireball cordon`) \
            are marked in the STATE column.

            Examples:
              fireball status
              fireball status -o json | jq '.nodes | keys'
              fireball status --context lab --connect-timeout 2s
            """)
    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var output: OutputOption
    @Flag(name: .customLong("json"), help: .hidden) var json = false

    /// Exit status when something desired is not running.
    static let degradedExitCode: Int32 = 3

    func run() throws {
        let (inventory, client, deployer, paths) = try cluster.connect()
        defer { client.close() }
        let view = deployer.view()
        // What was applied (if this context has a state): each replica should be running somewhere.
        let state = FileManager.default.fileExists(atPath: paths.state.path) ? (try? ClusterState.load(directory: paths.state.path)) : nil
        var format = output.format
        if json { warnDeprecated("--json", use: "-o json"); format = .json }
        let problems = Self.problems(view, state: state, stateDirectory: paths.state.path)
        let cordoned = Set((state?.drained ?? []) + (state?.cordoned ?? [])).sorted()
        switch format {
        case .json, .yaml:
            struct Output: Encodable { let nodes: [String: NodeReport]; let unreachable: [String]; let cordoned: [String]; let problems: [String] }
            var output = output
            output.format = format
            try output.emit(Output(nodes: view.reports, unreachable: view.unreachable, cordoned: cordoned, problems: problems))
        case .text, .wide:
            var table = StatusTable.render(view, inventory: inventory)
            if !cordoned.isEmpty { table += "\n\ncordoned (take no new modules; `fireball uncordon NODE`): \(cordoned.joined(separator: ", "))" }
            if format == .wide { table += "\n\ncontext: \(paths.context ?? "(none)"); inventory \(paths.inventory.path); state \(paths.state.path)" }
            say(table)
        }
        guard problems.isEmpty else {
            for problem in problems { note("not running: \(problem)") }
            throw ExitCode(Self.degradedExitCode)
        }
    }

    /// What is desired but not running: nodes down or panicked, replicas of applied apps missing or ended.
    static func problems(_ view: ClusterView, state: ClusterState?, stateDirectory: String) -> [String] {
        var problems = view.unreachable.sorted().map { "node \($0) is down or unreachable" }
        var running: Set<String> = []
        for (node, report) in view.reports.sorted(by: { $0.key < $1.key }) {
            if let panic = report.panic { problems.append("node \(node) panicked: \(panic)") }
            for guest in report.guests {
                // A replica that ran to its end (completed, exit code 0) did what was desired.
                let finished = guest.state == "exited: completed" || guest.state == "exited: exited with code 0"
                let ended = (guest.state.hasPrefix("exited") && !finished) || guest.state.hasPrefix("missing") || guest.state == "gone"
                if ended { problems.append("\(guest.assignment.key) on \(node): \(guest.state)") } else { running.insert(guest.assignment.key) }
            }
        }
        for name in (state?.apps.keys.sorted() ?? []) {
            guard let manifest = try? state?.manifest(of: name, directory: stateDirectory) else { continue }
            for module in manifest.modules {
                for replica in module.replicaNames where !running.contains("\(name)/\(replica)") {
                    if !problems.contains(where: { $0.hasPrefix("\(name)/\(replica) ") }) { problems.append("\(name)/\(replica) runs on no node") }
                }
            }
        }
        return problems
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "What a module replica logged: log records, stdout, stderr and UART lines, its exits.",
        discussion: """
            The node keeps each replica's newest lines (1000 lines or 128 KiB, older ones dropped first). \
            With -f the command stays and prints new lines as they come (a second apart at most), and \
            follows the replica to the node it moves to. -o json prints one JSON object a line \
            ({"node": …, "line": …}).

            Examples:
              fireball logs aggregator
              fireball logs greenhouse/sensor-2 --lines 100 --since 5m
              fireball logs aggregator -f -o json
            """)
    @Argument(help: "APP/REPLICA (or REPLICA if only one app has it).") var replica: String
    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var output: OutputOption
    @Option(help: "How many of the last lines (0: all the node holds).") var lines = 20
    @Option(help: ArgumentHelp("Only lines logged within this long before now: 90s, 5m, 2h, 1d.", valueName: "duration")) var since: String?
    @Flag(name: [.customShort("f"), .long], help: "Keep printing new lines until Ctrl-C.") var follow = false

    func validate() throws {
        try checkOption(lines, in: OptionLimits.logLines, "--lines")
        if let since { _ = try durationOption(since, "--since", in: OptionLimits.logSince) }
    }

    func show(_ node: String, _ line: String) {
        guard output.structured else { return say("\(node) \(line)") }
        struct Record: Encodable { let node: String; let line: String }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(Record(node: node, line: line)) else { return }
        // One record a line in both formats (YAML reads a JSON flow mapping as it is).
        say(output.format == .yaml ? "- " + String(decoding: data, as: UTF8.self) : String(decoding: data, as: UTF8.self))
    }

    func run() throws {
        let (_, client, deployer, _) = try cluster.connect()
        defer { client.close() }
        let sinceMilliseconds = try since.map { try durationOption($0, "--since", in: OptionLimits.logSince) / 1_000_000 }
        let holders = LogQuery.holders(of: replica, in: deployer.view())
        guard var (node, key) = holders.first else { throw failure("no node runs \(replica)") }
        if holders.count > 1 { note("\(replica) runs on \(holders.map { "\($0.node) (\($0.key))" }.joined(separator: ", ")); showing \(node)") }
        var cursor: LogCursor?
        do {
            let page = try client.logs(node, key: key, lines: lines, sinceMilliseconds: sinceMilliseconds)
            for line in page.lines { show(node, line) }
            cursor = page.cursor
        } catch { throw failure("\(error)") }
        guard follow else { return }
        var stop = false
        let watchers = [SIGINT, SIGTERM].compactMap { signal in try? SignalWatcher(loop: client.loop, signal: signal) { stop = true } }
        defer { for watcher in watchers { watcher.cancel() } }
        var lost = false
        while !stop {
            client.drive(seconds: 0.25) { stop }
            do {
                let page = try client.logs(node, key: key, lines: 0, after: cursor)
                for line in page.lines { show(node, line) }
                cursor = page.cursor
                lost = false
            } catch {
                // The node is gone or no longer runs it: look for the replica again, once a second.
                if !lost { note("\(error); looking for \(key) again") }
                lost = true
                client.drive(seconds: 0.75) { stop }
                if let moved = LogQuery.holders(of: key, in: deployer.view()).first, moved.node != node || moved.key != key {
                    note("\(key) now runs on \(moved.node)")
                    (node, key) = moved
                    cursor = nil
                    do {
                        let page = try client.logs(node, key: key, lines: 0)
                        for line in page.lines { show(node, line) }
                        cursor = page.cursor
                        lost = false
                    } catch { continue }
                }
            }
        }
    }
}

struct DrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain", abstract: "Cordon a node and move every module off it (`fireball uncordon` lets it take modules again).",
        discussion: """
            Marks the node cordoned in the state (it takes nothing new; `fireball status` lists it), \
            then re-places every applied app with the node draining so that its replicas move to nodes \
            that fit. The node is marked only if every app moved. `fireball cordon` marks without moving.

            Examples:
              fireball drain microbit
              fireball uncordon microbit
            """)
    @Argument(help: "The node.") var node: String
    @OptionGroup var cluster: ClusterOptions
    @Flag(help: .hidden) var undo = false

    func run() throws {
        if undo { warnDeprecated("drain --undo", use: "fireball uncordon \(node)") }
        try Cordon.change(node, cluster: cluster, cordoned: !undo, move: true)
    }
}

struct CordonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cordon", abstract: "Mark a node so that it takes no new modules; what it runs stays (see `drain`).",
        discussion: """
            The mark is kept in the orchestrator state and shown by `fireball status`; `apply` and the \
            controller place nothing new there, and the replicas already on the node stay (`fireball drain` \
            moves them).

            Examples:
              fireball cordon m33
              fireball status          # "cordoned: m33"
              fireball uncordon m33
            """)
    @Argument(help: "The node.") var node: String
    @OptionGroup var cluster: ClusterOptions

    func run() throws { try Cordon.change(node, cluster: cluster, cordoned: true, move: false) }
}

struct UncordonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uncordon", abstract: "Let a cordoned or drained node take modules again.",
        discussion: """
            Examples:
              fireball uncordon m33
            """)
    @Argument(help: "The node.") var node: String
    @OptionGroup var cluster: ClusterOptions

    func run() throws { try Cordon.change(node, cluster: cluster, cordoned: false, move: false) }
}

/// `cordon`, `uncordon` and `drain`: a mark in the state (`cordoned`, or `drained` for a drain), and for drain the move.
enum Cordon {
    static func change(_ node: String, cluster: ClusterOptions, cordoned: Bool, move: Bool) throws {
        let (_, client, deployer, paths) = try cluster.connect()
        defer { client.close() }
        let view: ClusterView
        do { view = try deployer.changeCordon(node, cordoned: cordoned, move: move, stateDirectory: try paths.existingState(), warn: note) } catch {
            throw failure("\(error)", code: move ? 2 : 1)
        }
        if move { say("node \(node) drained: \(view.reports[node]?.guests.count ?? 0) module(s) left on it") }
        else { say(cordoned ? "node \(node) cordoned: takes no new modules (\(view.reports[node]?.guests.count ?? 0) running there stay)" : "node \(node) takes modules again") }
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Stop every module of an app and forget it.",
        discussion: """
            Examples:
              fireball delete greenhouse
              fireball delete greenhouse --context lab
            """)
    @Argument(help: "The app's name.") var app: String
    @OptionGroup var cluster: ClusterOptions

    func run() throws {
        let (_, client, deployer, paths) = try cluster.connect()
        defer { client.close() }
        let outcome: DeployOutcome
        do { outcome = try deployer.delete(app: app, stateDirectory: paths.state.path) } catch { throw failure("\(error)") }
        for warning in outcome.warnings { note("warning: \(warning)") }
        say("deleted \(app): \(outcome.stopped.count) module(s) stopped")
    }
}
