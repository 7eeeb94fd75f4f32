import Foundation
import Testing
@testable import Core

// Hand-built binaries for the module decoder and the module-level validator.

private let moduleHeader: [UInt8] = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00]

private func uleb(_ value: UInt64) -> [UInt8] {
    var value = value, out: [UInt8] = []
    repeat {
        let byte = UInt8(value & 0x7F)
        value >>= 7
        out.append(value == 0 ? byte : byte | 0x80)
    } while value != 0
    return out
}

private func uleb(_ value: Int) -> [UInt8] { uleb(UInt64(value)) }

private func sleb(_ value: Int64) -> [UInt8] {
    var value = value, out: [UInt8] = []
    while true {
        let byte = UInt8(value & 0x7F)
        value >>= 7
        let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0)
        out.append(done ? byte : byte | 0x80)
        if done { return out }
    }
}

private func section(_ id: UInt8, _ content: [UInt8]) -> [UInt8] { [id] + uleb(content.count) + content }
private func vector(_ items: [[UInt8]]) -> [UInt8] { uleb(items.count) + items.flatMap { $0 } }
private func name(_ text: String) -> [UInt8] { uleb(text.utf8.count) + Array(text.utf8) }
private func wasm(_ sections: [UInt8]...) -> [UInt8] { moduleHeader + sections.flatMap { $0 } }

private func functionType(_ parameters: [UInt8], _ results: [UInt8]) -> [UInt8] {
    [0x60] + vector(parameters.map { [$0] }) + vector(results.map { [$0] })
}

/// A type section with () -> () as type 0 and (i32) -> (i32) as type 1.
private let twoTypes = section(1, vector([functionType([], []), functionType([0x7F], [0x7F])]))
private let i32Zero: [UInt8] = [0x41, 0x00, 0x0B]
private let emptyBody: [UInt8] = [0x02, 0x00, 0x0B]

private func load(_ bytes: [UInt8]) throws(WasmError) -> WasmModule {
    let module = try WasmModule.parse(bytes)
    try module.validateModuleLevel()
    return module
}

