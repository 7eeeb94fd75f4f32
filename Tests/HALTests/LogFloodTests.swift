// A guest that floods every console path (log, stdout, its UART) on each shipped board is held to
// its log rate limit while its neighbour on the same kernel finishes; and a 3 GiB flash boots in
// normal memory. Real kernel, real C guests (Guests/LogGuest.c), simulated clock: deterministic.
import Foundation
import Testing
@testable import Core
@testable import HAL

final class LogRig {
    let clock = ManualClock()
    let kernel: Kernel
    let service: DeviceService
    var console: [String] = []

    init(board: Board) throws {
        var configuration = KernelConfiguration(slice: .safePoints(200), executionLimits: board.executionLimits)
        configuration.logRateLimit = board.logRateLimit
        kernel = Kernel(clock: clock, configuration: configuration, partitions: board.partitions)
        let capabilities = kernel.mintCapabilities()
        service = try DeviceService.start(on: kernel, board: board, capability: capabilities.systemRole, process: capabilities.process)
        kernel.console = { [unowned self] line in console.append(line) }
    }

    nonisolated(unsafe) static var built: [Int: LoadedModule] = [:]   // guarded by lock
    static let lock = NSLock()

    /// Scenario `n` of LogGuest.c in one-byte pages: 4 KiB of memory, so that two fit the 24 KiB
    /// guest partition of the Cortex-M33 with their value stacks.
    static func guest(_ scenario: Int) throws -> LoadedModule {
        lock.lock(); defer { lock.unlock() }
        if let module = built[scenario] { return module }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("guest.wasm").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["clang", "--target=wasm32", "-O2", "-ffreestanding", "-nostdlib", "-Wl,--no-entry", "-I", DeviceRig.sdk,
                             "-DSCENARIO=\(scenario)", "-Wl,--page-size=1", "-Wl,--stack-first", "-Wl,-z,stack-size=2048",
                             "-Wl,--initial-memory=4096", "-Wl,--max-memory=4096",
                             DeviceRig.here.appendingPathComponent("Guests/LogGuest.c").path, "-o", output]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw DeviceControlError("clang failed for LogGuest scenario \(scenario)") }
        let module = try LoadedModule.load([UInt8](try Data(contentsOf: URL(fileURLWithPath: output))))
        built[scenario] = module
        return module
    }

    func lines(of guest: String) -> [String] { console.filter { $0.contains("[\(guest)]") } }
}

