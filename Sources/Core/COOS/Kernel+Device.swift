// Devices in the guest ABI: device_open checks the guest's grant and finds the device service's
// channel; read, write, seek and ioctl are a request on it and a reply on the guest's own channel.

extension Kernel {
    /// The URI under which the board's device service serves device `name`.
    public static func deviceURI(_ name: String) -> String { "fireball://hal/\(name)" }

    func defineDeviceCalls(_ fireball: inout [String: ExternalValue], for owner: TaskRecord, in store: Store) {
        unowned(unsafe) let kernel = self
        unowned(unsafe) let record = owner
        let i32 = ValueType.i32, i64 = ValueType.i64
        func define(_ name: String, _ parameters: [ValueType], _ body: @escaping (inout HostCall, GuestRuntime) -> Int32?) {
            let address = store.addHostFunction(name, type: FunctionType(parameters: parameters, results: [i32])) { call in
                guard let guest = record.guest else { return .trap(Trap(.host("guest runtime gone"))) }
                guard let result = body(&call, guest) else { return .suspend }
                call.setI32(0, UInt32(bitPattern: result))
                return .returned
            }
            fireball[name] = .function(address)
        }
        /// Sends the request; the result now (an error, or a reply already there), or nil: suspended.
        func request(_ guest: GuestRuntime, _ handle: UInt32, _ operation: DeviceOperation, buffer: Int = 0, capacity: Int = 0,
                     _ fill: (inout MessageBuilder) throws(MessageError) -> Void) -> Int32? {
            guard let device = guest.devices[handle] else { return KernelError.badHandle.rawValue }
            var builder = MessageBuilder()
            do {
                try fill(&builder)
                try builder.add(DeviceRequest.operationKey, operation.rawValue)
                try builder.add(DeviceRequest.taskKey, UInt32(record.id.raw))
                try builder.add(DeviceRequest.replyKey, UInt32(device.reply.raw))
            } catch {
                return KernelError.invalidArgument.rawValue
            }
            guest.deviceCall = DeviceCall(operation: operation, reply: device.reply, buffer: buffer, capacity: capacity)
            guard let sent = kernel.send(builder.build(), on: device.request, by: record) else {
                record.state = .blocked
                return nil
            }
            return kernel.continueDeviceCall(guest, sent)
        }

        define("device_open", [i32, i32]) { call, guest in
            guard let bytes = call.memory?.read(at: Int(call.i32(0)), count: Int(call.i32(1))),
                  let name = String(validating: bytes, as: UTF8.self), !name.isEmpty else { return KernelError.invalidArgument.rawValue }
            guard record.deviceGrants.contains(name) else {
                kernel.logger.log(.error, text: "denied: \(record.name) may not open device \(name) (not granted)", from: "hal", task: record.id)
                return KernelError.denied.rawValue
            }
            guard let (request, _) = kernel.registry[Self.deviceURI(name)] else { return KernelError.noSuchService.rawValue }
            // A device opened again is the same handle: opening in a loop costs nothing.
            if let open = guest.devices.entries.first(where: { $0.entry.name == name }) { return Int32(open.handle) }
            do throws(KernelError) {
                guard let budget = record.budget else { throw .noMemory }
                let reply = try kernel.makeChannel(uri: nil, paidBy: record)
                do throws(KernelError) {
                    let handle = try guest.devices.add((name, request, reply), paidBy: budget)
                    // The reply channel closes when the guest ends, so a reply to a dead guest fails at once.
                    record.served.append(reply)
                    return handle
                } catch {
                    try? kernel.close(reply)
                    throw error
                }
            } catch { return error.rawValue }
        }
        define("device_read", [i32, i32, i32]) { call, guest in
            let buffer = Int(call.i32(1)), length = min(Int(call.i32(2)), DeviceRequest.dataBytesMax)
            guard call.memory?.bytes(at: buffer, count: Int(call.i32(2))) != nil else { return KernelError.invalidArgument.rawValue }
            return request(guest, call.i32(0), .read, buffer: buffer, capacity: length) { (b) throws(MessageError) in
                try b.add(DeviceRequest.lengthKey, UInt32(length))
            }
        }
        define("device_write", [i32, i32, i32]) { call, guest in
            let length = min(Int(call.i32(2)), DeviceRequest.dataBytesMax)
            guard call.memory?.bytes(at: Int(call.i32(1)), count: Int(call.i32(2))) != nil,
                  let data = call.memory?.read(at: Int(call.i32(1)), count: length) else { return KernelError.invalidArgument.rawValue }
            return request(guest, call.i32(0), .write) { (b) throws(MessageError) in
                try b.add(DeviceRequest.lengthKey, UInt32(length))
                try DeviceRequest.addData(data, to: &b)
            }
        }
        define("device_seek", [i32, i64, i32]) { call, guest in
            let offset = call.i64(1), whence = call.i32(2)
            guard whence <= 2 else { return KernelError.invalidArgument.rawValue }
            return request(guest, call.i32(0), .seek) { (b) throws(MessageError) in
                try b.add(DeviceRequest.offsetLowKey, UInt32(truncatingIfNeeded: offset))
                try b.add(DeviceRequest.offsetHighKey, UInt32(truncatingIfNeeded: offset >> 32))
                try b.add(DeviceRequest.whenceKey, whence)
            }
        }
        define("device_ioctl", [i32, i32, i32, i32, i32]) { call, guest in
            guard let bytes = call.memory?.bytes(at: Int(call.i32(1)), count: Int(call.i32(2))),
                  call.memory?.bytes(at: Int(call.i32(3)), count: Int(call.i32(4))) != nil else { return KernelError.invalidArgument.rawValue }
            guard let parameters = try? Message(decoding: UnsafeRawBufferPointer(bytes)) else { return KernelError.badMessage.rawValue }
            // Parameters are numbers only: no co_value handles, no keys the kernel reserves.
            guard parameters.count <= DeviceRequest.ioctlEntriesMax,
                  parameters.entries.allSatisfy({ !DeviceRequest.isReserved($0.key) && $0.type != .sharedMemory }) else {
                return KernelError.invalidArgument.rawValue
            }
            return request(guest, call.i32(0), .ioctl, buffer: Int(call.i32(3)), capacity: Int(call.i32(4))) { (b) throws(MessageError) in
                for entry in parameters.entries { try b.add(entry) }
            }
        }
    }

