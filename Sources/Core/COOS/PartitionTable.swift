// A board's RAM split into the six partitions of DESIGN.md §5, fixed at boot.

/// Partition sizes in bytes, plus the size of one task's stack slot.
public struct PartitionTable: Sendable, Equatable {
    public var bytes: [PartitionKind: Int]
    /// One task's stack slot in the `stacks` partition; it holds the task's call-frame stack.
    public var stackSlotBytes: Int

    public init(bytes: [PartitionKind: Int], stackSlotBytes: Int = 1024) {
        self.bytes = bytes
        self.stackSlotBytes = stackSlotBytes
    }

    public subscript(kind: PartitionKind) -> Int { bytes[kind] ?? 0 }
    public var totalBytes: Int { bytes.values.reduce(0, +) }

    /// A workstation-sized table for `fireball run` without a board file.
    public static let host = PartitionTable(bytes: [
        .kernel: 256 * 1024, .runtime: 256 * 1024, .subsystem: 256 * 1024,
        .tier1: 4 * 1024 * 1024, .guest: 64 * 1024 * 1024, .stacks: 64 * 4096,
    ], stackSlotBytes: 4096)
}

/// The kernel stopped: a kernel or runtime partition ran out. Names the partition and the allocation.
public struct KernelPanic: Error, Sendable, Equatable, CustomStringConvertible {
    public let partition: PartitionKind
    public let allocation: String
    public let bytes: Int
    public let freeBytes: Int
    public var description: String {
        "KERNEL PANIC: \(partition) partition exhausted allocating \(allocation) (\(bytes) bytes, \(freeBytes) free)"
    }
}
