// co_value: a block with exactly one owning task. A message entry of type sharedMemory moves it:
// in flight nobody may touch it; on delivery the receiver owns it; the owner's exit frees it.

/// One co_value's record. Its bytes are charged to the owner's heap partition.
struct ValueRecord {
    var owner: TaskID?
    /// Set while the value travels in a message: the sender, to give it back if the send fails.
    var sender: TaskID?
    let block: UnsafeMutableRawPointer
    let size: Int
    let partition: Partition
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
    /// At most this many co_values exist at once on a node (the table's size is fixed).
    public static let valuesMax = 1024

    /// Allocates `size` bytes owned by `task`, from its heap partition.
    func allocateValue(_ size: Int, for task: TaskRecord) throws(KernelError) -> SharedMemoryID {
        try allocateValue(size, role: task.role, owner: task.id)
    }

    /// Allocates `size` zeroed bytes from the heap of `role`; with no owner the value is in flight.
    private func allocateValue(_ size: Int, role: TaskRole, owner: TaskID?) throws(KernelError) -> SharedMemoryID {
        guard size > 0 else { throw .invalidArgument }
        guard liveValueCount < Self.valuesMax else { throw .noMemory }
        let heap = partition(role == .service ? .tier1 : .guest)
        guard let block = heap.allocate(size) else { throw .noMemory }
        block.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let id = SharedMemoryID(UInt32(values.count))
        values.append(ValueRecord(owner: owner, sender: nil, block: block, size: size, partition: heap))
        liveValueCount += 1
        return id
    }

    /// Allocates a co_value for a trusted Swift task.
    public func allocateValue(_ size: Int, for task: TaskID) throws(KernelError) -> OwnedValue {
        guard let record = tasks[task] else { throw .badHandle }
        return OwnedValue(id: try allocateValue(size, for: record))
    }

    /// The bytes of a value `task` owns.
    func valueBytes(_ id: SharedMemoryID, for task: TaskID) throws(KernelError) -> UnsafeMutableRawBufferPointer {
        guard Int(id.raw) < values.count, values[Int(id.raw)].size > 0 else { throw .badHandle }
        let record = values[Int(id.raw)]
        guard record.owner == task else { throw .notOwner }
        return UnsafeMutableRawBufferPointer(start: record.block, count: record.size)
    }

    func freeValue(_ id: SharedMemoryID, by task: TaskID) throws(KernelError) {
        _ = try valueBytes(id, for: task)
        release(Int(id.raw))
    }

    private func release(_ index: Int) {
        let record = values[index]
        record.partition.free(record.block)
        // A size of 0 marks a freed entry; its number is not reused, so a stale handle stays EBADF.
        values[index] = ValueRecord(owner: nil, sender: nil, block: record.block, size: 0, partition: record.partition)
        liveValueCount -= 1
    }

    /// Sending: every co_value in `message` must belong to the sender; they go in flight.
    func takeValues(in message: Message, from task: TaskID) throws(KernelError) {
        let ids = sharedIDs(message)
        guard !ids.isEmpty else { return }
        for id in ids {
            guard id < values.count, values[id].size > 0 else { throw .badHandle }
            guard values[id].owner == task else { throw .notOwner }
        }
        for id in ids {
            values[id].owner = nil
            values[id].sender = task
        }
    }

    /// Delivery: the receiver owns the values now.
    func deliverValues(in message: Message, to task: TaskID) {
        for id in sharedIDs(message) where id < values.count && values[id].size > 0 {
            values[id].owner = task
            values[id].sender = nil
        }
    }

    /// A send that failed: its values go back to the sender (or are freed if it is gone).
    func returnValues(in message: Message) {
        for id in sharedIDs(message) where id < values.count && values[id].size > 0 {
            if let sender = values[id].sender, let record = tasks[sender], record.guest != nil || record.service != nil {
                values[id].owner = sender
                values[id].sender = nil
            } else {
                release(id)
            }
        }
    }

    /// A send delivered on another node: the values it moved live there now (copies made from
    /// these bytes), so these are freed.
    func releaseMovedValues(in message: Message) {
        for id in sharedIDs(message) where id < values.count && values[id].size > 0 && values[id].owner == nil { release(id) }
    }

    /// Copies of the co_values a message in flight moves, one per distinct handle (the order of
    /// `Message.sharedMemoryHandles`), for a frame to another node; nil if one is gone (its sender
    /// ended meanwhile).
    public func movedValueBytes(_ message: Message) -> [[UInt8]]? {
        var copies: [[UInt8]] = []
        for handle in message.sharedMemoryHandles {
            let index = Int(handle.raw)
            guard index < values.count, values[index].size > 0, values[index].owner == nil else { return nil }
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
                content.withUnsafeBytes { values[Int(id.raw)].block.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                adopted[handle] = id
            } catch {
                for id in adopted.values { release(Int(id.raw)) }
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

    func sharedIDs(_ message: Message) -> [Int] {
        var ids: [Int] = []
        for i in 0..<message.count where message[i].type == .sharedMemory { ids.append(Int(message[i].bits)) }
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
