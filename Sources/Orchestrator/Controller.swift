// The controller: keeps every applied app placed. It watches the links to all nodes; a node whose link
// has been down for `deadAfter` is dead and its replicas are re-placed on nodes that fit (the
// link layer notices a silent peer within 2 s, a crashed one at once). A node that comes back with
// replicas moved away meanwhile has those copies stopped. Every few seconds it also re-checks all.
// It works from what `apply` stored (ClusterState), app by app: one app that cannot be read or
// reconciled is reported and the others go on.
import Foundation

public final class Controller {
    public let deployer: Deployer
    public let stateDirectory: String
    /// When to act and on which nodes to give up (see ControllerWatch).
    public var watch = ControllerWatch()
    public var log: (String) -> Void
    public var dead: Set<String> { watch.dead }
    /// Nodes that answer but whose kernel panicked (their reports say so).
    public private(set) var failed: Set<String> = []
    /// The last problem reported per app (unreadable, or its reconcile failed), so that a problem
    /// that stays is reported once, not at every re-check.
    public private(set) var problems: [String: String] = [:]
    /// Apps whose rollout to the applied version failed here, by that version (`AppliedApp.version`):
    /// their replicas are kept as they run (missing ones are still started) until the next apply.
    public private(set) var rolloutFailed: [String: String] = [:]

    public init(deployer: Deployer, stateDirectory: String, log: @escaping (String) -> Void) {
        self.deployer = deployer
        self.stateDirectory = stateDirectory
        self.log = log
        // Links that came up while the client connected are no news: the first step checks everything anyway.
        _ = deployer.client.takeLinkChanges()
    }

    /// Runs while `running()` is true (checked every 50 ms).
    public func run(while running: () -> Bool) {
        while running() { step() }
    }

    /// 50 ms of link events, then what the watch says: lines, and a reconcile if something changed.
    public func step() {
        let client = deployer.client
        client.drive(seconds: 0.05) { false }
        let actions = watch.step(now: client.nowNanoseconds, changes: client.takeLinkChanges(), downSince: client.downSince,
                                 nodes: deployer.inventory.nodes.map(\.name))
        for action in actions {
            switch action {
            case .log(let line): log(line)
            case .reconcile: reconcileAll()
            }
        }
    }

    /// Reports `text` for `app` unless it is the problem reported last for it.
    private func problem(_ app: String, _ text: String) {
        guard problems[app] != text else { return }
        problems[app] = text
        log(text)
    }

    private func reconcileAll() {
        let client = deployer.client
        let state: ClusterState
        do { state = try ClusterState.load(directory: stateDirectory) } catch {
            problem("", "cannot read what was applied: \(error)")
            return
        }
        problems[""] = nil
        for (app, path) in state.unversioned.sorted(by: { $0.key < $1.key }) {
            problem(app, "app \(app): applied by an older fireball that kept only its path (\(path)); apply it again to have it kept placed")
        }
        var view = deployer.view()
        // A node whose kernel panicked is up but runs nothing: as good as dead.
        let panicked = Set(view.reports.filter { $0.value.panic != nil }.keys)
        for node in panicked.subtracting(failed).sorted() { log("node \(node) failed: \(view.reports[node]!.panic!)") }
        failed = panicked
        for name in problems.keys where !name.isEmpty && state.apps[name] == nil && state.unversioned[name] == nil { problems[name] = nil }
        // Copies of deleted apps that a node brought back (it was away when `delete` ran).
        for name in state.deleted.sorted() where state.apps[name] == nil {
            let outcome = deployer.delete(app: name, view: view)
            guard !outcome.stopped.isEmpty else { continue }
            log("app \(name) (deleted): stopped \(outcome.stopped.count) copy(ies) a node brought back")
            view = deployer.view()
        }
        for (name, applied) in state.apps.sorted(by: { $0.key < $1.key }) {
            let manifest: AppManifest
            do { manifest = try state.manifest(of: name, directory: stateDirectory) } catch {
                problem(name, "app \(name): cannot read what was applied: \(error); the other apps go on")
                continue
            }
            if let version = rolloutFailed[name], version != applied.version { rolloutFailed[name] = nil }
            let began = client.nowNanoseconds
            do {
                let outcome = try deployer.reconcile(manifest, view: view, dead: dead.union(failed), draining: Set(state.drained), cordoned: Set(state.cordoned),
                                                     upgrade: rolloutFailed[name] == nil)
                if problems[name] != nil && outcome.stale.isEmpty {
                    problems[name] = nil
                    log("app \(name): reconciled again")
                }
                guard outcome.changed || !outcome.upgraded.isEmpty else { continue }
                var line = "app \(name): started \(outcome.started.count), upgraded \(outcome.upgraded.count), stopped \(outcome.stopped.count) "
                    + "in \(Self.milliseconds(client.nowNanoseconds - began)) ms"
                if let since = dead.compactMap({ client.downSince[$0] }).max() {
                    line += "; \(Self.milliseconds(client.nowNanoseconds - since)) ms after the link to \(dead.sorted().joined(separator: ", ")) dropped"
                }
                log(line)
                for warning in outcome.warnings { log("  warning: \(warning)") }
                view = deployer.view()
            } catch let error as DeployError where error.duringUpgrade {
                // Not tried again at every re-check: the replicas stay as they run until the next apply.
                rolloutFailed[name] = applied.version
                problem(name, "app \(name): \(error)\n  its replicas are left as they run until the next apply")
                view = deployer.view()
            } catch {
                problem(name, "app \(name): \(error)")
            }
        }
    }

    static func milliseconds(_ nanoseconds: UInt64) -> UInt64 { nanoseconds / 1_000_000 }
}
