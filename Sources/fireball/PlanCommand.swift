// `fireball plan MANIFEST`: where every replica would go and what each node's partitions would hold,
// without deploying anything.
import ArgumentParser
import Foundation
import HAL
import Orchestrator

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Place an app's modules on the cluster's nodes and print the plan, without deploying.",
        discussion: """
            Reads the app manifest and the cluster inventory, checks every wasm file with the loader, and \
            places each replica where all six partitions fit, its devices exist, the FPU rule holds and its \
            spread and affinity constraints hold. Prints module -> node and each node's partitions \
            (used / capacity). Nodes drained in the state are planned as draining; cordoned ones keep their replicas and take no new ones. Exit status: \
            0 placed, 1 a file was refused, 2 placement failed (the reasons go to stderr). See \
            Docs/orchestrator.md.

            Examples:
              fireball plan Deploy/apps/greenhouse.yaml
              fireball plan app.yaml --dead m33 -o json
              fireball plan app.yaml --inventory lab.yaml --boards ./boards
            """)

    @Argument(help: "The app manifest (e.g. Deploy/apps/sensors.yaml).") var manifest: String
    @OptionGroup var selection: ConfigSelection
    @Option(help: ArgumentHelp("The cluster inventory (default: the context's, else Deploy/clusters/local.yaml).", valueName: "file")) var inventory: String?
    @Option(help: ArgumentHelp("Where board names in the inventory are looked up (default: the inventory's `boards:`, the context's, $FIREBALL_BOARDS, the install's).", valueName: "dir"))
    var boards: String?
    @Option(help: "A node to treat as dead: nothing is placed there, what would go there goes elsewhere; repeatable.") var dead: [String] = []
    @Option(help: "A node being drained: nothing is placed there; repeatable.") var draining: [String] = []
    @Option(help: ArgumentHelp("Where the orchestrator keeps applied apps: modules whose code changed since are shown as upgrades (default: the context's).", valueName: "dir"))
    var state: String?
    @OptionGroup var output: OutputOption

    struct Output: Encodable {
        struct Placed: Encodable { let replica: String; let module: String; let node: String; let previousNode: String?; let kept: Bool }
        struct Node: Encodable { let node: String; let board: String; let status: String; let replicas: [String] }
        let app: String
        let cluster: String
        let placed: [Placed]
        let nodes: [Node]
        let unplaced: [String]
        let failure: String?
    }

    func run() throws {
        let paths = try ClusterPaths(selection: selection, inventory: inventory, certs: nil, state: state, boards: boards)
        let app: AppManifest
        let cluster: ClusterInventory
        do {
            cluster = try ClusterInventory.load(path: paths.inventory.path, boardsDirectory: paths.boards,
                                                boardsOverride: paths.explicitBoards ? paths.boards : nil)
            app = try AppManifest.load(path: manifest)
            try Planner.check(app, against: cluster)
            for warning in try ServiceCheck.check(app, against: cluster) { note("warning: \(warning)") }
        } catch {
            note("\(error)")
            throw ExitCode(1)
        }
        // Plan reads the state only if it is there: it never creates one.
        let applied = FileManager.default.fileExists(atPath: paths.state.path) ? try? ClusterState.load(directory: paths.state.path) : nil
        var conditions: [String: NodeCondition] = [:]
        for name in applied?.drained ?? [] where cluster.nodes.contains(where: { $0.name == name }) { conditions[name] = NodeCondition(status: .draining) }
        for name in applied?.cordoned ?? [] where cluster.nodes.contains(where: { $0.name == name }) { conditions[name] = NodeCondition(status: .cordoned) }
        for (names, status) in [(dead, NodeStatus.dead), (draining, .draining)] {
            for name in names {
                guard cluster.nodes.contains(where: { $0.name == name }) else {
                    throw ValidationError("no node '\(name)' in \(paths.inventory.path) (nodes: \(cluster.nodes.map(\.name).joined(separator: ", ")))")
                }
                conditions[name] = NodeCondition(status: status)
            }
        }
        let plan = Planner.plan(PlacementRequest(manifest: app, inventory: cluster, conditions: conditions))
        if output.structured {
            try output.emit(Output(app: app.name, cluster: cluster.name,
                                   placed: plan.assignments.map { .init(replica: $0.replica, module: $0.module, node: $0.node, previousNode: $0.previousNode, kept: $0.kept) },
                                   nodes: plan.nodes.map { .init(node: $0.node, board: $0.board, status: $0.status.rawValue, replicas: $0.replicas) },
                                   unplaced: plan.unplaced.map(\.replica), failure: plan.failure?.detail))
        } else {
            say("app \(app.name) on cluster \(cluster.name) (\(cluster.nodes.count) nodes)")
            say(plan.report())
            // Against what was applied: how each changed module would be rolled out.
            if let applied, applied.apps[app.name] != nil {
                do {
                    let previous = try applied.manifest(of: app.name, directory: paths.state.path)
                    let lines = RolloutPreview.lines(applied: previous, next: app, plan: plan, inventory: cluster)
                    say(lines.isEmpty ? "no module's code changed since the last apply" : lines.joined(separator: "\n"))
                } catch {
                    note("cannot compare with the last apply: \(error)")
                }
            }
        }
        if let failure = plan.failure {
            note("plan failed; nothing would be deployed:\n\(failure)")
            throw ExitCode(2)
        }
    }
}
