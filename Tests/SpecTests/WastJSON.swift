// The command list that wabt's wast2json writes for one .wast script, and the conversion itself.
// Decoded with JSONDecoder; unknown keys are ignored, unknown command types are reported by the runner.
import Foundation

/// One converted script: `FILE.json` plus the `.wasm` files its commands name, all read into memory.
struct WastScript: Decodable, Sendable {
    let commands: [WastCommand]
}

/// One command of a script; which fields are present depends on `type`.
struct WastCommand: Decodable, Sendable {
    /// `module`, `register`, `action`, `assert_return`, `assert_trap`, `assert_exhaustion`,
    /// `assert_invalid`, `assert_malformed`, `assert_unlinkable`, `assert_uninstantiable`.
    let type: String
    /// Line in the `.wast` source.
    let line: Int
    /// The module file (`module` and `assert_*` on modules), relative to the JSON file.
    let filename: String?
    /// `module`: the `$name` later commands use; `register`: the module to register (nil for the current one).
    let name: String?
    /// `register`: the import module name the exports go under.
    let `as`: String?
    /// `binary` or `text` for module assertions; text modules are not convertible to binaries.
    let moduleType: String?
    let action: WastAction?
    let expected: [WastValue]?
    /// Trap or error wording the reference interpreter gives.
    let text: String?

    enum CodingKeys: String, CodingKey {
        case type, line, filename, name, `as`, action, expected, text
        case moduleType = "module_type"
    }
}

/// An `invoke` of an exported function or a `get` of an exported global.
struct WastAction: Decodable, Sendable {
    /// `invoke` or `get`.
    let type: String
    /// The named module (`$M`); nil for the current one.
    let module: String?
    let field: String
    let args: [WastValue]?
}

/// A typed value as wast2json spells it: integers and float bit patterns as unsigned decimal
/// strings, `nan:canonical` / `nan:arithmetic` for NaN patterns, `null` or a number for references.
struct WastValue: Decodable, Sendable {
    let type: String
    /// nil for reference results whose value the script leaves open (and for v128 lanes, unused here).
    let value: String?

    enum CodingKeys: String, CodingKey { case type, value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        // v128 values are lane arrays; they only occur in the simd_ scripts, which this runner leaves out.
        value = try? container.decodeIfPresent(String.self, forKey: .value)
    }
}

/// A script after conversion: its commands and the bytes of every module file it refers to.
struct ConvertedScript: Sendable {
    /// The `.wast` file name without extension, e.g. `i32`.
    let name: String
    let commands: [WastCommand]
    let moduleFiles: [String: [UInt8]]
}

/// Why the suite could not be converted: the message is what the test prints.
struct SpecSetupError: Error, Sendable, CustomStringConvertible {
    let description: String
}

/// Finds the suite, runs wast2json on each non-SIMD script into a temporary directory, and reads the results.
enum WastConverter {
    /// `wast2json` on PATH, else /usr/bin/wast2json.
    static func findWast2json() -> URL? {
        let fileManager = FileManager.default
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent("wast2json")
            if fileManager.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// Converts every `.wast` in `suiteDirectory` whose name does not start with `simd_`, in name order.
    static func convertSuite(from suiteDirectory: URL) throws(SpecSetupError) -> [ConvertedScript] {
        let fileManager = FileManager.default
        guard let tool = findWast2json() else {
            throw SpecSetupError(description: "wast2json (from wabt) is not installed: run Deploy/setup.sh, which installs wabt")
        }
        let sources: [String]
        do {
            sources = try fileManager.contentsOfDirectory(atPath: suiteDirectory.path)
                .filter { $0.hasSuffix(".wast") && !$0.hasPrefix("simd_") }
                .sorted()
        } catch {
            throw SpecSetupError(description: "cannot read the spec suite at \(suiteDirectory.path): \(error)")
        }
        guard !sources.isEmpty else {
            throw SpecSetupError(description: "no .wast files in \(suiteDirectory.path)")
        }
        let output = fileManager.temporaryDirectory.appendingPathComponent("fireball-spec-\(UUID().uuidString)")
        do {
            try fileManager.createDirectory(at: output, withIntermediateDirectories: true)
        } catch {
            throw SpecSetupError(description: "cannot create \(output.path): \(error)")
        }
        defer { try? fileManager.removeItem(at: output) }

        var scripts: [ConvertedScript] = []
        for source in sources {
            scripts.append(try convert(suiteDirectory.appendingPathComponent(source), into: output, using: tool))
        }
        return scripts
    }

    /// Converts one `.wast` file into a subdirectory of `output` and reads the result into memory.
    static func convert(_ source: URL, into output: URL, using tool: URL) throws(SpecSetupError) -> ConvertedScript {
        let fileManager = FileManager.default
        let name = source.deletingPathExtension().lastPathComponent
        let directory = output.appendingPathComponent(name)
        let json = directory.appendingPathComponent("\(name).json")
        do {
            try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
            try run(tool, [source.path, "-o", json.path])
            let script = try JSONDecoder().decode(WastScript.self, from: Data(contentsOf: json))
            var modules: [String: [UInt8]] = [:]
            for command in script.commands {
                guard let file = command.filename, file.hasSuffix(".wasm"), modules[file] == nil else { continue }
                modules[file] = Array(try Data(contentsOf: directory.appendingPathComponent(file)))
            }
            return ConvertedScript(name: name, commands: script.commands, moduleFiles: modules)
        } catch let error as SpecSetupError {
            throw error
        } catch {
            throw SpecSetupError(description: "converting \(source.lastPathComponent): \(error)")
        }
    }

    private static func run(_ tool: URL, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SpecSetupError(description: "\(tool.path) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus): "
                                 + (String(data: message, encoding: .utf8) ?? ""))
        }
    }
}
