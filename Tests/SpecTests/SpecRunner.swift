// Runs the commands of converted spec scripts against Fireball's engine, one fresh store per script,
// and sums the outcomes up. Engine errors and traps become outcomes; nothing here stops the run.
import Core
import Foundation

/// Commands the runner does not execute, with why. A key is `script:line` (one command, e.g.
/// `"names:631"`) or `script` (a whole script, e.g. `"names"`). Text-format `assert_malformed` modules are skipped by type, not here:
/// wast2json cannot turn them into binaries, and they test the text parser, which Fireball has not.
///
/// Keep this list short and say why for each entry: a failing test that Fireball means to pass
/// belongs in the failure count, not here. Commands that use a skipped module are skipped too.
let specSkipList: [String: String] = [:]

/// Commands that hang the engine today, keyed like `specSkipList`. A guest loop that passes safe points
/// is stopped by the invocation time limit and simply fails; only a hang nothing can stop (a loop
/// without safe points, an endless loop in load or instantiation) needs an entry here. Entries are
/// not run but count as failures, so the numbers stay honest; remove an entry once fixed.
/// `FIREBALL_SPEC_NOT_RUN=script:line,script:line` adds entries for one run (to find the next hang
/// with `FIREBALL_SPEC_TRACE=1`, which prints each command to stderr before running it).
let specHangList: [String: String] = [:]

/// `specHangList` plus the entries from `FIREBALL_SPEC_NOT_RUN`; `FIREBALL_SPEC_RUN_HANGS=1` runs
/// the `specHangList` entries anyway (to check a fix: a loop without safe points still hangs the run).
let specNotRun: [String: String] = {
    let environment = ProcessInfo.processInfo.environment
    var entries = environment["FIREBALL_SPEC_RUN_HANGS"] == "1" ? [:] : specHangList
    let extra = environment["FIREBALL_SPEC_NOT_RUN"] ?? ""
    for key in extra.split(separator: ",") { entries[String(key)] = "listed in FIREBALL_SPEC_NOT_RUN" }
    return entries
}()

/// How one command went.
enum CommandOutcome: Equatable, Sendable {
    case passed
    case failed(String)
    case skipped(String)
}

/// A pass that does not match the reference interpreter's report exactly.
enum PassNote: Equatable, Sendable {
    /// The trap happened; one wording is a prefix of the other ("uninitialized element" for "... 2").
    case trapWordingVariant(String)
    /// The trap happened with another wording (possibly another reason).
    case trapWordingDiffers(String)
    /// `assert_invalid`: refused, but as malformed.
    case invalidRefusedAsMalformed(String)
    /// `assert_malformed` (binary): refused, but as invalid.
    case malformedRefusedAsInvalid(String)
}

struct CommandResult: Sendable {
    let script: String
    let line: Int
    let command: String
    let outcome: CommandOutcome
    let note: PassNote?
    /// Wall-clock time the command took.
    let seconds: Double

    /// `file.wast:line: command`, the prefix of every printed line about this command.
    var place: String { "\(script).wast:\(line): \(command)" }
}

/// The outcomes of one pass over the suite.
struct SpecReport: Sendable {
    let results: [CommandResult]
    let seconds: Double
    let forcedYields: Bool

    var passed: Int { results.count(where: { $0.outcome == .passed }) }
    var failed: Int { results.count(where: { if case .failed = $0.outcome { true } else { false } }) }
    var skipped: Int { results.count(where: { if case .skipped = $0.outcome { true } else { false } }) }

    /// `N passed, M failed, K skipped`, prefixed `forced yields: ` for the second pass.
    var summaryLine: String {
        (forcedYields ? "forced yields: " : "") + "\(passed) passed, \(failed) failed, \(skipped) skipped"
    }

    /// `file:line: command: what happened` for each failure, at most `limit` of them.
    func failureLines(limit: Int = 200) -> [String] {
        var lines: [String] = []
        var total = 0
        for result in results {
            guard case .failed(let why) = result.outcome else { continue }
            total += 1
            if lines.count < limit { lines.append("\(result.place): \(why)") }
        }
        if total > limit { lines.append("... and \(total - limit) more failures") }
        return lines
    }

