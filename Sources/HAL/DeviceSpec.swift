// A board's peripherals as data: kind, the address window a driver may reach, the interrupt line
// and the simulation's parameters (what the ADC samples, which sensor sits on the I2C bus).
import Foundation

public enum DeviceKind: String, Sendable, CaseIterable {
    case uart, gpio, timer, adc, i2c, spi
}

/// A device's register (or memory) window in the board's address map. Offsets that a guest seeks
/// to are checked against `size`; windows of one board may not overlap.
public struct AddressWindow: Sendable, Equatable, CustomStringConvertible {
    public let base: Int
    public let size: Int
    public func overlaps(_ other: AddressWindow) -> Bool { base < other.base + other.size && other.base < base + size }
    public var description: String {
        "window 0x\(String(base, radix: 16, uppercase: true))…0x\(String(base + size - 1, radix: 16, uppercase: true))"
    }
}

/// Where one ADC channel's samples come from.
public enum SampleSource: Sendable, Equatable {
    /// A periodic waveform between `low` and `high` (raw counts).
    case waveform(shape: Waveform, periodNanoseconds: UInt64, low: Double, high: Double)
    /// A recorded series (one value per line of a file), one sample per interval, looping.
    case series(values: [Double], intervalNanoseconds: UInt64)
    case constant(Double)
}

public enum Waveform: String, Sendable, CaseIterable { case sine, triangle, square, sawtooth }

/// A simulated chip on an I2C bus.
public struct I2CSensorSpec: Sendable, Equatable {
    /// Only the TI TMP102 so far: the register map of its data sheet.
    public let type: String
    public let address: Int
    public let celsius: Double
}

public enum DeviceParameters: Sendable, Equatable {
    case uart(baud: Int)
    case gpio(pins: Int)
    case timer
    case adc(bits: Int, channels: [SampleSource])
    case i2c(sensors: [I2CSensorSpec])
    /// A NOR flash (JEDEC id, size, 4 KiB sectors) on the bus, or MOSI wired to MISO.
    case spiFlash(bytes: Int, jedecID: UInt32)
    case spiLoopback
}

public struct DeviceSpec: Sendable, Equatable {
    /// The range of every number a device entry gives (Docs/hal.md lists them).
    public enum Limits {
        /// Windows lie in the board's 32-bit address space.
        public static let addressSpaceBytes = 1 << 32
        public static let windowBase = 0...(addressSpaceBytes - 1)
        public static let windowBytes = 1...addressSpaceBytes
        public static let irq = 0...31
        public static let baud = 1...10_000_000
        public static let pins = 1...32
        public static let adcBits = 8...16
        public static let adcChannels = 64
        /// A waveform's period and a series' interval: 1 ms to a day.
        public static let sampleNanoseconds: ClosedRange<UInt64> = 1_000_000...86_400_000_000_000
        public static let i2cAddress = 0x08...0x77
        public static let i2cSensors = 112
        /// What a TMP102 measures (data sheet: −55 °C to +150 °C).
        public static let celsius = -55.0...150.0
        /// A simulated flash fills at most the 32-bit address space (its sectors are allocated when
        /// first programmed, so a large one costs nothing until used).
        public static let flashBytes = 4096...(1 << 32)
        /// Three bytes: manufacturer, memory type, capacity.
        public static let jedecID = 0...0xFF_FFFF
    }


    public let name: String
    public let kind: DeviceKind
    public let window: AddressWindow
    /// The interrupt cause a guest gets unless it asks for another (0…31).
    public let irq: Int
    public let parameters: DeviceParameters

