// Driving and observing devices from outside a running node (`fireball hal NODE …`): a command is
// a line of words; the answer is lines of text. Used over the node's control socket and by tests.
import Core
import Foundation

public enum DeviceControl {
    public static let usage = """
        list                                   devices, kinds, windows and interrupt lines
        gpio [DEV] set PIN 0|1                 drive an input pin (edges raise interrupts)
        gpio [DEV] get                         all pin levels
        uart [DEV] send TEXT…                  type a line into the UART (RX interrupt)
        uart [DEV] tail [GUEST]                recent UART lines (of one guest)
        adc [DEV] load FILE [CHANNEL]          feed a channel from a recorded series (one value a line)
        adc [DEV] set CHANNEL VALUE            hold a channel at a constant count
        adc [DEV] read CHANNEL                 sample a channel now
        i2c [DEV] temp ADDRESS CELSIUS         set a TMP102's temperature
        spi [DEV] dump OFFSET LENGTH           flash contents in hex
        events [N]                             the last N device events
        """

    /// The result lines of one command, or an error that says what was wrong.
    public static func run(_ words: [String], on bus: DeviceBus) throws(DeviceControlError) -> [String] {
        guard let first = words.first else { throw DeviceControlError("empty command; commands:\n\(usage)") }
        if first == "list" {
            return bus.devices.map { "\($0.spec.name)  \($0.spec.kind.rawValue)  \($0.spec.window)  irq \($0.spec.irq)" }
        }
        if first == "events" {
            let count = words.count > 1 ? Int(words[1]) ?? 20 : 20
            return bus.history.suffix(count).map(\.description)
        }
        // `KIND [DEVICE] VERB …` or `DEVICE VERB …`.
        var rest = Array(words.dropFirst())
        let device: SimulatedDevice
        if let named = bus.device(first) {
            device = named
        } else if let kind = DeviceKind(rawValue: first) {
            if let name = rest.first, let named = bus.device(name), named.spec.kind == kind {
                device = named
                rest.removeFirst()
            } else if let any = bus.devices.first(where: { $0.spec.kind == kind }) {
                device = any
            } else {
                throw DeviceControlError("\(bus.board.name) has no \(kind.rawValue) device")
            }
        } else {
            throw DeviceControlError("unknown command or device '\(first)'; commands:\n\(usage)")
        }
        guard let verb = rest.first else { throw DeviceControlError("\(device.spec.name): which operation? commands:\n\(usage)") }
        let arguments = Array(rest.dropFirst())
        func number(_ index: Int, _ what: String) throws(DeviceControlError) -> Int {
            guard index < arguments.count else { throw DeviceControlError("\(device.spec.name) \(verb): missing \(what)") }
            let text = arguments[index]
            if text.hasPrefix("0x"), let value = Int(text.dropFirst(2), radix: 16) { return value }
            guard let value = Int(text) else { throw DeviceControlError("\(device.spec.name) \(verb): \(what) '\(text)' is not a number") }
            return value
        }
        switch (device, verb) {
        case (let gpio as GPIO, "set"):
            let pin = try number(0, "pin"), level = try number(1, "level")
            guard level == 0 || level == 1 else { throw DeviceControlError("\(gpio.spec.name) set: level must be 0 or 1") }
            try gpio.drive(pin, level == 1)
            return ["\(gpio.spec.name) pin \(pin) = \(level)"]
        case (let gpio as GPIO, "get"):
            return gpio.pins.enumerated().map { "\(gpio.spec.name) pin \($0.offset) \($0.element.output ? "out" : "in ") \($0.element.level ? 1 : 0)" }
        case (let uart as UART, "send"):
            let text = arguments.joined(separator: " ") + "\n"
            uart.receive(Array(text.utf8))
            return ["\(uart.spec.name): \(text.utf8.count) bytes queued (\(uart.pendingInput) waiting)"]
        case (let uart as UART, "tail"):
            let guest = arguments.first
            return bus.history.compactMap { event in
                guard event.device == uart.spec.name, case .uartLine = event.kind, guest == nil || event.source == guest else { return nil }
                return event.description
            }
        case (let adc as ADC, "load"):
            guard let path = arguments.first else { throw DeviceControlError("\(adc.spec.name) load: missing FILE") }
            let channel = arguments.count > 1 ? try number(1, "channel") : 0
            guard let data = FileManager.default.contents(atPath: path) else { throw DeviceControlError("\(adc.spec.name) load: cannot read \(path)") }
            let values: [Double]
            do { values = try SampleSeries.parse(String(decoding: data, as: UTF8.self), maximum: adc.fullScale) } catch {
                throw DeviceControlError("\(adc.spec.name) load \(path): \(error.detail)")
            }
            try adc.load(.series(values: values, intervalNanoseconds: 100_000_000), channel: channel)
            return ["\(adc.spec.name) channel \(channel): \(values.count) samples, one per 100 ms"]
        case (let adc as ADC, "set"):
            let channel = try number(0, "channel"), value = try number(1, "value")
            guard value >= 0, Double(value) <= adc.fullScale else { throw DeviceControlError("\(adc.spec.name) set: \(value) is outside 0…\(Int(adc.fullScale))") }
            try adc.load(.constant(Double(value)), channel: channel)
            return ["\(adc.spec.name) channel \(channel) = \(value)"]
        case (let adc as ADC, "read"):
            let channel = try number(0, "channel")
            guard channel >= 0, channel < adc.channels.count else { throw DeviceControlError("\(adc.spec.name) has channels 0…\(adc.channels.count - 1)") }
            return ["\(adc.spec.name) channel \(channel) = \(adc.sample(channel, at: bus.now))"]
        case (let i2c as I2CBus, "temp"):
            let address = try number(0, "address")
            guard arguments.count > 1, let celsius = Double(arguments[1]) else { throw DeviceControlError("\(i2c.spec.name) temp: missing CELSIUS") }
            try i2c.setTemperature(address: address, celsius: celsius)
            return ["\(i2c.spec.name) 0x\(String(address, radix: 16)) = \(celsius) °C"]
        case (let flash as SPIFlash, "dump"):
            let offset = try number(0, "offset"), length = min(try number(1, "length"), 4096)
            guard offset >= 0, length >= 0, offset <= flash.byteCount - length else {
                throw DeviceControlError("\(flash.spec.name) dump: outside the flash (\(flash.byteCount) bytes)")
            }
            let cells = flash.cells(offset..<offset + length)
            return stride(from: 0, to: length, by: 16).map { row in
                String(format: "%08x ", offset + row) + cells[row..<min(row + 16, length)].map { String(format: " %02x", $0) }.joined()
            }
        default:
            throw DeviceControlError("\(device.spec.name) (\(device.spec.kind.rawValue)) has no operation '\(verb)'; commands:\n\(usage)")
        }
    }
}
