// When the controller acts, and on which nodes it gives up: a state machine fed the clock, the link
// changes and how long each node has been without a link, that returns what to do (lines to log,
// a reconcile to run). It does no I/O and keeps no time of its own, so its decisions are tested on
// a made-up timeline (ControllerWatchTests) and replay in the simulator.

public struct ControllerWatch {
    /// A node without a link for this long is dead: its replicas are placed elsewhere.
    public var deadAfterNanoseconds: UInt64 = 1_000_000_000
    /// Everything is checked again this often, changes or not.
    public var resyncNanoseconds: UInt64 = 3_000_000_000
    public private(set) var dead: Set<String> = []
    /// Something changed since the last reconcile (at first: nothing was checked yet).
    private var dirty = true
    private var lastSync: UInt64?

    public enum Action: Equatable {
        case log(String)
        /// Reconcile every app now, with `dead` the nodes given up.
        case reconcile
    }

    public init() {}

    /// One step at `now`: `changes` since the last step, `downSince` (when each node without a link
    /// lost it) for the inventory's `nodes`.
    public mutating func step(now: UInt64, changes: [LinkChange], downSince: [String: UInt64], nodes: [String]) -> [Action] {
        var actions: [Action] = []
        for change in changes {
            dirty = true
            actions.append(.log("link to node \(change.node) \(change.up ? "up" : "down")"))
        }
        var limbo = false
        var nowDead: Set<String> = []
        for node in nodes {
            guard let since = downSince[node] else { continue }
            if now &- since >= deadAfterNanoseconds { nowDead.insert(node) } else { limbo = true }
        }
        for node in nowDead.subtracting(dead).sorted() {
            actions.append(.log("node \(node) is dead (no link for \((now &- downSince[node]!) / 1_000_000) ms)"))
        }
        if nowDead != dead { dirty = true }
        dead = nowDead
        // A node that may be coming back right away is not given up yet: nothing is moved meanwhile.
        guard !limbo else { return actions }
        guard dirty || lastSync.map({ now &- $0 >= resyncNanoseconds }) ?? true else { return actions }
        dirty = false
        lastSync = now
        actions.append(.reconcile)
        return actions
    }
}
