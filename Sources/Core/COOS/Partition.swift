// co_mem: one fixed memory partition, allocated once at boot, managed by a TLSF allocator.
// TLSF (two-level segregated fit) finds a block in O(1) and bounds fragmentation: every free
// block sits in a list by size class, and neighbours merge as soon as both are free.

/// The six partitions of DESIGN.md §5, in the order a board lists them.
public enum PartitionKind: String, Sendable, CaseIterable, Codable {
    case kernel
    case runtime
    case subsystem
    case tier1
    case guest
    case stacks

    /// What running out of this partition does (DESIGN.md §5).
    public var exhaustionEffect: String {
        switch self {
        case .kernel, .runtime: "system panic"
        case .subsystem: "IPC stops, debugging lost, the system goes on"
        case .tier1: "only that service ends"
        case .guest: "only that guest ends"
        case .stacks: "no more tasks can start"
        }
    }
}

/// A fixed arena with a TLSF allocator. Block headers live in the arena (8 bytes each), so the
/// free space a partition reports is exact: what a guest can still get.
public final class Partition: MemoryProvider {
    public let kind: PartitionKind
    public let capacity: Int
    let arena: UnsafeMutableRawPointer
    /// Payload bytes in use plus their headers.
    public private(set) var usedBytes = 0
    public private(set) var peakUsedBytes = 0
    public private(set) var allocationCount = 0

    // TLSF index: first level by power of two, second level 16 steps within it.
    static let secondLevelBits = 4
    static let secondLevelCount = 1 << secondLevelBits
    static let smallBlockBytes = 1 << (secondLevelBits + 3)     // 128: below it, one level of 8-byte steps
    static let firstLevelCount = 26
    static let headerBytes = 8
    static let minimumPayload = 8
    static let none = UInt32.max

    private var firstLevelBitmap: UInt32 = 0
    private var secondLevelBitmaps = [UInt32](repeating: 0, count: firstLevelCount)
    private var heads = [UInt32](repeating: none, count: firstLevelCount * secondLevelCount)

    /// False for a partition laid over a block of another (a guest's kernel budget): that block is
    /// its owner's to free.
    private let ownsArena: Bool

    /// Creates the partition's arena of `bytes` (rounded down to 8) at once; it never grows.
    public convenience init(kind: PartitionKind, bytes: Int) {
        precondition(bytes >= Self.bytesMin && bytes <= Self.bytesMax, "partition size \(bytes) out of range")
        self.init(kind: kind, arena: .allocate(byteCount: bytes & ~7, alignment: 16), bytes: bytes, ownsArena: true)
    }

    /// A partition over `bytes` at `block`, which another partition allocated (8-byte aligned) and
    /// which must outlive it: a guest's kernel budget inside its heap partition.
    convenience init(kind: PartitionKind, inside block: UnsafeMutableRawPointer, bytes: Int) {
        precondition(bytes >= Self.bytesMin && bytes <= Self.bytesMax && Int(bitPattern: block) & 7 == 0, "sub-partition of \(bytes) bytes")
        self.init(kind: kind, arena: block, bytes: bytes, ownsArena: false)
    }

    /// The size range of a partition: room for a block, and offsets that fit the 32-bit headers.
    public static let bytesMin = 64
    public static let bytesMax = 1 << 30

    private init(kind: PartitionKind, arena: UnsafeMutableRawPointer, bytes: Int, ownsArena: Bool) {
        self.kind = kind
        self.ownsArena = ownsArena
        capacity = bytes & ~7
        self.arena = arena
        // One free block over everything but a zero-size sentinel at the end that is always "used".
        let sentinel = capacity - Self.headerBytes
        writeHeader(0, size: sentinel - Self.headerBytes, free: false, previousFree: false, previous: Self.none)
        writeHeader(sentinel, size: 0, free: false, previousFree: false, previous: 0)
        insertFree(0, size: sentinel - Self.headerBytes)
        setFree(0, true)
        usedBytes = 2 * Self.headerBytes
        peakUsedBytes = usedBytes
    }

    deinit { if ownsArena { arena.deallocate() } }

    public var freeBytes: Int { capacity - usedBytes }

    // MARK: headers (size | free bit 0 | previous-free bit 1, then the previous block's offset)

    private func sizeOf(_ block: Int) -> Int { Int(arena.load(fromByteOffset: block, as: UInt32.self) & ~7) }
    private func isFree(_ block: Int) -> Bool { arena.load(fromByteOffset: block, as: UInt32.self) & 1 != 0 }
    private func isPreviousFree(_ block: Int) -> Bool { arena.load(fromByteOffset: block, as: UInt32.self) & 2 != 0 }
    private func previous(_ block: Int) -> Int { Int(arena.load(fromByteOffset: block + 4, as: UInt32.self)) }
    private func next(_ block: Int) -> Int { block + Self.headerBytes + sizeOf(block) }