private func refusal(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> WasmError? {
    #expect(throws: WasmError.self, sourceLocation: sourceLocation) { try load(bytes) }
}

/// Expects a refusal with this code, wording, and (when given) offset and section.
private func expectRefusal(_ bytes: [UInt8], _ code: WasmError.Code, _ text: String, offset: Int? = nil,
                           section: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error = refusal(bytes, sourceLocation: sourceLocation) else { return }
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    #expect(error.detail.contains(text), "\(error)", sourceLocation: sourceLocation)
    if let offset { #expect(error.byteOffset == offset, "\(error)", sourceLocation: sourceLocation) }
    if let section { #expect(error.section == section, "\(error)", sourceLocation: sourceLocation) }
}

@Suite struct ModuleParserTests {
    // MARK: Header and framing

    @Test func emptyModule() throws {
        let module = try load(moduleHeader)
        #expect(module.types.isEmpty && module.bodies.isEmpty && module.start == nil && module.dataCount == nil)
    }

    @Test func header() {
        expectRefusal([], .malformed, "unexpected end", offset: 0)
        expectRefusal([0x00, 0x61, 0x73], .malformed, "unexpected end")
        expectRefusal([0x01], .malformed, "unexpected end")
        expectRefusal(Array("\u{0}ASM".utf8) + [1, 0, 0, 0], .malformed, "magic header not detected", offset: 0)
        expectRefusal([0x00, 0x61, 0x73, 0x6D, 0x01, 0x00], .malformed, "unexpected end")
        expectRefusal([0x00, 0x61, 0x73, 0x6D, 0x02, 0x00, 0x00, 0x00], .malformed, "unknown binary version", offset: 4)
    }

    @Test func sectionFraming() {
        expectRefusal(moduleHeader + [0x0D, 0x00], .malformed, "malformed section id", offset: 8)
        expectRefusal(moduleHeader + [0x80, 0x00, 0x01, 0x00], .malformed, "malformed section id", offset: 8)
        // Declared larger than what is left.
        expectRefusal(moduleHeader + [0x01, 0x05, 0x00], .malformed, "length out of bounds", offset: 9)
        // Declared larger than its contents: the next section's bytes are read as this one's.
        expectRefusal(wasm([0x01, 0x02, 0x00, 0x00]), .malformed, "section size mismatch", offset: 10, section: "type")
        // One entry declared, two present.
        expectRefusal(wasm([0x03, 0x03, 0x01, 0x00, 0x00]), .malformed, "section size mismatch", section: "function")
        // Two declared, one present, at the end of the input.
        expectRefusal(wasm(section(5, [0x02, 0x00, 0x01])), .malformed, "unexpected end of section or function", section: "memory")
    }

    @Test func sectionOrder() throws {
        let type = section(1, vector([]))
        let memory = section(5, vector([[0x00, 0x01]]))
        _ = try load(wasm(type, memory))
        expectRefusal(wasm(memory, type), .malformed, "unexpected content after last section", offset: 8 + memory.count, section: "type")
        expectRefusal(wasm(type, type), .malformed, "unexpected content after last section")
        // Data count goes between element and code, before data.
        let dataCount = section(12, [0x00])
        _ = try load(wasm(dataCount, section(10, vector([])), section(11, vector([]))))
        expectRefusal(wasm(section(10, vector([])), dataCount), .malformed, "unexpected content after last section")
        expectRefusal(wasm(section(11, vector([])), dataCount), .malformed, "unexpected content after last section")
        // Custom sections go anywhere, any number of times.
        let custom = section(0, name("any") + [1, 2, 3])
        _ = try load(wasm(custom, type, custom, memory, custom))
    }

    // MARK: Sections

    @Test func typeSection() throws {
        let module = try load(wasm(section(1, vector([functionType([0x7F, 0x7E], [0x7D, 0x7C, 0x70, 0x6F]), functionType([], [])]))))
        #expect(module.types == [
            FunctionType(parameters: [.i32, .i64], results: [.f32, .f64, .funcref, .externref]),
            FunctionType(parameters: [], results: []),
        ])
        expectRefusal(wasm(section(1, vector([[0x61, 0x00, 0x00]]))), .malformed, "malformed function type", offset: 11)
        // The form is a signed 7-bit integer: a second byte is one too many.
        expectRefusal(wasm(section(1, [0x01, 0xE0, 0x7F, 0x00, 0x00])), .malformed, "integer representation too long", offset: 11)
        expectRefusal(wasm(section(1, vector([functionType([0x7B], [])]))), .malformed, "malformed value type", offset: 13)
    }

    @Test func importSection() throws {
        let imports = vector([
            name("env") + name("f") + [0x00, 0x01],
            name("env") + name("t") + [0x01, 0x6F, 0x01, 0x01, 0x02],
            name("env") + name("m") + [0x02, 0x00, 0x03],
            name("env") + name("g") + [0x03, 0x7E, 0x00],
        ])
        let module = try load(wasm(twoTypes, section(2, imports)))
        #expect(module.imports.map(\.name) == ["f", "t", "m", "g"])
        #expect(module.importedFunctionTypes == [1])
        #expect(module.importedTables == [TableType(element: .externref, limits: Limits(min: 1, max: 2))])
        #expect(module.importedMemories == [MemoryType(limits: Limits(min: 3, max: nil))])
        #expect(module.importedGlobals == [GlobalType(value: .i64, mutable: false)])

        let badKind = wasm(section(2, vector([name("") + name("") + [0x04]])))
        expectRefusal(badKind, .malformed, "malformed import kind", offset: 13, section: "import")
        let badMutability = wasm(section(2, vector([name("a") + name("b") + [0x03, 0x7F, 0x02]])))
        expectRefusal(badMutability, .malformed, "malformed mutability", offset: 17)
        let badUTF8 = wasm(section(2, vector([[0x02, 0xC0, 0x80] + name("b") + [0x00, 0x00]])))
        expectRefusal(badUTF8, .malformed, "malformed UTF-8 encoding", offset: 12)
        let surrogate = wasm(section(2, vector([[0x03, 0xED, 0xA0, 0x80] + name("b") + [0x00, 0x00]])))
        expectRefusal(surrogate, .malformed, "malformed UTF-8 encoding")
        expectRefusal(wasm(section(2, vector([name("env") + name("f") + [0x00, 0x05]]))), .invalid, "unknown type", section: "import")
    }

    @Test func functionAndCodeSections() throws {
        let body0 = uleb(7) + [0x02, 0x03, 0x7F, 0x01, 0x7E, 0x01, 0x0B]     // 3 i32, 1 i64; nop; end
        let module = try load(wasm(twoTypes, section(3, vector([[0x00], [0x01]])), section(10, vector([body0, emptyBody]))))
        #expect(module.functionTypeIndices == [0, 1])
        #expect(module.bodies.count == 2)
        let first = module.bodies[0]
        #expect(first.locals.count == 2 && first.locals[0].count == 3 && first.locals[0].type == .i32)
        #expect(first.locals[1].count == 1 && first.locals[1].type == .i64 && first.localCount == 4)
        #expect(module.bytes[first.code] == [0x01, 0x0B])
        #expect(module.bodies[1].locals.isEmpty && module.bytes[module.bodies[1].code] == [0x0B])
        // Offsets of the body size fields: header, type section, function section (5 bytes), code section header (3).
        let codeStart = 8 + twoTypes.count + 5 + 3
        #expect(module.bodyOffsets == [codeStart, codeStart + body0.count])

        let inconsistent = "function and code section have inconsistent lengths"
        expectRefusal(wasm(twoTypes, section(3, vector([[0x00]]))), .malformed, inconsistent)
        expectRefusal(wasm(section(10, vector([emptyBody]))), .malformed, inconsistent, section: "code")
        expectRefusal(wasm(twoTypes, section(3, vector([[0x00]])), section(10, vector([emptyBody, emptyBody]))), .malformed, inconsistent)
        _ = try load(wasm(section(3, vector([]))))
        _ = try load(wasm(section(10, vector([]))))
        expectRefusal(wasm(twoTypes, section(3, vector([[0x02]])), section(10, vector([emptyBody]))), .invalid, "unknown type", section: "function")
    }

    @Test func functionBodyErrors() {
        let oneFunction = wasm(twoTypes, section(3, vector([[0x00]])))
        let codeStart = oneFunction.count + 3
        // Missing final end.
        expectRefusal(oneFunction + section(10, vector([[0x02, 0x00, 0x01]])), .malformed, "END opcode expected", offset: codeStart + 2)
        expectRefusal(oneFunction + section(10, vector([[0x01, 0x00]])), .malformed, "unexpected end of section or function")
        // Locals: the spec's 2^32-1 bound is malformed, Fireball's own a limit; errors name the function.
        let huge = [0x0A, 0x02] + uleb(UInt64(UInt32.max)) + [0x7F] + [0x02, 0x7E, 0x0B]
        expectRefusal(oneFunction + section(10, vector([huge])), .malformed, "too many locals")
        let many = [0x06, 0x01] + uleb(WasmLimits.localsMax + 1) + [0x7F, 0x0B]
        guard let error = refusal(oneFunction + section(10, vector([many]))) else { return }
        #expect(error.code == .limitExceeded && error.detail.contains("too many locals"))
        #expect(error.section == "code" && error.functionIndex == 0 && error.byteOffset == codeStart)
        let bad: [UInt8] = [0x04, 0x01, 0x01, 0x7A, 0x0B]
        expectRefusal(oneFunction + section(10, vector([bad])), .malformed, "malformed value type", offset: codeStart + 3)
    }

    @Test func tableAndMemorySections() throws {
        let tables = vector([[0x70, 0x00, 0x01], [0x6F, 0x01, 0x00, 0x80, 0x01]])
        let module = try load(wasm(section(4, tables), section(5, vector([[0x01, 0x01, 0x02]]))))
        #expect(module.tables == [TableType(element: .funcref, limits: Limits(min: 1, max: nil)),
                                  TableType(element: .externref, limits: Limits(min: 0, max: 128))])
        #expect(module.memories == [MemoryType(limits: Limits(min: 1, max: 2))])
        // The limits flag is a 1-bit LEB128 integer, as in the reference decoder.
        expectRefusal(wasm(section(5, [0x01, 0x02])), .malformed, "integer too large", offset: 11)
        expectRefusal(wasm(section(5, [0x01, 0x81, 0x00, 0x00, 0x00])), .malformed, "integer representation too long", offset: 11)
        expectRefusal(wasm(section(4, [0x01, 0x7F, 0x00, 0x00])), .malformed, "malformed reference type", offset: 11)
    }

    @Test func globalSectionAndConstantExpressions() throws {
        let globals = vector([
            [0x7F, 0x00] + [0x41] + sleb(-5) + [0x0B],
            [0x7E, 0x01] + [0x42] + sleb(Int64.min) + [0x0B],
            [0x7D, 0x00, 0x43, 0x00, 0x00, 0x80, 0x3F, 0x0B],
            [0x7C, 0x00, 0x44, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0x0B],
            [0x70, 0x00, 0xD0, 0x70, 0x0B],
            [0x70, 0x00, 0xD2, 0x00, 0x0B],
            [0x6F, 0x00, 0xD0, 0x6F, 0x0B],
            [0x7E, 0x00, 0x23, 0x00, 0x0B],
        ])
        let imports = section(2, vector([name("m") + name("g") + [0x03, 0x7E, 0x00]]))
        let functions = section(3, vector([[0x00]]))
        let code = section(10, vector([emptyBody]))
        let module = try load(wasm(twoTypes, imports, functions, section(6, globals), code))
        #expect(module.globals.map(\.initializer) == [
            .i32(UInt32(bitPattern: -5)), .i64(UInt64(bitPattern: Int64.min)), .f32(Float(1).bitPattern),
            .f64(Double(1).bitPattern), .referenceNull(.funcref), .referenceFunction(0),
            .referenceNull(.externref), .globalGet(0),
        ])
        #expect(module.globals[1].type == GlobalType(value: .i64, mutable: true))
    }

    @Test func constantExpressionErrors() {
        func global(_ type: UInt8, _ expression: [UInt8]) -> [UInt8] { wasm(section(6, vector([[type, 0x00] + expression]))) }
        let expressionStart = 8 + 2 + 1 + 2
        expectRefusal(global(0x7F, [0x01, 0x41, 0x00, 0x0B]), .invalid, "constant expression required", offset: expressionStart, section: "global")
        expectRefusal(global(0x7F, [0x41, 0x00, 0x6A, 0x0B]), .invalid, "constant expression required", offset: expressionStart + 2)
        expectRefusal(global(0x7F, [0x41, 0x00, 0x41, 0x00, 0x0B]), .invalid, "type mismatch")
        expectRefusal(global(0x7F, [0x0B]), .invalid, "type mismatch")
        expectRefusal(global(0x7F, [0x42, 0x00, 0x0B]), .invalid, "type mismatch")
        // A block is decoded through its own end, then judged.
        expectRefusal(global(0x7F, [0x02, 0x7F, 0x41, 0x00, 0x0B, 0x0B]), .invalid, "constant expression required")
        // Malformed beats invalid: decoding errors are found first.
        expectRefusal(global(0x7F, [0x41, 0x00]), .malformed, "unexpected end")
        expectRefusal(global(0x7F, [0xF3, 0x0B]), .malformed, "illegal opcode", offset: expressionStart)
        expectRefusal(global(0x7F, [0x3F, 0x01, 0x0B]), .malformed, "zero byte expected")
        expectRefusal(global(0x70, [0xD0, 0x7F, 0x0B]), .malformed, "malformed reference type")
        expectRefusal(global(0x7F, [0x01, 0x0B]) + [0x0D], .malformed, "malformed section id")
        // global.get: only immutable imported globals.
        expectRefusal(global(0x7F, [0x23, 0x00, 0x0B]), .invalid, "unknown global")
        let mutableImport = section(2, vector([name("m") + name("g") + [0x03, 0x7F, 0x01]]))
        expectRefusal(wasm(mutableImport, section(6, vector([[0x7F, 0x00, 0x23, 0x00, 0x0B]]))), .invalid, "constant expression required")
        let ownGlobals = section(6, vector([[0x7F, 0x00] + i32Zero, [0x7F, 0x00, 0x23, 0x00, 0x0B]]))
        expectRefusal(wasm(ownGlobals), .invalid, "unknown global 0")
        expectRefusal(global(0x70, [0xD2, 0x00, 0x0B]), .invalid, "unknown function 0")
    }

    @Test func exportAndStartSections() throws {
        let functions = section(3, vector([[0x00], [0x01]]))
        let code = section(10, vector([emptyBody, [0x04, 0x00, 0x20, 0x00, 0x0B]]))
        let memory = section(5, vector([[0x00, 0x01]]))
        let exports = section(7, vector([name("f") + [0x00, 0x01], name("mem") + [0x02, 0x00]]))
        let module = try load(wasm(twoTypes, functions, memory, exports, section(8, [0x00]), code))
        #expect(module.exports == [Export(name: "f", kind: .function, index: 1), Export(name: "mem", kind: .memory, index: 0)])
        #expect(module.start == 0)

        expectRefusal(wasm(twoTypes, functions, section(7, vector([name("a") + [0x00, 0x00], name("a") + [0x00, 0x01]])), code),
                      .invalid, "duplicate export name", section: "export")
        // Canonically equivalent but different bytes are different names.
        _ = try load(wasm(twoTypes, functions, section(7, vector([name("\u{C5}") + [0x00, 0x00], name("A\u{30A}") + [0x00, 0x01]])), code))
        expectRefusal(wasm(twoTypes, functions, section(7, vector([name("a") + [0x00, 0x02]])), code), .invalid, "unknown function 2")
        expectRefusal(wasm(section(7, vector([name("a") + [0x01, 0x00]]))), .invalid, "unknown table 0")
        expectRefusal(wasm(section(7, vector([name("a") + [0x02, 0x00]]))), .invalid, "unknown memory 0")
        expectRefusal(wasm(section(7, vector([name("a") + [0x03, 0x00]]))), .invalid, "unknown global 0")
        expectRefusal(wasm(section(7, vector([name("a") + [0x04, 0x00]]))), .malformed, "malformed export kind", offset: 13)
        expectRefusal(wasm(twoTypes, functions, section(8, [0x02]), code), .invalid, "unknown function 2", section: "start")
        expectRefusal(wasm(twoTypes, functions, section(8, [0x01]), code), .invalid, "start function", section: "start")
    }

    @Test func elementSectionEncodings() throws {
        let functions = section(3, vector([[0x00], [0x00]]))
        let code = section(10, vector([emptyBody, emptyBody]))
        let tables = section(4, vector([[0x70, 0x00, 0x02], [0x70, 0x00, 0x02], [0x6F, 0x00, 0x02]]))
        let refFunc1: [UInt8] = [0xD2, 0x01, 0x0B]
        let segments = vector([
            [0x00] + i32Zero + vector([[0x00], [0x01]]),                      // 0: active table 0, indices
            [0x01, 0x00] + vector([[0x01]]),                                   // 1: passive, indices
            [0x02, 0x01] + i32Zero + [0x00] + vector([[0x00]]),               // 2: active table 1, indices
            [0x03, 0x00] + vector([[0x00]]),                                   // 3: declarative, indices
            [0x04] + i32Zero + vector([refFunc1, [0xD0, 0x70, 0x0B]]),         // 4: active table 0, expressions
            [0x05, 0x6F] + vector([[0xD0, 0x6F, 0x0B]]),                       // 5: passive, expressions
            [0x06, 0x02] + i32Zero + [0x6F] + vector([[0xD0, 0x6F, 0x0B]]),   // 6: active table 2, expressions
            [0x07, 0x70] + vector([refFunc1]),                                 // 7: declarative, expressions
        ])
        let module = try load(wasm(twoTypes, functions, tables, section(9, segments), code))
        let zero = ConstantExpression.i32(0)
        #expect(module.elements == [
            ElementSegment(type: .funcref, mode: .active(table: 0, offset: zero), initializers: [.referenceFunction(0), .referenceFunction(1)]),
            ElementSegment(type: .funcref, mode: .passive, initializers: [.referenceFunction(1)]),
            ElementSegment(type: .funcref, mode: .active(table: 1, offset: zero), initializers: [.referenceFunction(0)]),
            ElementSegment(type: .funcref, mode: .declarative, initializers: [.referenceFunction(0)]),
            ElementSegment(type: .funcref, mode: .active(table: 0, offset: zero), initializers: [.referenceFunction(1), .referenceNull(.funcref)]),
            ElementSegment(type: .externref, mode: .passive, initializers: [.referenceNull(.externref)]),
            ElementSegment(type: .externref, mode: .active(table: 2, offset: zero), initializers: [.referenceNull(.externref)]),
            ElementSegment(type: .funcref, mode: .declarative, initializers: [.referenceFunction(1)]),
        ])
        #expect(module.declaredFunctionReferences == [0, 1])

        func withSegment(_ segment: [UInt8]) -> [UInt8] { wasm(twoTypes, functions, tables, section(9, vector([segment])), code) }
        expectRefusal(withSegment([0x08]), .malformed, "malformed elements segment kind")
        expectRefusal(withSegment([0x01, 0x01, 0x00]), .malformed, "malformed element kind")
        expectRefusal(withSegment([0x05, 0x7F, 0x00]), .malformed, "malformed reference type")
        expectRefusal(withSegment([0x02, 0x03] + i32Zero + [0x00, 0x00]), .invalid, "unknown table 3", section: "element")
        expectRefusal(withSegment([0x02, 0x02] + i32Zero + [0x00, 0x00]), .invalid, "type mismatch")
        expectRefusal(withSegment([0x00, 0x42, 0x00, 0x0B, 0x00]), .invalid, "type mismatch")
        expectRefusal(withSegment([0x05, 0x6F] + vector([refFunc1])), .invalid, "type mismatch")
        expectRefusal(withSegment([0x01, 0x00] + vector([[0x05]])), .invalid, "unknown function 5")
        expectRefusal(withSegment([0x05, 0x70] + vector([[0x01, 0x0B]])), .invalid, "constant expression required")
    }

    @Test func dataSectionEncodings() throws {
        let memory = section(5, vector([[0x00, 0x01]]))
        let segments = vector([
            [0x00] + i32Zero + name("ab"),
            [0x01] + name("cde"),
            [0x02, 0x00, 0x41, 0x10, 0x0B] + name(""),
        ])
        let bytes = wasm(memory, section(12, [0x03]), section(11, segments))
        let module = try load(bytes)
        #expect(module.dataCount == 3)
        #expect(module.data.count == 3)
        #expect(module.data[0].mode == .active(memory: 0, offset: .i32(0)) && Array(module.bytes[module.data[0].bytes]) == Array("ab".utf8))
        #expect(module.data[1].mode == .passive && Array(module.bytes[module.data[1].bytes]) == Array("cde".utf8))
        #expect(module.data[2].mode == .active(memory: 0, offset: .i32(16)) && module.data[2].bytes.isEmpty)

        let inconsistent = "data count and data section have inconsistent lengths"
        expectRefusal(wasm(memory, section(12, [0x02]), section(11, segments)), .malformed, inconsistent, offset: 8 + memory.count + 3 + 2)
        expectRefusal(wasm(memory, section(12, [0x01])), .malformed, inconsistent)
        expectRefusal(wasm(memory, section(11, vector([[0x03]]))), .malformed, "malformed data segment kind")
        expectRefusal(wasm(memory, section(11, vector([[0x02, 0x01] + i32Zero + name("")]))), .invalid, "unknown memory 1", section: "data")
        expectRefusal(wasm(section(11, vector([[0x00] + i32Zero + name("")]))), .invalid, "unknown memory 0")
        expectRefusal(wasm(memory, section(11, vector([[0x00, 0x42, 0x00, 0x0B] + name("")]))), .invalid, "type mismatch")
        // A data length past the end of the input.
        expectRefusal(wasm(memory) + [0x0B, 0x04, 0x01, 0x01, 0x09, 0x61], .malformed, "length out of bounds", offset: 8 + memory.count + 4)
    }

    @Test func customSections() throws {
        let map = vector([[0x00] + name("main"), [0x01] + name("add")])
        let names = [0x01] + uleb(map.count) + map
        let nameSection = section(0, name("name") + [0x00, 0x02, 0x01, 0x61] + names)     // module name "a", then function names
        let functions = section(3, vector([[0x00], [0x00]]))
        let code = section(10, vector([emptyBody, emptyBody]))
        let module = try load(wasm(twoTypes, functions, code, nameSection))
        #expect(module.functionNames == [0: "main", 1: "add"])

        // A name section that does not decode is ignored, not fatal.
        let broken = section(0, name("name") + [0x01, 0x09, 0x05, 0x00])
        let loaded = try load(wasm(twoTypes, functions, code, broken))
        #expect(loaded.functionNames.isEmpty)
        // But a custom section's own name must decode.
        expectRefusal(wasm(section(0, [0x02, 0xC0, 0x80])), .malformed, "malformed UTF-8 encoding", offset: 11, section: "custom")
        expectRefusal(moduleHeader + [0x00, 0x00], .malformed, "unexpected end")
        expectRefusal(moduleHeader + [0x00, 0x05, 0x09, 0x61], .malformed, "length out of bounds")
    }

    // MARK: LEB128

    @Test func leb128Strictness() throws {
        // Padded, canonical-length forms (as wasm-ld writes section sizes and indices) are accepted.
        let paddedType: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x00]
        let functions = [0x03, 0x86, 0x80, 0x80, 0x80, 0x00, 0x01] + paddedType
        let module = try load(wasm(twoTypes, functions, section(10, vector([emptyBody]))))
        #expect(module.functionTypeIndices == [0])
        _ = try load(wasm(section(5, [0x01, 0x00, 0x82, 0x80, 0x80, 0x80, 0x00])))
        _ = try load(wasm(section(6, [0x01, 0x7F, 0x00, 0x41, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x0B])))
        _ = try load(wasm(section(6, [0x01, 0x7E, 0x00, 0x42] + [UInt8](repeating: 0xFF, count: 9) + [0x7F, 0x0B])))
        let maxU32 = try load(wasm(section(6, [0x01, 0x7F, 0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x78, 0x0B])))
        #expect(maxU32.globals[0].initializer == .i32(0x8000_0000))

        // One byte too many.
        expectRefusal(wasm(section(5, [0x01, 0x00, 0x82, 0x80, 0x80, 0x80, 0x80, 0x00])), .malformed, "integer representation too long", offset: 12)
        expectRefusal(wasm(section(6, [0x01, 0x7F, 0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0B])), .malformed, "integer representation too long", offset: 14)
        // Unused bits of the last byte set (unsigned), or not a sign extension (signed).
        expectRefusal(wasm(section(5, [0x01, 0x00, 0x82, 0x80, 0x80, 0x80, 0x10])), .malformed, "integer too large", offset: 12)
        expectRefusal(wasm(section(6, [0x01, 0x7F, 0x00, 0x41, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x0B])), .malformed, "integer too large", offset: 14)
        expectRefusal(wasm(section(6, [0x01, 0x7E, 0x00, 0x42] + [UInt8](repeating: 0x80, count: 9) + [0x7E, 0x0B])), .malformed, "integer too large")
        // A section size over 32 bits.
        expectRefusal(moduleHeader + [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F], .malformed, "integer too large", offset: 9)
        // An entry overrunning its section is read on, as the reference decoder does: the integer's
        // own fault is reported rather than the section's end.
        expectRefusal(wasm([0x03, 0x02, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), .malformed, "integer representation too long")
    }

    // MARK: Module-level validation

    @Test func limitsValidation() throws {
        _ = try load(wasm(section(5, vector([[0x01, 0x00] + uleb(65536)]))))
        expectRefusal(wasm(section(5, vector([[0x00] + uleb(65537)]))), .invalid, "memory size must be at most 65536 pages (4GiB)", section: "memory")
        expectRefusal(wasm(section(5, vector([[0x01, 0x00] + uleb(65537)]))), .invalid, "memory size must be at most 65536 pages (4GiB)")
        expectRefusal(wasm(section(5, vector([[0x01, 0x02, 0x01]]))), .invalid, "size minimum must not be greater than maximum")
        expectRefusal(wasm(section(4, vector([[0x70, 0x01, 0x02, 0x01]]))), .invalid, "size minimum must not be greater than maximum", section: "table")
        _ = try load(wasm(section(4, vector([[0x70, 0x01, 0x00] + uleb(UInt64(UInt32.max))]))))
        expectRefusal(wasm(section(5, vector([[0x00, 0x00], [0x00, 0x00]]))), .invalid, "multiple memories")
        let importedMemory = section(2, vector([name("m") + name("m") + [0x02, 0x00, 0x00]]))
        expectRefusal(wasm(importedMemory, section(5, vector([[0x00, 0x00]]))), .invalid, "multiple memories")
        expectRefusal(wasm(section(2, vector([name("m") + name("m") + [0x02, 0x00] + uleb(70000)]))), .invalid, "memory size must be at most", section: "import")
    }

    @Test func declaredFunctionReferences() throws {
        let functions = section(3, vector([[0x00], [0x00], [0x00], [0x00]]))
        let code = section(10, vector([emptyBody, emptyBody, emptyBody, emptyBody]))
        let globals = section(6, vector([[0x70, 0x00, 0xD2, 0x02, 0x0B]]))
        let exports = section(7, vector([name("f") + [0x00, 0x03]]))
        let elements = section(9, vector([[0x03, 0x00] + vector([[0x01]])]))
        let module = try load(wasm(twoTypes, functions, globals, exports, elements, code))
        #expect(module.declaredFunctionReferences == [1, 2, 3])
    }

    // MARK: Real binaries

    /// Every benchmark binary built by clang decodes and validates: the repository's programs, and
    /// the prebuilt ones (CoreMark) when an external benchmark folder is there.
    @Test func benchmarkBinaries() throws {
        let built = try WasmTestSupport.benchModules.get()
        var files = try FileManager.default.contentsOfDirectory(at: built, includingPropertiesForKeys: nil).filter { $0.pathExtension == "wasm" }
        let programs = try FileManager.default.contentsOfDirectory(atPath: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Bench/programs").standardized.path).filter { $0.hasSuffix(".c") }
        #expect(programs.count >= 11 && files.count == programs.count, "one module for each program of Bench/programs: \(programs.sorted())")
        if let external = WasmTestSupport.externalBenchFolder {
            files += try FileManager.default.contentsOfDirectory(at: external, includingPropertiesForKeys: nil).filter { $0.pathExtension == "wasm" }
        }
        for url in files.sorted(by: { $0.path < $1.path }) {
            let file = url.path
            let bytes = [UInt8](try Data(contentsOf: url))
            do {
                let module = try load(bytes)
                #expect(!module.bodies.isEmpty, "\(file)")
                #expect(module.bodies.count == module.functionTypeIndices.count, "\(file)")
            } catch {
                Issue.record("\(file): \(error)")
            }
        }
    }
}
