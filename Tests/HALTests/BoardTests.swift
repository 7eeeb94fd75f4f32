import Foundation
import Testing
@testable import Core
@testable import HAL

@Suite struct BoardTests {
    static let boards = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Deploy/boards").standardized.path

    static let valid = """
        name: test-board
        cpu: riscv32
        ram: 400 KiB
        flash: 4 MiB
        fpu: false
        partitions:
          kernel: 8 KiB
          runtime: 8 KiB
          subsystem: 16 KiB
          tier1: 32 KiB
          guest: 320 KiB
          stacks: 16 KiB
        """

    @Test(arguments: ["cortex-m33", "microbit-v2", "esp32-c3", "linux-host"])
    func shippedBoardsLoad(name: String) throws {
        let board = try Board.resolve(name, in: Self.boards)
        #expect(board.name == name)
        #expect(board.partitions.totalBytes <= board.ramBytes)
        #expect(board.sliceMicroseconds == 300)
    }

    @Test func realChipFigures() throws {
        let microbit = try Board.resolve("microbit-v2", in: Self.boards)
        #expect(microbit.ramBytes == 128 * 1024 && microbit.flashBytes == 512 * 1024 && microbit.hasFPU && microbit.cpu == .cortexM4F)
        let esp = try Board.resolve("esp32-c3", in: Self.boards)
        #expect(esp.ramBytes == 400 * 1024 && !esp.hasFPU && esp.cpu == .riscV32 && esp.clockMHz == 160)
        let m33 = try Board.resolve("cortex-m33", in: Self.boards)
        #expect(m33.ramBytes == 64 * 1024 && m33.flashBytes == 128 * 1024)
    }

    func refusal(_ text: String) -> ConfigurationError? {
        #expect(throws: ConfigurationError.self) { try Board.parse(text, file: "bad.yaml") }
    }

    @Test func partitionsLargerThanRAMAreRefused() {
        let error = refusal(Self.valid.replacingOccurrences(of: "guest: 320 KiB", with: "guest: 400 KiB"))
        #expect(error?.field == "partitions" && error?.line == 6 && error?.detail.contains("more than the board's 400 KiB") == true)
    }

    @Test func aPartitionBelowTheUpstreamMinimumIsRefused() {
        let error = refusal(Self.valid.replacingOccurrences(of: "guest: 320 KiB", with: "guest: 16 KiB"))
        #expect(error?.field == "partitions.guest" && error?.line == 11 && error?.detail.contains("24 KiB") == true)
    }

    @Test func unknownDeviceKindsAreRefused() {
        let error = refusal(Self.valid + "\ndevices:\n  - kind: laser\n")
        #expect(error?.field == "devices[0].kind" && error?.line == 14 && error?.detail.contains("laser") == true)
    }

    static let uart = "  - {name: uart0, kind: uart, window: {base: 0x1000, size: 256}, irq: 1}\n"

    @Test(arguments: [
        // (device lines, field named, words of the detail)
        (uart + uart.replacingOccurrences(of: "irq: 1", with: "irq: 2"), "devices[1].name", "defined twice"),
        (uart + "  - {name: gpio0, kind: gpio, window: {base: 0x10F0, size: 256}, irq: 2}\n", "devices[1].window", "overlaps uart0"),
        ("  - {name: t, kind: timer, window: {base: 0, size: 16}, irq: 32}\n", "devices[0].irq", "0…31"),
        ("  - {name: t, kind: timer, irq: 3}\n", "devices[0].window", "missing"),
        ("  - {name: t, kind: timer, window: {base: 0, size: 16}, irq: 3, pins: 4}\n", "devices[0].pins", "unknown field"),
        ("  - {name: g, kind: gpio, window: {base: 0, size: 16}, irq: 3, pins: 40}\n", "devices[0].pins", "1…32"),
        ("  - {name: i, kind: i2c, window: {base: 0, size: 16}, irq: 3, sensors: [{type: tmp102, address: 0x90}]}\n",
         "devices[0].sensors[0].address", "7-bit"),
        ("  - {name: i, kind: i2c, window: {base: 0, size: 16}, irq: 3, sensors: [{type: bme280, address: 0x76}]}\n",
         "devices[0].sensors[0].type", "tmp102"),
        ("  - {name: s, kind: spi, window: {base: 0, size: 4 KiB}, irq: 3, flash: {size: 1 MiB}}\n", "devices[0].flash.size", "window"),
        ("  - {name: s, kind: spi, window: {base: 0, size: 4 KiB}, irq: 3}\n", "devices[0].flash", "loopback"),
        ("  - {name: a, kind: adc, window: {base: 0, size: 16}, irq: 3, channels: [{waveform: hum, period-ms: 5}]}\n",
         "devices[0].channels[0].waveform", "sine"),
        ("  - {name: a, kind: adc, window: {base: 0, size: 16}, irq: 3, bits: 12, channels: [{constant: 5000}]}\n",
         "devices[0].channels[0].constant", "0…4095"),
        ("  - {name: a, kind: adc, window: {base: 0, size: 16}, irq: 3, channels: [{series: missing.csv}]}\n",
         "devices[0].channels[0].series", "cannot read"),
    ])
    func inconsistentDevicesAreRefusedByField(devices: String, field: String, words: String) {
        let error = refusal(Self.valid + "\ndevices:\n" + devices)
        #expect(error?.field == field, "\(error.map { "\($0)" } ?? "accepted")")
        #expect(error?.detail.contains(words) == true, "\(error.map { "\($0)" } ?? "accepted")")
        #expect(error?.line != nil)
    }

