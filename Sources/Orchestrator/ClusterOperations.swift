// What `fireball apply`, `delete` and `drain`/`cordon`/`uncordon` do to the cluster and the
// orchestrator state, apart from printing: the CLI and the cluster simulator run the same code.
import Foundation

extension Deployer {
    /// Places an app captured with `ClusterState.capture` (with the state's drained and cordoned
    /// nodes) and records it applied only once that worked; if placing fails, the previous apply
    /// stays in force and the error says why.
    public func apply(_ app: AppManifest, applied: AppliedApp, stateDirectory: String) throws -> DeployOutcome {
        var state = try ClusterState.load(directory: stateDirectory)
        previousModule = { sha in try? ClusterState.object(sha256: sha, directory: stateDirectory) }
        let outcome: DeployOutcome
        do { outcome = try reconcile(app, view: view(), draining: Set(state.drained), cordoned: Set(state.cordoned)) } catch {
            throw DeployError("\(error)\nthe previous apply of \(app.name) stays in force")
        }
        state.apps[app.name] = applied
        state.unversioned[app.name] = nil
        state.deleted.removeAll { $0 == app.name }
        try state.save(directory: stateDirectory)
        state.collectGarbage(directory: stateDirectory)
        return outcome
    }

    /// `fireball delete`: forgets `app` in the state first (so that a controller stops placing it)
    /// and marks it deleted (so that the controller stops copies a returning node brings back), then
    /// stops every replica of it that runs. An error if the app was neither applied nor runs.
    public func delete(app: String, stateDirectory: String) throws -> DeployOutcome {
        // No state here is not an error by itself: the app may run without having been applied from it.
        let hasState = FileManager.default.fileExists(atPath: stateDirectory)
        var state = hasState ? try ClusterState.load(directory: stateDirectory) : ClusterState()
        let known = state.apps.removeValue(forKey: app) != nil || state.unversioned.removeValue(forKey: app) != nil
        if hasState {
            if !state.deleted.contains(app) { state.deleted.append(app) }
            try state.save(directory: stateDirectory)
        }
        let outcome = delete(app: app, view: view())
        guard known || !outcome.stopped.isEmpty else { throw DeployError("no app '\(app)' was applied or runs") }
        if hasState { state.collectGarbage(directory: stateDirectory) }
        return outcome
    }

    /// Marks `node` cordoned (nothing new is placed there), drained (cordoned, and every applied app
    /// moved off it: `move`), or neither. A drain marks the node only if every app moved; the error
    /// names those that could not. Returns the cluster as it is afterwards.
    @discardableResult
    public func changeCordon(_ node: String, cordoned: Bool, move: Bool, stateDirectory: String,
                             warn: (String) -> Void = { _ in }) throws -> ClusterView {
        guard inventory.nodes.contains(where: { $0.name == node }) else { throw DeployError("no node '\(node)' in \(inventory.file)") }
        var state = try ClusterState.load(directory: stateDirectory)
        state.drained.removeAll { $0 == node }
        state.cordoned.removeAll { $0 == node }
        if cordoned { if move { state.drained.append(node) } else { state.cordoned.append(node) } }
        var view = view()
        if move {
            // Every app is tried (one that fails does not keep the others on the node); the node is
            // marked only if all moved.
            var failures: [String] = []
            for name in state.apps.keys.sorted() {
                do {
                    let manifest = try state.manifest(of: name, directory: stateDirectory)
                    let outcome = try reconcile(manifest, view: view, draining: Set(state.drained), upgrade: false)
                    for warning in outcome.warnings { warn("warning: \(warning)") }
                    if outcome.changed { view = self.view() }
                } catch {
                    warn("app \(name): \(error)")
                    failures.append(name)
                }
            }
            guard failures.isEmpty else {
                throw DeployError("drain of \(node) incomplete: \(failures.joined(separator: ", ")) could not be moved (see above); the node is not marked")
            }
        }
        try state.save(directory: stateDirectory)
        return view
    }
}
