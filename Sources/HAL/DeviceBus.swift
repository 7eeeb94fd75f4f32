// A board's devices, built from its definition, and the one path by which they reach the kernel:
// an interrupt is only a recorded cause (Kernel.raiseInterrupt), a UART line goes to the kernel's logger.
import Core
import Foundation

public final class DeviceBus {
    public let board: Board
    unowned let kernel: Kernel
    public private(set) var devices: [SimulatedDevice] = []
    /// Every UART line and GPIO change, for `uart tail` and for tests; the newest `historyLimit`.
    public private(set) var history: [DeviceEvent] = []
    public var historyLimit = 1000
    /// Called for each new event (the control socket streams them to `tail` clients).
    public var observers: [(DeviceEvent) -> Void] = []

    public init(board: Board, kernel: Kernel) {
        self.board = board
        self.kernel = kernel
        for spec in board.devices {
            switch spec.parameters {
            case .uart: devices.append(UART(spec: spec, bus: self))
            case .gpio(let pins): devices.append(GPIO(spec: spec, bus: self, pins: pins))
            case .timer: devices.append(HardwareTimer(spec: spec, bus: self))
            case .adc(let bits, let channels): devices.append(ADC(spec: spec, bus: self, bits: bits, channels: channels))
            case .i2c(let sensors): devices.append(I2CBus(spec: spec, bus: self, sensors: sensors))
            case .spiFlash(let bytes, let id): devices.append(SPIFlash(spec: spec, bus: self, bytes: bytes, jedecID: id))
            case .spiLoopback: devices.append(SPILoopback(spec: spec, bus: self))
            }
        }
    }

    public func device(_ name: String) -> SimulatedDevice? { devices.first { $0.spec.name == name } }
    func device<D: SimulatedDevice>(_ name: String, as type: D.Type) throws(DeviceControlError) -> D {
        guard let found = device(name) else { throw DeviceControlError("no device '\(name)' on \(board.name) (devices: \(devices.map(\.spec.name).joined(separator: ", ")))") }
        guard let typed = found as? D else { throw DeviceControlError("\(name) is a \(found.spec.kind.rawValue)") }
        return typed
    }

    var now: UInt64 { kernel.clock.nanoseconds }

    func raise(_ subscriber: Subscriber) {
        kernel.raiseInterrupt(subscriber.cause, for: subscriber.task)
    }

    func record(_ event: DeviceEvent) {
        history.append(event)
        if history.count > historyLimit { history.removeFirst(history.count - historyLimit) }
        for observer in observers { observer(event) }
    }

    /// The earliest time a device needs the service to run.
    var nextDeadline: UInt64? { devices.compactMap(\.nextDeadline).min() }

    func fireDue() {
        let now = self.now
        for device in devices where (device.nextDeadline ?? .max) <= now { device.fire(now: now) }
    }
}

/// Something observable that happened on a device.
public struct DeviceEvent: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A complete line a guest wrote to a UART.
        case uartLine(String)
        /// An output pin changed (by a guest) or an input pin was driven (from outside).
        case pin(Int, level: Bool)
    }
    public let time: UInt64
    public let device: String
    /// The guest that caused it, or "outside".
    public let source: String
    public let kind: Kind

    public var description: String {
        let stamp = "\(time / 1_000_000_000).\(String(format: "%06d", Int(time / 1000 % 1_000_000)))"
        switch kind {
        case .uartLine(let text): return "\(stamp) \(device) [\(source)] \(text)"
        case .pin(let pin, let level): return "\(stamp) \(device) pin \(pin) = \(level ? 1 : 0) (\(source))"
        }
    }
}

public struct DeviceControlError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
