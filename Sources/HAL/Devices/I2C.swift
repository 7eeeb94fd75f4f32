// An I2C bus with simulated chips. The TMP102 follows TI's data sheet: a pointer register picks
// one of four 16-bit registers (temperature, configuration, T_LOW, T_HIGH), sent MSB first; the
// temperature is 12 bits of 0.0625 °C, left-justified (13 bits in extended mode).
import Core

final class TMP102 {
    static let temperatureRegister = 0, configurationRegister = 1, lowLimitRegister = 2, highLimitRegister = 3
    var celsius: Double
    var pointer = 0
    /// Power-on values from the data sheet: configuration 0x60A0, T_LOW 75 °C, T_HIGH 80 °C.
    var configuration: UInt16 = 0x60A0
    var lowLimit: UInt16 = 0x4B00
    var highLimit: UInt16 = 0x5000

    init(celsius: Double) { self.celsius = celsius }

    var extendedMode: Bool { configuration & 0x0010 != 0 }

    var temperatureWord: UInt16 {
        // Board files and `fireball hal` keep celsius in the chip's range; clamp anyway so that no
        // value can reach the Int conversion out of range.
        let counts = celsius.isNaN ? 0 : Int((min(max(celsius, -256), 256) / 0.0625).rounded())
        if extendedMode {
            let clamped = min(max(counts, -4096), 4095)
            return UInt16(truncatingIfNeeded: clamped << 3) | 1
        }
        let clamped = min(max(counts, -2048), 2047)
        return UInt16(truncatingIfNeeded: clamped << 4)
    }

    func register(_ index: Int) -> UInt16 {
        switch index {
        case Self.temperatureRegister: temperatureWord
        case Self.configurationRegister: configuration
        case Self.lowLimitRegister: lowLimit
        default: highLimit
        }
    }

    /// A write transaction: the pointer byte, then optionally a 16-bit value for that register.
    func write(_ bytes: [UInt8]) throws(KernelError) {
        guard let first = bytes.first, first <= 3 else { throw .deviceError }
        pointer = Int(first)
        guard bytes.count >= 3 else { return }
        let value = UInt16(bytes[1]) << 8 | UInt16(bytes[2])
        switch pointer {
        case Self.configurationRegister: configuration = (configuration & 0x00_0F) | (value & 0xFF_F0)   // low nibble is read-only
        case Self.lowLimitRegister: lowLimit = value
        case Self.highLimitRegister: highLimit = value
        default: throw .deviceError   // the temperature register is read-only
        }
    }

    /// A read transaction: the pointed register, MSB first, repeated for longer reads.
    func read(_ count: Int) -> [UInt8] {
        let word = register(pointer)
        return (0..<count).map { $0 % 2 == 0 ? UInt8(word >> 8) : UInt8(word & 0xFF) }
    }
}

final class I2CBus: SimulatedDevice {
    private(set) var sensors: [Int: TMP102] = [:]
    private var targets: [TaskID: Int] = [:]

    init(spec: DeviceSpec, bus: DeviceBus, sensors specs: [I2CSensorSpec]) {
        for sensor in specs { sensors[sensor.address] = TMP102(celsius: sensor.celsius) }
        super.init(spec: spec, bus: bus)
    }

    /// The chip the task addresses; no chip there is a NACK.
    private func target(_ context: DeviceCallContext) throws(KernelError) -> TMP102 {
        guard let address = targets[context.task] else { throw .invalidArgument }
        guard let chip = sensors[address] else { throw .deviceError }
        return chip
    }

    override func write(_ bytes: [UInt8], _ context: DeviceCallContext) throws(KernelError) -> Int {
        try target(context).write(bytes)
        return bytes.count
    }

    override func read(count: Int, _ context: DeviceCallContext) throws(KernelError) -> [UInt8] {
        try target(context).read(count)
    }

    override func control(_ op: UInt32, _ parameters: Message, _ reply: inout MessageBuilder, _ context: DeviceCallContext) throws(KernelError) {
        guard op == DeviceIoctl.target, let address: UInt32 = parameters[DeviceIoctl.address], address <= 0x7F else { throw .invalidArgument }
        targets[context.task] = Int(address)
        // The reply says whether a chip acknowledged the address (1) or not (0), as a bus scan would.
        reply.put(DeviceIoctl.value, UInt32(sensors[Int(address)] == nil ? 0 : 1))
    }

    override func forget(_ task: TaskID) { targets[task] = nil }

    func setTemperature(address: Int, celsius: Double) throws(DeviceControlError) {
        guard let chip = sensors[address] else { throw DeviceControlError("no sensor at 0x\(String(address, radix: 16)) on \(spec.name)") }
        chip.celsius = celsius
    }
}
