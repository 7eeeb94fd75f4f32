// `fireball inspect MODULE.wasm`: what a module imports, exports and needs, with signatures, and its
// translated code.
import ArgumentParser
import Core
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Validate a module and list its imports, exports, functions and memory needs, with signatures.",
        discussion: """
            Examples:
              fireball inspect Deploy/examples/hello.wasm
              fireball inspect hello.wasm -o json
              fireball inspect hello.wasm --disassemble 0
            """)
    @Argument(help: "The .wasm module.") var module: String
    @Option(help: "Print the translated code of this function (index among the module's own functions).") var disassemble: Int?
    @OptionGroup var output: OutputOption

    struct Output: Encodable {
        struct Item: Encodable { let name: String; let kind: String; let type: String; let index: UInt32? }
        struct Function: Encodable { let index: UInt32; let name: String?; let type: String; let exportedAs: [String] }
        let module: String
        let bytes: Int
        let floatingPoint: Bool
        let imports: [Item]
        let exports: [Item]
        let functions: [Function]
        let memories: [String]
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: module) else { throw ValidationError("cannot read \(module)") }
        let loaded: LoadedModule
        do { loaded = try LoadedModule.load([UInt8](data)) } catch {
            note("\(module): \(error)")
            throw ExitCode(1)
        }
        let m = loaded.module
        if let index = disassemble {
            guard index >= 0 && index < m.bodies.count else { throw ValidationError("function \(index) out of 0..<\(m.bodies.count)") }
            say(loaded.disassemble(function: index))
            return
        }
        // The function index space: imports first, then the module's own functions.
        let functionTypes = m.importedFunctionTypes + m.functionTypeIndices
        func signature(ofType index: UInt32) -> String { Int(index) < m.types.count ? "func \(m.types[Int(index)])" : "func (type \(index)?)" }
        func signature(ofFunction index: UInt32) -> String { Int(index) < functionTypes.count ? signature(ofType: functionTypes[Int(index)]) : "func \(index)?" }
        func describe(_ descriptor: Import.Descriptor) -> (String, String) {
            switch descriptor {
            case .function(let type): return ("func", signature(ofType: type))
            case .table(let table): return ("table", "table \(table)")
            case .memory(let memory): return ("memory", "memory \(memory.minimumBytes) bytes min, \(memory.maximumBytes.map { "\($0) max" } ?? "no maximum")")
            case .global(let global): return ("global", "global \(global)")
            }
        }
        func describe(_ export: Export) -> String {
            switch export.kind {
            case .function: return signature(ofFunction: export.index)
            default: return "\(export.kind) \(export.index)"
            }
        }
        let importedCount = UInt32(m.importedFunctionTypes.count)
        let exportNames = Dictionary(grouping: m.exports.filter { $0.kind == .function }, by: \.index).mapValues { $0.map(\.name) }
        let info = Output(
            module: module, bytes: data.count, floatingPoint: loaded.usesFloat,
            imports: m.imports.map { item in let (kind, type) = describe(item.descriptor); return .init(name: "\(item.module).\(item.name)", kind: kind, type: type, index: nil) },
            exports: m.exports.map { .init(name: $0.name, kind: "\($0.kind)", type: describe($0), index: $0.index) },
            functions: m.functionTypeIndices.indices.map { offset in
                let index = importedCount + UInt32(offset)
                return .init(index: index, name: m.functionNames[index], type: signature(ofType: m.functionTypeIndices[offset]), exportedAs: exportNames[index] ?? [])
            },
            memories: m.memories.map { "\($0.minimumBytes) bytes min, \($0.maximumBytes.map { "\($0) max" } ?? "no maximum") (\($0.bytesPerPage)-byte pages)" })
        if output.structured { return try output.emit(info) }
        say("\(module): valid, \(data.count) bytes, \(m.bodies.count) functions, floating point: \(loaded.usesFloat ? "yes" : "no")")
        for item in info.imports { say("  import \(item.name): \(item.type)") }
        for item in info.exports { say("  export \(item.name): \(item.type)") }
        for function in info.functions {
            let label = function.name ?? function.exportedAs.first ?? "-"
            say("  function \(function.index) \(label): \(function.type)")
        }
        for memory in info.memories { say("  memory: \(memory)") }
    }
}
