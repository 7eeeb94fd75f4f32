// The runner checked against a small script with known outcomes: a runner that passes everything
// would make the suite's numbers worthless.
import Foundation
import Testing

/// Each assertion says on its line what the runner must make of it: `;; pass`, `;; fail` or `;; skip`.
private let selfTestScript = """
(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "nan") (result f32) (f32.const nan:0x600001))
  (func (export "neg-nan") (result f64) (f64.const -nan))
  (func (export "min") (result i64) (i64.const -9223372036854775808))
  (func (export "null") (result externref) (ref.null extern))
  (func (export "id") (param externref) (result externref) (local.get 0))
  (func (export "spin") (local i32) (loop (local.set 0 (i32.add (local.get 0) (i32.const 1))) (br 0)))
  (func (export "deep") (call 8))
  (global (export "g") i32 (i32.const 7))
)
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3)) ;; pass
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 4)) ;; fail
(assert_return (invoke "add" (i32.const -1) (i32.const 0)) (i32.const 0xffffffff)) ;; pass
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero") ;; pass
(assert_trap (invoke "add" (i32.const 1) (i32.const 0)) "integer divide by zero") ;; fail
(assert_return (invoke "nan") (f32.const nan:arithmetic)) ;; pass
(assert_return (invoke "nan") (f32.const nan:canonical)) ;; fail
(assert_return (invoke "neg-nan") (f64.const nan:canonical)) ;; pass
(assert_return (invoke "neg-nan") (f64.const nan)) ;; fail
(assert_return (invoke "min") (i64.const -9223372036854775808)) ;; pass
(assert_return (invoke "null") (ref.null extern)) ;; pass
(assert_return (invoke "id" (ref.extern 3)) (ref.extern 3)) ;; pass
(assert_return (invoke "id" (ref.extern 3)) (ref.extern 4)) ;; fail
(assert_return (invoke "id" (ref.extern 3)) (ref.null extern)) ;; fail
(assert_return (get "g") (i32.const 7)) ;; pass
(assert_return (get "g") (i32.const 8)) ;; fail
(assert_trap (invoke "spin") "unreachable") ;; fail
(assert_exhaustion (invoke "deep") "call stack exhausted") ;; pass
(assert_invalid (module (func (result i32))) "type mismatch") ;; pass
(assert_invalid (module (func (result i32) (i32.const 0))) "type mismatch") ;; fail
(assert_malformed (module binary "\\00asm\\02\\00\\00\\00") "unknown binary version") ;; pass
(assert_malformed (module binary "\\00asm\\01\\00\\00\\00") "unknown binary version") ;; fail
(assert_malformed (module quote "(func") "unexpected token") ;; skip
(module $M2 (func (export "five") (result i32) (i32.const 5)))
(register "M2" $M2)
(module (import "M2" "five" (func $five (result i32))) (func (export "g") (result i32) (call $five)))
(assert_return (invoke "g") (i32.const 5)) ;; pass
(assert_return (invoke $M2 "five") (i32.const 5)) ;; pass
(assert_unlinkable (module (import "M2" "nope" (func))) "unknown import") ;; pass
(assert_unlinkable (module (import "spectest" "print_i32" (func (param i32)))) "unknown import") ;; fail
(assert_trap (module (func $s unreachable) (start $s)) "unreachable") ;; pass
(module (import "nowhere" "f" (func)) (func (export "h"))) ;; fail
(assert_return (invoke "h")) ;; fail
"""

@Suite("spec runner self-test")
struct SpecRunnerSelfTests {
    @Test("the runner passes, fails and skips what it should", arguments: [false, true])
    func knownOutcomes(forcedYields: Bool) throws {
        guard let tool = WastConverter.findWast2json() else {
            Issue.record("wast2json (from wabt) is not installed: run Deploy/setup.sh, which installs wabt")
            return
        }
        let fileManager = FileManager.default
        let directory = fileManager.temporaryDirectory.appendingPathComponent("fireball-spec-self-\(UUID().uuidString)")
        try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(at: directory) }
        let source = directory.appendingPathComponent("self.wast")
        try selfTestScript.write(to: source, atomically: true, encoding: .utf8)
        let script = try WastConverter.convert(source, into: directory, using: tool)

        var wanted: [Int: String] = [:]
        for (index, line) in selfTestScript.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let marker = line.range(of: ";; ") { wanted[index + 1] = String(line[marker.upperBound...]) }
        }
        let results = ScriptRunner(script: script, forcedYields: forcedYields, invocationSecondsMax: 1).run()
        #expect(results.filter { wanted[$0.line] != nil }.count == wanted.count)
        for result in results {
            guard let expected = wanted[result.line] else {
                #expect(result.outcome == .passed, "\(result.place): \(result.outcome)")
                continue
            }
            let actual = switch result.outcome {
            case .passed: "pass"
            case .failed: "fail"
            case .skipped: "skip"
            }
            #expect(actual == expected, "\(result.place): wanted \(expected), got \(result.outcome)")
        }
    }
}
