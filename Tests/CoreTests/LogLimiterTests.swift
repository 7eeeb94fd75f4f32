// Guest console output: escaping, the per-guest token bucket and its announcements, the bounded
// stdout line buffer, and the same through a real guest on the kernel. ManualClock: deterministic.
import Testing
@testable import Core

@Suite struct LogLimiterTests {
    final class Box { var lines: [String] = [] }

    func logger(burst: Int, perSecond: Int) throws -> (Logger, ManualClock, Box) {
        let clock = ManualClock()
        let box = Box()
        let limit = try #require(LogRateLimit(checkedBurstLines: burst, linesPerSecond: perSecond))
        return (try Logger(clock: clock, rateLimit: limit) { box.lines.append($0) }, clock, box)
    }

    @Test func controlCharactersNewlinesAndTerminalCodesAreEscaped() {
        #expect(LogText.escaped("a\nb\r\tc\u{1B}[31md\u{7F}\u{0}") == "a\\nb\\r\\tc\\x1b[31md\\x7f\\x00")
        // C1 CSI, a line separator and a right-to-left override would each fool a terminal.
        #expect(LogText.escaped("x\u{9B}2Jy\u{2028}z\u{202E}") == "x\\u{009b}2Jy\\u{2028}z\\u{202e}")
        // A backslash doubles, so "\n" typed by a guest cannot pass for an escaped newline.
        #expect(LogText.escaped("\\n") == "\\\\n")
        #expect(LogText.escaped("température 21.5 °C ✓") == "température 21.5 °C ✓")
    }

    @Test func longTextIsCutAtACharacterBoundaryAndSaysHowMuch() {
        let text = Array(String(repeating: "é", count: 600).utf8)   // 1200 bytes, two per character
        let line = LogText.text(text)
        #expect(line.hasPrefix(String(repeating: "é", count: 512)))
        #expect(line.hasSuffix("é … (176 more bytes cut)"))
        // Only a prefix was read: the total says how long the text was.
        #expect(LogText.text(Array(repeating: 97, count: 1025), totalBytes: 1_000_000).hasSuffix(" … (998976 more bytes cut)"))
        #expect(LogText.text([0xFF, 0x41]) == "\u{FFFD}A")
    }

    @Test func theBucketAllowsABurstThenTheSustainedRate() throws {
        let (logger, clock, box) = try logger(burst: 3, perSecond: 2)
        let guest = TaskID(raw: 7)
        for k in 0..<10 { logger.log(.info, text: "line \(k)", from: "g", task: guest) }
        #expect(box.lines.count == 3)
        clock.advance(by: 499_999_999)                        // not quite one line's worth
        logger.log(.info, text: "early", from: "g", task: guest)
        clock.advance(by: 1)
        logger.log(.info, text: "on time", from: "g", task: guest)
        #expect(box.lines.count == 4 && box.lines[3].hasSuffix("INFO on time"))
        #expect(logger.linesDropped(by: guest) == 8)
        // One second after the first drop, the next line announces them (before itself).
        clock.advance(by: 500_000_000)
        logger.log(.info, text: "after", from: "g", task: guest)
        #expect(box.lines.suffix(2) == ["[g] 8 log lines dropped (rate limit: burst 3 lines, then 2 lines/s)", "1.000000 [g] INFO after"])
        // The kernel's own lines and other guests have buckets of their own.
        for _ in 0..<5 { logger.log(.info, text: "kernel", from: "router") }
        logger.log(.info, text: "other", from: "h", task: TaskID(raw: 8))
        #expect(box.lines.count == 12)
        // A long pause refills to the burst, not beyond it.
        clock.advance(by: 1_000_000_000_000)
        for _ in 0..<5 { logger.guestLine(Array("x".utf8), from: "g", task: guest) }
        #expect(box.lines.filter { $0 == "[g] x" }.count == 3)
        // Ending the task announces what is left.
        logger.taskEnded(guest, name: "g")
        #expect(box.lines.last == "[g] 2 log lines dropped (rate limit: burst 3 lines, then 2 lines/s)")
        #expect(logger.linesDropped(by: guest) == 10)
    }

    @Test func limitsOutsideTheirRangeAreRefused() {
        #expect(LogRateLimit(checkedBurstLines: 0, linesPerSecond: 1) == nil)
        #expect(LogRateLimit(checkedBurstLines: 1, linesPerSecond: 100_001) == nil)
        #expect(LogRateLimit(checkedBurstLines: 100_000, linesPerSecond: 100_000) != nil)
    }

