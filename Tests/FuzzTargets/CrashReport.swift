// A crash in a parser ends the process; before it does, this names the target, seed and case and
// prints the command that replays it. The signal handler only writes preformatted bytes.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum CrashReport {
    nonisolated(unsafe) static var currentCase: UInt64 = 0
    nonisolated(unsafe) static var seed: UInt64 = 0
    nonisolated(unsafe) static var armed = false
    /// "TARGET" and the replay command's prefix, as bytes the handler can write without allocating.
    nonisolated(unsafe) static var target: [UInt8] = []
    nonisolated(unsafe) static var replayPrefix: [UInt8] = Array("swift run -c release fireball-bench fuzz".utf8)
    nonisolated(unsafe) static var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 2048)
    nonisolated(unsafe) static var previous: [Int32: sigaction] = [:]
    static let signals: [Int32] = [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT]

    /// The command a replay line starts with (the test run prints the bench command too).
    public static func setReplayCommand(_ command: String) { replayPrefix = Array(command.utf8) }

    static func arm(target name: String, seed: UInt64) {
        target = Array(name.utf8.prefix(200))
        self.seed = seed
        currentCase = 0
        installOnce()
        armed = true
    }

    static func disarm() { armed = false }

    /// Handlers on an alternate stack (a stack overflow is a crash too), chained to the ones the
    /// Swift runtime installed (its backtrace still prints).
    static func installOnce() {
        var stack = stack_t()
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 16)
        stack.ss_size = 1 << 16
        stack.ss_flags = 0
        sigaltstack(&stack, nil)
        guard previous.isEmpty else { return }
        for signal in signals {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = handle
            #else
            action.__sigaction_u.__sa_handler = handle
            #endif
            action.sa_flags = Int32(SA_ONSTACK)
            sigemptyset(&action.sa_mask)
            var old = sigaction()
            sigaction(signal, &action, &old)
            previous[signal] = old
        }
    }

    /// Writes the report, puts the previous handler back and lets the fault happen again under it.
    static let handle: @convention(c) (Int32) -> Void = { signal in
        if CrashReport.armed {
            CrashReport.armed = false
            var length = 0
            func put(_ bytes: [UInt8]) { for byte in bytes where length < 2040 { CrashReport.buffer[length] = byte; length += 1 } }
            func put(_ text: StaticString) {
                for byte in UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount) where length < 2040 {
                    CrashReport.buffer[length] = byte
                    length += 1
                }
            }
            func put(_ number: UInt64) {
                var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                    (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
                var count = 0
                var rest = number
                withUnsafeMutableBytes(of: &digits) { raw in
                    repeat { raw[count] = UInt8(ascii: "0") + UInt8(rest % 10); rest /= 10; count += 1 } while rest > 0
                    for index in stride(from: count - 1, through: 0, by: -1) where length < 2040 { CrashReport.buffer[length] = raw[index]; length += 1 }
                }
            }
            put("\nfuzz: CRASH (signal "); put(UInt64(signal)); put(") in "); put(CrashReport.target)
            put(", seed "); put(CrashReport.seed); put(", case "); put(CrashReport.currentCase)
            put("\nfuzz: replay: "); put(CrashReport.replayPrefix); put(" --parser "); put(CrashReport.target)
            put(" --seed "); put(CrashReport.seed); put(" --case "); put(CrashReport.currentCase); put("\n")
            _ = write(2, CrashReport.buffer, length)
        }
        if var old = CrashReport.previous[signal] { sigaction(signal, &old, nil) }
        // A fault instruction runs again on return and now reaches the runtime's handler; an abort is raised anew.
        if signal == SIGABRT { raise(signal) }
    }
}