    private func writeHeader(_ block: Int, size: Int, free: Bool, previousFree: Bool, previous: UInt32) {
        arena.storeBytes(of: UInt32(size) | (free ? 1 : 0) | (previousFree ? 2 : 0), toByteOffset: block, as: UInt32.self)
        arena.storeBytes(of: previous, toByteOffset: block + 4, as: UInt32.self)
    }

    private func setSize(_ block: Int, _ size: Int) {
        let flags = arena.load(fromByteOffset: block, as: UInt32.self) & 7
        arena.storeBytes(of: UInt32(size) | flags, toByteOffset: block, as: UInt32.self)
    }

    private func setFree(_ block: Int, _ free: Bool) {
        var word = arena.load(fromByteOffset: block, as: UInt32.self)
        word = free ? word | 1 : word & ~1
        arena.storeBytes(of: word, toByteOffset: block, as: UInt32.self)
        // The next block records whether its neighbour below is free, and where it starts.
        let following = next(block)
        var nextWord = arena.load(fromByteOffset: following, as: UInt32.self)
        nextWord = free ? nextWord | 2 : nextWord & ~2
        arena.storeBytes(of: nextWord, toByteOffset: following, as: UInt32.self)
        arena.storeBytes(of: UInt32(block), toByteOffset: following + 4, as: UInt32.self)
    }

    // Free-list links live in the first 8 payload bytes of a free block.
    private func nextFree(_ block: Int) -> UInt32 { arena.load(fromByteOffset: block + 8, as: UInt32.self) }
    private func previousFree(_ block: Int) -> UInt32 { arena.load(fromByteOffset: block + 12, as: UInt32.self) }
    private func setLinks(_ block: Int, next: UInt32, previous: UInt32) {
        arena.storeBytes(of: next, toByteOffset: block + 8, as: UInt32.self)
        arena.storeBytes(of: previous, toByteOffset: block + 12, as: UInt32.self)
    }

    // MARK: size classes

    static func mapping(_ size: Int) -> (first: Int, second: Int) {
        if size < smallBlockBytes { return (0, size / (smallBlockBytes / secondLevelCount)) }
        let log = Int.bitWidth - 1 - size.leadingZeroBitCount
        let second = (size >> (log - secondLevelBits)) ^ secondLevelCount
        return (log - (secondLevelBits + 3) + 1, second)
    }

    /// Rounds a request up so that any block in the class found is large enough.
    static func searchMapping(_ size: Int) -> (first: Int, second: Int) {
        var rounded = size
        if size >= smallBlockBytes {
            let log = Int.bitWidth - 1 - size.leadingZeroBitCount
            rounded += (1 << (log - secondLevelBits)) - 1
        }
        return mapping(rounded)
    }

    private func insertFree(_ block: Int, size: Int) {
        let (f, s) = Self.mapping(size)
        let index = f * Self.secondLevelCount + s
        let head = heads[index]
        setLinks(block, next: head, previous: Self.none)
        if head != Self.none { setLinks(Int(head), next: nextFree(Int(head)), previous: UInt32(block)) }
        heads[index] = UInt32(block)
        firstLevelBitmap |= 1 << UInt32(f)
        secondLevelBitmaps[f] |= 1 << UInt32(s)
    }

    private func removeFree(_ block: Int) {
        let (f, s) = Self.mapping(sizeOf(block))
        let index = f * Self.secondLevelCount + s
        let after = nextFree(block)
        let before = previousFree(block)
        if after != Self.none { setLinks(Int(after), next: nextFree(Int(after)), previous: before) }
        if before != Self.none {
            setLinks(Int(before), next: after, previous: previousFree(Int(before)))
        } else {
            heads[index] = after
            if after == Self.none {
                secondLevelBitmaps[f] &= ~(1 << UInt32(s))
                if secondLevelBitmaps[f] == 0 { firstLevelBitmap &= ~(1 << UInt32(f)) }
            }
        }
    }

    private func findFree(_ size: Int) -> Int? {
        var (f, s) = Self.searchMapping(size)
        guard f < Self.firstLevelCount else { return nil }
        var secondMap = secondLevelBitmaps[f] & (~0 << UInt32(s))
        if secondMap == 0 {
            let firstMap = firstLevelBitmap & (f + 1 < 32 ? ~0 << UInt32(f + 1) : 0)
            guard firstMap != 0 else { return nil }
            f = firstMap.trailingZeroBitCount
            secondMap = secondLevelBitmaps[f]
        }
        s = secondMap.trailingZeroBitCount
        let head = heads[f * Self.secondLevelCount + s]
        return head == Self.none ? nil : Int(head)
    }

    // MARK: allocation

    static func payloadSize(_ bytes: Int) -> Int { max((bytes + 7) & ~7, minimumPayload) }

