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
            With --config INVENTORY --name NAME the node takes its board, listen address and peers from the \
            cluster inventory (e.g. Deploy/clusters/local.yaml); --board, --listen and --peer give them \
            directly instead. Certificates come from --certs (ca.pem, NAME.pem, NAME.key: see `fireball \
            certs`). Modules the orchestrator assigns are kept in --data and come back after a restart. \
            SIGTERM or Ctrl-C drains: guests stop, links close with a goodbye, then the process exits 0.
            """)

    @Option(help: "A cluster inventory to take this node's board, address and peers from.") var config: String?
    @Option(help: "The node's name (its certificate's).") var name: String
    @Option(help: "The board (a name in --boards or a .yaml path), without --config.") var board: String?
    @Option(help: "HOST:PORT to listen on, without --config.") var listen: String?
    @Option(help: "A peer node NAME=HOST:PORT (repeatable), without --config.") var peer: [String] = []
    @Option(help: "Without --config: another node that may link to this one without being dialed (repeatable). The members are this node, its peers and these.")
    var member: [String] = []
    @Option(help: "Where board names are looked up.") var boards = "Deploy/boards"
    @Option(help: "The certificate directory.") var certs = "certs"
    @Option(help: "The data directory (default: .fireball/nodes/NAME).") var data: String?
    @Option(help: "Milliseconds a peer may be gone before operations on its channels fail.") var graceMs = 3000
    @Option(help: "Microseconds a message received ahead waits for a task before it goes back (0: do not receive ahead).") var receiveAheadUs = 2000
    @Flag(help: "No local control socket (`fireball hal NAME …`).") var noControlSocket = false
    @Option(help: "Console lines a guest may print at once before the rate limit applies (default: the board's `log:`, else 200).")
    var logBurst: Int?
    @Option(help: "Console lines per second a guest may print after its burst (default: the board's `log:`, else 100).")
    var logLinesPerSecond: Int?
    @Option(help: "Connections waiting for their TLS handshake and hello, in all; more are closed at once.") var pendingConnectionsMax = 256
    @Option(help: "Connections waiting for their TLS handshake and hello from one IP address.") var pendingPerAddressMax = 32
    @Option(help: "Milliseconds a connection has for its TLS handshake and hello.") var handshakeTimeoutMs = 3000
    @Option(help: "Control sessions (orchestrator clients: CLI commands, controllers) open at once; one more is refused.") var controlSessionsMax = 32
    @Option(help: "HOST:PORT to serve Prometheus metrics on over plain HTTP (GET /metrics); off by default. Use a loopback address unless the network is trusted.")
    var metrics: String?

    func validate() throws {
        try checkOption(graceMs, in: OptionLimits.graceMilliseconds, "--grace-ms")
        try checkOption(receiveAheadUs, in: OptionLimits.receiveAheadMicroseconds, "--receive-ahead-us")
    }

    func run() throws {
        var configuration = try nodeConfiguration()
        configuration.routerGraceNanoseconds = UInt64(max(graceMs, 1)) * 1_000_000
        configuration.receiveAheadNanoseconds = UInt64(max(receiveAheadUs, 0)) * 1_000
        if logBurst != nil || logLinesPerSecond != nil {
            let base = configuration.board.logRateLimit
            let burst = logBurst ?? base.burstLines, rate = logLinesPerSecond ?? base.linesPerSecond
            guard let limit = LogRateLimit(checkedBurstLines: burst, linesPerSecond: rate) else {
                let range = LogRateLimit.valueRange
                throw ValidationError("--log-burst \(burst) / --log-lines-per-second \(rate): each must lie within \(range.lowerBound)…\(range.upperBound)")
            }
            configuration.logRateLimit = limit
        }
        guard handshakeTimeoutMs >= 100, handshakeTimeoutMs <= 600_000 else { throw ValidationError("--handshake-timeout-ms must be 100…600000") }
        configuration.endpoint.link.handshakeTimeoutNanoseconds = UInt64(handshakeTimeoutMs) * 1_000_000
        configuration.endpoint.pendingConnectionsMax = pendingConnectionsMax
        configuration.endpoint.pendingConnectionsPerAddressMax = pendingPerAddressMax
        configuration.endpoint.controlSessionsMax = controlSessionsMax
        do { try configuration.endpoint.validate() } catch { throw ValidationError("\(error)") }
        if let metrics { (configuration.metricsHost, configuration.metricsPort) = try HostPort.parse(metrics, what: "--metrics") }
        let daemon: NodeDaemon
        do {
            // Unbuffered: the lines of a node under a supervisor or in a pipe appear as they happen.
            daemon = try NodeDaemon(configuration: configuration) { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
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
        if let config {
            guard board == nil, listen == nil, peer.isEmpty, member.isEmpty else {
                throw ValidationError("--config gives the board, address, peers and members: drop --board, --listen, --peer and --member")
            }
            let inventory: ClusterInventory
            do { inventory = try ClusterInventory.load(path: config, boardsDirectory: boards) } catch { throw ValidationError("\(error)") }
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
        guard let board, let listen else { throw ValidationError("give --config INVENTORY, or --board and --listen") }
        let definition: Board
        do { definition = try Board.resolve(board, in: boards) } catch { throw ValidationError("\(error)") }
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
