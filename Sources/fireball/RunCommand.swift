// `fireball run MODULE.wasm --invoke NAME ARGS…`: load, instantiate and call one export.
import ArgumentParser
import Core
import Foundation
import HAL
import Node

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run guests on one node's kernel, or call one exported function.",
        discussion: """
            With --invoke: load one module and call the export with ARGS (parsed by its parameter types: \
            i32/i64 decimal or 0x hex, f32/f64 decimal); traps go to stderr with exit code 2.
            Without --invoke: boot a kernel and run every MODULE as a guest task (entry: _start or run), \
            wired by the URIs they serve and open; their UART/log lines are printed with their names \
            (escaped, at most --log-burst lines at once and --log-lines-per-second after that per guest).
            Either way each guest's linear memory stops at --memory-limit (memory.grow returns -1), and \
            the run ends at --timeout with exit code 124 and a line saying so. Words after `--` are every \
            guest's WASI arguments (argv[0] is the guest's name) and --env K=V its environment. Guest \
            lines are written one by one as they come, whatever stdout is, so a pipe sees them at once \
            and a SIGINT or SIGTERM loses none already printed.

            Examples:
              fireball run Deploy/examples/hello.wasm -- 3 --loud
              fireball run --board cortex-m33 hello.wasm --env NAME=world --timeout 5s
              fireball run producer.wasm consumer.wasm > out.txt
              fireball run M.wasm --invoke add 2 3 --slice 300us
            """)

    @Argument(help: "The .wasm module(s); with --invoke, the module and then the function's arguments.") var modulesAndArguments: [String] = []
    /// The words after `--` (ArgumentParser cannot hold two positional lists, so `Fireball.main` takes them off first).
    nonisolated(unsafe) static var afterTerminator: [String] = []
    var guestArguments: [String] { Self.afterTerminator }
    @Option(help: ArgumentHelp("Kernel mode: an environment variable for every guest (repeatable).", valueName: "KEY=VALUE")) var env: [String] = []
    @Option(help: "The exported function to call (single-module mode).") var invoke: String?
    @Option(help: ArgumentHelp("Stop after this long if guests (or the --invoke call) are still running: exit status 124 (30s, 500ms, 2min).",
                               valueName: "duration"))
    var timeout = "30s"
    @Option(help: ArgumentHelp("Kernel mode: the board (a name in the boards folder, or a .yaml path): partitions, FPU, time slice.", valueName: "board"))
    var board: String?
    @Option(help: ArgumentHelp("Where board names are looked up (default: the context's, $FIREBALL_BOARDS, the install's).", valueName: "dir"))
    var boards: String?
    @OptionGroup var selection: ConfigSelection
    @Flag(help: "Refuse modules that use floating point, as a board without an FPU does.") var noFloat = false
    @Option(help: ArgumentHelp("Slice length: the call runs in slices, as under the kernel (300us, 1ms; 0us: one unlimited run).", valueName: "duration"))
    var slice: String?
    @Option(name: .customLong("slice-microseconds"), help: .hidden) var sliceMicrosecondsDeprecated: Int?
    @Option(name: .customLong("grant"), help: ArgumentHelp("Devices a guest may open: GUEST=DEV[,DEV…] (GUEST is the module's file name without .wasm).",
                                                          valueName: "grant"))
    var grants: [String] = []
    @Option(help: "Kernel mode: the node's name, for `fireball hal NAME …` (its control socket).") var name = "local"
    @Flag(help: "Kernel mode: keep serving devices and the control socket after the guests end (until Ctrl-C).") var stay = false
    @Option(help: ArgumentHelp("The most linear memory one guest may have (\"64 MiB\", bytes, KiB, MiB, GiB); memory.grow past it returns -1.",
                               valueName: "size"))
    var memoryLimit = "64 MiB"
    @Option(help: "Kernel mode: console lines a guest may print at once before the rate limit applies (default: the board's, else 200).")
    var logBurst: Int?
    @Option(help: "Kernel mode: console lines per second a guest may print after its burst (default: the board's, else 100).")
    var logLinesPerSecond: Int?

    /// Exit status when `--timeout` ends the run (as timeout(1)).
    static let timeoutExitCode: Int32 = 124
    /// Kernel mode: slices between two looks at the deadline and the control socket (64 × 300 µs ≈ 20 ms).
    static let slicesPerTurn = 64
    /// --invoke without --slice-microseconds: the call still runs in slices this long, to see the deadline.
    static let invokeSliceMicroseconds = 10_000
    static let memoryLimitRange = (64 * 1024)...(1 << 32)
    /// Without a board, the host table's guest partition grows to hold a guest at this limit, up to this.
    static let hostGuestPartitionBytesMax = 1 << 30

    func validate() throws {
        _ = try durationOption(timeout, "--timeout", in: OptionLimits.runTimeout, bareUnit: ("s", 1_000_000_000))
        _ = try sliceNanoseconds(warn: false)
        _ = try memoryLimitBytes()
        _ = try logRateLimit(board: nil)
        _ = try guestStartup(name: "guest")
    }

    /// --slice (or the deprecated --slice-microseconds) in nanoseconds; 0: not given.
    func sliceNanoseconds(warn: Bool = true) throws -> UInt64 {
        if let old = sliceMicrosecondsDeprecated {
            if warn { warnDeprecated("--slice-microseconds", use: "--slice \(old)us") }
            guard old >= 0 else { throw ValidationError("--slice-microseconds \(old): must not be negative") }
            return try durationOption("\(old)us", "--slice-microseconds", in: OptionLimits.slice)
        }
        return try slice.map { try durationOption($0, "--slice", in: OptionLimits.slice) } ?? 0
    }

    /// Whole microseconds of the slice (the interpreter's unit); a slice under 1 µs is 1 µs.
    var sliceMicroseconds: Int {
        let nanoseconds = (try? sliceNanoseconds(warn: false)) ?? 0
        return nanoseconds == 0 ? 0 : max(1, Int(nanoseconds / 1_000))
    }

    /// A guest's WASI arguments (its name, then the words after `--`) and environment, checked.
    func guestStartup(name: String) throws -> GuestArguments {
        do { return try GuestArguments(arguments: [name] + guestArguments, environment: env) } catch {
            throw ValidationError("guest arguments (after --) or --env: \(error)")
        }
    }

    /// --memory-limit in bytes, checked.
    func memoryLimitBytes() throws -> Int {
        guard let bytes = YAMLMapping.parseSize(memoryLimit) else {
            throw ValidationError("--memory-limit '\(memoryLimit)': expected a size such as 67108864, \"64 MiB\" or \"1 GiB\"")
        }
        guard Self.memoryLimitRange.contains(bytes) else { throw ValidationError("--memory-limit \(memoryLimit): must lie within 64 KiB…4 GiB") }
        return bytes
    }

    /// The log rate limit: the flags, else the board's, else the standard one.
    func logRateLimit(board: Board?) throws -> LogRateLimit {
        let base = board?.logRateLimit ?? .standard
        let burst = logBurst ?? base.burstLines, rate = logLinesPerSecond ?? base.linesPerSecond
        let range = LogRateLimit.valueRange
        guard let limit = LogRateLimit(checkedBurstLines: burst, linesPerSecond: rate) else {
            throw ValidationError("--log-burst \(burst) / --log-lines-per-second \(rate): each must lie within \(range.lowerBound)…\(range.upperBound)")
        }
        return limit
    }

    var timeoutNanoseconds: UInt64 {
        (try? Quantity.nanoseconds(timeout.allSatisfy(\.isNumber) ? timeout + "s" : timeout, in: OptionLimits.runTimeout)) ?? 30_000_000_000
    }

    func run() throws {
        if sliceMicrosecondsDeprecated != nil { _ = try sliceNanoseconds(warn: true) }
        guard let invoke else { return try runKernel() }
        guard env.isEmpty else { throw ValidationError("--env is for guests (without --invoke); --invoke passes ARGS to the function") }
        guard let module = modulesAndArguments.first else { throw ValidationError("no module given") }
        // With --invoke, words after `--` are more function arguments (e.g. negative numbers).
        let arguments = Array(modulesAndArguments.dropFirst()) + guestArguments
        guard let data = FileManager.default.contents(atPath: module) else {
            throw ValidationError("cannot read \(module)")
        }
        let store = Store()
        let limit = try memoryLimitBytes()
        let refusals = GrowthRefusals()
        store.memoryLimiter = { _, newBytes in
            guard newBytes <= limit else { refusals.count(newBytes); return false }
            return true
        }
        let instance: Instance
        do {
            let loaded = try LoadedModule.load([UInt8](data), options: LoadOptions(allowFloat: !noFloat))
            try checkInitialMemory(loaded, limit: limit)
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
        defer { refusals.report(limit: memoryLimit, module: module) }
        var slices = 0
        let clock = SystemClock()
        let deadline = clock.nanoseconds + timeoutNanoseconds
        while true {
            slices += 1
            // Always in slices, so that the deadline is seen even while the function never returns.
            switch execution.run(.microseconds(sliceMicroseconds > 0 ? sliceMicroseconds : Self.invokeSliceMicroseconds)) {
            case .yielded where clock.nanoseconds >= deadline:
                note("\(module): \(invoke) still running at --timeout \(timeout); timed out, stopped (exit \(Self.timeoutExitCode))")
                throw ExitCode(Self.timeoutExitCode)
            case .completed(let results):
                say(results.map(\.description).joined(separator: " "))
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

    /// Boots a kernel for the board (the host partition table without one), starts its device
    /// service, and runs every module as a guest with the devices granted to it.
    func runKernel() throws {
        guard !modulesAndArguments.isEmpty else { throw ValidationError("no module given") }
        var partitions = PartitionTable.host
        var slice = SliceBudget.standard
        var limits = KernelConfiguration().executionLimits
        var allowFloat = !noFloat
        var definition: Board?
        if let board {
            do { definition = try Board.resolve(board, in: try selection.boards(flag: boards)) } catch { throw ValidationError("\(error)") }
        }
        if let definition {
            partitions = definition.partitions
            slice = definition.slice
            limits = definition.executionLimits
            allowFloat = allowFloat && definition.hasFPU
            FileHandle.standardError.write(Data("board \(definition.name): \(definition.description)\n".utf8))
        }
        let grantsByGuest = try parseGrants(board: definition)
        if sliceMicroseconds > 0 { slice = .microseconds(sliceMicroseconds) }
        let memoryLimit = try memoryLimitBytes()
        if definition == nil {
            // The host table's guest partition holds one guest at the limit (plus value stacks).
            guard memoryLimit <= Self.hostGuestPartitionBytesMax else {
                throw ValidationError("--memory-limit \(self.memoryLimit): without --board at most 1 GiB (the host table's guest partition)")
            }
            partitions.bytes[.guest] = max(partitions[.guest], memoryLimit + 4 << 20)
        }
        var configuration = KernelConfiguration(slice: slice, executionLimits: limits)
        configuration.logRateLimit = try logRateLimit(board: definition)
        let kernel = Kernel(configuration: configuration, partitions: partitions)
        // Each line by itself with write(2): a pipe or file gets it at once, a signal loses nothing printed.
        kernel.console = { say($0) }
        let capabilities = kernel.mintCapabilities()
        var control: LocalControl?
        if let definition, !definition.devices.isEmpty {
            let service = try DeviceService.start(on: kernel, board: definition, capability: capabilities.systemRole, process: capabilities.process)
            control = try LocalControl(path: LocalControl.defaultPath(node: name), bus: service.bus)
            FileHandle.standardError.write(Data("devices: \(definition.devices.map(\.name).joined(separator: ", ")); drive them with `fireball hal \(name) …`\n".utf8))
        }
        var guests: [(TaskID, String)] = []
        for path in modulesAndArguments {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            do {
                let loaded = try LoadedModule.load([UInt8](data), options: LoadOptions(allowFloat: allowFloat))
                try checkInitialMemory(loaded, limit: memoryLimit)
                guests.append((try kernel.spawnGuest(loaded, name: name, devices: grantsByGuest[name] ?? [], memoryLimitBytes: memoryLimit,
                                                     arguments: try guestStartup(name: name), capability: capabilities.process), name))
            } catch {
                FileHandle.standardError.write(Data("\(path): \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        let unknown = Set(grantsByGuest.keys).subtracting(guests.map(\.1))
        guard unknown.isEmpty else { throw ValidationError("--grant names no module given: \(unknown.sorted().joined(separator: ", "))") }
        let end = runLoop(kernel, control)
        var failed = false
        for (task, name) in guests {
            let state = kernel.state(of: task).map { "\($0)" } ?? "gone"
            if case .exited(let reason)? = kernel.state(of: task) {
                if case .completed = reason {} else if case .exited(0) = reason {} else { failed = true }
            }
            let dropped = kernel.logger.linesDropped(by: task)
            FileHandle.standardError.write(Data("\(name) (\(task)): \(state)\(dropped > 0 ? ", \(dropped) log lines dropped (rate limit)" : "")\n".utf8))
        }
        switch end {
        case .timedOut:
            note("timed out: --timeout \(timeout) reached with guests still running; stopped (exit \(Self.timeoutExitCode))")
            throw ExitCode(Self.timeoutExitCode)
        case .idle(.waiting): FileHandle.standardError.write(Data("kernel idle: remaining guests wait on channels nobody will use\n".utf8))
        case .idle(.panicked): failed = true
        case .idle(.allExited), .idle(.sliceLimit): break
        }
        if failed { throw ExitCode(2) }
    }

    /// A module whose initial memory is over --memory-limit cannot start: say so in the flag's terms.
    func checkInitialMemory(_ module: LoadedModule, limit: Int) throws {
        guard let initial = module.module.firstMemory?.minimumBytes, initial > limit else { return }
        throw ValidationError("its initial memory of \(initial) bytes is over --memory-limit \(memoryLimit) (\(limit) bytes)")
    }

    /// `GUEST=DEV,DEV` options, checked against the board's devices.
    func parseGrants(board: Board?) throws -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for grant in grants {
            let parts = grant.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--grant \(grant): expected GUEST=DEV[,DEV…]") }
            guard let board else { throw ValidationError("--grant needs --board: devices belong to a board") }
            let devices = parts[1].split(separator: ",").map(String.init)
            for device in devices where board.device(named: device) == nil {
                throw ValidationError("--grant \(grant): board \(board.name) has no device '\(device)' (devices: \(board.devices.map(\.name).joined(separator: ", ")))")
            }
            result[parts[0], default: []].formUnion(devices)
        }
        return result
    }

    enum RunEnd { case idle(KernelIdle), timedOut }

    /// Runs the kernel in turns of `slicesPerTurn` slices; between turns it looks at the deadline
    /// and answers control commands (`fireball hal`), so neither waits for a guest that computes
    /// without blocking. When every task waits, it sleeps (in poll(), for commands) until the next
    /// timer, the deadline or a command.
    func runLoop(_ kernel: Kernel, _ control: LocalControl?) -> RunEnd {
        // --stay keeps a board's devices and control socket served after the guests end (until
        // Ctrl-C, no deadline); without them there is nothing to stay for.
        let serving = stay && control != nil
        let start = kernel.clock.nanoseconds
        while true {
            let idle = kernel.runUntilIdle(maxSlices: Self.slicesPerTurn)
            let elapsed = kernel.clock.nanoseconds &- start
            switch idle {
            case .panicked: return .idle(idle)
            case .allExited, .waiting(nil): if !serving { return .idle(idle) }
            case .waiting, .sliceLimit: break
            }
            guard serving || elapsed < timeoutNanoseconds else { return .timedOut }
            if case .sliceLimit = idle {
                control?.poll(milliseconds: 0)
                continue
            }
            var wait: Int32 = serving ? -1 : Int32(min(1000, (timeoutNanoseconds - elapsed + 999_999) / 1_000_000))
            if case .waiting(let deadline?) = idle {
                let now = kernel.clock.nanoseconds
                let untilDeadline = Int32(min(1000, deadline > now ? (deadline - now + 999_999) / 1_000_000 : 0))
                wait = wait < 0 ? untilDeadline : min(wait, untilDeadline)
            }
            if let control { control.poll(milliseconds: wait) } else if wait > 0 { _ = poll(nil, 0, wait) }
        }
    }
}

/// memory.grow calls the --invoke limit refused, reported once at the end (a guest may retry in a loop).
final class GrowthRefusals: @unchecked Sendable {
    // Touched only on the thread that runs the call.
    private var refused = 0
    private var largestBytes = 0
    func count(_ bytes: Int) { refused += 1; largestBytes = max(largestBytes, bytes) }
    func report(limit: String, module: String) {
        guard refused > 0 else { return }
        FileHandle.standardError.write(Data("\(module): \(refused) memory.grow refused (up to \(largestBytes) bytes asked) at --memory-limit \(limit); memory.grow returned -1\n".utf8))
    }
}
