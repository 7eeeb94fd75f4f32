// SPI: a NOR flash on the bus (read anywhere in its window, program clears bits as real NOR
// does, erase 4 KiB sectors back to 0xFF; sectors take host memory only once written), or a
// loopback that clocks back what was sent.
import Core

final class SPIFlash: SimulatedDevice {
    static let sectorBytes = 4096
    /// The chip's size; its cells live in `sectors`.
    let byteCount: Int
    /// Sectors by index, allocated at the first program that clears a bit; a sector that is not
    /// here reads as erased (0xFF), and an erase gives its memory back. So a 3 GiB chip costs
    /// what the guests wrote, not 3 GiB at boot.
    private var sectors: [Int: [UInt8]] = [:]
    let jedecID: UInt32
    private var positions: [TaskID: Int] = [:]

    init(spec: DeviceSpec, bus: DeviceBus, bytes: Int, jedecID: UInt32) {
        precondition(bytes >= 0 && bytes % Self.sectorBytes == 0, "DeviceSpec checks the flash size")
        byteCount = bytes
        self.jedecID = jedecID
        super.init(spec: spec, bus: bus)
    }

    /// Bytes in host memory for the cells: allocated sectors only.
    var residentBytes: Int { sectors.count * Self.sectorBytes }

    /// The cells `range` (inside the chip).
    func cells(_ range: Range<Int>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var address = range.lowerBound
        while address < range.upperBound {
            let sector = address / Self.sectorBytes, offset = address % Self.sectorBytes
            let end = min(range.upperBound, (sector + 1) * Self.sectorBytes)
            if let cells = sectors[sector] {
                out += cells[offset..<(offset + end - address)]
            } else {
                out += repeatElement(0xFF, count: end - address)
            }
            address = end
        }
        return out
    }

    /// Programs `bytes` at `start` as NOR does: a write only clears bits.
    func program(_ bytes: some Collection<UInt8>, at start: Int) {
        for (offset, byte) in bytes.enumerated() where byte != 0xFF {
            let address = start + offset
            let sector = address / Self.sectorBytes
            sectors[sector, default: [UInt8](repeating: 0xFF, count: Self.sectorBytes)][address % Self.sectorBytes] &= byte
        }
    }

    override func seek(offset: Int64, whence: UInt32, _ context: DeviceCallContext) throws(KernelError) -> Int {
        let base: Int64 = switch whence {
        case 0: 0
        case 1: Int64(positions[context.task] ?? 0)
        default: Int64(byteCount)
        }
        let (target, overflow) = base.addingReportingOverflow(offset)
        guard !overflow, target >= 0, target <= Int64(byteCount) else { throw .invalidArgument }
        positions[context.task] = Int(target)
        return Int(target)
    }

    override func read(count: Int, _ context: DeviceCallContext) throws(KernelError) -> [UInt8] {
        let start = positions[context.task] ?? 0
        let end = min(start + max(count, 0), byteCount)
        positions[context.task] = end
        return cells(start..<end)
    }

    override func write(_ bytes: [UInt8], _ context: DeviceCallContext) throws(KernelError) -> Int {
        let start = positions[context.task] ?? 0
        let end = min(start + bytes.count, byteCount)
        program(bytes.prefix(end - start), at: start)
        positions[context.task] = end
        return end - start
    }

    override func control(_ op: UInt32, _ parameters: Message, _ reply: inout MessageBuilder, _ context: DeviceCallContext) throws(KernelError) {
        switch op {
        case DeviceIoctl.jedecID:
            reply.put(DeviceIoctl.value, jedecID)
            // A 4 GiB chip's size does not fit the u32 entry: it reads as the largest value.
            reply.put(DeviceIoctl.windowSize, UInt32(clamping: byteCount))
        case DeviceIoctl.eraseSector:
            guard let address: UInt32 = parameters[DeviceIoctl.address], Int(address) < byteCount, Int(address) % Self.sectorBytes == 0 else {
                throw .invalidArgument
            }
            sectors[Int(address) / Self.sectorBytes] = nil
        case DeviceIoctl.eraseChip:
            sectors = [:]
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
