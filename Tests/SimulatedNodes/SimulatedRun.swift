// Kernels and their routers on one manual clock, joined by a wire the caller keeps: run them and
// carry frames until nothing moves, then jump the clock to the next deadline. The in-memory
// multi-node tests of every target (router, greenhouse, planner-vs-kernel) drive their nodes with it,
// so each run replays exactly.
import Core

public enum SimulatedRun {
    /// Runs until the clock reaches `end` (it ends there) or nothing is left to do. Each node's `tick`
    /// ticks its router and puts the frames on the caller's wire; `deliver` hands one frame of the
    /// wire to its node's router (a test may lose or cut it there) and returns false once the wire is empty.
    public static func run(_ nodes: [(kernel: Kernel, router: Router, tick: () -> Void)], clock: ManualClock, until end: UInt64,
                           deliver: () throws -> Bool) throws {
        while true {
            var moved = true
            while moved {
                moved = false
                for node in nodes {
                    if case .sliceLimit = node.kernel.runUntilIdle(maxSlices: 1000) { moved = true }
                    node.tick()
                }
                while try deliver() { moved = true }
            }
            var deadlines: [UInt64] = []
            var runnable = false
            for node in nodes {
                switch node.kernel.runUntilIdle(maxSlices: 0) {   // fires due timers; runs nothing
                case .sliceLimit: runnable = true
                case .waiting(let deadline?): deadlines.append(deadline)
                default: break
                }
                if let deadline = node.router.nextDeadline { deadlines.append(deadline) }
            }
            if runnable { continue }
            guard let next = deadlines.min(), next <= end else {
                clock.nanoseconds = max(clock.nanoseconds, end)
                return
            }
            clock.nanoseconds = max(clock.nanoseconds + 1, next)
        }
    }
}