@Suite(.serialized) struct LogFloodTests {
    @Test(arguments: ["cortex-m33", "microbit-v2", "esp32-c3", "linux-host"])
    func aFloodingGuestIsLimitedAndItsNeighbourFinishes(boardName: String) throws {
        let board = try Board.resolve(boardName, in: BoardTests.boards)
        let rig = try LogRig(board: board)
        let flooder = try rig.kernel.spawnGuest(try LogRig.guest(1), name: "flooder", devices: ["uart0"], capability: ProcessCapability())
        let neighbour = try rig.kernel.spawnGuest(try LogRig.guest(2), name: "neighbour", capability: ProcessCapability())
        // 1 ms of simulated time per 16 slices, until the neighbour is done (bounded: it needs a few hundred).
        var turns = 0
        while rig.kernel.state(of: neighbour) == .runnable || rig.kernel.state(of: neighbour) == .blocked, turns < 20_000 {
            rig.kernel.runUntilIdle(maxSlices: 16)
            rig.clock.advance(by: 1_000_000)
            turns += 1
        }
        #expect(rig.kernel.state(of: neighbour) == .exited(.completed), "neighbour after \(turns) turns: \(String(describing: rig.kernel.state(of: neighbour)))")
        // Its ten progress lines and its result all came through: its bucket is its own.
        let neighbourLines = rig.console.filter { $0.contains("[neighbour]") && !$0.contains("[flooder]") }
        #expect(neighbourLines.count == 11, "\(neighbourLines)")
        #expect(neighbourLines.last?.hasPrefix("[neighbour] neighbour done ") == true)
        // Let the flood run on for 2 simulated seconds, then end it: its drops are announced.
        for _ in 0..<200 {
            rig.kernel.runUntilIdle(maxSlices: 4)
            rig.clock.advance(by: 10_000_000)
        }
        rig.kernel.kill(flooder, capability: ProcessCapability())
        let seconds = Double(rig.clock.nanoseconds) / 1e9
        let limit = board.logRateLimit
        let printed = rig.lines(of: "flooder").filter { !$0.contains("dropped (rate limit") }
        let notices = rig.lines(of: "flooder").filter { $0.contains("dropped (rate limit") }
        #expect(printed.count <= limit.burstLines + Int(Double(limit.linesPerSecond) * seconds) + 1,
                "\(printed.count) lines in \(seconds) s")
        #expect(printed.count >= limit.burstLines)
        let dropped = rig.kernel.logger.linesDropped(by: flooder)
        #expect(dropped > 1_000, "dropped \(dropped)")
        // Announced at most once a second, and every dropped line in some announcement.
        #expect(notices.count >= 2 && notices.count <= Int(seconds) + 1, "\(notices)")
        let announced = notices.compactMap { Int($0.split(separator: " ")[1]) }.reduce(0, +)
        #expect(announced == dropped)
        // Every line of the flooder is one escaped line: the forged line and the escape code stay inside.
        #expect(!rig.console.contains { $0.hasPrefix("[neighbour] INFO forged") || $0.contains("\u{1B}") || $0.contains("\n") })
        #expect(printed.contains { $0.hasSuffix("[flooder] INFO flood: log line\\n[neighbour] INFO forged") })
        #expect(printed.contains { $0 == "[flooder] flood: stdout line\\x1b[2J" })
        #expect(printed.allSatisfy { $0.utf8.count <= 1100 })
        // What the UART showed went through the same bucket (and `uart tail` saw only those lines).
        let uartTail = try DeviceControl.run(["uart", "tail", "flooder"], on: rig.service.bus)
        #expect(uartTail.count <= printed.count)
    }

    /// A 3 GiB flash allocates nothing at boot, reads erased, and keeps what a guest programs.
    @Test func aThreeGiBFlashBootsInNormalMemoryAndKeepsWrittenSectors() throws {
        let text = """
            name: big-flash
            cpu: x86_64
            ram: 4 MiB
            flash: 3 GiB
            fpu: true
            partitions: {kernel: 64 KiB, runtime: 64 KiB, subsystem: 64 KiB, tier1: 64 KiB, guest: 2 MiB, stacks: 64 KiB}
            devices:
              - {name: spi0, kind: spi, window: {base: 0x40000000, size: 3 GiB}, irq: 6, flash: {size: 3 GiB}}
            """
        let residentBefore = Self.residentBytes()
        let rig = try LogRig(board: try Board.parse(text, file: "big-flash.yaml"))
        let flash = try #require(rig.service.bus.device("spi0") as? SPIFlash)
        #expect(flash.byteCount == 3 << 30 && flash.residentBytes == 0)
        #expect(Self.residentBytes() - residentBefore < 64 << 20)
        _ = try rig.kernel.spawnGuest(try LogRig.guest(3), name: "flash", devices: ["spi0"], capability: ProcessCapability())
        for _ in 0..<100 where !rig.console.contains(where: { $0.contains("written") }) {
            rig.kernel.runUntilIdle()
            rig.clock.advance(by: 1_000_000)
        }
        #expect(rig.console.contains { $0.hasSuffix("[flash] INFO fresh 255 255") }, "\(rig.console)")
        #expect(rig.console.contains { $0.hasSuffix("[flash] INFO written 18 52 255") }, "\(rig.console)")
        #expect(flash.residentBytes == SPIFlash.sectorBytes)
        let dump = try DeviceControl.run(["spi", "dump", "\(3 << 30 - 4096)", "4"], on: rig.service.bus)
        #expect(dump == ["bffff000  12 34 ff ff"])
        #expect(try DeviceControl.run(["spi", "dump", "0", "2"], on: rig.service.bus) == ["00000000  ff ff"])
        #expect(throws: DeviceControlError.self) { try DeviceControl.run(["spi", "dump", "\(3 << 30 - 1)", "2"], on: rig.service.bus) }
    }

    /// This process's resident set (Linux: /proc/self/statm, pages).
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }
}
