// Builds test modules from text (wabt's wat2wasm) and from C (the toolchain's clang), in a temp folder.
import Foundation
import Testing
@testable import Core

enum WasmTestSupport {
    struct ToolError: Error, CustomStringConvertible { let description: String }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func which(_ tool: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(directory)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func run(_ tool: String, _ arguments: [String]) throws {
        guard let path = which(tool) else { throw ToolError(description: "\(tool) is not on PATH; run Deploy/setup.sh") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ToolError(description: "\(tool) failed: \(String(decoding: output, as: UTF8.self))")
        }
    }

    /// The binary of a module written in the text format.
    static func wat(_ text: String) throws -> [UInt8] {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("m.wat")
        let output = directory.appendingPathComponent("m.wasm")
        try text.write(to: source, atomically: true, encoding: .utf8)
        try run("wat2wasm", ["--enable-all", source.path, "-o", output.path])
        return [UInt8](try Data(contentsOf: output))
    }

    /// A C file built as the issue says guests are: `clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry`.
    static func clang(_ source: String, extraFlags: [String] = []) throws -> [UInt8] {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("guest.c")
        let output = directory.appendingPathComponent("guest.wasm")
        try source.write(to: file, atomically: true, encoding: .utf8)
        try run("clang", ["--target=wasm32", "-O2", "-nostdlib", "-Wl,--no-entry"] + extraFlags + [file.path, "-o", output.path])
        return [UInt8](try Data(contentsOf: output))
    }

    /// `<package>/` (this file is `<package>/Tests/CoreTests/WasmTestSupport.swift`).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The benchmark programs (Bench/programs/*.c) built by Bench/build.sh, the script `fireball-bench wasm`
    /// uses, into its folder `.build/bench` (git-ignored; rebuilt only when a source changed).
    static let benchModules: Result<URL, ToolError> = {
        do {
            let directory = packageRoot.appendingPathComponent(".build/bench")
            try run("bash", [packageRoot.appendingPathComponent("Bench/build.sh").path, directory.path])
            return .success(directory)
        } catch let error as ToolError {
            return .failure(error)
        } catch {
            return .failure(ToolError(description: "building Bench/programs: \(error)"))
        }
    }()

    /// The bytes of benchmark program `name` (e.g. `fib`) as Bench/build.sh builds it.
    static func benchModule(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: benchModules.get().appendingPathComponent("\(name).wasm")))
    }

    /// Prebuilt modules that are not built from this repository (CoreMark: Bench/README.md), if
    /// there are any: `FIREBALL_BENCH_MODULES`, else a sibling `../shared/bench`.
    static var externalBenchFolder: URL? {
        if let path = ProcessInfo.processInfo.environment["FIREBALL_BENCH_MODULES"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let sibling = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/bench")
        return FileManager.default.fileExists(atPath: sibling.path) ? sibling : nil
    }

    /// Loads and instantiates `bytes` in a fresh store.
    static func instantiate(_ bytes: [UInt8], options: LoadOptions = LoadOptions(), imports: [String: [String: ExternalValue]] = [:],
                            store: Store = Store()) throws -> (Store, Instance) {
        let instance = try store.instantiate(try LoadedModule.load(bytes, options: options), imports: imports)
        return (store, instance)
    }
}

extension Instance {
    func function(_ name: String) throws -> FunctionAddress {
        guard let address = exportedFunction(name) else { throw WasmTestSupport.ToolError(description: "no export \(name)") }
        return address
    }
}