    /// Counts of passes with notes; the wording differences are listed since they may hide a wrong trap,
    /// and with `all` every note is listed.
    func noteLines(limit: Int = 50, all: Bool = false) -> [String] {
        var variants = 0, differs = 0, asMalformed = 0, asInvalid = 0
        var listed: [String] = []
        for result in results {
            guard let note = result.note else { continue }
            let detail: String
            switch note {
            case .trapWordingVariant(let why): variants += 1; detail = "wording variant: \(why)"
            case .trapWordingDiffers(let why): differs += 1; detail = "wording differs: \(why)"
            case .invalidRefusedAsMalformed(let why): asMalformed += 1; detail = "invalid refused as \(why)"
            case .malformedRefusedAsInvalid(let why): asInvalid += 1; detail = "malformed refused as \(why)"
            }
            if case .trapWordingDiffers = note {} else if !all { continue }
            listed.append("  \(result.place): \(detail)")
        }
        var lines = ["passes with notes: \(differs) trap/error wordings differ, \(variants) wording prefix variants, "
                     + "\(asMalformed) invalid modules refused as malformed, \(asInvalid) binary-malformed modules refused as invalid"]
        lines += listed.prefix(limit)
        if listed.count > limit { lines.append("  ... and \(listed.count - limit) more") }
        return lines
    }

    /// The slowest commands, to keep an eye on the suite's run time and the invocation time limit.
    func slowestLines(count: Int = 10) -> [String] {
        results.sorted { $0.seconds > $1.seconds }.prefix(count).map { String(format: "%8.3f s  ", $0.seconds) + $0.place }
    }