    /// The hostile board files of issue 13: each once crashed `run`, `node` or `plan` on overflow or
    /// a precondition; each is now refused with its field, line and range.
    @Test(arguments: [
        // (replace this, with that; field named, words of the detail)
        ("ram: 400 KiB", "ram: 8589934592 GiB", "ram", "4 GiB"),
        ("ram: 400 KiB", "ram: 9223372036854775807", "ram", "4 GiB"),
        ("guest: 320 KiB", "guest: 2 GiB", "partitions.guest", "1 GiB"),
        ("guest: 320 KiB", "guest: 9223372036854775000", "partitions.guest", "1 GiB"),
        ("flash: 4 MiB", "flash: 99999999999999999999", "flash", "4 GiB"),
        ("fpu: false", "fpu: false\nvalue-stack: 8 GiB", "value-stack", "16 MiB"),
        ("fpu: false", "fpu: false\nstack-slot: 4 GiB", "stack-slot", "1 MiB"),
        ("fpu: false", "fpu: false\nslice-us: 9223372036854775807", "slice-us", "100000"),
        ("fpu: false", "fpu: false\nclock-mhz: -1", "clock-mhz", "0…100000"),
    ])
    func hostileBoardNumbersAreRefused(replace: String, with replacement: String, field: String, words: String) {
        let error = refusal(Self.valid.replacingOccurrences(of: replace, with: replacement))
        #expect(error?.field == field && error?.line != nil, "\(error.map { "\($0)" } ?? "accepted")")
        #expect(error?.detail.contains(words) == true, "\(error.map { "\($0)" } ?? "accepted")")
    }

    @Test(arguments: [
        ("  - {name: u, kind: uart, window: {base: 0x7FFFFFFFFFFFFFFF, size: 4 KiB}, irq: 8}\n", "devices[0].window.base", "address space"),
        ("  - {name: u, kind: uart, window: {base: 16, size: 9223372036854775807}, irq: 8}\n", "devices[0].window.size", "4 GiB"),
        ("  - {name: u, kind: uart, window: {base: 0xFFFFF000, size: 8 KiB}, irq: 8}\n", "devices[0].window", "32-bit"),
        ("  - {name: u, kind: uart, window: {base: 16, size: 16}, irq: 8, baud: 0}\n", "devices[0].baud", "outside"),
        ("  - {name: a, kind: adc, window: {base: 16, size: 16}, irq: 8, channels: [{waveform: sine, period-ms: 9223372036854775807}]}\n",
         "devices[0].channels[0].period-ms", "1 d"),
        ("  - {name: a, kind: adc, window: {base: 16, size: 16}, irq: 8, channels: [{waveform: sine, period-ms: 0}]}\n",
         "devices[0].channels[0].period-ms", "1 ms"),
        ("  - {name: a, kind: adc, window: {base: 16, size: 16}, irq: 8, channels: [{constant: .nan}]}\n", "devices[0].channels[0].constant", "outside"),
        ("  - {name: s, kind: spi, window: {base: 16, size: 4 KiB}, irq: 8, flash: {size: 4 KiB, jedec-id: 0x1FFFFFFFF}}\n",
         "devices[0].flash.jedec-id", "three bytes"),
        ("  - {name: s, kind: spi, window: {base: 0, size: 4 GiB}, irq: 8, flash: {size: 8 GiB}}\n", "devices[0].flash.size", "4 GiB"),
        ("  - {name: s, kind: spi, window: {base: 0, size: 4 GiB}, irq: 8, flash: {size: 18446744073709551615 KiB}}\n", "devices[0].flash.size", "4 GiB"),
        ("  - {name: i, kind: i2c, window: {base: 0, size: 16}, irq: 3, sensors: [{type: tmp102, address: 0x48, celsius: 1e300}]}\n",
         "devices[0].sensors[0].celsius", "outside"),
    ])
    func hostileDeviceNumbersAreRefused(devices: String, field: String, words: String) {
        let error = refusal(Self.valid + "\ndevices:\n" + devices)
        #expect(error?.field == field && error?.line != nil, "\(error.map { "\($0)" } ?? "accepted")")
        #expect(error?.detail.contains(words) == true, "\(error.map { "\($0)" } ?? "accepted")")
    }

