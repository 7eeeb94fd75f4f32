// A wasm linear memory: a contiguous block that grows in pages (64 KiB, or 1 byte) through a limiter hook.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decides whether a memory or table may grow; the kernel charges growth to the guest's partition.
/// Arguments: current and requested size in bytes (memories) or elements (tables). Returning false
/// makes `memory.grow` / `table.grow` return -1, as the spec allows.
public typealias GrowthLimiter = @Sendable (_ current: Int, _ requested: Int) -> Bool

/// Where linear memories get their bytes: the system heap, or a kernel partition.
public protocol MemoryProvider: AnyObject {
    /// Uninitialized bytes, or nil when the provider is out of room.
    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer?
    /// Grows a block (moving it if needed, keeping its contents), or nil with the block untouched.
    func reallocate(_ pointer: UnsafeMutableRawPointer, to bytes: Int) -> UnsafeMutableRawPointer?
    func free(_ pointer: UnsafeMutableRawPointer)
}

/// The process heap (malloc): for tools and tests outside a kernel.
public final class SystemMemoryProvider: MemoryProvider, Sendable {
    public static let shared = SystemMemoryProvider()
    public func allocate(_ bytes: Int) -> UnsafeMutableRawPointer? { malloc(max(bytes, 8)) }
    public func reallocate(_ pointer: UnsafeMutableRawPointer, to bytes: Int) -> UnsafeMutableRawPointer? { realloc(pointer, max(bytes, 8)) }
    public func free(_ pointer: UnsafeMutableRawPointer) { Glibc.free(pointer) }
}

/// A linear memory. Its state block has a stable address; `base` moves when it grows.
public final class LinearMemory {
    let state: UnsafeMutablePointer<MemoryState>
    public let type: MemoryType
    /// Consulted before every growth; nil allows growth up to the declared maximum.
    public var limiter: GrowthLimiter?
    let provider: MemoryProvider

    init(type: MemoryType, limiter: GrowthLimiter?, provider: MemoryProvider) throws(WasmError) {
        self.type = type
        self.limiter = limiter
        self.provider = provider
        let pagesMax = Int(min(type.limits.max ?? type.pagesLimit, type.pagesLimit))
        let bytes = type.minimumBytes
        if let limiter, bytes > 0, !limiter(0, bytes) {
            throw WasmError(.uninstantiable, section: "memory", "initial memory of \(bytes) bytes refused by the partition limiter")
        }
        guard let base = provider.allocate(max(bytes, 8)) else {
            throw WasmError(.uninstantiable, section: "memory", "cannot allocate \(bytes) bytes of linear memory")
        }
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(bytes, 8))
        state = .allocate(capacity: 1)
        state.initialize(to: MemoryState(base: base, byteCount: bytes, pagesMax: pagesMax, pageShift: Int(type.pageSizeLog2)))
    }

    deinit {
        provider.free(state.pointee.base)
        state.deallocate()
    }

    public var byteCount: Int { state.pointee.byteCount }
    public var pageCount: Int { state.pointee.byteCount >> state.pointee.pageShift }

    /// Grows by `pages`; returns the old size in pages, or nil if refused (limit, limiter, or allocation).
    func grow(by pages: Int) -> Int? {
        let old = pageCount
        guard pages >= 0, old + pages <= state.pointee.pagesMax else { return nil }
        if pages == 0 { return old }
        let oldBytes = state.pointee.byteCount
        let newBytes = (old + pages) << state.pointee.pageShift
        if let limiter, !limiter(oldBytes, newBytes) { return nil }
        guard let base = provider.reallocate(state.pointee.base, to: newBytes) else { return nil }
        memset(base + oldBytes, 0, newBytes - oldBytes)
        state.pointee.base = base
        state.pointee.byteCount = newBytes
        return old
    }

    /// Bytes `offset..<offset+count`, or nil if out of bounds. Valid until the memory grows.
    public func bytes(at offset: Int, count: Int) -> UnsafeMutableRawBufferPointer? {
        guard offset >= 0, count >= 0, offset <= byteCount, count <= byteCount - offset else { return nil }
        return UnsafeMutableRawBufferPointer(start: state.pointee.base + offset, count: count)
    }

    /// Copies bytes out of memory; nil if out of bounds.
    public func read(at offset: Int, count: Int) -> [UInt8]? {
        bytes(at: offset, count: count).map { Array($0) }
    }

    /// Copies bytes into memory; false if out of bounds (nothing is written then).
    @discardableResult
    public func write(_ data: [UInt8], at offset: Int) -> Bool {
        guard let target = bytes(at: offset, count: data.count) else { return false }
        data.withUnsafeBytes { target.copyMemory(from: $0) }
        return true
    }
}

/// A wasm table of references.
public final class Table {
    let state: UnsafeMutablePointer<TableState>
    public let type: TableType
    public var limiter: GrowthLimiter?

    init(type: TableType, initial: UInt64, limiter: GrowthLimiter?) throws(WasmError) {
        self.type = type
        self.limiter = limiter
        let count = Int(type.limits.min)
        guard count <= WasmLimits.tableElementsMax else {
            throw WasmError(.limitExceeded, section: "table", "table of \(count) elements, Fireball allows \(WasmLimits.tableElementsMax)")
        }
        let max = Int(min(type.limits.max ?? UInt64(WasmLimits.tableElementsMax), UInt64(WasmLimits.tableElementsMax)))
        let elements = UnsafeMutablePointer<UInt64>.allocate(capacity: Swift.max(count, 1))
        elements.initialize(repeating: initial, count: Swift.max(count, 1))
        state = .allocate(capacity: 1)
        state.initialize(to: TableState(elements: elements, count: count, capacity: Swift.max(count, 1), max: max, elementType: type.element))
    }

    deinit {
        state.pointee.elements.deallocate()
        state.deallocate()
    }

    public var count: Int { state.pointee.count }

    /// Grows by `count` elements set to `initial`; returns the old size or nil if refused.
    func grow(by added: Int, initial: UInt64) -> Int? {
        let old = state.pointee.count
        guard added >= 0, added <= state.pointee.max - old else { return nil }
        if added == 0 { return old }
        if let limiter, !limiter(old, old + added) { return nil }
        let newCount = old + added
        if newCount > state.pointee.capacity {
            let capacity = Swift.min(Swift.max(newCount, state.pointee.capacity * 2), state.pointee.max)
            let elements = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
            elements.moveInitialize(from: state.pointee.elements, count: old)
            state.pointee.elements.deallocate()
            state.pointee.elements = elements
            state.pointee.capacity = capacity
        }
        (state.pointee.elements + old).initialize(repeating: initial, count: added)
        state.pointee.count = newCount
        return old
    }
}
