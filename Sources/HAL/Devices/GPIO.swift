// A GPIO port: pins with a direction and a level; input pins are driven from outside and raise
// an interrupt on the edges a guest asked for — one interrupt per edge.
import Core

final class GPIO: SimulatedDevice {
    enum Edge: UInt32 { case none = 0, rising = 1, falling = 2, both = 3 }
    struct Pin {
        var output = false
        var level = false
        var edge = Edge.none
        var subscriber: Subscriber?
    }
    private(set) var pins: [Pin]

    init(spec: DeviceSpec, bus: DeviceBus, pins count: Int) {
        pins = Array(repeating: Pin(), count: count)
        super.init(spec: spec, bus: bus)
    }

    private func pinIndex(_ parameters: Message) throws(KernelError) -> Int {
        guard let pin: UInt32 = parameters[DeviceIoctl.pin], Int(pin) < pins.count else { throw .invalidArgument }
        return Int(pin)
    }

    var levels: UInt32 { pins.enumerated().reduce(0) { $0 | ($1.element.level ? 1 << UInt32($1.offset) : 0) } }

    override func read(count: Int, _ context: DeviceCallContext) throws(KernelError) -> [UInt8] {
        Array(withUnsafeBytes(of: levels.littleEndian, Array.init).prefix(count))
    }

    /// Four bytes: the levels of the output pins (bits of input pins are ignored).
    override func write(_ bytes: [UInt8], _ context: DeviceCallContext) throws(KernelError) -> Int {
        guard bytes.count >= 4 else { throw .invalidArgument }
        let word = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        for index in pins.indices where pins[index].output { setOutput(index, word & (1 << UInt32(index)) != 0, context) }
        return 4
    }

    private func setOutput(_ index: Int, _ level: Bool, _ context: DeviceCallContext) {
        guard pins[index].level != level else { return }
        pins[index].level = level
        bus.record(DeviceEvent(time: context.now, device: spec.name, source: context.taskName, kind: .pin(index, level: level)))
    }

    override func control(_ op: UInt32, _ parameters: Message, _ reply: inout MessageBuilder, _ context: DeviceCallContext) throws(KernelError) {
        switch op {
        case DeviceIoctl.configure:
            let index = try pinIndex(parameters)
            let direction: UInt32 = parameters[DeviceIoctl.direction] ?? 0
            guard direction <= 1, let edge = Edge(rawValue: parameters[DeviceIoctl.edge] ?? 0) else { throw .invalidArgument }
            pins[index].output = direction == 1
            pins[index].edge = pins[index].output ? .none : edge
            pins[index].subscriber = edge == .none || pins[index].output ? nil : Subscriber(task: context.task, cause: try cause(parameters))
        case DeviceIoctl.set, DeviceIoctl.toggle:
            let index = try pinIndex(parameters)
            guard pins[index].output else { throw .denied }
            let level = op == DeviceIoctl.toggle ? !pins[index].level : (parameters[DeviceIoctl.value] ?? UInt32(0)) != 0
            setOutput(index, level, context)
            reply.put(DeviceIoctl.value, UInt32(level ? 1 : 0))
        case DeviceIoctl.get:
            reply.put(DeviceIoctl.value, UInt32(pins[try pinIndex(parameters)].level ? 1 : 0))
        case DeviceIoctl.irqDisable:
            let index = try pinIndex(parameters)
            pins[index].edge = .none
            pins[index].subscriber = nil
        default:
            throw .invalidArgument
        }
    }

    override func forget(_ task: TaskID) {
        for index in pins.indices where pins[index].subscriber?.task == task {
            pins[index].subscriber = nil
            pins[index].edge = .none
        }
    }

    /// The outside drives an input pin; an edge the pin watches raises its subscriber's cause.
    func drive(_ index: Int, _ level: Bool) throws(DeviceControlError) {
        guard pins.indices.contains(index) else { throw DeviceControlError("\(spec.name) has pins 0…\(pins.count - 1), not \(index)") }
        guard !pins[index].output else { throw DeviceControlError("\(spec.name) pin \(index) is an output; only inputs can be driven") }
        let old = pins[index].level
        guard old != level else { return }
        pins[index].level = level
        bus.record(DeviceEvent(time: bus.now, device: spec.name, source: "outside", kind: .pin(index, level: level)))
        let edge = pins[index].edge
        let fires = (level && (edge == .rising || edge == .both)) || (!level && (edge == .falling || edge == .both))
        if fires, let subscriber = pins[index].subscriber { bus.raise(subscriber) }
    }
}
