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
        guard size > 0 else { throw .invalidArgument }
        guard liveValueCount < Self.valuesMax else { throw .noMemory }
        let heap = partition(task.role == .service ? .tier1 : .guest)
        guard let block = heap.allocate(size) else { throw .noMemory }
        block.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let id = SharedMemoryID(UInt32(values.count))
        values.append(ValueRecord(owner: task.id, sender: nil, block: block, size: size, partition: heap))
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
