// co_value: a block with exactly one owning task. A message entry of type sharedMemory moves it:
// in flight nobody may touch it; on delivery the receiver owns it; the owner's exit frees it.

/// One co_value's record. Its bytes are charged to a heap partition, and count against the memory
/// limit of the task charged for it: its owner, or in flight its sender.
struct ValueRecord {
    var owner: TaskID?
    /// Set while the value travels in a message: the sender, to give it back if the send fails.
    var sender: TaskID?
    let block: UnsafeMutableRawPointer
    /// 0 marks a free slot.
    let size: Int
    let partition: Partition
    /// Bumped when the slot is reused, so that a stale handle does not reach the new value.
    var generation: UInt32
    /// The task whose counts include this value (nil: the router's, in flight from another node).
    var chargedTo: TaskID?
}

/// A co_value held by trusted Swift code: `~Copyable`, so it can be given away exactly once.
public struct OwnedValue: ~Copyable {
    public let id: SharedMemoryID
    init(id: SharedMemoryID) { self.id = id }
    /// Puts the value into a message; ownership moves to whoever receives it.
    public consuming func attach(to builder: inout MessageBuilder, key: MessageKey) throws(MessageError) {
        try builder.add(key, id)
    }
}

extension Kernel {
    /// At most this many co_values exist at once on a node: a handle holds the slot in its low 16
    /// bits and the slot's generation in the 15 above (so it stays a positive i32).
    public static let valuesMax = 1 << 16
    static let valueGenerationMask: UInt32 = 0x7FFF

    /// Allocates `size` bytes owned by `task`, from its heap partition. A guest may own
    /// `KernelBudget.valuesPerGuestMax` at once, and their bytes count against its memory limit.
    func allocateValue(_ size: Int, for task: TaskRecord) throws(KernelError) -> SharedMemoryID {
        if task.budget != nil {
            guard task.valuesOwned < KernelBudget.valuesPerGuestMax else { throw .noMemory }
            if let limit = task.memoryLimitBytes {
                let memory = task.guest?.instance.memory?.byteCount ?? 0
                guard size <= limit - memory - task.valueBytesOwned else { throw .noMemory }
            }
        }
        return try allocateValue(size, role: task.role, owner: task.id)
    }

    /// Allocates `size` zeroed bytes from the heap of `role`; with no owner the value is in flight.
    private func allocateValue(_ size: Int, role: TaskRole, owner: TaskID?) throws(KernelError) -> SharedMemoryID {
        guard size > 0 else { throw .invalidArgument }
        guard liveValueCount < Self.valuesMax else { throw .noMemory }
        let heap = partition(role == .service ? .tier1 : .guest)
        guard let block = heap.allocate(size) else { throw .noMemory }
        block.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let index: Int, generation: UInt32
        if let free = freeValueSlots.popLast() {
            (index, generation) = (free, (values[free].generation &+ 1) & Self.valueGenerationMask)
            values[index] = ValueRecord(owner: owner, sender: nil, block: block, size: size, partition: heap, generation: generation)
        } else {
            (index, generation) = (values.count, 0)
            values.append(ValueRecord(owner: owner, sender: nil, block: block, size: size, partition: heap, generation: 0))
        }
        liveValueCount += 1
        charge(index, to: owner)
        return SharedMemoryID(UInt32(index) | generation << 16)
    }

    /// The slot of a live value's handle, or nil (never one, freed, or reused since).
    func valueSlot(_ raw: UInt32) -> Int? {
        let index = Int(raw & 0xFFFF)
        guard raw >> 16 <= Self.valueGenerationMask, index < values.count, values[index].size > 0,
              values[index].generation == raw >> 16 else { return nil }
        return index
    }

    /// Moves a value's charge to `task` (nil: nobody's).
    private func charge(_ index: Int, to task: TaskID?) {
        if let old = values[index].chargedTo, let record = tasks[old] {
            record.valuesOwned -= 1
            record.valueBytesOwned -= values[index].size
        }
        values[index].chargedTo = task
        if let task, let record = tasks[task] {
            record.valuesOwned += 1
            record.valueBytesOwned += values[index].size
        }
    }

    /// Allocates a co_value for a trusted Swift task.
    public func allocateValue(_ size: Int, for task: TaskID) throws(KernelError) -> OwnedValue {
        guard let record = tasks[task] else { throw .badHandle }
        return OwnedValue(id: try allocateValue(size, for: record))
    }

    /// The bytes of a value `task` owns.
    func valueBytes(_ id: SharedMemoryID, for task: TaskID) throws(KernelError) -> UnsafeMutableRawBufferPointer {
        guard let index = valueSlot(id.raw) else { throw .badHandle }
        let record = values[index]
        guard record.owner == task else { throw .notOwner }
        return UnsafeMutableRawBufferPointer(start: record.block, count: record.size)
    }

    func freeValue(_ id: SharedMemoryID, by task: TaskID) throws(KernelError) {
        _ = try valueBytes(id, for: task)
        release(valueSlot(id.raw)!)
    }

