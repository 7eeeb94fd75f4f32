// Loading a module: decode, validate everything, translate every body. What comes out can run.

/// Options a board sets for the modules it accepts.
public struct LoadOptions: Sendable {
    /// False on boards without an FPU: a module that uses f32 or f64 anywhere is refused.
    public var allowFloat: Bool
    public init(allowFloat: Bool = true) { self.allowFloat = allowFloat }
}

/// A function after translation: where its code starts and how big its frame is.
struct CompiledFunction {
    var codeStart: Int
    var frameSlots: Int
    var typeIndex: UInt32
}

/// A validated, translated module, ready to instantiate any number of times.
public final class LoadedModule: @unchecked Sendable {
    public let module: WasmModule
    /// True if any function, global or signature uses f32 or f64.
    public let usesFloat: Bool
    /// Translated code of all functions; never changes after load.
    let code: UnsafeMutablePointer<UInt64>
    let codeWords: Int
    let functions: [CompiledFunction]

    init(module: WasmModule, usesFloat: Bool, code: [UInt64], functions: [CompiledFunction]) {
        self.module = module
        self.usesFloat = usesFloat
        self.codeWords = code.count
        self.code = .allocate(capacity: max(code.count, 1))
        self.code.initialize(from: code, count: code.count)
        self.functions = functions
    }

    deinit { code.deallocate() }

    /// Decodes, validates and translates `bytes`. Throws with the section, function and offset at fault.
    public static func load(_ bytes: [UInt8], options: LoadOptions = LoadOptions()) throws(WasmError) -> LoadedModule {
        let module = try WasmModule.parse(bytes)
        try module.validateModuleLevel()
        return try translate(module, options: options)
    }

    static func translate(_ module: WasmModule, options: LoadOptions) throws(WasmError) -> LoadedModule {
        let importedFunctions = module.importedFunctionTypes
        var functionTypes: [FunctionType] = importedFunctions.map { module.types[Int($0)] }
        functionTypes += module.functionTypeIndices.map { module.types[Int($0)] }
        let globals = module.importedGlobals + module.globals.map(\.type)
        var usesFloat = false
        let floatTypes = module.types.contains { $0.parameters.contains(where: \.isFloat) || $0.results.contains(where: \.isFloat) }
        if globals.contains(where: { $0.value.isFloat }) || floatTypes { usesFloat = true }
        if usesFloat, !options.allowFloat {
            let what = floatTypes ? "a function signature" : "a global"
            throw WasmError(.refusedByPolicy, section: floatTypes ? "type" : "global", "\(what) uses floating point and this board has no FPU")
        }
        let context = ModuleContext(
            functionTypes: functionTypes,
            types: module.types,
            tables: module.importedTables + module.tables,
            hasMemory: !(module.importedMemories.isEmpty && module.memories.isEmpty),
            globals: globals,
            elementTypes: module.elements.map(\.type),
            dataCount: module.dataCount,
            declaredReferences: module.declaredFunctionReferences,
            allowFloat: options.allowFloat)

        var code: [UInt64] = []
        var compiled: [CompiledFunction] = []
        compiled.reserveCapacity(module.bodies.count)
        let result: Result<Void, WasmError> = module.bytes.withUnsafeBytes { raw in
            do throws(WasmError) {
                for (i, body) in module.bodies.enumerated() {
                    let functionIndex = importedFunctions.count + i
                    let type = functionTypes[functionIndex]
                    var locals = type.parameters
                    for group in body.locals {
                        if group.type.isFloat {
                            usesFloat = true
                            if !options.allowFloat {
                                throw WasmError(.refusedByPolicy, section: "code", function: functionIndex, offset: body.code.lowerBound,
                                                "a local uses floating point (\(group.type)) and this board has no FPU")
                            }
                        }
                        locals += repeatElement(group.type, count: Int(group.count))
                    }
                    guard locals.count <= WasmLimits.localsMax else {
                        throw WasmError(.limitExceeded, section: "code", function: functionIndex, offset: body.code.lowerBound,
                                        "\(locals.count) locals, Fireball allows \(WasmLimits.localsMax)")
                    }
                    var translator = FunctionTranslator(context: context, functionIndex: functionIndex, type: type, locals: locals, code: code)
                    code = []
                    var reader = ByteReader(bytes: raw, offset: body.code.lowerBound, end: body.code.upperBound)
                    let start = translator.code.count
                    let frameSlots = try translator.translate(&reader)
                    usesFloat = usesFloat || translator.usesFloat
                    code = translator.code
                    compiled.append(CompiledFunction(codeStart: start, frameSlots: frameSlots, typeIndex: module.functionTypeIndices[i]))
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        return LoadedModule(module: module, usesFloat: usesFloat, code: code, functions: compiled)
    }
}
