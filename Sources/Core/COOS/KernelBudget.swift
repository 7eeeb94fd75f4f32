// A guest's kernel budget, after Tock's grants: the kernel objects a guest causes live in one block
// taken from the guest's own heap partition when it starts, never in the kernel partition, so a
// guest that makes too many gets ENOMEM and nothing else on the node notices.

/// What a guest's kernel objects cost in its budget, and how big a budget must be to hold a set of
/// them. The planner sizes each module's budget with `bytes(…)`; the kernel charges the same sizes.
public enum KernelBudget {
    /// One handle-table slot (a channel or device handle the guest holds).
    public static let handleBytes = 8
    /// A channel the guest serves, opens first as a mirror, or gets as a device's reply channel:
    /// its one-entry buffer and record (`Channel.kernelBytes`).
    public static var channelBytes: Int { Channel.kernelBytes }
    /// The registry entry of a URI the guest serves.
    public static func registryEntryBytes(_ uri: String) -> Int { uri.utf8.count + 16 }
    /// Co_values one guest may own at once (their bytes count against its memory limit).
    public static let valuesPerGuestMax = 64
    /// A budget's own overhead: the sub-partition's sentinel and first header.
    static let overheadBytes = 16
    /// Headroom for the allocator's size classes (a request is served only by a block of a class at
    /// least its own, so the last request may need up to this much more than its size).
    static let classSlackBytes = 64
    /// Handles beyond the declared ones: a guest may hold a URI twice, or reopen before it closes.
    public static let spareHandles = 4
    /// The budget of a guest started without one (`fireball run`, tests): room for a few channels.
    public static let defaultBytes = 2048
    /// The smallest budget the kernel accepts (a partition's minimum).
    public static let bytesMin = Partition.bytesMin
    /// The largest (a module cannot ask for more kernel state than this).
    public static let bytesMax = 1 << 20

    /// The budget of a module (its manifest's `serves:`, `uses:` and the devices a node grants it):
    /// what holds, all at once and in any order, a served channel, registry entry and handle per
    /// URI it serves; a mirror channel and handle per other URI it uses (charged even where a
    /// server on the same node would make the open free: it may start later, or move); a reply
    /// channel and handle per device; and `spareHandles` more handles. The planner charges it and
    /// the node gives it, from this one formula.
    public static func bytes(serves: [String], uses: [String], devices: Int) -> Int {
        let channel = blockBytes(channelBytes), handle = blockBytes(handleBytes)
        var total = overheadBytes + classSlackBytes + spareHandles * handle
        for uri in serves { total += channel + blockBytes(registryEntryBytes(uri)) + handle }
        total += (uses.filter { !serves.contains($0) }.count + devices) * (channel + handle)
        // Past `bytesMax` the node refuses it: the planner says so (`Planner.check`).
        return max(total, bytesMin)
    }

    /// What the allocator uses for a request of `bytes`: the payload in 8-byte steps (at least 8)
    /// and its header.
    static func blockBytes(_ bytes: Int) -> Int { Partition.payloadSize(bytes) + Partition.headerBytes }
}

/// One guest's budget: a sub-partition over a block of its heap partition, freed when the guest
/// ends and nothing of it is left (`Kernel.releaseBudget`).
final class GuestBudget {
    let partition: Partition
    let block: UnsafeMutableRawPointer
    /// The heap partition the block came from.
    let home: Partition

    init(bytes: Int, from home: Partition) throws(KernelError) {
        let size = bytes & ~7
        guard size >= KernelBudget.bytesMin, let block = home.allocate(size) else { throw .noMemory }
        self.home = home
        self.block = block
        partition = Partition(kind: home.kind, inside: block, bytes: size)
    }

    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer? { partition.allocate(bytes) }
}

/// A guest's handles (channels, or devices): slots paid by its budget, freed by a close and reused
/// lowest first, so a guest that reconnects for ever holds no more slots than it has handles open.
struct HandleTable<Entry> {
    private var slots: [(entry: Entry, block: UnsafeMutableRawPointer)?] = []

    subscript(handle: UInt32) -> Entry? { Int(handle) < slots.count ? slots[Int(handle)]?.entry : nil }

    /// The handles in use, lowest first.
    var entries: [(handle: Int, entry: Entry)] { slots.indices.compactMap { i in slots[i].map { (i, $0.entry) } } }

    /// A new handle for `entry`, paid by `budget` (`noMemory` when it is spent).
    mutating func add(_ entry: Entry, paidBy budget: GuestBudget) throws(KernelError) -> Int32 {
        guard let block = budget.allocate(KernelBudget.handleBytes) else { throw .noMemory }
        let handle = slots.firstIndex { $0 == nil } ?? slots.count
        if handle == slots.count { slots.append(nil) }
        slots[handle] = (entry, block)
        return Int32(handle)
    }

    /// Frees `handle`'s slot; its entry, or nil if it was not in use.
    mutating func remove(_ handle: UInt32, paidBy budget: GuestBudget) -> Entry? {
        guard Int(handle) < slots.count, let slot = slots[Int(handle)] else { return nil }
        budget.partition.free(slot.block)
        slots[Int(handle)] = nil
        while slots.last.map({ $0 == nil }) == true { slots.removeLast() }
        return slot.entry
    }
}

extension Kernel {
    /// A guest ended: what its budget paid for goes with it, then the budget's block returns to the
    /// heap partition. Its URIs leave the registry (`finish` closed their channels). A mirror it
    /// opened first that another guest still holds moves to that guest's budget; otherwise it closes
    /// here only (the service on the other node goes on; a later open makes a new mirror).
    func releaseBudget(of record: TaskRecord) {
        guard let budget = record.budget else { return }
        record.budget = nil
        for uri in registryCharges.keys.sorted() where registryCharges[uri]!.home === budget.partition {
            if let entry = registry[uri] { unregister(uri, channel: entry.channel) }
        }
        for id in channels.openIDs(homedIn: budget.partition) {
            guard let channel = channels[id] else { continue }
            if let heir = tasks.all.first(where: { $0.guest?.holds(id) == true }), let block = heir.budget?.allocate(Channel.kernelBytes) {
                channel.home.free(channel.kernelBlock)
                channel.kernelBlock = block
                channel.home = heir.budget!.partition
                note("\(channel.uri ?? "\(id)") now paid by \(heir.name)")
            } else {
                try? closeChannel(id, propagating: false)
            }
        }
        // Handle slots are all that may be left in it: they went with the guest's runtime.
        budget.home.free(budget.block)
    }
}
