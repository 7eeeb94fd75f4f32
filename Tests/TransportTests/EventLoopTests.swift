// The loop: timers by deadline, per-iteration callbacks, posts from other threads, clean close.
import Foundation
import Testing
@testable import Transport

@Suite struct EventLoopTests {
    @Test func timersFireInDeadlineOrderAndNeverEarly() throws {
        let loop = try EventLoop()
        defer { loop.close() }
        var fired: [(Int, UInt64)] = []
        let start = loop.nowNanoseconds
        loop.schedule(atNanoseconds: start + 30_000_000) { fired.append((3, loop.nowNanoseconds)) }
        loop.schedule(atNanoseconds: start + 10_000_000) { fired.append((1, loop.nowNanoseconds)) }
        loop.schedule(atNanoseconds: start + 20_000_000) { fired.append((2, loop.nowNanoseconds)) }
        var ticks = 0
        let repeating = loop.schedule(afterNanoseconds: 5_000_000, repeatNanoseconds: 5_000_000) { ticks += 1 }
        try drive([loop], until: "timers") { fired.count == 3 && ticks >= 3 }
        #expect(fired.map(\.0) == [1, 2, 3])
        #expect(fired[0].1 >= start + 10_000_000)
        repeating.cancel()
        #expect(loop.openResourceCount == 0)
    }

    @Test func iterationCallbackRunsEachIterationAndBusyKeepsTheLoopPolling() throws {
        let loop = try EventLoop()
        defer { loop.close() }
        var calls = 0
        var work = 100
        let id = loop.addIterationCallback { calls += 1; if work > 0 { work -= 1 }; return work > 0 }
        // A long timer: if the busy callback did not keep the loop polling, runOnce would block on it.
        let far = loop.schedule(afterNanoseconds: 60_000_000_000) {}
        let started = loop.nowNanoseconds
        while work > 0 { loop.runOnce() }
        #expect(calls >= 100)
        #expect(loop.nowNanoseconds - started < 5_000_000_000)
        loop.removeIterationCallback(id)
        far.cancel()
    }

    @Test func postFromAnotherThreadRunsOnTheLoopAndStopEndsRun() throws {
        let loop = try EventLoop()
        defer { loop.close() }
        let remote = loop.remote
        nonisolated(unsafe) var received: [Int] = []   // only touched on the loop thread (this one)
        var wakes = 0
        loop.setWakeHandler { wakes += 1 }
        let thread = Thread {
            for i in 0..<100 { remote.post { received.append(i) } }
            remote.stop()
        }
        thread.start()
        loop.run()
        // stop() may overtake posts only if it was sent before them, which it was not.
        #expect(received == Array(0..<100))
        #expect(wakes >= 1)
    }

    @Test func closeEndsEveryHandleAndRemoteRefusesAfterwards() throws {
        let loop = try EventLoop()
        let remote = loop.remote
        loop.schedule(afterNanoseconds: 1_000_000_000) {}
        let listener = try TCPListener(loop: loop, address: try SocketAddress(host: "127.0.0.1", port: 0))
        #expect(listener.port != 0)
        #expect(loop.openResourceCount == 2)
        loop.close()
        #expect(!remote.post {})
        #expect(!remote.wake())
    }
}
