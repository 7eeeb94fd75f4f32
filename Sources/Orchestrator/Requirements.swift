// What one module costs on one board, partition by partition, as the kernel charges it at spawn and
// while its guest runs; and a model of a partition's TLSF allocator exact enough that "fits here"
// means the guests spawn and run.
import Core
import HAL

/// Kernel costs the planner must know. Core keeps them internal; the planner-vs-kernel test checks
/// every one against a real kernel, so a change in Core fails that test instead of a deployment.
public enum KernelCosts {
    /// Runtime-partition bytes per guest: its execution context (Core: `Kernel.executionContextBytes`).
    public static let executionContextBytes = 256
    /// Kernel-partition bytes per channel: one-entry buffer plus record (Core: `Channel.kernelBytes`).
    /// Served, mirror and device reply channels all cost this; a closed one gives it back.
    public static let channelBytes = Message.encodedBytesMax + 64
    /// Subsystem-partition bytes of the registry entry for `uri` (Core: `Kernel.register`).
    public static func registryEntryBytes(_ uri: String) -> Int { uri.utf8.count + 16 }

    /// What a node allocates at boot, before any module: its device service serves
    /// `fireball://hal/<device>` for every device of the board (HAL: `DeviceService.start`), a
    /// registry entry and a channel each. A board without devices starts no device service.
    public static func bootCharges(board: Board) -> [Charge] {
        board.devices.flatMap { device in
            let uri = Kernel.deviceURI(device.name)
            return [Charge(partition: .subsystem, bytes: registryEntryBytes(uri), what: "registry entry \(uri)"),
                    Charge(partition: .kernel, bytes: channelBytes, what: "channel \(uri)")]
        }
    }
    /// Stacks-partition bytes of a task's call frames: as many frames as fill the slot.
    public static func frameStackBytes(stackSlotBytes: Int) -> Int {
        max(stackSlotBytes / ExecutionLimits.frameBytes, 1) * ExecutionLimits.frameBytes
    }
    /// Heap bytes of a guest's value stack: the board's value stack in 8-byte slots.
    public static func valueStackBytes(board: Board) -> Int { board.executionLimits.slots * 8 }
    /// Heap bytes of a module's kernel budget on `board`: its served and used URIs and granted
    /// devices (Core: `KernelBudget.bytes`, which the node applies to the same assignment).
    public static func kernelBudgetBytes(_ module: ModuleSpec, on board: Board) -> Int {
        KernelBudget.bytes(serves: module.serves, uses: module.uses, devices: ModuleRequirements.grantedDevices(module, on: board).count)
    }
}

/// One allocation a module causes: in which partition, how many bytes were asked for, and what for.
public struct Charge: Sendable, Equatable {
    public var partition: PartitionKind
    public var bytes: Int
    public var what: String
}

/// Everything a module costs on one board, in the order the kernel allocates it.
public struct ModuleRequirements: Sendable, Equatable {
    public var charges: [Charge]
    /// Request sizes per partition (index: `PartitionKind.allCases` order), in allocation order.
    public var requests: [[Int]]
    /// What the partition's allocator counts as used for them (payloads rounded up, plus headers).
    public var chargedBytes: [Int]

    public init(charges: [Charge]) {
        self.charges = charges
        requests = Array(repeating: [], count: PartitionKind.allCases.count)
        for charge in charges { requests[charge.partition.index].append(charge.bytes) }
        chargedBytes = requests.map { $0.reduce(0) { $0 + TLSFModel.blockBytes($1) } }
    }

    public func chargedBytes(_ kind: PartitionKind) -> Int { chargedBytes[kind.index] }

