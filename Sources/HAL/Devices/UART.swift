// A UART: what a guest writes becomes console lines with its name; what the outside sends
// (`fireball hal NODE uart send …`, or a file) waits in the receive buffer and raises RX interrupts.
import Core

final class UART: SimulatedDevice {
    private var partialLines: [TaskID: [UInt8]] = [:]
    private var received: [UInt8] = []
    private var subscribers: [Subscriber] = []
    private var baud: Int
    /// A receive FIFO as on real parts: bytes beyond it are dropped (and counted).
    static let receiveBufferBytes = 4096
    private(set) var droppedBytes = 0

    override init(spec: DeviceSpec, bus: DeviceBus) {
        if case .uart(let baud) = spec.parameters { self.baud = baud } else { self.baud = 115_200 }
        super.init(spec: spec, bus: bus)
    }

    override func write(_ bytes: [UInt8], _ context: DeviceCallContext) throws(KernelError) -> Int {
        var line = partialLines[context.task, default: []]
        for byte in bytes {
            if byte == 10 {
                emit(line, context)
                line = []
            } else if byte != 13 {
                line.append(byte)
            }
        }
        // A runaway line without a newline is cut, as a terminal would wrap it.
        if line.count >= 256 { emit(line, context); line = [] }
        partialLines[context.task] = line
        return bytes.count
    }

    /// A line goes through the guest's log bucket, escaped; one the bucket drops is not on the wire
    /// for `uart tail` either (a flood must not reach the control socket's clients).
    private func emit(_ line: [UInt8], _ context: DeviceCallContext) {
        guard let text = bus.kernel.logger.guestLine(line, from: context.taskName, task: context.task) else { return }
        bus.record(DeviceEvent(time: context.now, device: spec.name, source: LogText.escaped(context.taskName), kind: .uartLine(text)))
    }

    override func read(count: Int, _ context: DeviceCallContext) throws(KernelError) -> [UInt8] {
        let taken = Array(received.prefix(count))
        received.removeFirst(taken.count)
        return taken
    }

    override func control(_ op: UInt32, _ parameters: Message, _ reply: inout MessageBuilder, _ context: DeviceCallContext) throws(KernelError) {
        switch op {
        case DeviceIoctl.irqEnable:
            let subscriber = Subscriber(task: context.task, cause: try cause(parameters))
            if !subscribers.contains(subscriber) { subscribers.append(subscriber) }
        case DeviceIoctl.irqDisable:
            subscribers.removeAll { $0.task == context.task }
        case DeviceIoctl.baud:
            if let value: UInt32 = parameters[DeviceIoctl.value] {
                guard value >= 300, value <= 4_000_000 else { throw .invalidArgument }
                baud = Int(value)
            }
            reply.put(DeviceIoctl.value, UInt32(baud))
        default:
            throw .invalidArgument
        }
    }

    override func forget(_ task: TaskID) {
        subscribers.removeAll { $0.task == task }
        partialLines[task] = nil
    }

    /// Bytes from outside: buffered, and one RX interrupt per delivery for each subscriber.
    func receive(_ bytes: [UInt8]) {
        let room = Self.receiveBufferBytes - received.count
        received += bytes.prefix(room)
        droppedBytes += max(0, bytes.count - room)
        for subscriber in subscribers { bus.raise(subscriber) }
    }

    var pendingInput: Int { received.count }
}
