// Fireball's interpreter against wasm3, WAMR (fast interpreter) and WasmKit 0.4.2 on the shared
// benchmark modules, in one run: times, checksums, ratios to wasm3, geometric means, and the
// cost of safe-point checks (300 µs slices versus one unlimited run).
import ArgumentParser
import Core
import Foundation

struct WasmBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wasm", abstract: "Interpreter speed against the peer runtimes.")

    @Option(help: "Folder with the benchmark modules and their README.") var benchDirectory = "../shared/bench"
    @Option(help: "Folder with the peer runtimes (wasm3, iwasm, wasmkit-0.4.2).") var peersDirectory = "../shared/peers"
    @Option(help: "Runs per measurement; the median is reported.") var repetitions = 3
    @Option(help: "Only these benchmarks (comma-separated).") var only: String?
    @Flag(help: "Skip the peers (Fireball only).") var noPeers = false

    struct Program { let name: String; let argument: Int32; let checksum: Int64 }
    static let programs = [
        Program(name: "fib", argument: 5, checksum: 10891545),
        Program(name: "sieve", argument: 3, checksum: 730713342377485108),
        Program(name: "matmul", argument: 10, checksum: 3328223506537895695),
        Program(name: "sha256", argument: 1, checksum: 4490266013855788995),
        Program(name: "coremark", argument: 1000, checksum: 119616),
    ]

    struct Peer: Sendable { let name: String; let file: String; let arguments: @Sendable (String, Int32) -> [String]; let result: @Sendable (String) -> Int64? }
    static let peers = [
        Peer(name: "wasm3", file: "wasm3", arguments: { ["--func", "run", $0, String($1)] },
             result: { $0.components(separatedBy: "Result: ").last.flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }),
        Peer(name: "WAMR", file: "iwasm", arguments: { ["-f", "run", $0, String($1)] },
             result: { text in text.split(separator: ":").first.flatMap { UInt64($0.dropFirst(2), radix: 16) }.map { Int64(bitPattern: $0) } }),
        Peer(name: "WasmKit", file: "wasmkit-0.4.2", arguments: { ["run", $0, "run", "i32:\($1)"] },
             result: { text in text.components(separatedBy: "i64(").last?.split(separator: ")").first.flatMap { Int64($0) } }),
    ]

    func run() throws {
        let selected = Self.programs.filter { only == nil || only!.split(separator: ",").contains(Substring($0.name)) }
        var table: [String: [String: Double]] = [:]   // runtime → program → seconds
        var checks: [String] = []
        for program in selected {
            let path = "\(benchDirectory)/\(program.name).wasm"
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            let bytes = [UInt8](data)
            for (label, budget) in [("Fireball", SliceBudget.standard), ("Fireball/unsliced", SliceBudget.unlimited)] {
                var result: Int64 = 0
                let seconds = try median(repetitions) { result = try runFireball(bytes, program.argument, budget) }
                table[label, default: [:]][program.name] = seconds
                if result != program.checksum { checks.append("\(label) \(program.name): checksum \(result), expected \(program.checksum)") }
                progress("\(label) \(program.name) \(format(seconds))")
            }
            guard !noPeers else { continue }
            for peer in Self.peers {
                let executable = "\(peersDirectory)/\(peer.file)"
                guard FileManager.default.isExecutableFile(atPath: executable) else { progress("\(peer.name): not found at \(executable), skipped"); continue }
                var output = ""
                let seconds = try median(repetitions) { output = try runProcess(executable, peer.arguments(path, program.argument)) }
                table[peer.name, default: [:]][program.name] = seconds
                if peer.result(output) != program.checksum {
                    checks.append("\(peer.name) \(program.name): output '\(output.prefix(80))', expected \(program.checksum)")
                }
                progress("\(peer.name) \(program.name) \(format(seconds))")
            }
        }
        let runtimes = ["Fireball", "Fireball/unsliced"] + (noPeers ? [] : Self.peers.map(\.name)).filter { table[$0] != nil }
        print("\nseconds (median of \(repetitions)); ratio to wasm3 in brackets, lower is faster")
        print(pad("program", 10) + runtimes.map { pad($0, 20) }.joined())
        for program in selected {
            var line = pad(program.name, 10)
            for runtime in runtimes {
                let seconds = table[runtime]?[program.name]
                let base = table["wasm3"]?[program.name]
                let ratio = (seconds != nil && base != nil) ? " [\(format(seconds! / base!))]" : ""
                line += pad(seconds.map(format).map { $0 + ratio } ?? "-", 20)
            }
            print(line)
        }
        func geomean(_ runtime: String, over base: String) -> Double? {
            let pairs = selected.compactMap { p -> Double? in
                guard let a = table[runtime]?[p.name], let b = table[base]?[p.name] else { return nil }
                return a / b
            }
            guard pairs.count == selected.count, !pairs.isEmpty else { return nil }
            return exp(pairs.map(log).reduce(0, +) / Double(pairs.count))
        }
        print(pad("geomean", 10) + runtimes.map { pad(geomean($0, over: "wasm3").map { "[\(format($0))]" } ?? "-", 20) }.joined())
        if let overhead = geomean("Fireball", over: "Fireball/unsliced") {
            print("\nsafe-point cost: 300 µs slices vs unsliced, geomean \(format((overhead - 1) * 100))% (aim ≤ 10%)")
        }
        if let versusWasmKit = geomean("Fireball", over: "WasmKit") {
            print("Fireball / WasmKit 0.4.2 geomean time: \(format(versusWasmKit))× (aim ≤ 1.5×; below 1 is faster)")
        }
        print(checks.isEmpty ? "checksums: all \(selected.count * runtimes.count) match" : "CHECKSUM FAILURES:\n" + checks.joined(separator: "\n"))
        if !checks.isEmpty { throw ExitCode(1) }
    }

    /// Load, instantiate and run, as a whole-process run of a peer does.
    func runFireball(_ bytes: [UInt8], _ argument: Int32, _ budget: SliceBudget) throws -> Int64 {
        let store = Store()
        let instance = try store.instantiate(try LoadedModule.load(bytes))
        guard let function = instance.exportedFunction("run") else { throw ValidationError("no export 'run'") }
        let execution = try Execution(store: store, function: function, arguments: [.i32(UInt32(bitPattern: argument))])
        while true {
            switch execution.run(budget) {
            case .completed(let results):
                guard case .i64(let value)? = results.first else { throw ValidationError("run returned \(results)") }
                return Int64(bitPattern: value)
            case .yielded: continue
            case .trapped(let trap): throw ValidationError("\(trap)")
            case .suspended: throw ValidationError("suspended")
            }
        }
    }
}

func median(_ count: Int, _ body: () throws -> Void) throws -> Double {
    var samples: [Double] = []
    for _ in 0..<max(count, 1) {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return samples.sorted()[samples.count / 2]
}

func runProcess(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

func format(_ value: Double) -> String { String(format: value < 10 ? "%.3f" : "%.1f", value) }
func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(1, width - text.count)) }
func progress(_ text: String) { FileHandle.standardError.write(Data("  \(text)\n".utf8)) }