    /// The next step of a device call after `completion`: the result for the guest, or nil while
    /// it waits (its request was taken; now it waits for the reply).
    func continueDeviceCall(_ guest: GuestRuntime, _ completion: Completion) -> Int32? {
        guard let call = guest.deviceCall else { return KernelError.invalidArgument.rawValue }
        switch completion {
        case .failed(let error):
            guest.deviceCall = nil
            return error == .closed ? KernelError.deviceError.rawValue : error.rawValue
        case .sent:
            guard let received = receive(on: [call.reply], by: guest.record, timeout: nil) else {
                guest.record.state = .blocked
                return nil
            }
            return continueDeviceCall(guest, received)
        case .received:
            guest.deviceCall = nil
            return finishDeviceCall(call, reply: guest.record.inbox, guest: guest)
        }
    }

    /// Copies a reply's data to where the guest asked; the call's result.
    func finishDeviceCall(_ call: DeviceCall, reply: Message, guest: GuestRuntime) -> Int32 {
        guard let status: Int32 = reply[DeviceRequest.statusKey] else { return KernelError.deviceError.rawValue }
        guard status >= 0 else { return status }
        switch call.operation {
        case .read:
            let count = min(Int(status), call.capacity)
            guard count == 0 || guest.instance.memory?.write(DeviceRequest.data(reply, count: count), at: call.buffer) == true else {
                return KernelError.invalidArgument.rawValue
            }
            return Int32(count)
        case .ioctl:
            var builder = MessageBuilder()
            for entry in reply.entries where entry.key != DeviceRequest.statusKey { try? builder.add(entry) }
            let answer = builder.build()
            let size = answer.encodedByteCount
            guard size <= call.capacity else { return KernelError.messageTooLarge.rawValue }
            guard let destination = guest.instance.memory?.bytes(at: call.buffer, count: size) else { return KernelError.invalidArgument.rawValue }
            answer.encode(into: destination)
            return Int32(size)
        case .write, .seek:
            return status
        }
    }
}
