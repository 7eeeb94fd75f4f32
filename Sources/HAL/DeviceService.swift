// The board's device service: a trusted kernel task that serves fireball://hal/<device> for every
// device and answers each request on the caller's reply channel. Timers expire while it waits:
// its receive times out at the earliest device deadline, so the node's event loop drives them.
import Core

public final class DeviceService: KernelService {
    public let bus: DeviceBus
    private let channels: [ChannelID]
    public private(set) var requestsServed = 0

    /// Registers every device's URI (a privileged act: it takes the HAL role's capability) and
    /// starts the service task.
    public static func start(on kernel: Kernel, board: Board, capability: borrowing SystemRoleCapability,
                             process: borrowing ProcessCapability) throws -> DeviceService {
        var channels: [ChannelID] = []
        for device in board.devices {
            channels.append(try kernel.serve(Kernel.deviceURI(device.name), systemRole: .hal, capability: capability))
        }
        let service = DeviceService(bus: DeviceBus(board: board, kernel: kernel), channels: channels)
        // Weak: a kernel panic ends tasks (and calls this) after a failed start may have dropped the service.
        kernel.exitObservers.append { [weak service] task, _ in
            for device in service?.bus.devices ?? [] { device.forget(task) }
        }
        _ = kernel.spawnService(service, name: "hal", role: .hal, daemon: true, capability: process)
        return service
    }

    init(bus: DeviceBus, channels: [ChannelID]) {
        self.bus = bus
        self.channels = channels
    }

    public func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction {
        switch event {
        case .received(let request, let index):
            requestsServed += 1
            let (reply, to) = answer(request, device: bus.devices[index], kernel: kernel)
            if let to { return .send(reply, to: to) }
        case .start, .sent, .failed, .resumed:
            break
        }
        // Timers due now (a receive that timed out woke us for them) raise their interrupts.
        bus.fireDue()
        guard !channels.isEmpty else { return .exit }
        let timeout = bus.nextDeadline.map { $0 > bus.now ? $0 - bus.now : 0 }
        return .receive(channels, timeoutNanoseconds: timeout)
    }

    /// Runs one request against its device: the reply and where it goes.
    func answer(_ request: Message, device: SimulatedDevice, kernel: Kernel) -> (Message, ChannelID?) {
        guard let replyRaw: UInt32 = request[DeviceRequest.replyKey], let taskRaw: UInt32 = request[DeviceRequest.taskKey],
              let opRaw: UInt32 = request[DeviceRequest.operationKey], let operation = DeviceOperation(rawValue: opRaw) else {
            return (Message(), nil)
        }
        let task = TaskID(raw: Int(taskRaw))
        let context = DeviceCallContext(task: task, taskName: kernel.name(of: task) ?? "\(task)", now: bus.now)
        var reply = MessageBuilder()
        let status: Int32
        do throws(KernelError) {
            switch operation {
            case .read:
                let bytes = try device.read(count: Int(request[DeviceRequest.lengthKey] ?? UInt32(0)), context)
                try? DeviceRequest.addData(bytes.prefix(DeviceRequest.dataBytesMax), to: &reply)
                status = Int32(min(bytes.count, DeviceRequest.dataBytesMax))
            case .write:
                let length = Int(request[DeviceRequest.lengthKey] ?? UInt32(0))
                status = Int32(try device.write(DeviceRequest.data(request, count: length), context))
            case .seek:
                let low: UInt32 = request[DeviceRequest.offsetLowKey] ?? 0, high: UInt32 = request[DeviceRequest.offsetHighKey] ?? 0
                let offset = Int64(bitPattern: UInt64(high) << 32 | UInt64(low))
                let position = try device.seek(offset: offset, whence: request[DeviceRequest.whenceKey] ?? 0, context)
                status = Int32(clamping: position)
            case .ioctl:
                var parameters = MessageBuilder()
                for entry in request.entries where !DeviceRequest.isReserved(entry.key) { try? parameters.add(entry) }
                try device.ioctl(parameters.build(), &reply, context)
                status = 0
            }
        } catch {
            reply = MessageBuilder()
            status = error.rawValue
        }
        reply.put(DeviceRequest.statusKey, status)
        return (reply.build(), ChannelID(raw: Int(replyRaw)))
    }
}
