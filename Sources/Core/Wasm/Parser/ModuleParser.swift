// Decodes a wasm binary into a `WasmModule`: header, section framing and order, and the checks
// that span sections. Section contents are in ModuleParser+Sections.swift.

extension WasmModule {
    /// Decodes a WebAssembly 2.0 (non-SIMD) binary without decoding function bodies.
    ///
    /// Throws `.malformed` for bytes that are not a well-formed binary, `.limitExceeded` for
    /// Fireball's `WasmLimits`, and `.invalid` for constant expressions that decode but cannot be
    /// valid (empty, several instructions, a non-constant instruction); such an `.invalid` error is
    /// only thrown once the whole binary has decoded, so a malformed module is always reported as
    /// malformed. Everything else about validity is `validateModuleLevel()`'s job.
    public static func parse(_ bytes: [UInt8]) throws(WasmError) -> WasmModule {
        // `bytes` (not `module.bytes`) is pinned, so the parser can mutate its module freely.
        let result: Result<WasmModule, WasmError> = bytes.withUnsafeBytes { raw in
            var parser = ModuleParser(module: WasmModule(bytes: bytes), raw: raw)
            do throws(WasmError) {
                try parser.parseModule()
                return .success(parser.module)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

/// The decoding state for one binary. Lives only inside `WasmModule.parse`, because its reader
/// points into the pinned bytes.
struct ModuleParser {
    var module: WasmModule
    var reader: ByteReader
    /// The first `.invalid` constant expression found; thrown when decoding has finished.
    var pendingInvalid: WasmError?
    /// The section being decoded, for errors recorded rather than thrown.
    var currentSection = "module"
    /// Imported globals and functions, known once the import section is read; constant
    /// expressions may only refer to imported globals.
    var importedGlobalTypes: [GlobalType] = []
    var importedFunctionCount = 0
    var sawCodeSection = false

    init(module: WasmModule, raw: UnsafeRawBufferPointer) {
        self.module = module
        self.reader = ByteReader(bytes: raw)
    }

    static let magic: [UInt8] = [0x00, 0x61, 0x73, 0x6D]
    static let version: [UInt8] = [0x01, 0x00, 0x00, 0x00]

    enum SectionID: UInt8 {
        case custom = 0, type, `import`, function, table, memory, global, export, start, element, code, data, dataCount

        var name: String {
            switch self {
            case .custom: "custom"
            case .type: "type"
            case .import: "import"
            case .function: "function"
            case .table: "table"
            case .memory: "memory"
            case .global: "global"
            case .export: "export"
            case .start: "start"
            case .element: "element"
            case .code: "code"
            case .data: "data"
            case .dataCount: "data count"
            }
        }

        /// Position in the required order; data count (id 12) goes between element and code.
        var rank: Int {
            switch self {
            case .custom: 0
            case .dataCount: 10
            case .code: 11
            case .data: 12
            default: Int(rawValue)
            }
        }
    }

    mutating func parseModule() throws(WasmError) {
        try parseHeader()
        var lastRank = 0
        while !reader.isAtEnd {
            let headerOffset = reader.offset
            let idByte = try reader.readByte()
            guard let id = SectionID(rawValue: idByte) else {
                throw WasmError(.malformed, offset: headerOffset, "malformed section id \(idByte)")
            }
            let size: Int
            do {
                size = try reader.readLength()
            } catch {
                throw error.placed(section: id.name)
            }
            let contentStart = reader.offset
            let contentEnd = contentStart + size
            if id != .custom {
                // The reference decoder stops at a section that is out of order or repeated, and then
                // finds bytes it cannot place.
                guard id.rank > lastRank else {
                    throw WasmError(.malformed, section: id.name, offset: headerOffset,
                                    "unexpected content after last section (\(id.name) section out of order or repeated)")
                }
                lastRank = id.rank
            }
            // As in the reference decoder, a section's contents are read up to the end of the
            // input, not of the section, and the size is checked afterwards: an entry that
            // overruns its section then fails on its own terms ("integer representation too
            // long", "length out of bounds") as the spec tests expect, or else as a size
            // mismatch. A custom section is opaque past its name, so it is bounded.
            var section = ByteReader(bytes: reader.bytes, offset: contentStart,
                                     end: id == .custom ? contentEnd : reader.end)
            currentSection = id.name
            do {
                try parseSection(id, &section)
            } catch {
                throw error.placed(section: id.name)
            }
            guard section.offset == contentEnd else {
                throw WasmError(.malformed, section: id.name, offset: contentStart,
                                "section size mismatch: \(size) bytes declared, \(section.offset - contentStart) decoded")
            }
            reader.offset = contentEnd
        }
        try checkAcrossSections()
        if let pendingInvalid { throw pendingInvalid }
    }

    mutating func parseHeader() throws(WasmError) {
        // Short input is "unexpected end" even when its first bytes already differ from the magic.
        let magicRange = try reader.readBytes(4)
        guard reader.bytes[magicRange].elementsEqual(Self.magic) else {
            throw WasmError(.malformed, offset: 0, "magic header not detected")
        }
        let versionRange = try reader.readBytes(4)
        guard reader.bytes[versionRange].elementsEqual(Self.version) else {
            throw WasmError(.malformed, offset: 4, "unknown binary version")
        }
    }

    mutating func parseSection(_ id: SectionID, _ r: inout ByteReader) throws(WasmError) {
        switch id {
        case .custom: try parseCustomSection(&r)
        case .type: try parseTypeSection(&r)
        case .import: try parseImportSection(&r)
        case .function: try parseFunctionSection(&r)
        case .table: try parseTableSection(&r)
        case .memory: try parseMemorySection(&r)
        case .global: try parseGlobalSection(&r)
        case .export: try parseExportSection(&r)
        case .start: module.start = try r.readU32()
        case .element: try parseElementSection(&r)
        case .dataCount: module.dataCount = try r.readU32()
        case .code: try parseCodeSection(&r)
        case .data: try parseDataSection(&r)
        }
    }

    /// Counts that must agree between sections, checked once every section has been seen
    /// (a section that is absent counts as empty).
    func checkAcrossSections() throws(WasmError) {
        if !sawCodeSection, !module.functionTypeIndices.isEmpty {
            throw WasmError(.malformed, section: "code", offset: reader.offset,
                            "function and code section have inconsistent lengths: \(module.functionTypeIndices.count) functions, no code section")
        }
        if let dataCount = module.dataCount, Int(dataCount) != module.data.count {
            throw WasmError(.malformed, section: "data count", offset: reader.offset,
                            "data count and data section have inconsistent lengths: \(dataCount) declared, \(module.data.count) segments")
        }
    }

    /// Keeps the first validation failure found while decoding; decoding goes on.
    mutating func recordInvalid(at offset: Int, _ detail: String) {
        if pendingInvalid == nil {
            pendingInvalid = WasmError(.invalid, section: currentSection, offset: offset, detail)
        }
    }
}

extension WasmError {
    /// The same error, placed in a section and function when it does not already name one.
    /// A premature end inside a section is worded as the spec's reference decoder words it.
    func placed(section: String? = nil, function: Int? = nil) -> WasmError {
        var detail = self.detail
        if code == .malformed, detail.hasPrefix("unexpected end"), !detail.hasPrefix(ByteReader.unexpectedEndOfSection) {
            let rest = detail.dropFirst("unexpected end".count).drop(while: { $0 == ":" || $0 == " " })
            detail = ByteReader.unexpectedEndOfSection + (rest.isEmpty ? "" : " (\(rest))")
        }
        return WasmError(code, section: self.section ?? section, function: functionIndex ?? function,
                         offset: byteOffset, detail)
    }
}
