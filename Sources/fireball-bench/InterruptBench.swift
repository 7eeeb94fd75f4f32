// Interrupt latency: a device thread raises the guest's interrupt line at random moments while a
// compute-bound guest runs in 300 µs slices; latency is raise → the handler's call injected (its
// first instruction runs next). Prints p50/p99/max; the aim is p99 within one slice.
import ArgumentParser
import Core
import Foundation
import Synchronization

struct InterruptBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "interrupts", abstract: "Interrupt latency with a compute-bound guest.")
    @Option(help: "Interrupts to raise.") var count = 2_000

    static let guest = """
        (module
          (global $handled (export "handled") (mut i32) (i32.const 0))
          (func (export "interrupt_handler") (param i32) (global.set $handled (i32.add (global.get $handled) (i32.const 1))))
          (func (export "spin") (param $n i64) (result i64) (local $i i64) (local $x i64)
            (loop $next
              (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005)) (i64.const 1442695040888963407)))
              (local.set $i (i64.add (local.get $i) (i64.const 1)))
              (br_if $next (i64.lt_u (local.get $i) (local.get $n))))
            (local.get $x)))
        """

    final class Device: Sendable {
        let raisedAt = Atomic<UInt64>(0)
        let line: InterruptLine
        init(line: InterruptLine) { self.line = line }
    }

    func run() throws {
        let store = Store()
        let instance = try store.instantiate(try wat(Self.guest))
        guard let spin = instance.exportedFunction("spin"), let handler = instance.exportedFunction("interrupt_handler") else {
            throw ValidationError("guest exports missing")
        }
        let execution = try Execution(store: store, function: spin, arguments: [.i64(UInt64.max / 2)])
        let device = Device(line: execution.interruptLine)
        let total = count
        let done = Atomic<Bool>(false)
        // The "ISR": sets the two flags (when, and pending) at random intervals of 0.2–1.5 ms.
        let thread = Thread {
            var random = SystemRandomNumberGenerator()
            for _ in 0..<total {
                usleep(UInt32.random(in: 200...1500, using: &random))
                device.raisedAt.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
                device.line.raise()
            }
            done.store(true, ordering: .releasing)
        }
        thread.start()
        var latencies: [Double] = []
        var slices = 0
        // Raises that land before the guest took the previous one coalesce (one flag, as on
        // hardware); run until the device is done and nothing is pending.
        while !done.load(ordering: .acquiring) || execution.interruptLine.isPending {
            switch execution.run(.standard) {
            case .yielded(.interrupt):
                let now = DispatchTime.now().uptimeNanoseconds
                latencies.append(Double(now &- device.raisedAt.load(ordering: .relaxed)) / 1000)
                try execution.injectCall(handler, arguments: [.i32(1)])
            case .yielded(.sliceEnded):
                slices += 1
            default:
                throw ValidationError("the spinning guest stopped")
            }
        }
        latencies.sort()
        guard !latencies.isEmpty else { throw ValidationError("no interrupt was taken") }
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        print("interrupt latency over \(latencies.count) of \(total) raises (the rest coalesced), compute-bound guest, \(slices) slices of 300 µs:")
        print("p50 \(format(percentile(0.5))) µs   p99 \(format(percentile(0.99))) µs   max \(format(latencies.last!)) µs   (aim: p99 within one 300 µs slice)")
    }
}
