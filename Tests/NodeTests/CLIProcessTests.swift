// The installed CLI as a user meets it: guest output reaches a pipe line by line and survives
// SIGTERM/SIGINT; guests get arguments; a subcommand's error shows its own usage; deprecated
// spellings still work with a warning; and Deploy/check-install.sh (install into a temporary
// prefix, then every command from an empty folder with only a configuration file).
import Foundation
import Testing

@Suite(.serialized) struct CLIProcessTests {
    /// Prints "tick NN" every 20 ms (100 lines at most).
    static let ticker = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
          (import "fireball" "sleep" (func $sleep (param i64)))
          (memory 1)
          (data (i32.const 0) "tick 00\\n")
          (func (export "run") (local $i i32)
            (i32.store (i32.const 16) (i32.const 0))
            (i32.store (i32.const 20) (i32.const 8))
            (loop $next
              (i32.store8 (i32.const 5) (i32.add (i32.const 48) (i32.div_u (local.get $i) (i32.const 10))))
              (i32.store8 (i32.const 6) (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 10))))
              (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32)))
              (call $sleep (i64.const 20000000))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $next (i32.lt_u (local.get $i) (i32.const 100))))))
        """

    /// What a pipe delivered so far (read on another thread as it comes).
    final class PipeReader: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        let pipe = Pipe()
        init() {
            pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let chunk = handle.availableData
                guard let self, !chunk.isEmpty else { return }
                self.lock.lock(); self.data.append(chunk); self.lock.unlock()
            }
        }
        var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
        /// Everything, once the writer is gone.
        func finish() -> String {
            pipe.fileHandleForReading.readabilityHandler = nil
            let rest = pipe.fileHandleForReading.readDataToEndOfFile()
            lock.lock(); data.append(rest); lock.unlock()
            return text
        }
    }

    @Test(arguments: [SIGTERM, SIGINT]) func guestLinesReachAPipeAndSurviveASignal(signal: Int32) throws {
        let run = try RunProcessTests.Run()
        let ticker = try run.module("ticker", Self.ticker), spin = try run.module("spin", RunProcessTests.spin)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ProcessCluster.executable)
        process.arguments = ["run", spin, ticker, "--timeout", "60s"]
        process.environment = ProcessInfo.processInfo.environment.merging(["XDG_RUNTIME_DIR": run.directory.path]) { $1 }
        let output = PipeReader()
        process.standardOutput = output.pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Lines arrive while the run goes on: block buffering would hold these 40-odd bytes back.
        let deadline = Date().addingTimeInterval(20)
        while !output.text.contains("tick 05\n"), Date() < deadline, process.isRunning { usleep(10_000) }
        #expect(output.text.contains("tick 05\n"), "no line reached the pipe while the run went on: \(output.text)")

        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        // Stopped by the signal itself, not by --timeout (which would also keep every line).
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signal, "status \(process.terminationStatus)")
        let lines = output.finish().split(separator: "\n", omittingEmptySubsequences: false)
        // Every line the guest printed is there, in order, whole; nothing after the last newline.
        let ticks = lines.filter { $0.hasPrefix("[ticker] tick ") }
        #expect(ticks.count >= 6)
        #expect(ticks.enumerated().allSatisfy { $0.element == "[ticker] tick \(String(format: "%02d", $0.offset))" }, "\(ticks)")
        #expect(lines.last == "", "a partial last line: \(lines.last ?? "")")
    }

    @Test func guestsGetTheirArgumentsAndTheRunSaysWhenItTimesOut() throws {
        let run = try RunProcessTests.Run()
        let hello = ProcessCluster.packageRoot.appendingPathComponent("Deploy/examples/hello.wasm").path
        let child = try run.start(["run", hello, "--env", "A=b", "--", "3", "more"])
        #expect(try child.wait(seconds: 30) == 2)   // hello exits with its first argument: a failed guest
        #expect(child.stdout.contains("[hello] hello from wasi-libc with 3 argument(s)"), "\(child.stdout)\(child.stderr)")
        #expect(child.stderr.contains("exited with code 3"), "\(child.stderr)")

        let spin = try run.module("spin", RunProcessTests.spin)
        let timed = try run.start(["run", spin, "--timeout", "300ms"])
        #expect(try timed.wait(seconds: 30) == 124)
        #expect(timed.stderr.contains("timed out"), "\(timed.stderr)")
    }

    @Test func aSubcommandsErrorShowsItsOwnUsage() throws {
        let run = try RunProcessTests.Run()
        let missing = try run.start(["run", run.directory.appendingPathComponent("none.wasm").path])
        #expect(try missing.wait(seconds: 30) == 64)
        #expect(missing.stderr.contains("Usage: fireball run"), "\(missing.stderr)")
        let badDuration = try run.start(["node", "--name", "x", "--grace", "3 parsecs"])
        #expect(try badDuration.wait(seconds: 30) == 64)
        #expect(badDuration.stderr.contains("--grace") && badDuration.stderr.contains("Usage: fireball node"), "\(badDuration.stderr)")
    }

    @Test func deprecatedSpellingsStillWorkWithAWarning() throws {
        let run = try RunProcessTests.Run()
        let certs = run.directory.appendingPathComponent("certs").path
        let initialized = try run.start(["certs", "init", "--dir", certs])
        #expect(try initialized.wait(seconds: 30) == 0, "\(initialized.stderr)")
        #expect(initialized.stderr.contains("warning: --dir is deprecated"), "\(initialized.stderr)")
        #expect(FileManager.default.fileExists(atPath: certs + "/ca.pem"))
        let version = try run.start(["--version"])
        #expect(try version.wait(seconds: 30) == 0)
        #expect(!version.stdout.isEmpty && version.stdout.first!.isNumber, "\(version.stdout)")
    }

    /// Deploy/check-install.sh with this build: install into a temporary prefix, then version, run
    /// --board cortex-m33, context, certs, plan, apply, status, logs -f, cordon, drain, uncordon,
    /// delete and status with a node down, from an empty folder with a configuration file only.
    @Test func installedCLIWorksFromAnEmptyFolder() throws {
        let script = ProcessCluster.packageRoot.appendingPathComponent("Deploy/check-install.sh").path
        let built = URL(fileURLWithPath: try ProcessCluster.executable).deletingLastPathComponent().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, "--cluster"]
        process.environment = ProcessInfo.processInfo.environment.merging(["FIREBALL_BUILT": built]) { $1 }
        let output = PipeReader()
        process.standardOutput = output.pipe
        process.standardError = output.pipe
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        let text = output.finish()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("check-install: all steps passed"), "\(text)")
    }
}
