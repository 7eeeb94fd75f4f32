// Devices through the guest ABI: a C guest (DeviceGuest.c, one scenario per build) talks to the
// simulated devices of a test board over IPC; the outside drives them as `fireball hal` would.
// Clock: simulated (ManualClock), so every run is the same.
import Foundation
import Testing
@testable import Core
@testable import HAL

final class DeviceRig {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let sdk = here.appendingPathComponent("../../Deploy/sdk").standardized.path

    static let boardText = """
        name: rig
        cpu: x86_64
        ram: 4 MiB
        flash: 4 MiB
        fpu: true
        partitions: {kernel: 64 KiB, runtime: 64 KiB, subsystem: 64 KiB, tier1: 64 KiB, guest: 2 MiB, stacks: 64 KiB}
        devices:
          - {name: uart0, kind: uart, window: {base: 0x1000, size: 256}, irq: 1}
          - {name: gpio0, kind: gpio, window: {base: 0x2000, size: 256}, irq: 2, pins: 8}
          - {name: timer0, kind: timer, window: {base: 0x3000, size: 256}, irq: 3}
          - name: adc0
            kind: adc
            window: {base: 0x4000, size: 256}
            irq: 4
            bits: 12
            channels: [{constant: 100}, {waveform: sawtooth, period-ms: 1000, low: 0, high: 1000}]
          - {name: i2c0, kind: i2c, window: {base: 0x5000, size: 256}, irq: 5, sensors: [{type: tmp102, address: 0x48, celsius: 21.5}]}
          - {name: spi0, kind: spi, window: {base: 0x100000, size: 64 KiB}, irq: 6, flash: {size: 64 KiB, jedec-id: 0xEF4016}}
        """

    let clock = ManualClock()
    let kernel: Kernel
    let service: DeviceService
    var console: [String] = []

    init() throws {
        let board = try Board.parse(Self.boardText, file: "rig.yaml")
        kernel = Kernel(clock: clock, configuration: KernelConfiguration(slice: .safePoints(200)), partitions: board.partitions)
        let capabilities = kernel.mintCapabilities()
        service = try DeviceService.start(on: kernel, board: board, capability: capabilities.systemRole, process: capabilities.process)
        kernel.console = { [unowned self] line in console.append(line) }
    }

    nonisolated(unsafe) static var built: [Int: LoadedModule] = [:]   // guarded by lock
    static let lock = NSLock()

    static func guest(_ scenario: Int) throws -> LoadedModule {
        lock.lock(); defer { lock.unlock() }
        if let module = built[scenario] { return module }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-hal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("guest.wasm").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["clang", "--target=wasm32", "-O2", "-ffreestanding", "-nostdlib", "-Wl,--no-entry", "-I", sdk, "-DSCENARIO=\(scenario)",
                             "-Wl,--page-size=1", "-Wl,-z,stack-size=4096", "-Wl,--initial-memory=16384", "-Wl,--max-memory=16384",
                             here.appendingPathComponent("Guests/DeviceGuest.c").path, "-o", output]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw DeviceControlError("clang failed for scenario \(scenario)") }
        let module = try LoadedModule.load([UInt8](try Data(contentsOf: URL(fileURLWithPath: output))))
        built[scenario] = module
        return module
    }

    @discardableResult
    func spawn(_ scenario: Int, name: String = "guest", grants: Set<String> = ["uart0", "gpio0", "timer0", "adc0", "i2c0", "spi0"]) throws -> TaskID {
        try kernel.spawnGuest(try Self.guest(scenario), name: name, devices: grants, capability: ProcessCapability())
    }

    /// Runs until every guest is done or blocked with nothing due before `until` (simulated time).
    func run(until limit: UInt64 = 5_000_000_000) {
        while true {
            let idle = kernel.runUntilIdle()
            guard case .waiting(let deadline?) = idle, deadline <= limit else { return }
            clock.nanoseconds = max(clock.nanoseconds, deadline)
        }
    }

    func advance(_ nanoseconds: UInt64) { run(until: clock.nanoseconds + nanoseconds) }

    /// The numbers a guest reported under `label` ("label a b c" over the UART).
    func report(_ label: String, from guest: String = "guest") -> [Int]? {
        for line in console.reversed() where line.hasPrefix("[\(guest)] \(label) ") {
            return line.split(separator: " ").dropFirst(2).compactMap { Int($0) }
        }
        return nil
    }

    func control(_ command: String) throws -> [String] {
        try DeviceControl.run(command.split(separator: " ").map(String.init), on: service.bus)
    }
}

