// The simulated peripherals' common shape: the upstream HAL command set (read, write, seek,
// ioctl with key-value parameters) answered from the node's thread, plus what the outside world
// does to a device (a pin driven high, a line typed into the UART).
import Core

/// ioctl keys and operation codes, shared with the C SDK (Deploy/sdk/fireball.h, FB_IO_*).
public enum DeviceIoctl {
    public static let op = MessageKey.functional(1)
    public static let pin = MessageKey.functional(2)
    public static let value = MessageKey.functional(3)
    public static let cause = MessageKey.functional(4)
    public static let edge = MessageKey.functional(5)
    public static let periodMicroseconds = MessageKey.functional(6)
    public static let periodic = MessageKey.functional(7)
    public static let channel = MessageKey.functional(8)
    public static let address = MessageKey.functional(9)
    public static let direction = MessageKey.functional(10)
    public static let kind = MessageKey.functional(11)
    public static let windowBase = MessageKey.functional(12)
    public static let windowSize = MessageKey.functional(13)
    public static let irq = MessageKey.functional(14)

    // Every device.
    public static let info: UInt32 = 1
    public static let irqEnable: UInt32 = 2
    public static let irqDisable: UInt32 = 3
    // GPIO.
    public static let configure: UInt32 = 16
    public static let set: UInt32 = 17
    public static let get: UInt32 = 18
    public static let toggle: UInt32 = 19
    // Timer.
    public static let start: UInt32 = 32
    public static let stop: UInt32 = 33
    // ADC.
    public static let select: UInt32 = 48
    // I2C.
    public static let target: UInt32 = 64
    // SPI flash.
    public static let eraseSector: UInt32 = 80
    public static let jedecID: UInt32 = 81
    public static let eraseChip: UInt32 = 82
    // UART.
    public static let baud: UInt32 = 96
}

/// One request as a device sees it.
public struct DeviceCallContext {
    public let task: TaskID
    public let taskName: String
    public let now: UInt64
}

/// A simulated peripheral. The defaults answer `EINVAL`: an operation without meaning for the device.
public class SimulatedDevice {
    public let spec: DeviceSpec
    unowned let bus: DeviceBus

    init(spec: DeviceSpec, bus: DeviceBus) {
        self.spec = spec
        self.bus = bus
    }

    func read(count: Int, _ context: DeviceCallContext) throws(KernelError) -> [UInt8] { throw .invalidArgument }
    func write(_ bytes: [UInt8], _ context: DeviceCallContext) throws(KernelError) -> Int { throw .invalidArgument }
    func seek(offset: Int64, whence: UInt32, _ context: DeviceCallContext) throws(KernelError) -> Int { throw .invalidArgument }
    /// Device-specific ioctls; the reply's entries go into `reply`.
    func control(_ op: UInt32, _ parameters: Message, _ reply: inout MessageBuilder, _ context: DeviceCallContext) throws(KernelError) {
        throw .invalidArgument
    }
    /// The next time this device has something to do by itself (a timer expiring).
    var nextDeadline: UInt64? { nil }
    func fire(now: UInt64) {}
    /// The task ended: forget what it set up (interrupt subscriptions, timers, positions).
    func forget(_ task: TaskID) {}

    /// The cause a guest asked for, or the board's line for this device.
    func cause(_ parameters: Message) throws(KernelError) -> UInt32 {
        let cause: UInt32 = parameters[DeviceIoctl.cause] ?? UInt32(spec.irq)
        guard cause < 32 else { throw .invalidArgument }
        return cause
    }

    func ioctl(_ parameters: Message, _ reply: inout MessageBuilder, _ context: DeviceCallContext) throws(KernelError) {
        guard let op: UInt32 = parameters[DeviceIoctl.op] else { throw .invalidArgument }
        if op == DeviceIoctl.info {
            do {
                try reply.add(DeviceIoctl.kind, UInt32(DeviceKind.allCases.firstIndex(of: spec.kind)!))
                try reply.add(DeviceIoctl.windowBase, UInt32(spec.window.base))
                try reply.add(DeviceIoctl.windowSize, UInt32(clamping: spec.window.size))   // a 4 GiB window reads as 0xFFFFFFFF
                try reply.add(DeviceIoctl.irq, UInt32(spec.irq))
            } catch { throw .invalidArgument }
            return
        }
        try control(op, parameters, &reply, context)
    }
}

/// An interrupt subscription: which task wants which cause.
struct Subscriber: Equatable {
    let task: TaskID
    let cause: UInt32
}

extension MessageBuilder {
    /// Adds an entry the device protocol defines; such keys never collide, so failure is a bug.
    mutating func put<V: MessageValue>(_ key: MessageKey, _ value: V) {
        do { try add(key, value) } catch { preconditionFailure("device reply: \(error)") }
    }
}
