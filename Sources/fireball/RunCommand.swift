// `fireball run MODULE.wasm --invoke NAME ARGS…`: load, instantiate and call one export.
import ArgumentParser
import Core
import Foundation

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an exported function of a wasm module and print its results.",
        discussion: "Arguments are parsed by the function's parameter types (i32/i64 decimal or 0x hex, f32/f64 decimal). Traps go to stderr with exit code 2.")

    @Argument(help: "The .wasm module.") var module: String
    @Option(help: "The exported function to call.") var invoke: String
    @Argument(help: "Arguments for the function.") var arguments: [String] = []
    @Flag(help: "Refuse modules that use floating point, as a board without an FPU does.") var noFloat = false
    @Option(help: "Slice length in microseconds: the call runs in slices, as under the kernel (0: one unlimited run).")
    var sliceMicroseconds = 0

    func run() throws {
        guard let data = FileManager.default.contents(atPath: module) else {
            throw ValidationError("cannot read \(module)")
        }
        let store = Store()
        let instance: Instance
        do {
            let loaded = try LoadedModule.load([UInt8](data), options: LoadOptions(allowFloat: !noFloat))
            instance = try store.instantiate(loaded)
        } catch {
            FileHandle.standardError.write(Data("\(module): \(error)\n".utf8))
            throw ExitCode(1)
        }
        guard let function = instance.exportedFunction(invoke) else {
            let names = instance.exports.keys.sorted().joined(separator: ", ")
            throw ValidationError("\(module) exports no function '\(invoke)' (exports: \(names))")
        }
        let type = store.type(of: function)
        guard arguments.count == type.parameters.count else {
            throw ValidationError("\(invoke) takes \(type.parameters.count) arguments \(type), got \(arguments.count)")
        }
        var values: [WasmValue] = []
        for (text, parameterType) in zip(arguments, type.parameters) {
            guard let value = WasmValue(parsing: text, as: parameterType) else {
                throw ValidationError("argument '\(text)' is not a valid \(parameterType)")
            }
            values.append(value)
        }
        let execution: Execution
        do { execution = try Execution(store: store, function: function, arguments: values) }
        catch { throw ValidationError("\(error)") }
        var slices = 0
        while true {
            slices += 1
            switch execution.run(sliceMicroseconds > 0 ? .microseconds(sliceMicroseconds) : .unlimited) {
            case .completed(let results):
                print(results.map(\.description).joined(separator: " "))
                if sliceMicroseconds > 0 { FileHandle.standardError.write(Data("\(slices) slices\n".utf8)) }
                return
            case .trapped(let trap):
                FileHandle.standardError.write(Data("\(module): \(trap)\n".utf8))
                throw ExitCode(2)
            case .yielded:
                continue
            case .suspended(let host):
                FileHandle.standardError.write(Data("\(module): suspended in host function \(store.name(of: host)) with no kernel to resume it\n".utf8))
                throw ExitCode(2)
            }
        }
    }
}
