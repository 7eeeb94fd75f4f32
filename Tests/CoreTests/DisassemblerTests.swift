// The disassembler reads the translator's encoding: each instruction's extra words must be what the
// translator wrote, or the listing (and `fireball inspect`) goes wrong from that point on.
import Foundation
import Testing
@testable import Core

@Suite struct DisassemblerTests {
    @Test func aSmallFunctionListsItsTranslatedCode() throws {
        let module = try LoadedModule.load(try WasmTestSupport.wat("""
            (module (func (export "f") (param i32 i64) (result i64)
              (if (i32.gt_s (local.get 0) (i32.const 100)) (then (return (i64.const 0x1234567890))))
              (i64.add (local.get 1) (i64.extend_i32_u (i32.add (local.get 0) (i32.const 1000000))))))
            """))
        let lines = module.disassemble(function: 0).split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("; frame ") == true)
        // The ops, in order, with their positions (no locals: no `enter`): an operand in a next word
        // moves the following op by two. Compare and branch fuse; the extension emits nothing.
        let ops = lines.dropFirst().map { line in line.split(separator: " ").prefix(2).joined(separator: " ") }
        #expect(ops == ["0: brIfLeSImm", "2: const64", "4: return", "5: i32AddImm", "7: i64Add", "8: return"], "\(lines)")
        #expect(lines.contains { $0.hasPrefix("2: const64") && $0.hasSuffix("[78187493520]") }, "the 64-bit constant in its word")
        #expect(lines.contains { $0.hasPrefix("5: i32AddImm") && $0.hasSuffix("[1000000]") }, "the immediate in its word")
    }

    @Test func everyFunctionOfTheExamplesIsWalkedToItsEnd() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Deploy/examples").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".wasm") }.sorted()
        #expect(files.count >= 5)
        var instructions = 0
        for file in files {
            let module = try LoadedModule.load([UInt8](try Data(contentsOf: examples.appendingPathComponent(file))))
            for index in module.functions.indices {
                let start = module.functions[index].codeStart
                let end = index + 1 < module.functions.count ? module.functions[index + 1].codeStart : module.codeWords
                var at = start
                while at < end {
                    #expect(Op(rawValue: UInt8(truncatingIfNeeded: module.code[at])) != nil, "\(file) function \(index) at \(at - start): not an op")
                    at += 1 + LoadedModule.extraWords(Word.op(module.code[at]), module.code[at])
                    instructions += 1
                }
                #expect(at == end, "\(file) function \(index): the walk ends at \(at - start), the code at \(end - start)")
                #expect(module.disassemble(function: index).split(separator: "\n").count >= 2)
            }
        }
        #expect(instructions > 1000)
    }
}
