// Boards are data: `Deploy/boards/*.yaml` gives the chip, its RAM split into the six partitions,
// whether it has an FPU, and its time slice. A node boots its kernel from one.
import Core
import Foundation

/// The CPU families of the upstream targets (DESIGN.md §9).
public enum CPUFamily: String, Sendable, CaseIterable {
    case cortexM33 = "cortex-m33"
    case cortexM4F = "cortex-m4f"
    case riscV32 = "riscv32"
    case x86_64 = "x86_64"
}

/// A board definition, validated.
public struct Board: Sendable, Equatable {
    public let name: String
    public let description: String
    public let cpu: CPUFamily
    public let clockMHz: Int
    public let ramBytes: Int
    public let flashBytes: Int
    public let hasFPU: Bool
    public let sliceMicroseconds: Int
    public let partitions: PartitionTable
    /// Each guest's interpreter value stack (locals and operands), from the guest partition.
    public let valueStackBytes: Int
    /// The simulated peripherals, with the address windows a guest's driver may reach.
    public let devices: [DeviceSpec]
    /// Console lines each guest may produce (`log: {burst: N, lines-per-second: N}`; default
    /// `LogRateLimit.standard`).
    public let logRateLimit: LogRateLimit

    /// The upstream lower bounds per partition (DESIGN.md §5).
    public static let partitionMinimumBytes: [PartitionKind: Int] = [
        .kernel: 2 * 1024, .runtime: 2 * 1024, .subsystem: 2 * 1024, .tier1: 2 * 1024, .guest: 24 * 1024, .stacks: 8 * 1024,
    ]

    /// The range of every number a board file gives (Docs/hal.md lists them). A simulated board is
    /// 32-bit: RAM and flash fit its address space, and a partition fits Core's allocator.
    public enum Limits {
        public static let ramBytes = 1...(1 << 32)
        public static let flashBytes = 1...(1 << 32)
        public static let partitionBytes = 1...Partition.bytesMax
        public static let clockMHz = 0...100_000
        public static let sliceMicroseconds = 10...100_000
        public static let stackSlotBytes = 256...(1 << 20)
        public static let valueStackBytes = 512...(16 << 20)
        /// Devices on one board, at most.
        public static let devices = 64
    }

    static let fields: Set<String> = ["name", "description", "cpu", "clock-mhz", "ram", "flash", "fpu", "slice-us", "stack-slot", "value-stack",
                                      "partitions", "devices", "log"]