    /// One row per script: passed, failed, skipped.
    func perScriptTable() -> String {
        var order: [String] = []
        var rows: [String: (passed: Int, failed: Int, skipped: Int)] = [:]
        for result in results {
            if rows[result.script] == nil { order.append(result.script); rows[result.script] = (0, 0, 0) }
            switch result.outcome {
            case .passed: rows[result.script]!.passed += 1
            case .failed: rows[result.script]!.failed += 1
            case .skipped: rows[result.script]!.skipped += 1
            }
        }
        func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, width - text.count))
            return left ? text + fill : fill + text
        }
        var lines = [pad("script", 28, left: true) + pad("passed", 8) + pad("failed", 8) + pad("skipped", 8)]
        for script in order {
            let row = rows[script]!
            lines.append(pad(script, 28, left: true) + pad("\(row.passed)", 8) + pad("\(row.failed)", 8) + pad("\(row.skipped)", 8))
        }
        return lines.joined(separator: "\n")
    }

    /// Where two passes over the same scripts disagree, as printable lines.
    func differences(from other: SpecReport, limit: Int = 200) -> [String] {
        var lines: [String] = []
        if results.count != other.results.count {
            lines.append("the passes ran \(results.count) and \(other.results.count) commands")
        }
        var total = 0
        for (mine, theirs) in zip(results, other.results) where mine.outcome != theirs.outcome || mine.place != theirs.place {
            total += 1
            if lines.count < limit { lines.append("\(mine.place): \(mine.outcome) here, \(theirs.outcome) in the other pass") }
        }
        if total > limit { lines.append("... and \(total - limit) more differences") }
        return lines
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

enum SpecRunner {
    /// Runs every script, each in its own store.
    /// Wall-clock limit of one invocation, `FIREBALL_SPEC_TIMEOUT_SECONDS` or 3 s: the slowest spec
    /// invocation takes under 0.3 s in a debug build, even with forced yields.
    static let invocationSecondsMax: Int = {
        let text = ProcessInfo.processInfo.environment["FIREBALL_SPEC_TIMEOUT_SECONDS"] ?? ""
        return Int(text).map { max($0, 1) } ?? 3
    }()

    static func run(_ scripts: [ConvertedScript], forcedYields: Bool) -> SpecReport {
        let clock = ContinuousClock()
        let start = clock.now
        var results: [CommandResult] = []
        for script in scripts {
            results += ScriptRunner(script: script, forcedYields: forcedYields, invocationSecondsMax: invocationSecondsMax).run()
        }
        return SpecReport(results: results, seconds: (clock.now - start).seconds, forcedYields: forcedYields)
    }
}

/// Executes one script's commands in order against one store.
final class ScriptRunner {
    let script: ConvertedScript
    let forcedYields: Bool
    let invocationSecondsMax: Int
    let store = Store()
    /// Import module name → field → value: `spectest` and every `register`ed instance.
    var imports: [String: [String: ExternalValue]] = [:]
    var current = ModuleState.none
    var named: [String: ModuleState] = [:]

    /// What the commands that use a module find.
    enum ModuleState {
        case none
        case ready(Instance)
        /// The `module` command failed: the commands that use it fail.
        case failed(line: Int)
        /// The `module` command was skipped: the commands that use it are skipped.
        case skipped(line: Int)
    }

    /// A command's verdict before it is placed in a `CommandResult`.
    struct Verdict {
        var outcome: CommandOutcome
        var note: PassNote? = nil
        static let pass = Verdict(outcome: .passed)
        static func fail(_ why: String) -> Verdict { Verdict(outcome: .failed(why)) }
        static func skip(_ why: String) -> Verdict { Verdict(outcome: .skipped(why)) }
    }

    enum ActionResult {
        case values([WasmValue])
        case trapped(Trap)
        /// The action could not run, or ended in an unexpected way.
        case unavailable(Verdict)
    }

    init(script: ConvertedScript, forcedYields: Bool, invocationSecondsMax: Int) {
        self.script = script
        self.forcedYields = forcedYields
        self.invocationSecondsMax = invocationSecondsMax
    }

    func run() -> [CommandResult] {
        var setupError: String?
        do { imports["spectest"] = try Self.spectest(in: store) } catch { setupError = "cannot create the spectest module: \(error)" }
        let trace = ProcessInfo.processInfo.environment["FIREBALL_SPEC_TRACE"] == "1"
        let clock = ContinuousClock()
        return script.commands.map { command in
            let start = clock.now
            if trace {
                FileHandle.standardError.write(Data("\(forcedYields ? "forced " : "")\(script.name).wast:\(command.line): \(command.type)\n".utf8))
            }
            let verdict: Verdict
            if let setupError {
                verdict = .fail(setupError)
            } else if let why = specNotRun[script.name] ?? specNotRun["\(script.name):\(command.line)"] {
                verdict = .fail("not run, it hangs the engine: \(why)")
                if command.type == "module" {
                    current = .failed(line: command.line)
                    if let name = command.name { named[name] = current }
                }
            } else if let why = specSkipList[script.name] ?? specSkipList["\(script.name):\(command.line)"] {
                verdict = .skip(why)
                if command.type == "module" {
                    current = .skipped(line: command.line)
                    if let name = command.name { named[name] = current }
                }
            } else {
                verdict = execute(command)
            }
            return CommandResult(script: script.name, line: command.line, command: command.type, outcome: verdict.outcome,
                                 note: verdict.note, seconds: (clock.now - start).seconds)
        }
    }

    /// The host objects the suite imports from `spectest`, as the reference interpreter defines them.
    static func spectest(in store: Store) throws(WasmError) -> [String: ExternalValue] {
        func printer(_ name: String, _ parameters: [ValueType]) -> ExternalValue {
            .function(store.addHostFunction("spectest.\(name)", type: FunctionType(parameters: parameters, results: [])) { _ in .returned })
        }
        func global(_ value: WasmValue) -> ExternalValue {
            .global(store.addGlobal(GlobalType(value: value.type, mutable: false), value: value))
        }
        return [
            "print": printer("print", []),
            "print_i32": printer("print_i32", [.i32]),
            "print_i64": printer("print_i64", [.i64]),
            "print_f32": printer("print_f32", [.f32]),
            "print_f64": printer("print_f64", [.f64]),
            "print_i32_f32": printer("print_i32_f32", [.i32, .f32]),
            "print_f64_f64": printer("print_f64_f64", [.f64, .f64]),
            "global_i32": global(.i32(666)),
            "global_i64": global(.i64(666)),
            "global_f32": global(.f32(Float(666.6))),
            "global_f64": global(.f64(Double(666.6))),
            "table": .table(try store.addTable(TableType(element: .funcref, limits: Limits(min: 10, max: 20)))),
            "memory": .memory(try store.addMemory(MemoryType(limits: Limits(min: 1, max: 2)))),
        ]
    }

    // MARK: commands

    func execute(_ command: WastCommand) -> Verdict {
        switch command.type {
        case "module": return instantiateModule(command)
        case "register": return register(command)
        case "action": return action(command)
        case "assert_return": return assertReturn(command)
        case "assert_trap", "assert_exhaustion": return assertTrap(command)
        case "assert_invalid": return assertRefused(command, expecting: .invalid)
        case "assert_malformed":
            if command.moduleType == "text" { return .skip("text-format module") }
            return assertRefused(command, expecting: .malformed)
        case "assert_unlinkable": return assertInstantiationFails(command, expecting: .unlinkable)
        case "assert_uninstantiable": return assertInstantiationFails(command, expecting: .uninstantiable)
        default: return .fail("unsupported command type \(command.type)")
        }
    }

    func instantiateModule(_ command: WastCommand) -> Verdict {
        let verdict: Verdict
        switch load(command) {
        case .failure(let why):
            current = .failed(line: command.line)
            verdict = .fail(why.description)
        case .success(let module):
            do throws(WasmError) {
                current = .ready(try store.instantiate(module, imports: imports))
                verdict = .pass
            } catch {
                current = .failed(line: command.line)
                verdict = .fail("instantiation failed: \(error)")
            }
        }
        if let name = command.name { named[name] = current }
        return verdict
    }

    func register(_ command: WastCommand) -> Verdict {
        guard let name = command.as else { return .fail("register without a name") }
        switch module(command.name) {
        case .ready(let instance):
            imports[name] = instance.exports
            return .pass
        case .unavailable(let verdict):
            return verdict
        }
    }

    func action(_ command: WastCommand) -> Verdict {
        guard let action = command.action else { return .fail("action without an action") }
        switch perform(action) {
        case .values: return .pass
        case .trapped(let trap): return .fail("\(describe(action)) trapped: \(trap.specText)")
        case .unavailable(let verdict): return verdict
        }
    }

    func assertReturn(_ command: WastCommand) -> Verdict {
        guard let action = command.action else { return .fail("assert_return without an action") }
        let expected: [ExpectedValue]
        do throws(SpecValueError) { expected = try (command.expected ?? []).map { v throws(SpecValueError) in try SpecValue.expected(v) } }
        catch { return .fail("\(error)") }
        switch perform(action) {
        case .values(let values):
            let matches = values.count == expected.count && zip(expected, values).allSatisfy { $0.matches($1) }
            if matches { return .pass }
            return .fail("\(describe(action)): expected \(expected), got \(SpecValue.describe(values))")
        case .trapped(let trap):
            return .fail("\(describe(action)): expected \(expected), trapped: \(trap.specText)")
        case .unavailable(let verdict):
            return verdict
        }
    }

    func assertTrap(_ command: WastCommand) -> Verdict {
        let text = command.text ?? ""
        guard let action = command.action else {
            // An assert_trap on a module: instantiation runs the start function.
            return assertInstantiationFails(command, expecting: .uninstantiable)
        }
        switch perform(action) {
        case .values(let values):
            return .fail("\(describe(action)): expected trap \"\(text)\", returned \(SpecValue.describe(values))")
        case .trapped(let trap):
            // A host reason is the runner's or the embedding's (bad arguments, suspension), never a wasm trap.
            if case .host(let why) = trap.reason {
                return .fail("\(describe(action)): expected trap \"\(text)\", host trap: \(why)")
            }
            return wording(trap.specText, expected: text, what: "trapped with")
        case .unavailable(let verdict):
            return verdict
        }
    }

    /// `assert_invalid` and binary `assert_malformed`: the load must throw `code`; the other of the two is accepted with a note.
    func assertRefused(_ command: WastCommand, expecting code: WasmError.Code) -> Verdict {
        guard let bytes = moduleBytes(command) else { return .fail("module file \(command.filename ?? "(none)") missing") }
        let text = command.text ?? ""
        do throws(WasmError) {
            _ = try LoadedModule.load(bytes)
            return .fail("module loaded; expected it refused as \(code) (\"\(text)\")")
        } catch {
            switch (code, error.code) {
            case (.invalid, .invalid), (.malformed, .malformed):
                return .pass
            case (.invalid, .malformed):
                return Verdict(outcome: .passed, note: .invalidRefusedAsMalformed("\(error)"))
            case (.malformed, .invalid):
                return Verdict(outcome: .passed, note: .malformedRefusedAsInvalid("\(error)"))
            default:
                return .fail("expected \(code) (\"\(text)\"), refused as \(error)")
            }
        }
    }

    /// `assert_unlinkable` and `assert_uninstantiable`: the module loads, and instantiation throws `code`.
    func assertInstantiationFails(_ command: WastCommand, expecting code: WasmError.Code) -> Verdict {
        let text = command.text ?? ""
        switch load(command) {
        case .failure(let why):
            return .fail("expected \(code) (\"\(text)\"), but " + why.description)
        case .success(let module):
            do throws(WasmError) {
                _ = try store.instantiate(module, imports: imports)
                return .fail("instantiated; expected \(code) (\"\(text)\")")
            } catch {
                guard error.code == code else { return .fail("expected \(code) (\"\(text)\"), got \(error)") }
                return wording(error.detail, expected: text, what: "refused with", contains: true)
            }
        }
    }

    /// A trap or refusal happened as asked; notes how its wording compares with the suite's.
    func wording(_ actual: String, expected: String, what: String, contains: Bool = false) -> Verdict {
        if actual == expected || (contains && actual.contains(expected)) { return .pass }
        let detail = "expected \"\(expected)\", \(what) \"\(actual)\""
        if expected.hasPrefix(actual) || actual.hasPrefix(expected) {
            return Verdict(outcome: .passed, note: .trapWordingVariant(detail))
        }
        return Verdict(outcome: .passed, note: .trapWordingDiffers(detail))
    }

    // MARK: modules and actions

    enum ModuleLookup {
        case ready(Instance)
        case unavailable(Verdict)
    }

    /// The current module (`name` nil) or a named one, or why a command cannot use it.
    func module(_ name: String?) -> ModuleLookup {
        let state = name.map { named[$0] ?? .none } ?? current
        switch state {
        case .ready(let instance): return .ready(instance)
        case .none: return .unavailable(.fail("no module \(name ?? "defined yet")"))
        case .failed(let line): return .unavailable(.fail("the module at line \(line) failed to load or instantiate"))
        case .skipped(let line): return .unavailable(.skip("uses the skipped module at line \(line)"))
        }
    }

    func moduleBytes(_ command: WastCommand) -> [UInt8]? {
        command.filename.flatMap { script.moduleFiles[$0] }
    }

    func load(_ command: WastCommand) -> Result<LoadedModule, LoadFailure> {
        guard let bytes = moduleBytes(command) else { return .failure(LoadFailure("module file \(command.filename ?? "(none)") missing")) }
        do throws(WasmError) {
            return .success(try LoadedModule.load(bytes))
        } catch {
            return .failure(LoadFailure("module failed to load: \(error)"))
        }
    }

    struct LoadFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    func perform(_ action: WastAction) -> ActionResult {
        let instance: Instance
        switch module(action.module) {
        case .ready(let found): instance = found
        case .unavailable(let verdict): return .unavailable(verdict)
        }
        switch action.type {
        case "invoke":
            guard let address = instance.exportedFunction(action.field) else {
                return .unavailable(.fail("no exported function \(action.field.debugDescription)"))
            }
            let arguments: [WasmValue]
            do throws(SpecValueError) { arguments = try (action.args ?? []).map { v throws(SpecValueError) in try SpecValue.argument(v) } }
            catch { return .unavailable(.fail("\(describe(action)): \(error)")) }
            switch invoke(address, arguments) {
            case .completed(let values): return .values(values)
            case .trapped(let trap): return .trapped(trap)
            case .yielded:
                return .unavailable(.fail("\(describe(action)): did not finish within \(invocationSecondsMax) s (endless loop?)"))
            case let other: return .unavailable(.fail("\(describe(action)): unexpected result \(other)"))
            }
        case "get":
            guard case .global(let address)? = instance.export(action.field) else {
                return .unavailable(.fail("no exported global \(action.field.debugDescription)"))
            }
            return .values([store.value(of: address)])
        default:
            return .unavailable(.fail("unsupported action type \(action.type)"))
        }
    }

    /// `Store.invoke(_:_:yieldAtEverySafePoint:)` with a time limit, so that an engine bug that loops
    /// forever fails one command (returning `.yielded`) instead of hanging the suite. The normal mode
    /// is one slice that ends only at the deadline (the clock is read every few hundred safe points,
    /// so a correct engine never yields); the forced mode yields at every safe point, as `invoke` does.
    func invoke(_ address: FunctionAddress, _ arguments: [WasmValue]) -> ExecutionResult {
        let execution: Execution
        do throws(Trap) { execution = try Execution(store: store, function: address, arguments: arguments) }
        catch { return .trapped(error) }
        if !forcedYields { return execution.run(.microseconds(invocationSecondsMax * 1_000_000)) }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(invocationSecondsMax)
        var slices = 0
        while true {
            let result = execution.run(.safePoints(1))
            guard case .yielded = result else { return result }
            slices += 1
            if slices % 4096 == 0, clock.now > deadline { return result }
        }
    }

    /// `invoke "name"(args)` or `get "name"`, for messages.
    func describe(_ action: WastAction) -> String {
        let target = (action.module.map { $0 + " " } ?? "") + action.field.debugDescription
        guard action.type == "invoke" else { return "\(action.type) \(target)" }
        let arguments = (action.args ?? []).map { value in
            (try? SpecValue.argument(value)).map { SpecValue.describe($0) } ?? "\(value.type):\(value.value ?? "?")"
        }
        return "invoke \(target)(\(arguments.joined(separator: ", ")))"
    }
}
