// The orchestrator's commands: apply, status, logs, drain, delete and the controller. Each connects
// to the inventory's nodes over the control plane with an orchestrator certificate.
import ArgumentParser
import Foundation
import Orchestrator
import Transport

/// Options every cluster command shares.
struct ClusterOptions: ParsableArguments {
    @Option(help: "The cluster inventory.") var inventory = "Deploy/clusters/local.yaml"
    @Option(help: "Where board names in the inventory are looked up.") var boards = "Deploy/boards"
    @Option(help: "The certificate directory (ca.pem and the orchestrator's NAME.pem / NAME.key).") var certs = "certs"
    @Option(name: .customLong("as"), help: "The orchestrator certificate's name.") var identity = "orchestrator"
    @Option(help: "Where the orchestrator keeps applied apps (their manifests and modules as applied) and drained nodes.") var state = ".fireball/orchestrator"
    @Option(help: "Seconds to wait for links to the nodes.") var connectTimeout: Double = 5

    func validate() throws { try checkOption(connectTimeout, in: OptionLimits.connectTimeoutSeconds, "--connect-timeout") }

    /// The link layer's lines worth a person's attention here: refusals and failed dials, not every link up and down.
    static func linkProblems(_ line: String) { if line.contains("refused") || line.contains("failed") { note(line) } }

    func connect(log: @escaping (String) -> Void = ClusterOptions.linkProblems) throws -> (ClusterInventory, ControlClient, Deployer) {
        let cluster: ClusterInventory
        do { cluster = try ClusterInventory.load(path: inventory, boardsDirectory: boards) } catch { throw failure("\(error)") }
        let client: ControlClient
        do { client = try ControlClient(certificateDirectory: certs, name: identity, nodes: cluster.nodes, log: log) } catch { throw failure("\(error)") }
        let missing = client.waitForLinks(cluster.nodes.map(\.name), seconds: connectTimeout)
        if !missing.isEmpty { note("no link to \(missing.joined(separator: ", ")) after \(connectTimeout) s: treated as down") }
        return (cluster, client, Deployer(inventory: cluster, client: client, progress: { print("  " + $0) }))
    }
}

func note(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

/// A line on stdout now, not when a buffer fills (a controller's output is read while it runs).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func failure(_ text: String, code: Int32 = 1) -> ExitCode {
    note(text)
    return ExitCode(code)
}

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Deploy an app: place its modules, push and start what is missing, roll out what changed, stop what is extra.",
        discussion: """
            Reads the manifest and its modules once and keeps those copies in --state: the controller and \
            `drain` work from them, so a file edited or rebuilt afterwards changes nothing until the next \
            apply. Compares the manifest with what the nodes run, plans with the planner (nodes report their \
            free partitions), pushes each module with its SHA-256 and starts it. Replicas whose module or \
            settings changed are upgraded one at a time: in place where the node holds old and new at once, \
            else stopped, then started (the line says how long it was down). If a node refuses a step, the \
            steps of this round are rolled back, the cluster runs what it ran before and the previous apply \
            stays in force. With --watch it then stays as the controller (see `fireball controller`).
            """)
    @Argument(help: "The app manifest.") var manifest: String
    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Keep running as the controller: re-place modules of dead nodes.") var watch = false

    func run() throws {
        let app: AppManifest
        let applied: AppliedApp
        do { (app, applied) = try ClusterState.capture(manifestPath: manifest, directory: cluster.state) } catch { throw failure("\(error)") }
        let (inventory, client, deployer) = try cluster.connect()
        defer { client.close() }
        do {
            try Planner.check(app, against: inventory)
            for warning in try ServiceCheck.check(app, against: inventory) { note("warning: \(warning)") }
        } catch { throw failure("\(error)") }
        var state = try ClusterState.load(directory: cluster.state)
        deployer.previousModule = { [directory = cluster.state] sha in try? ClusterState.object(sha256: sha, directory: directory) }
        let began = Date()
        print("applying \(app.name) (\(app.modules.count) module(s)) to \(inventory.name):")
        let view = deployer.view()
        do {
            let outcome = try deployer.reconcile(app, view: view, draining: Set(state.drained))
            for warning in outcome.warnings { note("warning: \(warning)") }
            var line = "\(app.name): \(outcome.started.count) started, \(outcome.upgraded.count) upgraded, \(outcome.kept) kept, "
                + "\(outcome.stopped.count) stopped in \(Int(Date().timeIntervalSince(began) * 1000)) ms"
            let stopStart = outcome.upgraded.filter { $0.mode == .stopThenStart }
            if !stopStart.isEmpty {
                line += "; stopped, then started (old and new do not fit at once): "
                    + stopStart.map { "\($0.key) on \($0.node), down \($0.downMilliseconds) ms" }.joined(separator: "; ")
            }
            print(line)
        } catch {
            throw failure("\(error)\nthe previous apply of \(app.name) stays in force", code: 2)
        }
        state.apps[app.name] = applied
        state.unversioned[app.name] = nil
        try state.save(directory: cluster.state)
        state.collectGarbage(directory: cluster.state)
        if watch { runController(deployer, client: client, stateDirectory: cluster.state) }
    }
}