    private func release(_ index: Int) {
        charge(index, to: nil)
        let record = values[index]
        record.partition.free(record.block)
        // A size of 0 marks a free slot; a stale handle stays EBADF (its generation is old).
        values[index] = ValueRecord(owner: nil, sender: nil, block: record.block, size: 0, partition: record.partition, generation: record.generation)
        freeValueSlots.append(index)
        liveValueCount -= 1
    }

    /// Sending: every co_value in `message` must belong to the sender; they go in flight.
    func takeValues(in message: Message, from task: TaskID) throws(KernelError) {
        let ids = sharedIDs(message)
        guard !ids.isEmpty else { return }
        var slots: [Int] = []
        for id in ids {
            guard let slot = valueSlot(id) else { throw .badHandle }
            guard values[slot].owner == task else { throw .notOwner }
            slots.append(slot)
        }
        // In flight, a value stays charged to its sender.
        for slot in slots {
            values[slot].owner = nil
            values[slot].sender = task
        }
    }

    /// Delivery: the receiver owns the values now, and is charged for them (even past its limit:
    /// it chose to receive; until it frees them it cannot allocate or grow).
    func deliverValues(in message: Message, to task: TaskID) {
        for id in sharedIDs(message) {
            guard let slot = valueSlot(id) else { continue }
            values[slot].owner = task
            values[slot].sender = nil
            charge(slot, to: task)
        }
    }

    /// A send that failed: its values go back to the sender (or are freed if it is gone).
    func returnValues(in message: Message) {
        for id in sharedIDs(message) {
            guard let slot = valueSlot(id) else { continue }
            if let sender = values[slot].sender, let record = tasks[sender], record.guest != nil || record.service != nil {
                values[slot].owner = sender
                values[slot].sender = nil
                charge(slot, to: sender)
            } else {
                release(slot)
            }
        }
    }

    /// A send delivered on another node: the values it moved live there now (copies made from
    /// these bytes), so these are freed.
    func releaseMovedValues(in message: Message) {
        for id in sharedIDs(message) {
            if let slot = valueSlot(id), values[slot].owner == nil { release(slot) }
        }
    }

    /// Copies of the co_values a message in flight moves, one per distinct handle (the order of
    /// `Message.sharedMemoryHandles`), for a frame to another node; nil if one is gone (its sender
    /// ended meanwhile).
    public func movedValueBytes(_ message: Message) -> [[UInt8]]? {
        var copies: [[UInt8]] = []
        for handle in message.sharedMemoryHandles {
            guard let index = valueSlot(handle.raw), values[index].owner == nil else { return nil }
            copies.append(Array(UnsafeRawBufferPointer(start: values[index].block, count: values[index].size)))
        }
        return copies
    }

    /// `message` as it arrives from another node, with co_values of this node instead of the
    /// sender's handles: one new value per distinct handle, holding the bytes that came with it,
    /// owned by `owner` (nil: in flight until a receiver takes it) and charged to the heap of
    /// `role`, as a value that task allocated would be. All or none: `noMemory` frees what was made.
    func adoptValues(_ message: Message, bytes: [[UInt8]], owner: TaskID?, role: TaskRole) throws(KernelError) -> Message {
        let handles = message.sharedMemoryHandles
        precondition(handles.count == bytes.count, "one value's bytes per co_value handle")
        guard !handles.isEmpty else { return message }
        var adopted: [SharedMemoryID: SharedMemoryID] = [:]
        for (handle, content) in zip(handles, bytes) {
            do {
                let id = try allocateValue(content.count, role: role, owner: owner)
                let block = values[valueSlot(id.raw)!].block
                content.withUnsafeBytes { block.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                adopted[handle] = id
            } catch {
                for id in adopted.values { release(valueSlot(id.raw)!) }
                throw .noMemory
            }
        }
        var builder = MessageBuilder()
        for entry in message.entries {
            // Same keys in the same order as a message that was valid: adding cannot fail.
            do {
                try builder.add(entry.type == .sharedMemory ? MessageEntry(key: entry.key, value: adopted[SharedMemoryID(entry.bits)]!) : entry)
            } catch { preconditionFailure("rebuilding a valid message: \(error)") }
        }
        return builder.build()
    }

    /// Frees everything `task` owns (it exited or was killed).
    func releaseValues(of task: TaskID) {
        for index in values.indices where values[index].size > 0 && (values[index].owner == task || (values[index].owner == nil && values[index].sender == task)) {
            release(index)
        }
    }

    /// The raw co_value handles of `message`'s entries, in order.
    func sharedIDs(_ message: Message) -> [UInt32] {
        var ids: [UInt32] = []
        for i in 0..<message.count where message[i].type == .sharedMemory { ids.append(message[i].bits) }
        return ids
    }
}

extension Message {
    /// The distinct co_value handles this message moves, in order of first appearance.
    var sharedMemoryHandles: [SharedMemoryID] {
        var handles: [SharedMemoryID] = []
        for entry in entries where entry.type == .sharedMemory && !handles.contains(SharedMemoryID(entry.bits)) {
            handles.append(SharedMemoryID(entry.bits))
        }
        return handles
    }
}
