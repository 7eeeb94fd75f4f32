// An ADC: each channel samples a waveform, a recorded series or a constant at the node clock's
// time, quantised to the converter's bits. Reading gives the selected channel's sample (u16 LE).
import Core
import Foundation

final class ADC: SimulatedDevice {
    let bits: Int
    private(set) var channels: [SampleSource]
    private var selected: [TaskID: Int] = [:]

    init(spec: DeviceSpec, bus: DeviceBus, bits: Int, channels: [SampleSource]) {
        self.bits = bits
        self.channels = channels
        super.init(spec: spec, bus: bus)
    }

    var fullScale: Double { Double((1 << bits) - 1) }

    /// The raw count of `channel` at `time`.
    func sample(_ channel: Int, at time: UInt64) -> UInt16 {
        let value: Double
        switch channels[channel] {
        case .constant(let level):
            value = level
        case .series(let values, let interval):
            value = values[Int((time / interval) % UInt64(values.count))]
        case .waveform(let shape, let period, let low, let high):
            let phase = Double(time % period) / Double(period)
            let unit: Double   // 0…1
            switch shape {
            case .sine: unit = 0.5 + 0.5 * sin(2 * Double.pi * phase)
            case .triangle: unit = phase < 0.5 ? 2 * phase : 2 - 2 * phase
            case .square: unit = phase < 0.5 ? 1 : 0
            case .sawtooth: unit = phase
            }
            value = low + (high - low) * unit
        }
        return UInt16(min(max(value.rounded(), 0), fullScale))
    }

    override func read(count: Int, _ context: DeviceCallContext) throws(KernelError) -> [UInt8] {
        let sample = self.sample(selected[context.task] ?? 0, at: context.now)
        return Array(withUnsafeBytes(of: sample.littleEndian, Array.init).prefix(count))
    }

    override func control(_ op: UInt32, _ parameters: Message, _ reply: inout MessageBuilder, _ context: DeviceCallContext) throws(KernelError) {
        guard op == DeviceIoctl.select, let channel: UInt32 = parameters[DeviceIoctl.channel], Int(channel) < channels.count else {
            throw .invalidArgument
        }
        selected[context.task] = Int(channel)
        reply.put(DeviceIoctl.value, UInt32(sample(Int(channel), at: context.now)))
    }

    override func forget(_ task: TaskID) { selected[task] = nil }

    /// Replaces a channel's source (`fireball hal NODE adc load FILE`).
    func load(_ source: SampleSource, channel: Int) throws(DeviceControlError) {
        guard channels.indices.contains(channel) else { throw DeviceControlError("\(spec.name) has channels 0…\(channels.count - 1), not \(channel)") }
        channels[channel] = source
    }
}