    static func parse(_ fields: YAMLMapping) throws(ConfigurationError) -> DeviceSpec {
        let kindText = try fields.string("kind")
        guard let kind = DeviceKind(rawValue: kindText) else {
            throw fields.error("kind", "unknown device kind '\(kindText)' (known: \(DeviceKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let common: Set<String> = ["name", "kind", "window", "irq"]
        let specific: [DeviceKind: Set<String>] = [
            .uart: ["baud"], .gpio: ["pins"], .timer: [], .adc: ["bits", "channels"], .i2c: ["sensors"], .spi: ["flash", "loopback"],
        ]
        try fields.allowOnly(common.union(specific[kind]!))
        let name = try fields.string("name")
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw fields.error("name", "use letters, digits, '-' and '_'")
        }
        let windowFields = try fields.mapping("window")
        try windowFields.allowOnly(["base", "size"])
        let window = AddressWindow(base: try windowFields.int("base", in: Limits.windowBase, meaning: "the 32-bit address space"), size: try windowFields.bytes("size", in: Limits.windowBytes))
        // Both are checked above, so the end cannot overflow.
        guard window.base + window.size <= Limits.addressSpaceBytes else {
            throw fields.error("window", "\(window) ends past the 32-bit address space")
        }
        let irq = try fields.int("irq", in: Limits.irq, meaning: "the interrupt causes")
        let parameters: DeviceParameters
        switch kind {
        case .uart:
            parameters = .uart(baud: fields.has("baud") ? try fields.int("baud", in: Limits.baud) : 115_200)
        case .gpio:
            let pins = fields.has("pins") ? try fields.int("pins", in: Limits.pins, meaning: "a port has 1…32 pins") : 32
            parameters = .gpio(pins: pins)
        case .timer:
            parameters = .timer
        case .adc:
            let bits = fields.has("bits") ? try fields.int("bits", in: Limits.adcBits, meaning: "simulated ADCs have 8…16 bits") : 12
            var channels: [SampleSource] = []
            let items = try fields.mappings("channels")
            guard items.count <= Limits.adcChannels else { throw fields.error("channels", "\(items.count) channels, at most \(Limits.adcChannels)") }
            for channel in items { channels.append(try parseSource(channel, bits: bits)) }
            guard !channels.isEmpty else { throw fields.error("channels", "an ADC needs at least one channel") }
            parameters = .adc(bits: bits, channels: channels)
        case .i2c:
            var sensors: [I2CSensorSpec] = []
            let items = try fields.mappings("sensors")
            guard items.count <= Limits.i2cSensors else { throw fields.error("sensors", "\(items.count) sensors, at most \(Limits.i2cSensors)") }
            for sensor in items {
                try sensor.allowOnly(["type", "address", "celsius"])
                let type = try sensor.string("type")
                guard type == "tmp102" else { throw sensor.error("type", "unknown sensor '\(type)' (known: tmp102)") }
                let address = try sensor.int("address", in: Limits.i2cAddress, meaning: "a 7-bit device address, 0x08…0x77")
                guard !sensors.contains(where: { $0.address == address }) else { throw sensor.error("address", "two devices at the same address") }
                sensors.append(I2CSensorSpec(type: type, address: address, celsius: sensor.has("celsius") ? try sensor.double("celsius", in: Limits.celsius) : 22))
            }
            parameters = .i2c(sensors: sensors)
        case .spi:
            if fields.has("flash") {
                let flash = try fields.mapping("flash")
                try flash.allowOnly(["size", "jedec-id"])
                let bytes = try flash.bytes("size", in: Limits.flashBytes)
                guard bytes % 4096 == 0, bytes <= window.size else {
                    throw flash.error("size", "a whole number of 4 KiB sectors that fits the device's window (\(window.size) bytes)")
                }
                let jedecID = flash.has("jedec-id") ? try flash.int("jedec-id", in: Limits.jedecID, meaning: "three bytes, 0x000000…0xFFFFFF") : 0xEF4016
                parameters = .spiFlash(bytes: bytes, jedecID: UInt32(jedecID))
            } else if fields.has("loopback"), try fields.bool("loopback") {
                parameters = .spiLoopback
            } else {
                throw fields.error("flash", "an SPI bus needs a flash chip (flash: {size: …}) or loopback: true")
            }
        }
        return DeviceSpec(name: name, kind: kind, window: window, irq: irq, parameters: parameters)
    }

    static func parseSource(_ channel: YAMLMapping, bits: Int) throws(ConfigurationError) -> SampleSource {
        try channel.allowOnly(["waveform", "period-ms", "low", "high", "series", "interval-ms", "constant"])
        let full = Double((1 << bits) - 1)
        func count(_ key: String, _ fallback: Double) throws(ConfigurationError) -> Double {
            guard channel.has(key) else { return fallback }
            return try channel.double(key, in: 0...full)
        }
        if channel.has("waveform") {
            let text = try channel.string("waveform")
            guard let shape = Waveform(rawValue: text) else {
                throw channel.error("waveform", "unknown waveform '\(text)' (known: \(Waveform.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let period = try channel.milliseconds("period-ms", in: Limits.sampleNanoseconds)
            return .waveform(shape: shape, periodNanoseconds: period, low: try count("low", 0), high: try count("high", full))
        }
        if channel.has("series") {
            let path = try channel.string("series")
            let values: [Double]
            do { values = try SampleSeries.load(path: path, relativeTo: channel.file, maximum: full) } catch {
                throw channel.error("series", error.detail)
            }
            let interval = channel.has("interval-ms") ? try channel.milliseconds("interval-ms", in: Limits.sampleNanoseconds) : 100_000_000
            return .series(values: values, intervalNanoseconds: interval)
        }
        if channel.has("constant") { return .constant(try count("constant", 0)) }
        throw channel.error("waveform", "a channel needs a waveform, a series or a constant")
    }
}

/// A recorded series: one number per line; blank lines and lines starting with '#' are skipped.
public enum SampleSeries {
    public struct LoadError: Error { public let detail: String }
    /// Samples in one series, at most.
    public static let samplesMax = 1_000_000
    /// Bytes of a series file, at most.
    public static let fileBytesMax = 16 << 20

    public static func parse(_ text: String, maximum: Double) throws(LoadError) -> [Double] {
        var values: [Double] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            // A CSV line: the last column is the value.
            let field = trimmed.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard let value = Double(field), value >= 0, value <= maximum else {
                throw LoadError(detail: "line \(index + 1): '\(field)' is not a sample in 0…\(Int(maximum))")
            }
            guard values.count < samplesMax else { throw LoadError(detail: "line \(index + 1): more than \(samplesMax) samples") }
            values.append(value)
        }
        guard !values.isEmpty else { throw LoadError(detail: "no samples") }
        return values
    }

    public static func load(path: String, relativeTo file: String, maximum: Double) throws(LoadError) -> [Double] {
        let resolved = path.hasPrefix("/") ? path : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(path).path
        // Read at most `fileBytesMax` (a board may name any path, /dev/zero included).
        guard let handle = FileHandle(forReadingAtPath: resolved) else { throw LoadError(detail: "cannot read \(resolved)") }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: fileBytesMax + 1) ?? Data() else { throw LoadError(detail: "cannot read \(resolved)") }
        guard data.count <= fileBytesMax else { throw LoadError(detail: "\(resolved) is larger than \(fileBytesMax / (1 << 20)) MiB") }
        return try parse(String(decoding: data, as: UTF8.self), maximum: maximum)
    }
}
