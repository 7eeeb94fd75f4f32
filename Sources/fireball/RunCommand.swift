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
            wired by the URIs they serve and open; their UART/log lines are printed with their names.
            """)

    @Argument(help: "The .wasm module(s); with --invoke, the module and then the function's arguments.") var modulesAndArguments: [String]
    @Option(help: "The exported function to call (single-module mode).") var invoke: String?
    @Option(help: "Kernel mode: stop after this many seconds if guests are still running.") var timeout: Double = 30
    @Option(help: "Kernel mode: the board (a name in Deploy/boards, or a .yaml path): partitions, FPU, time slice.")
    var board: String?
    @Flag(help: "Refuse modules that use floating point, as a board without an FPU does.") var noFloat = false
    @Option(help: "Slice length in microseconds: the call runs in slices, as under the kernel (0: one unlimited run).")
    var sliceMicroseconds = 0
    @Option(name: .customLong("grant"), help: ArgumentHelp("Devices a guest may open: GUEST=DEV[,DEV…] (GUEST is the module's file name without .wasm).",
                                                          valueName: "grant"))
    var grants: [String] = []
    @Option(help: "Kernel mode: the node's name, for `fireball hal NAME …` (its control socket).") var name = "local"
    @Flag(help: "Kernel mode: keep serving devices and the control socket after the guests end (until Ctrl-C).") var stay = false

    func validate() throws {
        try checkOption(timeout, in: OptionLimits.runTimeoutSeconds, "--timeout")
        try checkOption(sliceMicroseconds, in: OptionLimits.sliceMicroseconds, "--slice-microseconds")
    }

    func run() throws {
        guard let invoke else { return try runKernel() }
        guard let module = modulesAndArguments.first else { throw ValidationError("no module given") }
        let arguments = Array(modulesAndArguments.dropFirst())
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
            do { definition = try Board.resolve(board) } catch { throw ValidationError("\(error)") }
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
        let kernel = Kernel(configuration: KernelConfiguration(slice: slice, executionLimits: limits), partitions: partitions)
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
                guests.append((try kernel.spawnGuest(loaded, name: name, devices: grantsByGuest[name] ?? [], capability: capabilities.process), name))
            } catch {
                FileHandle.standardError.write(Data("\(path): \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        let unknown = Set(grantsByGuest.keys).subtracting(guests.map(\.1))
        guard unknown.isEmpty else { throw ValidationError("--grant names no module given: \(unknown.sorted().joined(separator: ", "))") }
        let idle = control.map { runPolling(kernel, $0) } ?? kernel.runToCompletion(timeoutNanoseconds: UInt64(timeout * 1e9))
        fflush(nil)   // guest lines (stdout) before the status lines (stderr)
        var failed = false
        for (task, name) in guests {
            let state = kernel.state(of: task).map { "\($0)" } ?? "gone"
            if case .exited(let reason)? = kernel.state(of: task) {
                if case .completed = reason {} else if case .exited(0) = reason {} else { failed = true }
            }
            FileHandle.standardError.write(Data("\(name) (\(task)): \(state)\n".utf8))
        }
        switch idle {
        case .allExited: break
        case .waiting: FileHandle.standardError.write(Data("kernel idle: remaining guests wait on channels nobody will use\n".utf8))
        case .sliceLimit: break
        case .panicked: failed = true
        }
        if failed { throw ExitCode(2) }
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

    /// Runs the kernel and answers control commands between slices, sleeping in poll() until the
    /// next timer or command.
    func runPolling(_ kernel: Kernel, _ control: LocalControl) -> KernelIdle {
        let start = kernel.clock.nanoseconds
        while true {
            let idle = kernel.runUntilIdle()
            let elapsed = kernel.clock.nanoseconds &- start
            switch idle {
            case .allExited where !stay, .panicked, .sliceLimit:
                return idle
            case .waiting(nil) where !stay:
                return idle
            default:
                guard stay || elapsed < UInt64(timeout * 1e9) else { return idle }
                var wait: Int32 = stay ? -1 : Int32(min(1000, max(0, (UInt64(timeout * 1e9) - elapsed) / 1_000_000)))
                if case .waiting(let deadline?) = idle {
                    let now = kernel.clock.nanoseconds
                    let untilDeadline = Int32(min(1000, deadline > now ? (deadline - now + 999_999) / 1_000_000 : 0))
                    wait = wait < 0 ? untilDeadline : min(wait, untilDeadline)
                }
                control.poll(milliseconds: wait)
            }
        }
    }
}