    @Test func theLargestBoardWithinTheLimitsLoads() throws {
        let text = Self.valid.replacingOccurrences(of: "ram: 400 KiB", with: "ram: 4 GiB").replacingOccurrences(of: "guest: 320 KiB", with: "guest: 1 GiB")
            + "\ndevices:\n  - {name: s, kind: spi, window: {base: 0, size: 4 GiB}, irq: 8, flash: {size: 4 GiB, jedec-id: 0xFFFFFF}}\n"
        let board = try Board.parse(text, file: "big.yaml")
        #expect(board.partitions[.guest] == Partition.bytesMax && board.ramBytes == 1 << 32)
        #expect(board.devices[0].parameters == .spiFlash(bytes: 1 << 32, jedecID: 0xFF_FFFF))
    }

    @Test func shippedBoardsDescribeTheirDevices() throws {
        let microbit = try Board.resolve("microbit-v2", in: Self.boards)
        #expect(microbit.devices.map(\.name) == ["uart0", "gpio0", "timer0", "adc0", "i2c0", "spi1"])
        #expect(microbit.device(named: "uart0")?.window == AddressWindow(base: 0x4000_2000, size: 4096))
        #expect(microbit.device(named: "uart0")?.irq == 2)
        guard case .adc(_, let channels)? = microbit.device(named: "adc0")?.parameters, case .series(let values, _) = channels[0] else {
            Issue.record("the micro:bit's ADC channel 0 replays the soil-moisture series"); return
        }
        #expect(values.count == 144)
    }

    @Test func unknownAndMissingFieldsAreNamed() {
        let unknown = refusal(Self.valid + "\ncolour: blue\n")
        #expect(unknown?.field == "colour" && unknown?.line == 13)
        let missing = refusal(Self.valid.replacingOccurrences(of: "fpu: false\n", with: ""))
        #expect(missing?.field == "fpu" && missing?.detail == "missing")
        let badSize = refusal(Self.valid.replacingOccurrences(of: "ram: 400 KiB", with: "ram: lots"))
        #expect(badSize?.field == "ram" && badSize?.line == 3)
    }

    @Test func theLogRateLimitComesFromTheBoardAndIsChecked() throws {
        #expect(try Board.parse(Self.valid, file: "b.yaml").logRateLimit == .standard)
        let board = try Board.parse(Self.valid + "\nlog: {burst: 50, lines-per-second: 5}\n", file: "b.yaml")
        #expect(board.logRateLimit.burstLines == 50 && board.logRateLimit.linesPerSecond == 5)
        let zero = refusal(Self.valid + "\nlog: {burst: 0}\n")
        #expect(zero?.field == "log.burst" && zero?.line == 13 && zero?.detail.contains("1…100000") == true, "\(String(describing: zero))")
        let fast = refusal(Self.valid + "\nlog: {lines-per-second: 1000000}\n")
        #expect(fast?.field == "log.lines-per-second" && fast?.detail.contains("1000000") == true)
        #expect(refusal(Self.valid + "\nlog: {rate: 5}\n")?.field == "log.rate")
        // A size past Int.max is refused, not an overflow trap.
        #expect(refusal(Self.valid.replacingOccurrences(of: "ram: 400 KiB", with: "ram: 99999999999999999 GiB"))?.field == "ram")
    }

    @Test func aBoardWithoutAnFPURefusesFloatModules() throws {
        let board = try Board.parse(Self.valid, file: "esp.yaml")
        let floatModule: [UInt8] = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7D]
        let error = #expect(throws: WasmError.self) { try LoadedModule.load(floatModule, options: board.loadOptions) }
        #expect(error?.code == .refusedByPolicy)
    }

    @Test func unknownBoardNamesListTheKnownOnes() {
        let error = #expect(throws: ConfigurationError.self) { try Board.resolve("pdp-11", in: Self.boards) }
        #expect(error?.detail.contains("microbit-v2") == true)
    }
}
