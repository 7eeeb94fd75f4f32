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
            (used / capacity). Exit status: 0 placed, 1 a file was refused, 2 placement failed (the reasons \
            go to stderr). See Docs/orchestrator.md.
            """)

    @Argument(help: "The app manifest (e.g. Deploy/apps/sensors.yaml).") var manifest: String
    @Option(help: "The cluster inventory.") var inventory = "Deploy/clusters/local.yaml"
    @Option(help: "Where board names in the inventory are looked up.") var boards = "Deploy/boards"
    @Option(help: "A node to treat as dead: nothing is placed there, what would go there goes elsewhere; repeatable.") var dead: [String] = []
    @Option(help: "A node being drained: nothing is placed there; repeatable.") var draining: [String] = []
    @Option(help: "Where the orchestrator keeps applied apps: modules whose code changed since are shown as upgrades.") var state = ".fireball/orchestrator"

    func run() throws {
        let app: AppManifest
        let cluster: ClusterInventory
        do {
            cluster = try ClusterInventory.load(path: inventory, boardsDirectory: boards)
            app = try AppManifest.load(path: manifest)
            try Planner.check(app, against: cluster)
            for warning in try ServiceCheck.check(app, against: cluster) { note("warning: \(warning)") }
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        var conditions: [String: NodeCondition] = [:]
        for (names, status) in [(dead, NodeStatus.dead), (draining, .draining)] {
            for name in names {
                guard cluster.nodes.contains(where: { $0.name == name }) else {
                    throw ValidationError("no node '\(name)' in \(inventory) (nodes: \(cluster.nodes.map(\.name).joined(separator: ", ")))")
                }
                conditions[name] = NodeCondition(status: status)
            }
        }
        let plan = Planner.plan(PlacementRequest(manifest: app, inventory: cluster, conditions: conditions))
        print("app \(app.name) on cluster \(cluster.name) (\(cluster.nodes.count) nodes)")
        print(plan.report())
        // Against what was applied: how each changed module would be rolled out.
        if let applied = try? ClusterState.load(directory: state), applied.apps[app.name] != nil {
            do {
                let previous = try applied.manifest(of: app.name, directory: state)
                let lines = RolloutPreview.lines(applied: previous, next: app, plan: plan, inventory: cluster)
                print(lines.isEmpty ? "no module's code changed since the last apply" : lines.joined(separator: "\n"))
            } catch {
                FileHandle.standardError.write(Data("cannot compare with the last apply: \(error)\n".utf8))
            }
        }
        if let failure = plan.failure {
            FileHandle.standardError.write(Data("plan failed; nothing would be deployed:\n\(failure)\n".utf8))
            throw ExitCode(2)
        }
    }
}
