// A hardware timer: one-shot or periodic, one per guest, expiring by the node clock (the node's
// event loop wakes the device service at the earliest deadline). Reading gives the expiry count.
import Core

final class HardwareTimer: SimulatedDevice {
    struct Timer {
        var deadline: UInt64
        let period: UInt64
        let periodic: Bool
        let subscriber: Subscriber
    }
    private var timers: [TaskID: Timer] = [:]
    /// Expiries per task since it first started a timer (a stopped or one-shot timer keeps its count).
    private var expirations: [TaskID: UInt32] = [:]
    /// Expiries a periodic timer skipped because the node was late (no burst of catch-up interrupts).
    private(set) var overruns = 0

    override func read(count: Int, _ context: DeviceCallContext) throws(KernelError) -> [UInt8] {
        let count32 = expirations[context.task] ?? 0
        return Array(withUnsafeBytes(of: count32.littleEndian, Array.init).prefix(count))
    }

    override func control(_ op: UInt32, _ parameters: Message, _ reply: inout MessageBuilder, _ context: DeviceCallContext) throws(KernelError) {
        switch op {
        case DeviceIoctl.start:
            guard let micros: UInt32 = parameters[DeviceIoctl.periodMicroseconds], micros >= 10 else { throw .invalidArgument }
            let period = UInt64(micros) * 1000
            timers[context.task] = Timer(deadline: context.now + period, period: period,
                                         periodic: (parameters[DeviceIoctl.periodic] ?? UInt32(0)) != 0,
                                         subscriber: Subscriber(task: context.task, cause: try cause(parameters)))
        case DeviceIoctl.stop:
            timers[context.task] = nil
        default:
            throw .invalidArgument
        }
    }

    override var nextDeadline: UInt64? { timers.values.map(\.deadline).min() }

    override func fire(now: UInt64) {
        for task in timers.keys.sorted() {
            guard var timer = timers[task], timer.deadline <= now else { continue }
            expirations[task, default: 0] &+= 1
            bus.raise(timer.subscriber)
            if timer.periodic {
                timer.deadline += timer.period
                if timer.deadline <= now {
                    let missed = (now - timer.deadline) / timer.period + 1
                    overruns += Int(missed)
                    timer.deadline += missed * timer.period
                }
                timers[task] = timer
            } else {
                timers[task] = nil
            }
        }
    }

    override func forget(_ task: TaskID) {
        timers[task] = nil
        expirations[task] = nil
    }
}