    /// Reads and checks a board file.
    public static func load(path: String) throws(ConfigurationError) -> Board {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, line: nil, field: "(file)", detail: "cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    /// Checks a board definition's text; every refusal names the field and its line.
    public static func parse(_ text: String, file: String) throws(ConfigurationError) -> Board {
        let top = try YAMLMapping(text: text, file: file)
        try top.allowOnly(fields)
        let name = try top.string("name")
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw top.error("name", "use letters, digits and '-'")
        }
        let cpuText = try top.string("cpu")
        guard let cpu = CPUFamily(rawValue: cpuText) else {
            throw top.error("cpu", "unknown CPU family '\(cpuText)' (known: \(CPUFamily.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let ram = try top.bytes("ram", in: Limits.ramBytes)
        let flash = try top.bytes("flash", in: Limits.flashBytes)
        let slice = top.has("slice-us") ? try top.int("slice-us", in: Limits.sliceMicroseconds) : 300
        let stackSlot = top.has("stack-slot") ? try top.bytes("stack-slot", in: Limits.stackSlotBytes) : 1024
        guard stackSlot % 8 == 0 else { throw top.error("stack-slot", "must be a multiple of 8 bytes") }
        let valueStack = top.has("value-stack") ? try top.bytes("value-stack", in: Limits.valueStackBytes) : 4096
        guard valueStack % 8 == 0 else { throw top.error("value-stack", "must be a multiple of 8 bytes") }
        let clockMHz = top.has("clock-mhz") ? try top.int("clock-mhz", in: Limits.clockMHz) : 0

        let table = try top.mapping("partitions")
        try table.allowOnly(Set(PartitionKind.allCases.map(\.rawValue)))
        var sizes: [PartitionKind: Int] = [:]
        for kind in PartitionKind.allCases {
            let size = try table.bytes(kind.rawValue, in: Limits.partitionBytes)
            let minimum = partitionMinimumBytes[kind] ?? 0
            guard size >= minimum else {
                throw table.error(kind.rawValue, "\(size) bytes is below the upstream minimum of \(minimum / 1024) KiB")
            }
            sizes[kind] = size
        }
        // At most six partitions of at most 1 GiB each: the sum cannot overflow.
        let total = sizes.values.reduce(0, +)
        guard total <= ram else {
            throw top.error("partitions", "the partitions add up to \(total / 1024) KiB, more than the board's \(ram / 1024) KiB of RAM")
        }
        guard sizes[.stacks, default: 0] >= stackSlot else { throw table.error("stacks", "smaller than one stack slot (\(stackSlot) bytes)") }
        var devices: [DeviceSpec] = []
        let deviceNodes = try top.sequence("devices")
        guard deviceNodes.count <= Limits.devices else { throw top.error("devices", "\(deviceNodes.count) devices, at most \(Limits.devices)") }
        for (index, node) in deviceNodes.enumerated() {
            let device = try DeviceSpec.parse(try YAMLMapping(node: node, file: file, path: "devices[\(index)]"))
            if let twin = devices.first(where: { $0.name == device.name }) {
                throw ConfigurationError(file: file, line: node.mark?.line, field: "devices[\(index)].name",
                                         detail: "device '\(device.name)' is defined twice (first as a \(twin.kind.rawValue))")
            }
            if let other = devices.first(where: { $0.window.overlaps(device.window) }) {
                throw ConfigurationError(file: file, line: node.mark?.line, field: "devices[\(index)].window",
                                         detail: "\(device.window) overlaps \(other.name)'s \(other.window)")
            }
            devices.append(device)
        }
        var logRateLimit = LogRateLimit.standard
        if top.has("log") {
            let log = try top.mapping("log")
            try log.allowOnly(["burst", "lines-per-second"])
            let burst = log.has("burst") ? try log.int("burst", in: LogRateLimit.valueRange) : logRateLimit.burstLines
            let rate = log.has("lines-per-second") ? try log.int("lines-per-second", in: LogRateLimit.valueRange) : logRateLimit.linesPerSecond
            guard let limit = LogRateLimit(checkedBurstLines: burst, linesPerSecond: rate) else {
                throw log.error("log", "burst \(burst) and lines-per-second \(rate) do not make a rate limit")
            }
            logRateLimit = limit
        }
        return Board(name: name, description: try top.optionalString("description") ?? name, cpu: cpu,
                     clockMHz: clockMHz, ramBytes: ram, flashBytes: flash,
                     hasFPU: try top.bool("fpu"), sliceMicroseconds: slice,
                     partitions: PartitionTable(bytes: sizes, stackSlotBytes: stackSlot), valueStackBytes: valueStack,
                     devices: devices, logRateLimit: logRateLimit)
    }

    public static var deviceKinds: Set<String> { Set(DeviceKind.allCases.map(\.rawValue)) }
    public func device(named name: String) -> DeviceSpec? { devices.first { $0.name == name } }
    /// The devices a manifest's `devices:` entry grants: the one of that name, or every one of that
    /// kind. The node grants these and the planner charges a reply channel for each.
    public func devices(matching wanted: String) -> [DeviceSpec] { devices.filter { $0.name == wanted || $0.kind.rawValue == wanted } }

    /// The kernel configuration this board implies.
    public var loadOptions: LoadOptions { LoadOptions(allowFloat: hasFPU) }
    public var slice: SliceBudget { .microseconds(sliceMicroseconds) }
    /// Stack limits for the kernel (the frame count comes from the stack slot).
    public var executionLimits: ExecutionLimits { ExecutionLimits(slots: valueStackBytes / 8, frames: 0) }

    /// Finds `nameOrPath`: a file path, or a board name in `directory` (e.g. Deploy/boards).
    public static func resolve(_ nameOrPath: String, in directory: String = "Deploy/boards") throws(ConfigurationError) -> Board {
        if nameOrPath.hasSuffix(".yaml") || nameOrPath.contains("/") { return try load(path: nameOrPath) }
        let path = "\(directory)/\(nameOrPath).yaml"
        guard FileManager.default.fileExists(atPath: path) else {
            let known = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
            throw ConfigurationError(file: path, line: nil, field: "board",
                                     detail: "no board '\(nameOrPath)' (boards in \(directory): \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
        }
        return try load(path: path)
    }
}
