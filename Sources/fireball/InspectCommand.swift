// `fireball inspect MODULE.wasm`: what a module imports, exports and needs, and its translated code.
import ArgumentParser
import Core
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Validate a module and list its imports, exports and memory needs.")
    @Argument(help: "The .wasm module.") var module: String
    @Option(help: "Print the translated code of this function (index among the module's own functions).") var disassemble: Int?

    func run() throws {
        guard let data = FileManager.default.contents(atPath: module) else { throw ValidationError("cannot read \(module)") }
        let loaded: LoadedModule
        do { loaded = try LoadedModule.load([UInt8](data)) } catch {
            FileHandle.standardError.write(Data("\(module): \(error)\n".utf8))
            throw ExitCode(1)
        }
        let m = loaded.module
        if let index = disassemble {
            guard index >= 0 && index < m.bodies.count else { throw ValidationError("function \(index) out of 0..<\(m.bodies.count)") }
            print(loaded.disassemble(function: index))
            return
        }
        print("\(module): valid, \(data.count) bytes, \(m.bodies.count) functions, floating point: \(loaded.usesFloat ? "yes" : "no")")
        for item in m.imports { print("  import \(item.module).\(item.name): \(item.descriptor)") }
        for item in m.exports { print("  export \(item.name): \(item.kind) \(item.index)") }
        for memory in m.memories {
            print("  memory: \(memory.minimumBytes) bytes min, \(memory.maximumBytes.map { "\($0) max" } ?? "no maximum") (\(memory.bytesPerPage)-byte pages)")
        }
    }
}
