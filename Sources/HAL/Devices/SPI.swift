// SPI: a NOR flash on the bus (read anywhere in its window, program clears bits as real NOR
// does, erase 4 KiB sectors back to 0xFF), or a loopback that clocks back what was sent.
import Core

final class SPIFlash: SimulatedDevice {
    static let sectorBytes = 4096
    private(set) var cells: [UInt8]
    let jedecID: UInt32
    private var positions: [TaskID: Int] = [:]

    init(spec: DeviceSpec, bus: DeviceBus, bytes: Int, jedecID: UInt32) {
        cells = Array(repeating: 0xFF, count: bytes)
        self.jedecID = jedecID
        super.init(spec: spec, bus: bus)
    }

    override func seek(offset: Int64, whence: UInt32, _ context: DeviceCallContext) throws(KernelError) -> Int {
        let base: Int64 = switch whence {
        case 0: 0
        case 1: Int64(positions[context.task] ?? 0)
        default: Int64(cells.count)
        }
        let (target, overflow) = base.addingReportingOverflow(offset)
        guard !overflow, target >= 0, target <= Int64(cells.count) else { throw .invalidArgument }
        positions[context.task] = Int(target)
        return Int(target)
    }

    override func read(count: Int, _ context: DeviceCallContext) throws(KernelError) -> [UInt8] {
        let start = positions[context.task] ?? 0
        let end = min(start + count, cells.count)
        positions[context.task] = end
        return Array(cells[start..<end])
    }

    override func write(_ bytes: [UInt8], _ context: DeviceCallContext) throws(KernelError) -> Int {
        let start = positions[context.task] ?? 0
        let end = min(start + bytes.count, cells.count)
        for (offset, byte) in bytes.prefix(end - start).enumerated() { cells[start + offset] &= byte }
        positions[context.task] = end
        return end - start
    }

    override func control(_ op: UInt32, _ parameters: Message, _ reply: inout MessageBuilder, _ context: DeviceCallContext) throws(KernelError) {
        switch op {
        case DeviceIoctl.jedecID:
            reply.put(DeviceIoctl.value, jedecID)
            reply.put(DeviceIoctl.windowSize, UInt32(cells.count))
        case DeviceIoctl.eraseSector:
            guard let address: UInt32 = parameters[DeviceIoctl.address], Int(address) < cells.count, Int(address) % Self.sectorBytes == 0 else {
                throw .invalidArgument
            }
            cells.replaceSubrange(Int(address)..<Int(address) + Self.sectorBytes, with: repeatElement(0xFF, count: Self.sectorBytes))
        case DeviceIoctl.eraseChip:
            cells = Array(repeating: 0xFF, count: cells.count)
        default:
            throw .invalidArgument
        }
    }

    override func forget(_ task: TaskID) { positions[task] = nil }
}

final class SPILoopback: SimulatedDevice {
    private var clockedIn: [TaskID: [UInt8]] = [:]

    override func write(_ bytes: [UInt8], _ context: DeviceCallContext) throws(KernelError) -> Int {
        clockedIn[context.task] = bytes
        return bytes.count
    }

    override func read(count: Int, _ context: DeviceCallContext) throws(KernelError) -> [UInt8] {
        Array((clockedIn[context.task] ?? []).prefix(count))
    }

    override func forget(_ task: TaskID) { clockedIn[task] = nil }
}