@Suite(.serialized) struct DeviceTests {
    @Test func gpioEdgesRunTheHandlerOncePerRisingEdge() throws {
        let rig = try DeviceRig()
        try rig.spawn(1)
        rig.advance(1_000_000)
        #expect(rig.report("configure") == [0, 0, 0])
        for _ in 0..<3 {
            _ = try rig.control("gpio set 4 1")
            rig.advance(100_000)
            _ = try rig.control("gpio set 4 0")    // falling: not watched
            rig.advance(100_000)
        }
        rig.run()
        #expect(rig.report("edges") == [3, 0, 0])
        #expect(rig.report("set-input") == [Int(KernelError.denied.rawValue), 0, 0])
        #expect(rig.report("output") == [0, 0, 0])     // set 1, toggle -> 0
        #expect(rig.report("port") == [4, 0, 0])
        #expect(rig.report("bad-pin") == [Int(KernelError.invalidArgument.rawValue), 0, 0])
        let changes = rig.service.bus.history.filter { if case .pin(6, _) = $0.kind { true } else { false } }
        #expect(changes.map(\.source) == ["guest", "guest"])
    }

    @Test func periodicAndOneShotTimersExpireOnTheNodeClock() throws {
        let rig = try DeviceRig()
        try rig.spawn(2)
        rig.run()
        #expect(rig.report("periodic") == [5, 5, 0])       // stopped after 5: no more
        #expect(rig.report("oneshot") == [6, 0, 0])        // exactly one more
        #expect(rig.report("too-short") == [Int(KernelError.invalidArgument.rawValue), 0, 0])
    }

    @Test func adcSamplesFollowTheirSourceAndTime() throws {
        let rig = try DeviceRig()
        try rig.spawn(3)
        rig.run()
        #expect(rig.report("select")?.first == 0)
        let read = try #require(rig.report("read"))
        #expect(read[0] == 2)
        let later = try #require(rig.report("later"))
        // Sawtooth over 1 s from 0 to 1000: 250 ms later it reads 250 counts higher.
        #expect(later[0] - read[1] == 250)
        #expect(later[1] == Int(KernelError.invalidArgument.rawValue))   // channel 9
        #expect(later[2] == Int(KernelError.invalidArgument.rawValue))   // no seek on an ADC
        _ = try rig.control("adc set 1 4095")
        #expect(try rig.control("adc read 1") == ["adc0 channel 1 = 4095"])
    }

    @Test func waveformsAndSeriesAreSampledExactly() throws {
        let rig = try DeviceRig()
        let adc = try rig.service.bus.device("adc0", as: ADC.self)
        try adc.load(.waveform(shape: .square, periodNanoseconds: 1_000_000, low: 10, high: 20), channel: 0)
        #expect(adc.sample(0, at: 100_000) == 20 && adc.sample(0, at: 600_000) == 10)
        try adc.load(.waveform(shape: .sine, periodNanoseconds: 4_000_000, low: 0, high: 4000), channel: 0)
        #expect(adc.sample(0, at: 0) == 2000 && adc.sample(0, at: 1_000_000) == 4000 && adc.sample(0, at: 3_000_000) == 0)
        try adc.load(.series(values: [1, 2, 3], intervalNanoseconds: 10), channel: 0)
        #expect([0, 10, 20, 30].map { adc.sample(0, at: $0) } == [1, 2, 3, 1])
        #expect(throws: SampleSeries.LoadError.self) { try SampleSeries.parse("# only a comment\n", maximum: 4095) }
        #expect(throws: SampleSeries.LoadError.self) { try SampleSeries.parse("12\n5000\n", maximum: 4095) }
        #expect(try SampleSeries.parse("t,v\n0,12\n1,13\n".replacingOccurrences(of: "t,v\n", with: ""), maximum: 4095) == [12, 13])
    }

    @Test func tmp102AnswersWithItsRegisterMap() throws {
        let rig = try DeviceRig()
        try rig.spawn(4)
        rig.run()
        #expect(rig.report("target") == [0, 1, 0])
        #expect(rig.report("temperature") == [2, 0x15, 0x80])      // 21.5 °C = 344 counts << 4 = 0x1580
        #expect(rig.report("config") == [0x60, 0xA0, 0])            // power-on configuration
        #expect(rig.report("write-config") == [3, 0, 0])
        #expect(rig.report("extended") == [0x0A, 0xC1, 0])          // 13-bit mode: 344 << 3 | 1
        #expect(rig.report("write-temperature") == [Int(KernelError.deviceError.rawValue), 0, 0])
        #expect(rig.report("absent") == [0, 0, Int(KernelError.deviceError.rawValue)])
        let chip = TMP102(celsius: -25)
        #expect(chip.read(2) == [0xE7, 0x00])                       // data sheet: -25 °C = 0xE70
    }

