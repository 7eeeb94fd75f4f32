// The controller's decisions on a made-up timeline: when it reconciles, when a node is dead, and
// that nothing moves while a node may still come back.
import Orchestrator
import Testing

@Suite struct ControllerWatchTests {
    static let ms: UInt64 = 1_000_000
    static let nodes = ["a", "b", "c"]

    @Test func itReconcilesAtFirstThenOnlyOnChangeOrResync() {
        var watch = ControllerWatch()
        #expect(watch.step(now: 0, changes: [], downSince: [:], nodes: Self.nodes) == [.reconcile])
        #expect(watch.step(now: 50 * Self.ms, changes: [], downSince: [:], nodes: Self.nodes) == [])
        #expect(watch.step(now: 2_999 * Self.ms, changes: [], downSince: [:], nodes: Self.nodes) == [])
        #expect(watch.step(now: 3_000 * Self.ms, changes: [], downSince: [:], nodes: Self.nodes) == [.reconcile], "the re-check")
        #expect(watch.step(now: 3_050 * Self.ms, changes: [], downSince: [:], nodes: Self.nodes) == [])
        // A link that comes up (a node that restarted) is a change: checked at once.
        #expect(watch.step(now: 3_100 * Self.ms, changes: [LinkChange(node: "c", up: true)], downSince: [:], nodes: Self.nodes)
                == [.log("link to node c up"), .reconcile])
    }

    @Test func aNodeIsDeadOnlyAfterItsTimeAndNothingMovesMeanwhile() {
        var watch = ControllerWatch()
        watch.deadAfterNanoseconds = 1_000 * Self.ms
        _ = watch.step(now: 0, changes: [], downSince: [:], nodes: Self.nodes)
        let down = ["b": 100 * Self.ms]
        // In limbo: logged, but no reconcile, not even the periodic one.
        #expect(watch.step(now: 100 * Self.ms, changes: [LinkChange(node: "b", up: false)], downSince: down, nodes: Self.nodes)
                == [.log("link to node b down")])
        #expect(watch.step(now: 1_099 * Self.ms, changes: [], downSince: down, nodes: Self.nodes) == [])
        #expect(watch.dead.isEmpty)
        #expect(watch.step(now: 1_100 * Self.ms, changes: [], downSince: down, nodes: Self.nodes)
                == [.log("node b is dead (no link for 1000 ms)"), .reconcile])
        #expect(watch.dead == ["b"])
        #expect(watch.step(now: 1_150 * Self.ms, changes: [], downSince: down, nodes: Self.nodes) == [], "said once")
        // A node outside the inventory is not the watch's business.
        #expect(watch.step(now: 1_200 * Self.ms, changes: [], downSince: down.merging(["x": 0]) { $1 }, nodes: Self.nodes) == [])
        // b returns: alive again, and checked at once (its copies may have moved meanwhile).
        #expect(watch.step(now: 5_000 * Self.ms, changes: [LinkChange(node: "b", up: true)], downSince: [:], nodes: Self.nodes)
                == [.log("link to node b up"), .reconcile])
        #expect(watch.dead.isEmpty)
    }

    @Test func whileOneNodeIsInLimboAnotherDeadNodeWaits() {
        var watch = ControllerWatch()
        _ = watch.step(now: 0, changes: [], downSince: [:], nodes: Self.nodes)
        // a has been gone long; c just dropped: a's replicas wait until c is decided (it may be back).
        let down = ["a": 0, "c": 4_500 * Self.ms]
        #expect(watch.step(now: 5_000 * Self.ms, changes: [], downSince: down, nodes: Self.nodes) == [.log("node a is dead (no link for 5000 ms)")])
        #expect(watch.step(now: 5_600 * Self.ms, changes: [], downSince: down, nodes: Self.nodes)
                == [.log("node c is dead (no link for 1100 ms)"), .reconcile])
        #expect(watch.dead == ["a", "c"])
    }
}