    /// A module's needs on `board`: linear memory (its budget) and value stack from its heap
    /// partition, an execution context from runtime, a stack slot's frames from stacks, and its
    /// kernel budget from its heap partition, which holds what its guest makes as it runs: a
    /// channel and registry entry per served URI, a mirror per used URI, a reply channel per
    /// granted device, and their handles. Nothing of a module's comes from the kernel partition.
    public static func of(_ module: ModuleSpec, on board: Board) -> ModuleRequirements {
        let heap = module.tier.heapPartition
        var charges: [Charge] = []
        if module.image.hasMemory {
            charges.append(Charge(partition: heap, bytes: max(module.memoryBudgetBytes, 8), what: "linear memory"))
        }
        charges.append(Charge(partition: .runtime, bytes: KernelCosts.executionContextBytes, what: "execution context"))
        charges.append(Charge(partition: heap, bytes: KernelCosts.valueStackBytes(board: board), what: "value stack"))
        charges.append(Charge(partition: .stacks, bytes: KernelCosts.frameStackBytes(stackSlotBytes: board.partitions.stackSlotBytes), what: "stack slot"))
        // Last, the kernel budget: what its guest's channels, registry entries and handles take
        // (Core: `KernelBudget`, from the heap partition at spawn, after the stacks).
        charges.append(Charge(partition: heap, bytes: KernelCosts.kernelBudgetBytes(module, on: board), what: "kernel budget"))
        return ModuleRequirements(charges: charges)
    }

    /// The device names a node of `board` grants `module` (as `NodeDaemon.start` does); a wanted
    /// device only the inventory lists counts once, so it is not left uncharged.
    static func grantedDevices(_ module: ModuleSpec, on board: Board) -> [String] {
        var names: [String] = []
        for wanted in module.devices {
            let matching = board.devices(matching: wanted).map(\.name)
            for name in matching.isEmpty ? [wanted] : matching where !names.contains(name) { names.append(name) }
        }
        return names
    }
}

extension PartitionKind {
    /// Position in `allCases`, for arrays indexed by partition.
    public var index: Int {
        switch self {
        case .kernel: 0
        case .runtime: 1
        case .subsystem: 2
        case .tier1: 3
        case .guest: 4
        case .stacks: 5
        }
    }
}

/// The arithmetic of Core's TLSF partitions (Partition.swift): 8-byte block headers, payloads in
/// 8-byte steps of at least 8, and size classes (below 128 bytes: 8-byte steps; above: 16 steps per
/// power of two). A request is served only from a free block whose class is at least the request's
/// rounded-up class, so a free block a little larger than the request may still not serve it.
public enum TLSFModel {
    public static let headerBytes = 8
    static let secondLevelBits = 4
    static let smallBlockBytes = 128

    /// The payload a request gets.
    public static func payloadBytes(_ request: Int) -> Int { max((request + 7) & ~7, 8) }
    /// What a request adds to the partition's used bytes when the block is split off.
    public static func blockBytes(_ request: Int) -> Int { payloadBytes(request) + headerBytes }

    /// The smallest free-block size that certainly serves a payload of `payload` bytes.
    public static func smallestServingBlock(_ payload: Int) -> Int {
        if payload < smallBlockBytes { return payload }
        let log = Int.bitWidth - 1 - payload.leadingZeroBitCount
        let step = 1 << (log - secondLevelBits)
        let rounded = payload + step - 1
        // The lower bound of the class `rounded` falls in.
        let roundedLog = Int.bitWidth - 1 - rounded.leadingZeroBitCount
        let roundedStep = 1 << (roundedLog - secondLevelBits)
        return rounded & ~(roundedStep - 1)
    }
}

/// One partition of one node as the planner sees it: a bump arena carved from one free block (how a
/// fresh TLSF arena fills when nothing is freed), with the used count the kernel would report.
public struct PartitionBudget: Sendable, Equatable {
    public let kind: PartitionKind
    /// Bytes of the arena (the board's size rounded down to 8, at least 64, as Core makes it).
    public let capacity: Int
    /// Used bytes as the kernel's `Partition.usedBytes` counts them (payloads and headers).
    public private(set) var usedBytes: Int
    /// The free block allocations come from.
    public private(set) var freeBlockBytes: Int
    /// Placed allocations need this much left in the free block at the end, whatever order the
    /// kernel makes them in (see `charge`).
    public private(set) var reserveBytes: Int

    /// A fresh partition of `bytes`, as a kernel boots it.
    public init(kind: PartitionKind, bytes: Int) {
        self.kind = kind
        capacity = max(bytes, 64) & ~7
        usedBytes = 2 * TLSFModel.headerBytes            // the first block's header and the end sentinel
        freeBlockBytes = capacity - 2 * TLSFModel.headerBytes
        reserveBytes = 0
    }