    @Test func spiFlashProgramsLikeNORAndErasesSectors() throws {
        let rig = try DeviceRig()
        try rig.spawn(5)
        rig.run()
        #expect(rig.report("jedec") == [0, 0xEF4016, 0])
        #expect(rig.report("seek") == [4096, 0, 0])
        #expect(rig.report("programmed") == [0x0F, 0x30, 0])       // a program only clears bits
        #expect(rig.report("erased") == [0xFF, 0xFF, Int(KernelError.invalidArgument.rawValue)])
        #expect(rig.report("past-end") == [Int(KernelError.invalidArgument.rawValue), 65536, 0])
        #expect(try rig.control("spi dump 4096 2").first?.hasSuffix("ff ff") == true)
    }

    @Test func uartLinesCarryTheGuestNameAndInputRaisesRX() throws {
        let rig = try DeviceRig()
        try rig.spawn(6, name: "echo")
        rig.advance(1_000_000)
        _ = try rig.control("uart send hi there")
        rig.run()
        #expect(rig.report("received", from: "echo") == [9, 1, Int(UInt8(ascii: "h"))])
        #expect(try rig.control("uart tail echo").last?.hasSuffix("uart0 [echo] received 9 1 104") == true)
        #expect(try rig.control("uart tail nobody").isEmpty)
    }

    @Test func onlyGrantedDevicesOpen() throws {
        let rig = try DeviceRig()
        try rig.spawn(7, grants: ["uart0", "ghost"])
        rig.run()
        // Not granted: EPERM (and a log line); granted but not on the board: ENOENT; bad handle: EBADF.
        #expect(rig.report("denied") == [Int(KernelError.denied.rawValue), Int(KernelError.noSuchService.rawValue), Int(KernelError.badHandle.rawValue)])
        #expect(rig.console.contains { $0.contains("denied: guest may not open device gpio0 (not granted)") })
    }

    @Test func maskedEdgesWaitAndAreEachDeliveredOnUnmask() throws {
        let rig = try DeviceRig()
        try rig.spawn(8)
        rig.advance(1_000_000)
        #expect(rig.report("masked") != nil)
        for level in [1, 0, 1] { _ = try rig.control("gpio set 4 \(level)") }
        rig.run()
        #expect(rig.report("while-masked") == [0, 0, 0])
        #expect(rig.report("unmasked") == [3, 0, 0])
    }

    @Test func anInterruptFloodDoesNotStarveOtherGuests() throws {
        let rig = try DeviceRig()
        try rig.spawn(9, name: "flooded")
        rig.advance(1_000_000)
        #expect(rig.report("flood-ready", from: "flooded") != nil)
        for k in 0..<2000 { _ = try rig.control("gpio set 4 \(k % 2 == 0 ? 1 : 0)") }
        try rig.spawn(10, name: "worker")
        // The worker needs 50 turns; the flooded guest takes at most 8 handlers a turn, so the
        // worker finishes long before the 2000 edges are through.
        _ = rig.kernel.runUntilIdle(maxSlices: 200)
        #expect(rig.report("worker", from: "worker") == [50, 0, 0])
        #expect(rig.report("flood", from: "flooded") == nil)
        rig.run()
        #expect(rig.report("flood", from: "flooded") == [2000, 0, 0])
    }

    @Test func controlCommandsExplainWhatIsWrong() throws {
        let rig = try DeviceRig()
        #expect(try rig.control("list").count == 6)
        #expect(throws: DeviceControlError.self) { try rig.control("gpio set 99 1") }
        #expect(throws: DeviceControlError.self) { try rig.control("gpio set 4 2") }
        #expect(throws: DeviceControlError.self) { try rig.control("pwm set 1") }
        #expect(throws: DeviceControlError.self) { try rig.control("adc load /nonexistent.csv") }
        #expect(throws: DeviceControlError.self) { try rig.control("i2c temp 0x50 20") }
        do {
            _ = try rig.control("spi0 frobnicate")
            Issue.record("an unknown verb must be refused")
        } catch let error as DeviceControlError {
            #expect(error.description.contains("spi0 (spi) has no operation 'frobnicate'"))
        }
    }
}
