// `fireball node`: run one node daemon until SIGTERM or Ctrl-C (which drain it).
import ArgumentParser
import Core
import Foundation
import HAL
import Node
import Orchestrator
import Transport

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node: a board's kernel, its links to the other nodes, and the control plane.",
        discussion: """
            With --inventory FILE --name NAME the node takes its board, listen address and peers from the \
            cluster inventory (e.g. Deploy/clusters/local.yaml); --board, --listen and --peer give them \
            directly instead. Certificates come from --certs (ca.pem, NAME.pem, NAME.key: see `fireball \
            certs`). Modules the orchestrator assigns are kept in --data and come back after a restart. \
            SIGTERM or Ctrl-C drains: guests stop, links close with a goodbye, then the process exits 0.

            Examples:
              fireball node --inventory Deploy/clusters/local.yaml --name c3 --certs certs
              fireball node --name edge1 --board cortex-m33 --listen 0.0.0.0:7401 --peer edge2=10.0.0.2:7401
              fireball node --inventory lab.yaml --name m33 --grace 5s --receive-ahead 1ms
            """)

    @Option(help: ArgumentHelp("A cluster inventory to take this node's board, address and peers from.", valueName: "file")) var inventory: String?
    @Option(name: .customLong("config"), help: .hidden) var deprecatedInventory: String?
    @Option(help: "The node's name (its certificate's).") var name: String
    @Option(help: "The board (a name in --boards or a .yaml path), without --inventory.") var board: String?
    @Option(help: "HOST:PORT to listen on, without --inventory.") var listen: String?
    @Option(help: "A peer node NAME=HOST:PORT (repeatable), without --inventory.") var peer: [String] = []
    @Option(help: "Without --inventory: another node that may link to this one without being dialed (repeatable). The members are this node, its peers and these.")
    var member: [String] = []
    @Option(help: ArgumentHelp("Where board names are looked up (default: the inventory's `boards:`, $FIREBALL_BOARDS, the install's).", valueName: "dir"))
    var boards: String?
    @Option(help: ArgumentHelp("The certificate directory.", valueName: "dir")) var certs = "certs"
    @Option(help: "The data directory (default: .fireball/nodes/NAME).") var data: String?
    @Option(help: ArgumentHelp("How long a peer may be gone before operations on its channels fail (3s, 500ms).", valueName: "duration"))
    var grace = "3s"
    @Option(help: ArgumentHelp("How long a message received ahead waits for a task before it goes back (0us: do not receive ahead).", valueName: "duration"))
    var receiveAhead = "2ms"
    @Option(name: .customLong("grace-ms"), help: .hidden) var graceMs: Int?
    @Option(name: .customLong("receive-ahead-us"), help: .hidden) var receiveAheadUs: Int?
    @Flag(help: "No local control socket (`fireball hal NAME …`).") var noControlSocket = false
    @Option(help: "Console lines a guest may print at once before the rate limit applies (default: the board's `log:`, else 200).")
    var logBurst: Int?
    @Option(help: "Console lines per second a guest may print after its burst (default: the board's `log:`, else 100).")
    var logLinesPerSecond: Int?
    @Option(help: "Connections waiting for their TLS handshake and hello, in all; more are closed at once.") var pendingConnectionsMax = 256
    @Option(help: "Connections waiting for their TLS handshake and hello from one IP address.") var pendingPerAddressMax = 32
    @Option(help: ArgumentHelp("How long a connection has for its TLS handshake and hello (3s).", valueName: "duration"))
    var handshakeTimeout = "3s"
    @Option(name: .customLong("handshake-timeout-ms"), help: .hidden) var handshakeTimeoutMs: Int?
    @Option(help: "Control sessions (orchestrator clients: CLI commands, controllers) open at once; one more is refused.") var controlSessionsMax = 32
    @Option(help: "HOST:PORT to serve Prometheus metrics on over plain HTTP (GET /metrics); off by default. Use a loopback address unless the network is trusted.")
    var metrics: String?

    /// The durations, from the new flags or the deprecated `-ms`/`-us` ones (a warning each).
    func durations(warn: Bool = false) throws -> (grace: UInt64, receiveAhead: UInt64, handshake: UInt64) {
        func pick(_ old: Int?, _ oldName: String, _ unit: String, _ new: String, _ newName: String, _ range: ClosedRange<UInt64>) throws -> UInt64 {
            guard let old else { return try durationOption(new, newName, in: range) }
            if warn { warnDeprecated(oldName, use: "\(newName) \(old)\(unit)") }
            guard old >= 0 else { throw ValidationError("\(oldName) \(old): must not be negative") }
            return try durationOption("\(old)\(unit)", oldName, in: range)
        }
        return (try pick(graceMs, "--grace-ms", "ms", grace, "--grace", OptionLimits.grace),
                try pick(receiveAheadUs, "--receive-ahead-us", "us", receiveAhead, "--receive-ahead", OptionLimits.receiveAhead),
                try pick(handshakeTimeoutMs, "--handshake-timeout-ms", "ms", handshakeTimeout, "--handshake-timeout", OptionLimits.handshakeTimeout))
    }

    func validate() throws {
        _ = try durations()
        if inventory != nil && deprecatedInventory != nil { throw ValidationError("--config is the deprecated spelling of --inventory: give only --inventory") }
    }

    func run() throws {
        var configuration = try nodeConfiguration()
        let durations = try durations(warn: true)
        configuration.routerGraceNanoseconds = durations.grace
        configuration.receiveAheadNanoseconds = durations.receiveAhead
        if logBurst != nil || logLinesPerSecond != nil {
            let base = configuration.board.logRateLimit
            let burst = logBurst ?? base.burstLines, rate = logLinesPerSecond ?? base.linesPerSecond
            guard let limit = LogRateLimit(checkedBurstLines: burst, linesPerSecond: rate) else {
                let range = LogRateLimit.valueRange
                throw ValidationError("--log-burst \(burst) / --log-lines-per-second \(rate): each must lie within \(range.lowerBound)…\(range.upperBound)")
            }
            configuration.logRateLimit = limit
        }
        configuration.endpoint.link.handshakeTimeoutNanoseconds = durations.handshake
        configuration.endpoint.pendingConnectionsMax = pendingConnectionsMax
        configuration.endpoint.pendingConnectionsPerAddressMax = pendingPerAddressMax
        configuration.endpoint.controlSessionsMax = controlSessionsMax
        do { try configuration.endpoint.validate() } catch { throw ValidationError("\(error)") }
        if let metrics { (configuration.metricsHost, configuration.metricsPort) = try HostPort.parse(metrics, what: "--metrics") }
        let daemon: NodeDaemon
        do {
            // Unbuffered: the lines of a node under a supervisor or in a pipe appear as they happen.
            daemon = try NodeDaemon(configuration: configuration) { say($0) }
            try daemon.handleSignals()
        } catch {
            FileHandle.standardError.write(Data("fireball node \(name): \(error)\n".utf8))
            throw ExitCode(1)
        }
        daemon.run()
    }

    func nodeConfiguration() throws -> NodeConfiguration {
        let dataDirectory = data ?? ".fireball/nodes/\(name)"
        let socket = noControlSocket ? nil : LocalControl.defaultPath(node: name)
        if let deprecatedInventory { warnDeprecated("node --config", use: "--inventory \(deprecatedInventory)") }
        let boardsFolder = BoardsLocation.find(flag: boards, context: nil).path
        if let config = inventory ?? deprecatedInventory {
            guard board == nil, listen == nil, peer.isEmpty, member.isEmpty else {
                throw ValidationError("--inventory gives the board, address, peers and members: drop --board, --listen, --peer and --member")
            }
            let inventory: ClusterInventory
            do { inventory = try ClusterInventory.load(path: config, boardsDirectory: boardsFolder, boardsOverride: boards) } catch { throw ValidationError("\(error)") }
            guard let me = inventory.nodes.first(where: { $0.name == name }) else {
                throw ValidationError("no node '\(name)' in \(config) (nodes: \(inventory.nodes.map(\.name).joined(separator: ", ")))")
            }
            let (host, port) = try HostPort.parse(me.address, what: "\(config): node \(name)'s address")
            let peers = try inventory.nodes.filter { $0.name != name }.map { node in
                let (host, port) = try HostPort.parse(node.address, what: "\(config): node \(node.name)'s address")
                return NodeConfiguration.Peer(name: node.name, host: host, port: port)
            }
            var configuration = NodeConfiguration(name: name, board: me.board, listenHost: host, listenPort: port, peers: peers,
                                                  certificateDirectory: certs, dataDirectory: dataDirectory, controlSocketPath: socket)
            // Only the inventory's nodes may link as nodes (orchestrators connect either way).
            configuration.endpoint.members = Set(inventory.nodes.map(\.name))
            return configuration
        }
        guard let board, let listen else { throw ValidationError("give --inventory FILE, or --board and --listen") }
        let definition: Board
        do { definition = try Board.resolve(board, in: boardsFolder) } catch { throw ValidationError("\(error)") }
        let (host, port) = try HostPort.parse(listen, what: "--listen")
        let peers = try peer.map { text in
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--peer \(text): expected NAME=HOST:PORT") }
            let (host, port) = try HostPort.parse(parts[1], what: "--peer \(parts[0])")
            return NodeConfiguration.Peer(name: parts[0], host: host, port: port)
        }
        for name in member { if let problem = NodeName.problem(name) { throw ValidationError("--member: \(problem)") } }
        var configuration = NodeConfiguration(name: name, board: definition, listenHost: host, listenPort: port, peers: peers,
                                              certificateDirectory: certs, dataDirectory: dataDirectory, controlSocketPath: socket)
        configuration.endpoint.members = Set([name] + peers.map(\.name) + member)
        return configuration
    }
}

extension HostPort {
    /// `split`, or a ValidationError naming `what`.
    static func parse(_ text: String, what: String) throws -> (String, UInt16) {
        guard let (host, port) = split(text) else { throw ValidationError("\(what): '\(text)' is not HOST:PORT") }
        return (host, port)
    }
}
