// Fireball's interpreter against wasm3, WAMR (fast interpreter) and WasmKit 0.4.2 on the benchmark
// programs of Bench/, in one run: times, checksums, ratios to wasm3, geometric means, and the
// cost of safe-point checks (300 µs slices versus one unlimited run). The peers are optional.
// Two sets: the five of the issue's table (`five`), and more real C programs (`more`) that no
// tuning looks at first, so that a speed-up that only fits the five shows.
import ArgumentParser
import Core
import Foundation

struct WasmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wasm", abstract: "Interpreter speed against the peer runtimes (run from the repository root).",
        discussion: """
            The programs are built from Bench/programs by Bench/build.sh into .build/bench. CoreMark is \
            not built here (Bench/README.md): it runs when a coremark.wasm is in --external-modules \
            ($FIREBALL_BENCH_MODULES, else ../shared/bench). The peers run when found in --peers-directory \
            ($FIREBALL_PEERS, else ../shared/peers); the run says which ran and which were skipped.
            """)

    @Option(help: "Folder with prebuilt modules to run instead of building Bench/programs.") var modulesDirectory: String?
    @Option(help: "Folder with modules not built from this repository (coremark.wasm).") var externalModules: String?
    @Option(help: "Folder with the peer runtimes (wasm3, iwasm, wasmkit-0.4.2).") var peersDirectory: String?
    @Option(help: "Runs per measurement; the median is reported.") var repetitions = 3
    @Option(help: "Which programs: five (the issue's table), more (other real C programs) or all.") var set = "all"
    @Option(help: "Only these benchmarks (comma-separated).") var only: String?
    @Flag(help: "Skip the peers (Fireball only).") var noPeers = false

    /// `builtHere`: Bench/programs has its source; otherwise the module comes from the external folder.
    struct Program { let name: String; let argument: Int32; let checksum: Int64; let builtHere: Bool; var set = "five" }
    static let programs = [
        Program(name: "fib", argument: 5, checksum: 10891545, builtHere: true),
        Program(name: "sieve", argument: 3, checksum: 730713342377485108, builtHere: true),
        Program(name: "matmul", argument: 10, checksum: 3328223506537895695, builtHere: true),
        Program(name: "sha256", argument: 1, checksum: 4490266013855788995, builtHere: true),
        Program(name: "coremark", argument: 1000, checksum: 119616, builtHere: false),
        // Checksums from the same sources built natively (Bench/README.md).
        Program(name: "crc32", argument: 3, checksum: 3940832987530, builtHere: true, set: "more"),
        Program(name: "quicksort", argument: 1, checksum: 3619232921613522485, builtHere: true, set: "more"),
        Program(name: "lz", argument: 3, checksum: 703875205281143588, builtHere: true, set: "more"),
        Program(name: "nbody", argument: 4, checksum: 4595260229811533975, builtHere: true, set: "more"),
        Program(name: "bytecode", argument: 2, checksum: 41064, builtHere: true, set: "more"),
        Program(name: "mandelbrot", argument: 1, checksum: 8753559228, builtHere: true, set: "more"),
    ]
    static let sets = ["five", "more", "all"]

    struct Peer: Sendable { let name: String; let file: String; let arguments: @Sendable (String, Int32) -> [String]; let result: @Sendable (String) -> Int64? }
    static let peers = [
        Peer(name: "wasm3", file: "wasm3", arguments: { ["--func", "run", $0, String($1)] },
             result: { $0.components(separatedBy: "Result: ").last.flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }),
        Peer(name: "WAMR", file: "iwasm", arguments: { ["-f", "run", $0, String($1)] },
             result: { text in text.split(separator: ":").first.flatMap { UInt64($0.dropFirst(2), radix: 16) }.map { Int64(bitPattern: $0) } }),
        Peer(name: "WasmKit", file: "wasmkit-0.4.2", arguments: { ["run", $0, "run", "i32:\($1)"] },
             result: { text in text.components(separatedBy: "i64(").last?.split(separator: ")").first.flatMap { Int64($0) } }),
    ]

    func validate() throws {
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, not \(repetitions)") }
        guard Self.sets.contains(set) else { throw ValidationError("--set: '\(set)' is none of \(Self.sets.joined(separator: ", "))") }
        let known = Self.programs.map(\.name)
        for name in only?.split(separator: ",").map(String.init) ?? [] where !known.contains(name) {
            throw ValidationError("--only: no benchmark '\(name)' (there are \(known.joined(separator: ", ")))")
        }
    }

    /// A folder given by flag, else by environment variable, else the sibling `../shared/NAME` if it
    /// is there; with the rule that found it, or nil and every place looked at.
    static func optionalFolder(_ flag: String?, _ variable: String, sibling: String) -> (path: String?, looked: String) {
        if let flag { return (flag, "given by flag") }
        if let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty { return (value, "from \(variable)") }
        let path = "../shared/\(sibling)"
        if FileManager.default.fileExists(atPath: path) { return (path, "sibling folder") }
        return (nil, "\(variable) is not set and there is no \(path)")
    }

    /// Builds Bench/programs into .build/bench with Bench/build.sh (up-to-date modules are kept).
    static func buildPrograms(_ names: [String]) throws -> String {
        let script = "Bench/build.sh", output = ".build/bench"
        guard FileManager.default.isExecutableFile(atPath: script) else {
            throw ValidationError("\(script) not found: run from the repository root, or pass --modules-directory")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = [output] + names
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("\(script) failed (exit \(process.terminationStatus))") }
        return output
    }

    func run() throws {
        let named = only.map { $0.split(separator: ",").map(String.init) }
        let wanted = Self.programs.filter { program in named.map { $0.contains(program.name) } ?? (set == "all" || set == program.set) }

        // Where each module comes from, and why a program or a peer does not run.
        var paths: [String: String] = [:]
        var skipped: [String] = []
        let built = wanted.filter(\.builtHere).map(\.name)
        if let modulesDirectory {
            for program in wanted { paths[program.name] = "\(modulesDirectory)/\(program.name).wasm" }
            print("modules: \(wanted.map(\.name).joined(separator: ", ")) from \(modulesDirectory)")
        } else {
            if !built.isEmpty {
                let output = try Self.buildPrograms(built)
                for name in built { paths[name] = "\(output)/\(name).wasm" }
                print("modules: \(built.joined(separator: ", ")) built from Bench/programs into \(output)")
            }
            let external = Self.optionalFolder(externalModules, "FIREBALL_BENCH_MODULES", sibling: "bench")
            for program in wanted where !program.builtHere {
                if let folder = external.path, FileManager.default.fileExists(atPath: "\(folder)/\(program.name).wasm") {
                    paths[program.name] = "\(folder)/\(program.name).wasm"
                    print("modules: \(program.name) from \(folder) (\(external.looked))")
                } else {
                    let place = external.path.map { "no \(program.name).wasm in \($0)" } ?? external.looked
                    skipped.append("\(program.name): not built from this repository (Bench/README.md) and \(place); "
                                   + "set FIREBALL_BENCH_MODULES or --external-modules to a folder with \(program.name).wasm")
                }
            }
        }
        let selected = wanted.filter { paths[$0.name] != nil }
        guard !selected.isEmpty else { throw ValidationError("nothing to run:\n" + skipped.joined(separator: "\n")) }

        var peersToRun: [(peer: Peer, executable: String)] = []
        if noPeers {
            skipped.append("peers: --no-peers")
        } else {
            let folder = Self.optionalFolder(peersDirectory, "FIREBALL_PEERS", sibling: "peers")
            for peer in Self.peers {
                guard let path = folder.path else {
                    skipped.append("\(peer.name): \(folder.looked); set FIREBALL_PEERS or --peers-directory to a folder with \(peer.file)")
                    continue
                }
                let executable = "\(path)/\(peer.file)"
                if FileManager.default.isExecutableFile(atPath: executable) {
                    peersToRun.append((peer, executable))
                } else {
                    skipped.append("\(peer.name): no executable \(executable) (\(folder.looked))")
                }
            }
            if !peersToRun.isEmpty { print("peers: " + peersToRun.map { "\($0.peer.name) (\($0.executable))" }.joined(separator: ", ")) }
        }
        for line in skipped { print("skipped \(line)") }

        var table: [String: [String: Double]] = [:]   // runtime → program → seconds
        var checks: [String] = []
        for program in selected {
            let path = paths[program.name]!
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            let bytes = [UInt8](data)
            for (label, budget) in [("Fireball", SliceBudget.standard), ("Fireball/unsliced", SliceBudget.unlimited)] {
                var result: Int64 = 0
                let seconds = try median(repetitions) { result = try Self.runFireball(bytes, program.argument, budget) }
                table[label, default: [:]][program.name] = seconds
                if result != program.checksum { checks.append("\(label) \(program.name): checksum \(result), expected \(program.checksum)") }
                progress("\(label) \(program.name) \(format(seconds))")
            }
            for (peer, executable) in peersToRun {
                var output = ""
                let seconds = try median(repetitions) { output = try runProcess(executable, peer.arguments(path, program.argument)) }
                table[peer.name, default: [:]][program.name] = seconds
                if peer.result(output) != program.checksum {
                    checks.append("\(peer.name) \(program.name): output '\(output.prefix(80))', expected \(program.checksum)")
                }
                progress("\(peer.name) \(program.name) \(format(seconds))")
            }
        }
        let runtimes = ["Fireball", "Fireball/unsliced"] + peersToRun.map(\.peer.name).filter { table[$0] != nil }
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
        func geomean(_ runtime: String, over base: String, of programs: [Program]) -> Double? {
            let pairs = programs.compactMap { p -> Double? in
                guard let a = table[runtime]?[p.name], let b = table[base]?[p.name] else { return nil }
                return a / b
            }
            guard pairs.count == programs.count, !pairs.isEmpty else { return nil }
            return exp(pairs.map(log).reduce(0, +) / Double(pairs.count))
        }
        // A geomean per set that ran (the five of the issue's table, the others), and of all.
        let setsRun = Set(selected.map { $0.set })
        var groups: [(name: String, programs: [Program])] = []
        for name in ["five", "more"] where setsRun.contains(name) { groups.append((name, selected.filter { $0.set == name })) }
        if setsRun.count > 1 { groups.append(("all", selected)) }
        for (name, programs) in groups {
            var line = pad("gm \(name)", 10)
            for runtime in runtimes { line += pad(geomean(runtime, over: "wasm3", of: programs).map { "[\(format($0))]" } ?? "-", 20) }
            print(line)
        }
        print("")
        for (name, programs) in groups {
            let label = "\(name) (\(programs.map { $0.name }.joined(separator: ", ")))"
            if let overhead = geomean("Fireball", over: "Fireball/unsliced", of: programs) {
                print("safe-point cost, \(label): 300 µs slices vs unsliced, geomean \(format((overhead - 1) * 100))% (aim ≤ 5%)")
            }
            if let versusWasmKit = geomean("Fireball", over: "WasmKit", of: programs) {
                print("Fireball / WasmKit 0.4.2 geomean time, \(label): \(format(versusWasmKit))× (aim ≤ 0.85×; below 1 is faster)")
            }
        }
        // Said again under the table, which the progress lines push the first saying away from.
        print("ran: \(runtimes.joined(separator: ", ")) on \(selected.map { $0.name }.joined(separator: ", "))")
        for line in skipped { print("skipped \(line)") }
        print(checks.isEmpty ? "checksums: all \(selected.count * runtimes.count) match" : "CHECKSUM FAILURES:\n" + checks.joined(separator: "\n"))
        if !checks.isEmpty { throw ExitCode(1) }
    }

    /// Load, instantiate and run, as a whole-process run of a peer does.
    static func runFireball(_ bytes: [UInt8], _ argument: Int32, _ budget: SliceBudget) throws -> Int64 {
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
