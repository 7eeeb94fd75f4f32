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
        let window = AddressWindow(base: try windowFields.int("base"), size: try windowFields.bytes("size"))
        guard window.base >= 0, window.size > 0, window.base + window.size <= 1 << 32 else {
            throw fields.error("window", "must lie inside the 32-bit address space and have a positive size")
        }
        let irq = try fields.int("irq")
        guard (0..<32).contains(irq) else { throw fields.error("irq", "\(irq) is outside the interrupt causes 0…31") }
        let parameters: DeviceParameters
        switch kind {
        case .uart:
            parameters = .uart(baud: fields.has("baud") ? try fields.int("baud") : 115_200)
        case .gpio:
            let pins = fields.has("pins") ? try fields.int("pins") : 32
            guard (1...32).contains(pins) else { throw fields.error("pins", "\(pins) pins; a port has 1…32") }
            parameters = .gpio(pins: pins)
        case .timer:
            parameters = .timer
        case .adc:
            let bits = fields.has("bits") ? try fields.int("bits") : 12
            guard (8...16).contains(bits) else { throw fields.error("bits", "\(bits)-bit; simulated ADCs have 8…16 bits") }
            var channels: [SampleSource] = []
            for channel in try fields.mappings("channels") { channels.append(try parseSource(channel, bits: bits)) }
            guard !channels.isEmpty else { throw fields.error("channels", "an ADC needs at least one channel") }
            parameters = .adc(bits: bits, channels: channels)
        case .i2c:
            var sensors: [I2CSensorSpec] = []
            for sensor in try fields.mappings("sensors") {
                try sensor.allowOnly(["type", "address", "celsius"])
                let type = try sensor.string("type")
                guard type == "tmp102" else { throw sensor.error("type", "unknown sensor '\(type)' (known: tmp102)") }
                let address = try sensor.int("address")
                guard (0x08...0x77).contains(address) else { throw sensor.error("address", "0x\(String(address, radix: 16)) is not a 7-bit device address") }
                guard !sensors.contains(where: { $0.address == address }) else { throw sensor.error("address", "two devices at the same address") }
                sensors.append(I2CSensorSpec(type: type, address: address, celsius: sensor.has("celsius") ? try sensor.double("celsius") : 22))
            }
            parameters = .i2c(sensors: sensors)
        case .spi:
            if fields.has("flash") {
                let flash = try fields.mapping("flash")
                try flash.allowOnly(["size", "jedec-id"])
                let bytes = try flash.bytes("size")
                guard bytes >= 4096, bytes % 4096 == 0, bytes <= window.size else {
                    throw flash.error("size", "a whole number of 4 KiB sectors that fits the device's window (\(window.size) bytes)")
                }
                parameters = .spiFlash(bytes: bytes, jedecID: UInt32(flash.has("jedec-id") ? try flash.int("jedec-id") : 0xEF4016))
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
            let value = channel.has(key) ? try channel.double(key) : fallback
            guard value >= 0, value <= full else { throw channel.error(key, "\(value) is outside the ADC's range 0…\(Int(full))") }
            return value
        }
        if channel.has("waveform") {
            let text = try channel.string("waveform")
            guard let shape = Waveform(rawValue: text) else {
                throw channel.error("waveform", "unknown waveform '\(text)' (known: \(Waveform.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let period = try channel.int("period-ms")
            guard period > 0 else { throw channel.error("period-ms", "must be positive") }
            return .waveform(shape: shape, periodNanoseconds: UInt64(period) * 1_000_000, low: try count("low", 0), high: try count("high", full))
        }
        if channel.has("series") {
            let path = try channel.string("series")
            let values: [Double]
            do { values = try SampleSeries.load(path: path, relativeTo: channel.file, maximum: full) } catch {
                throw channel.error("series", error.detail)
            }
            let interval = channel.has("interval-ms") ? try channel.int("interval-ms") : 100
            guard interval > 0 else { throw channel.error("interval-ms", "must be positive") }
            return .series(values: values, intervalNanoseconds: UInt64(interval) * 1_000_000)
        }
        if channel.has("constant") { return .constant(try count("constant", 0)) }
        throw channel.error("waveform", "a channel needs a waveform, a series or a constant")
    }
}

/// A recorded series: one number per line; blank lines and lines starting with '#' are skipped.
public enum SampleSeries {
    public struct LoadError: Error { public let detail: String }

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
            values.append(value)
        }
        guard !values.isEmpty else { throw LoadError(detail: "no samples") }
        return values
    }

    public static func load(path: String, relativeTo file: String, maximum: Double) throws(LoadError) -> [Double] {
        let resolved = path.hasPrefix("/") ? path : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(path).path
        guard let data = FileManager.default.contents(atPath: resolved) else {
            throw LoadError(detail: "cannot read \(resolved)")
        }
        return try parse(String(decoding: data, as: UTF8.self), maximum: maximum)
    }
}