struct ControllerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Keep every applied app placed: re-place the modules of a dead node within seconds.",
        discussion: """
            Watches the links to every node. A node whose link stays down for --dead-after-ms is dead: its \
            modules are re-placed on nodes that fit and started there under the same URIs, so their peers \
            reconnect by themselves. A node that returns has the copies that moved away stopped. Runs until \
            Ctrl-C or SIGTERM.
            """)
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Milliseconds without a link before a node is dead.") var deadAfterMs = 1000

    func validate() throws { try checkOption(deadAfterMs, in: OptionLimits.deadAfterMilliseconds, "--dead-after-ms") }

    func run() throws {
        let (_, client, deployer) = try cluster.connect()
        defer { client.close() }
        runController(deployer, client: client, stateDirectory: cluster.state, deadAfterMilliseconds: deadAfterMs)
    }
}

/// Runs the controller until SIGINT or SIGTERM.
func runController(_ deployer: Deployer, client: ControlClient, stateDirectory: String, deadAfterMilliseconds: Int = 1000) {
    let controller = Controller(deployer: deployer, stateDirectory: stateDirectory) { say("controller: \($0)") }
    deployer.progress = { say("  " + $0) }
    controller.deadAfterNanoseconds = UInt64(min(max(deadAfterMilliseconds, 1), OptionLimits.deadAfterMilliseconds.upperBound)) * 1_000_000
    var stop = false
    let watchers = [SIGINT, SIGTERM].compactMap { signal in try? SignalWatcher(loop: client.loop, signal: signal) { stop = true } }
    say("controller: watching \(deployer.inventory.nodes.count) node(s); a node is dead after \(deadAfterMilliseconds) ms without a link")
    controller.run { !stop }
    for watcher in watchers { watcher.cancel() }
    say("controller: stopped")
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Nodes, links, modules and partitions of the cluster.")
    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "The nodes' reports as JSON.") var json = false

    func run() throws {
        let (inventory, client, deployer) = try cluster.connect()
        defer { client.close() }
        let view = deployer.view()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            struct Output: Encodable { let nodes: [String: NodeReport]; let unreachable: [String] }
            print(String(decoding: try encoder.encode(Output(nodes: view.reports, unreachable: view.unreachable)), as: UTF8.self))
            return
        }
        print(StatusTable.render(view, inventory: inventory))
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "What a module replica logged: log records, stdout, stderr and UART lines, its exits.",
        discussion: """
            The node keeps each replica's newest lines (1000 lines or 128 KiB, older ones dropped first). \
            With -f the command stays and prints new lines as they come (a second apart at most), and \
            follows the replica to the node it moves to.
            """)
    @Argument(help: "APP/REPLICA (or REPLICA if only one app has it).") var replica: String
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "How many of the last lines (0: all the node holds).") var lines = 20
    @Option(help: "Only lines logged within this long before now: 90s, 5m, 2h, 1d.") var since: String?
    @Flag(name: [.customShort("f"), .long], help: "Keep printing new lines until Ctrl-C.") var follow = false

    func validate() throws {
        try checkOption(lines, in: OptionLimits.logLines, "--lines")
        if let since, LogQuery.milliseconds(since) == nil { throw ValidationError("--since \(since): expected a duration such as 90s, 5m, 2h or 1d (at most a year)") }
    }

    func run() throws {
        let (_, client, deployer) = try cluster.connect()
        defer { client.close() }
        let holders = LogQuery.holders(of: replica, in: deployer.view())
        guard var (node, key) = holders.first else { throw failure("no node runs \(replica)") }
        if holders.count > 1 { note("\(replica) runs on \(holders.map { "\($0.node) (\($0.key))" }.joined(separator: ", ")); showing \(node)") }
        var cursor: LogCursor?
        do {
            let page = try client.logs(node, key: key, lines: lines, sinceMilliseconds: since.flatMap(LogQuery.milliseconds))
            for line in page.lines { say("\(node) \(line)") }
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
                for line in page.lines { say("\(node) \(line)") }
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
                        for line in page.lines { say("\(node) \(line)") }
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
        commandName: "drain", abstract: "Move every module off a node (it takes nothing new until `fireball drain --undo`).")
    @Argument(help: "The node.") var node: String
    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Let the node take modules again.") var undo = false

    func run() throws {
        let (inventory, client, deployer) = try cluster.connect()
        defer { client.close() }
        guard inventory.nodes.contains(where: { $0.name == node }) else { throw failure("no node '\(node)' in \(cluster.inventory)") }
        var state = try ClusterState.load(directory: cluster.state)
        state.drained.removeAll { $0 == node }
        if !undo { state.drained.append(node) }
        var view = deployer.view()
        // Every app is tried (one that fails does not keep the others on the node); the node is
        // marked only if all moved.
        var failures: [String] = []
        for name in state.apps.keys.sorted() {
            do {
                let manifest = try state.manifest(of: name, directory: cluster.state)
                let outcome = try deployer.reconcile(manifest, view: view, draining: Set(state.drained), upgrade: false)
                for warning in outcome.warnings { note("warning: \(warning)") }
                if outcome.changed { view = deployer.view() }
            } catch {
                note("app \(name): \(error)")
                failures.append(name)
            }
        }
        guard failures.isEmpty else { throw failure("drain of \(node) incomplete: \(failures.joined(separator: ", ")) could not be moved (see above); the node is not marked", code: 2) }
        try state.save(directory: cluster.state)
        print(undo ? "node \(node) takes modules again" : "node \(node) drained: \(view.reports[node]?.guests.count ?? 0) module(s) left on it")
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Stop every module of an app and forget it.")
    @Argument(help: "The app's name.") var app: String
    @OptionGroup var cluster: ClusterOptions

    func run() throws {
        let (_, client, deployer) = try cluster.connect()
        defer { client.close() }
        var state = try ClusterState.load(directory: cluster.state)
        let outcome = deployer.delete(app: app, view: deployer.view())
        for warning in outcome.warnings { note("warning: \(warning)") }
        let known = state.apps.removeValue(forKey: app) != nil || state.unversioned.removeValue(forKey: app) != nil
        guard known || !outcome.stopped.isEmpty else { throw failure("no app '\(app)' was applied or runs") }
        try state.save(directory: cluster.state)
        state.collectGarbage(directory: cluster.state)
        print("deleted \(app): \(outcome.stopped.count) module(s) stopped")
    }
}