    @Test func stdoutWithoutNewlinesHoldsAtMostOneLineAndSplitsAtCharacters() {
        var assembler = LineAssembler()
        var lines: [[UInt8]] = []
        // "é" is two bytes and the line is 1024: odd offsets put the boundary inside one.
        let text = Array(("x" + String(repeating: "é", count: 3000)).utf8)
        text.withUnsafeBytes { assembler.take($0) { lines.append($0) } }
        #expect(assembler.pending.count < LogText.lineBytesMax)
        #expect(lines.allSatisfy { $0.count <= LogText.lineBytesMax && String(validating: $0, as: UTF8.self) != nil })
        #expect(lines.map(\.count).reduce(0, +) + assembler.pending.count == text.count)
        Array("end\r\nnext".utf8).withUnsafeBytes { assembler.take($0) { lines.append($0) } }
        #expect(String(decoding: lines.last!, as: UTF8.self).hasSuffix("éend"))
        #expect(assembler.pending == Array("next".utf8))
    }

    static let guest = """
        (module
          (import "fireball" "log" (func $log (param i32 i32 i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 2)
          (data (i32.const 0) "ok\\n1.000000 [other] INFO forged\\1b[31m")
          (data (i32.const 100) "line one\\r\\n[other] two\\n\\1b]0;title\\07partial")
          (func $out (param $at i32) (param $length i32) (result i32)
            (i32.store (i32.const 200) (local.get $at))
            (i32.store (i32.const 204) (local.get $length))
            (drop (call $write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208)))
            (i32.load (i32.const 208)))
          (func (export "run")
            (call $log (i32.const 2) (i32.const 0) (i32.const 36))
            (drop (call $out (i32.const 100) (i32.const 39)))
            (memory.fill (i32.const 4096) (i32.const 97) (i32.const 3000))
            (call $log (i32.const 2) (i32.const 4096) (i32.const 3000))
            (memory.fill (i32.const 4096) (i32.const 98) (i32.const 5000))
            (drop (call $out (i32.const 4096) (i32.const 5000)))
            (call $log (i32.const 2) (i32.const 200000) (i32.const 10))
            ;; 100,000 bytes at once: a short write of 64 KiB (the exit code says how much).
            (memory.fill (i32.const 4096) (i32.const 10) (i32.const 100000))
            (call $exit (call $out (i32.const 4096) (i32.const 100000)))))
        """

    @Test func aGuestPrintsOneEscapedLinePerLineAndABoundedPartialLine() throws {
        let kernel = Kernel(clock: ManualClock(), configuration: KernelConfiguration(slice: .safePoints(50)))
        var console: [String] = []
        kernel.console = { console.append($0) }
        let task = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(Self.guest)), name: "g", capability: ProcessCapability())
        kernel.runUntilIdle()
        #expect(kernel.state(of: task) == .exited(.exited(code: 65_536)))
        let b = String(repeating: "b", count: 1024)
        let expected = [
            "0.000000 [g] INFO ok\\n1.000000 [other] INFO forged\\x1b[31m",
            "[g] line one",
            "[g] [other] two",
            "0.000000 [g] INFO " + String(repeating: "a", count: 1024) + " … (1976 more bytes cut)",
            "[g] \\x1b]0;title\\x07partial" + String(repeating: "b", count: 1024 - 17),
            "[g] " + b, "[g] " + b, "[g] " + b,
            "0.000000 [g] INFO <invalid log text>",
            "[g] " + String(repeating: "b", count: 5000 - 1007 - 3 * 1024),
        ]
        #expect(Array(console.prefix(expected.count)) == expected)
        // Then the 64 KiB of newlines: the first ends the partial line above, then 65,535 empty lines,
        // of which the bucket printed what was left of its burst (190); the rest are announced when
        // the guest exits (the clock never moved).
        #expect(console.count - expected.count == LogRateLimit.standard.burstLines - expected.count + 2)
        #expect(console.suffix(2) == ["[g] 65345 log lines dropped (rate limit: burst 200 lines, then 100 lines/s)", "[g] exited with code 65536"])
        #expect(kernel.logger.linesDropped(by: task) == 65_345)
    }
}
