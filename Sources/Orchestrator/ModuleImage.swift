// What the planner needs to know of a wasm module: its memory and table limits in bytes, where its
// data ends, and whether it uses floating point. Validation is Core's loader; nothing else decides.
import Core

/// The placement-relevant facts of one validated wasm module.
public struct ModuleImage: Sendable, Equatable {
    /// False for a module with neither a memory of its own nor an imported one.
    public var hasMemory: Bool
    /// Bytes of one page of its memory: 65536, or smaller with the custom-page-sizes proposal (1 byte).
    public var pageBytes: Int
    /// The declared initial memory, in bytes.
    public var memoryMinimumBytes: Int
    /// The declared maximum memory, in bytes; nil when the module declares none.
    public var memoryMaximumBytes: Int?
    /// The end of the highest active data segment with a constant offset (0 without data).
    public var dataEndBytes: Int
    /// Elements of its first table (0 without one), and the declared maximum.
    public var tableMinimumElements: Int
    public var tableMaximumElements: Int?
    /// True if any signature, global, local or instruction uses f32/f64: FPU-less boards refuse it.
    public var usesFloat: Bool

    public init(hasMemory: Bool, pageBytes: Int = MemoryType.pageBytes, memoryMinimumBytes: Int, memoryMaximumBytes: Int?,
                dataEndBytes: Int = 0, tableMinimumElements: Int = 0, tableMaximumElements: Int? = nil, usesFloat: Bool = false) {
        precondition(pageBytes > 0 && memoryMinimumBytes >= 0 && dataEndBytes >= 0, "module image sizes must not be negative")
        self.hasMemory = hasMemory
        self.pageBytes = pageBytes
        self.memoryMinimumBytes = memoryMinimumBytes
        self.memoryMaximumBytes = memoryMaximumBytes
        self.dataEndBytes = dataEndBytes
        self.tableMinimumElements = tableMinimumElements
        self.tableMaximumElements = tableMaximumElements
        self.usesFloat = usesFloat
    }

    /// Validates `bytes` with Core's loader (every check a node makes) and reads the limits.
    /// Throws the loader's error, which names the section, function and offset at fault.
    public static func inspect(_ bytes: [UInt8]) throws(WasmError) -> (image: ModuleImage, module: LoadedModule) {
        let loaded = try LoadedModule.load(bytes, options: LoadOptions(allowFloat: true))
        let module = loaded.module
        let memory = module.firstMemory
        let table = (module.importedTables + module.tables).first
        let pageBytes = memory.flatMap { _ in MemoryPageSize.log2(in: bytes) }.map { 1 << $0 } ?? MemoryType.pageBytes
        var dataEnd = 0
        for segment in module.data {
            if case .active(_, .i32(let offset)) = segment.mode {
                dataEnd = max(dataEnd, Int(offset) + segment.bytes.count)
            }
        }
        let image = ModuleImage(
            hasMemory: memory != nil, pageBytes: pageBytes,
            memoryMinimumBytes: memory.map { Int($0.limits.min) * pageBytes } ?? 0,
            memoryMaximumBytes: memory.flatMap { $0.limits.max }.map { Int($0) * pageBytes },
            dataEndBytes: dataEnd,
            tableMinimumElements: table.map { Int($0.limits.min) } ?? 0,
            tableMaximumElements: table.flatMap { $0.limits.max }.map { Int($0) },
            usesFloat: loaded.usesFloat)
        return (image, loaded)
    }
}

/// Reads the page-size exponent of a module's first memory (the custom-page-sizes proposal: limits
/// flag 0x08, then the exponent after min and max), from the import or memory section. Core's
/// `MemoryType` keeps only the limits, so the planner looks at the one field it needs itself; the
/// module has passed Core's loader before this runs, so a malformed binary here just gives nil.
enum MemoryPageSize {
    static func log2(in bytes: [UInt8]) -> Int? {
        var reader = Reader(bytes: bytes, offset: 8)
        guard bytes.count >= 8 else { return nil }
        while reader.offset < bytes.count {
            guard let id = reader.byte(), let size = reader.unsigned(), size <= UInt64(bytes.count - reader.offset) else { return nil }
            let end = reader.offset + Int(size)
            var section = Reader(bytes: bytes, offset: reader.offset, end: end)
            switch id {
            case 2:   // imports: the first memory import, if any
                guard let count = section.unsigned() else { return nil }
                for _ in 0..<count {
                    guard section.name(), section.name(), let kind = section.byte() else { return nil }
                    switch kind {
                    case 0: guard section.unsigned() != nil else { return nil }
                    case 1: guard section.byte() != nil, section.limits() != nil else { return nil }
                    case 2: return section.limits() ?? nil
                    case 3: guard section.byte() != nil, section.byte() != nil else { return nil }
                    default: return nil
                    }
                }
            case 5:   // memories
                guard let count = section.unsigned(), count > 0 else { return nil }
                return section.limits() ?? nil
            default: break
            }
            reader.offset = end
        }
        return nil
    }

    struct Reader {
        let bytes: [UInt8]
        var offset: Int
        var end: Int

        init(bytes: [UInt8], offset: Int, end: Int? = nil) {
            self.bytes = bytes
            self.offset = offset
            self.end = end ?? bytes.count
        }

        mutating func byte() -> UInt8? {
            guard offset < end else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func unsigned() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while shift < 64 {
                guard let b = byte() else { return nil }
                result |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
            }
            return nil
        }

        mutating func name() -> Bool {
            guard let length = unsigned(), length <= UInt64(end - offset) else { return false }
            offset += Int(length)
            return true
        }

        /// Skips limits; the page-size exponent if flag 0x08 is set (nil inside: none declared).
        mutating func limits() -> Int?? {
            guard let flags = unsigned(), unsigned() != nil else { return nil }
            if flags & 1 != 0 { guard unsigned() != nil else { return nil } }
            guard flags & 8 != 0 else { return .some(nil) }
            guard let exponent = unsigned(), exponent <= 16 else { return nil }
            return .some(Int(exponent))
        }
    }
}