    /// Allocates `bytes` (8-byte aligned), or nil if no free block is large enough.
    public func allocate(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard bytes >= 0, bytes < capacity else { return nil }
        let size = Self.payloadSize(bytes)
        guard let block = findFree(size) else { return nil }
        removeFree(block)
        split(block, keeping: size)
        setFree(block, false)
        usedBytes += sizeOf(block) + Self.headerBytes
        peakUsedBytes = max(peakUsedBytes, usedBytes)
        allocationCount += 1
        return arena + block + Self.headerBytes
    }

    /// Splits a block that is not on a free list, returning its tail (if big enough) to the lists.
    private func split(_ block: Int, keeping size: Int) {
        let total = sizeOf(block)
        guard total - size >= Self.headerBytes + Self.minimumPayload else { return }
        let tail = block + Self.headerBytes + size
        let tailSize = total - size - Self.headerBytes
        setSize(block, size)
        writeHeader(tail, size: tailSize, free: false, previousFree: isFree(block), previous: UInt32(block))
        setFree(tail, true)   // also tells the block after the tail where its free neighbour starts
        insertFree(tail, size: tailSize)
    }

    /// The block that holds `pointer`, checked: a pointer that no allocation returned is a programmer error.
    private func block(of pointer: UnsafeMutableRawPointer) -> Int {
        let block = pointer - arena - Self.headerBytes
        precondition(block >= 0 && block < capacity - Self.headerBytes && block & 7 == 0 && !isFree(block),
                     "pointer \(pointer) is not a live block of the \(kind) partition")
        return block
    }

    /// Bytes usable at `pointer` (at least what was asked for).
    public func size(of pointer: UnsafeMutableRawPointer) -> Int { sizeOf(block(of: pointer)) }

    /// Returns a block to the partition, merging it with free neighbours.
    public func free(_ pointer: UnsafeMutableRawPointer) {
        var block = block(of: pointer)
        usedBytes -= sizeOf(block) + Self.headerBytes
        allocationCount -= 1
        setFree(block, true)
        let following = next(block)
        if isFree(following) {
            removeFree(following)
            setSize(block, sizeOf(block) + Self.headerBytes + sizeOf(following))
            setFree(block, true)
        }
        if isPreviousFree(block) {
            let before = previous(block)
            removeFree(before)
            setSize(before, sizeOf(before) + Self.headerBytes + sizeOf(block))
            block = before
            setFree(block, true)
        }
        insertFree(block, size: sizeOf(block))
    }

    /// Grows or shrinks the block at `pointer` to `bytes`, in place when the next block is free,
    /// else by moving it (the old contents are kept). Nil, with the old block untouched, if it cannot.
    public func reallocate(_ pointer: UnsafeMutableRawPointer, to bytes: Int) -> UnsafeMutableRawPointer? {
        let block = block(of: pointer)
        let size = Self.payloadSize(bytes)
        let current = sizeOf(block)
        if size <= current { return pointer }
        let following = next(block)
        if isFree(following), current + Self.headerBytes + sizeOf(following) >= size {
            removeFree(following)
            let merged = current + Self.headerBytes + sizeOf(following)
            setSize(block, merged)
            setFree(block, false)
            split(block, keeping: size)
            usedBytes += sizeOf(block) - current
            peakUsedBytes = max(peakUsedBytes, usedBytes)
            return pointer
        }
        guard let moved = allocate(bytes) else { return nil }
        moved.copyMemory(from: pointer, byteCount: current)
        free(pointer)
        return moved
    }

    /// The largest single allocation that would succeed now.
    public var largestFreeBlock: Int {
        guard firstLevelBitmap != 0 else { return 0 }
        let f = Int.bitWidth - 1 - Int(firstLevelBitmap).leadingZeroBitCount
        let s = Int.bitWidth - 1 - Int(secondLevelBitmaps[f]).leadingZeroBitCount
        var best = 0
        var cursor = heads[f * Self.secondLevelCount + s]
        while cursor != Self.none {
            best = max(best, sizeOf(Int(cursor)))
            cursor = nextFree(Int(cursor))
        }
        return best
    }

    /// Walks every block and checks the invariants (for tests and panic reports).
    public func checkConsistency() -> String? {
        var block = 0
        var used = 2 * Self.headerBytes
        var previousWasFree = false
        var previousBlock = -1
        let sentinel = capacity - Self.headerBytes
        while block < sentinel {
            let size = sizeOf(block)
            if size < Self.minimumPayload { return "block at \(block) has size \(size)" }
            if isPreviousFree(block) != previousWasFree { return "block at \(block): previous-free bit is wrong" }
            if previousWasFree && previous(block) != previousBlock { return "block at \(block): previous offset is wrong" }
            if isFree(block) && previousWasFree { return "two free blocks at \(previousBlock) and \(block) were not merged" }
            if !isFree(block) { used += size + Self.headerBytes }
            previousWasFree = isFree(block)
            previousBlock = block
            block = next(block)
        }
        if block != sentinel { return "blocks run past the sentinel (\(block) vs \(sentinel))" }
        if used != usedBytes { return "used bytes \(usedBytes) but blocks add up to \(used)" }
        return nil
    }
}
