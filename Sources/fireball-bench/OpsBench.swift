// `fireball-bench ops`: which ops and op pairs the interpreter dispatches, counted over whole runs of
// the benchmark programs, per program and over all of them with each program weighing the same
// (a long program does not drown the others). Needs a build with FIREBALL_OP_PROFILE=1.
import ArgumentParser
import Core
import Foundation

struct OpsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops", abstract: "Dynamic op and op-pair counts over the benchmark programs (a profiling build).",
        discussion: """
            Counting is compiled in only when the package is built with FIREBALL_OP_PROFILE=1, into a \
            build folder of its own so that the normal build stays as it is:
              FIREBALL_OP_PROFILE=1 swift build -c release --scratch-path .build/op-profile --product fireball-bench
              .build/op-profile/release/fireball-bench ops
            """)

    @Option(help: "Which programs: five, more or all (as for `wasm`).") var set = "all"
    @Option(help: "Only these programs (comma-separated).") var only: String?
    @Option(help: "Rows per table.") var top = 20
    @Option(help: "Folder with modules not built from this repository (coremark.wasm).") var externalModules: String?

    func validate() throws {
        guard WasmBench.sets.contains(set) else { throw ValidationError("--set: '\(set)' is none of \(WasmBench.sets.joined(separator: ", "))") }
        guard (1...1000).contains(top) else { throw ValidationError("--top must be 1…1000, not \(top)") }
    }

    func run() throws {
        guard OpProfile.isCompiledIn else {
            throw ValidationError("this build does not count ops; build one that does:\n"
                                  + "  FIREBALL_OP_PROFILE=1 swift build -c release --scratch-path .build/op-profile --product fireball-bench\n"
                                  + "  .build/op-profile/release/fireball-bench ops")
        }
        let named = only.map { $0.split(separator: ",").map(String.init) }
        let wanted = WasmBench.programs.filter { program in named.map { $0.contains(program.name) } ?? (set == "all" || set == program.set) }
        let built = try WasmBench.buildPrograms(wanted.filter(\.builtHere).map(\.name))
        let external = WasmBench.optionalFolder(externalModules, "FIREBALL_BENCH_MODULES", sibling: "bench")
        var shares: [String: Double] = [:]   // pair → sum over programs of its share of that program's dispatches
        var opShares: [String: Double] = [:]
        var profiled: [String] = []
        for program in wanted {
            let path = program.builtHere ? "\(built)/\(program.name).wasm" : external.path.map { "\($0)/\(program.name).wasm" } ?? ""
            guard let data = FileManager.default.contents(atPath: path) else {
                print("skipped \(program.name): no module at '\(path)' (\(external.looked))")
                continue
            }
            OpProfile.reset()
            let result = try WasmBench.runFireball([UInt8](data), program.argument, .unlimited)
            guard result == program.checksum else { throw ValidationError("\(program.name): checksum \(result), expected \(program.checksum)") }
            let (ops, pairs) = OpProfile.counts()
            let total = Double(ops.reduce(0) { $0 + $1.count })
            print("\n\(program.name): \(Int(total)) ops dispatched")
            print("  ops:   " + ops.prefix(top).map { "\($0.op) \(percent(Double($0.count) / total))" }.joined(separator: ", "))
            print("  pairs: " + pairs.prefix(top).map { "\($0.first)→\($0.second) \(percent(Double($0.count) / total))" }.joined(separator: ", "))
            for op in ops { opShares[op.op, default: 0] += Double(op.count) / total }
            for pair in pairs { shares["\(pair.first)→\(pair.second)", default: 0] += Double(pair.count) / total }
            profiled.append(program.name)
        }
        guard !profiled.isEmpty else { throw ValidationError("no program ran") }
        let count = Double(profiled.count)
        print("\nover \(profiled.joined(separator: ", ")) (each program weighs the same):")
        print("  ops:")
        for (op, share) in opShares.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }).prefix(top) {
            print("    \(pad(op, 24)) \(percent(share / count))")
        }
        print("  pairs:")
        for (pair, share) in shares.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }).prefix(top) {
            print("    \(pad(pair, 40)) \(percent(share / count))")
        }
    }

    private func percent(_ fraction: Double) -> String { String(format: "%.1f%%", fraction * 100) }
}