    /// A partition as a node reports it: free bytes and its largest free block. Allocations are
    /// modelled as coming from that block alone (the rest of the free space is not counted on).
    public init(kind: PartitionKind, capacity: Int, freeBytes: Int, largestFreeBlockBytes: Int) {
        // A report comes from a peer: an inconsistent one is clamped to the tighter reading, not trusted.
        self.kind = kind
        self.capacity = max(capacity, 0)
        let free = min(max(freeBytes, 0), self.capacity)
        usedBytes = self.capacity - free
        freeBlockBytes = min(max(largestFreeBlockBytes, 0), free)
        reserveBytes = 0
    }

    public var freeBytes: Int { capacity - usedBytes }

    /// The partition with nothing left to allocate.
    var exhausted: PartitionBudget {
        var full = self
        full.usedBytes = capacity
        full.freeBlockBytes = 0
        return full
    }

    /// The partition after also allocating `requests`, or nil if the kernel might refuse one.
    ///
    /// Sequentially, each payload is split off the free block (or takes all of it when the rest
    /// would be too small to be a block). The kernel may make the allocations in another order
    /// (URIs are served when guests run), and TLSF serves a payload p only from a block at least
    /// `smallestServingBlock(p)`. Whatever the order, p's turn comes with at least what is free at
    /// the end plus p's own block; so the end state must keep `smallestServingBlock(p) - p - 8` free
    /// for every p, which `reserveBytes` tracks.
    public func charging(_ requests: [Int]) -> PartitionBudget? {
        if requests.isEmpty { return self }
        var next = self
        for request in requests {
            let payload = TLSFModel.payloadBytes(request)
            guard payload <= next.freeBlockBytes else { return nil }
            let rest = next.freeBlockBytes - payload
            if rest >= TLSFModel.headerBytes + 8 {
                next.freeBlockBytes = rest - TLSFModel.headerBytes
                next.usedBytes += payload + TLSFModel.headerBytes
            } else {
                next.usedBytes += next.freeBlockBytes + TLSFModel.headerBytes
                next.freeBlockBytes = 0
            }
            next.reserveBytes = max(next.reserveBytes, TLSFModel.smallestServingBlock(payload) - payload - TLSFModel.headerBytes)
        }
        // A block taken whole leaves no free block; a later allocation in another order could then fail.
        guard next.freeBlockBytes >= next.reserveBytes, next.freeBlockBytes > 0 || next.reserveBytes <= -TLSFModel.headerBytes else {
            return nil
        }
        return next
    }
}

/// All six partitions of a node.
public struct NodeBudget: Sendable, Equatable {
    /// Indexed by `PartitionKind.index`.
    public private(set) var partitions: [PartitionBudget]

    /// A freshly booted node of `board`, its device service started (`KernelCosts.bootCharges`).
    public init(board: Board) {
        partitions = PartitionKind.allCases.map { PartitionBudget(kind: $0, bytes: board.partitions[$0]) }
        switch charging(ModuleRequirements(charges: KernelCosts.bootCharges(board: board))) {
        case .success(let booted):
            self = booted
        case .failure:
            // Such a node cannot start its device service (its kernel panics at boot): it holds nothing.
            partitions = partitions.map(\.exhausted)
        }
    }

    public init(partitions: [PartitionBudget]) {
        precondition(partitions.map(\.kind) == PartitionKind.allCases, "one budget per partition, in order")
        self.partitions = partitions
    }

    public subscript(kind: PartitionKind) -> PartitionBudget { partitions[kind.index] }

    /// The node after also starting a module with `requirements`, or the first partition that refuses.
    public func charging(_ requirements: ModuleRequirements) -> Result<NodeBudget, PartitionRefusal> {
        var next = self
        for index in partitions.indices where !requirements.requests[index].isEmpty {
            guard let charged = partitions[index].charging(requirements.requests[index]) else {
                return .failure(PartitionRefusal(kind: partitions[index].kind))
            }
            next.partitions[index] = charged
        }
        return .success(next)
    }
}

/// Which partition had no room.
public struct PartitionRefusal: Error, Sendable, Equatable {
    public let kind: PartitionKind
}
