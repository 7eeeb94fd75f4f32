// `fireball-bench`: Fireball's benchmarks, each a subcommand that prints figures (build with -c release).
import ArgumentParser

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fireball-bench",
        abstract: "Fireball benchmarks; run with `swift run -c release fireball-bench NAME`.",
        subcommands: [MessageBench.self, WasmBench.self, OpsBench.self, KernelBench.self, InterruptBench.self, TransportBench.self, PlacementBench.self,
                      FuzzBench.self, SimulateCommand.self]
    )
}

/// Runs `body` in rounds until `seconds` have passed; returns operations per second.
func measure(seconds: Double, batch: Int, _ body: () -> Void) -> (perSecond: Double, operations: Int) {
    let clock = ContinuousClock()
    let start = clock.now
    var operations = 0
    var elapsed = Duration.zero
    repeat {
        body()
        operations += batch
        elapsed = clock.now - start
    } while elapsed < .seconds(seconds)
    let secondsElapsed = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    return (Double(operations) / secondsElapsed, operations)
}
