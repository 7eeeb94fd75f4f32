// `fireball run` as a process: a guest that computes for ever cannot keep the run past --timeout
// (kernel mode and --invoke), nor keep `fireball hal` from being answered meanwhile; --memory-limit
// stops memory.grow. Real processes, so waiting is by polling with a deadline.
import Foundation
import Testing

@Suite(.serialized) struct RunProcessTests {
    static let spin = "(module (func (export \"run\") (loop $l (br $l))))"
    static let grow = "(module (memory 1) (func (export \"grow\") (param i32) (result i32) (memory.grow (local.get 0))))"

    final class Run {
        let directory: URL
        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-run-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: directory) }

        func module(_ name: String, _ text: String) throws -> String {
            let source = directory.appendingPathComponent("\(name).wat").path, output = directory.appendingPathComponent("\(name).wasm").path
            try text.write(toFile: source, atomically: true, encoding: .utf8)
            let status = try start(["/usr/bin/env", "wat2wasm", source, "-o", output]).wait(seconds: 30)
            guard status == 0 else { throw ClusterTestError("wat2wasm failed on \(name)") }
            return output
        }

        /// Starts `arguments` (a `fireball` command if the first is not a path) with its own
        /// runtime directory, so its control socket is private to this test.
        func start(_ arguments: [String]) throws -> Child {
            let process = Process()
            let isTool = arguments[0].hasPrefix("/")
            process.executableURL = URL(fileURLWithPath: isTool ? arguments[0] : try ProcessCluster.executable)
            process.arguments = isTool ? Array(arguments.dropFirst()) : arguments
            process.environment = ProcessInfo.processInfo.environment.merging(["XDG_RUNTIME_DIR": directory.path]) { $1 }
            let child = Child(process: process, directory: directory)
            try process.run()
            return child
        }
    }

    final class Child {
        let process: Process
        let output = Pipe(), errors = Pipe()
        private(set) var stdout = "", stderr = ""
        init(process: Process, directory: URL) {
            self.process = process
            process.standardOutput = output
            process.standardError = errors
        }
        /// The exit status, killing the process if it outlives `seconds`.
        func wait(seconds: Double) throws -> Int32 {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            return process.terminationStatus
        }
    }

    @Test func aSpinningGuestEndsAtTheTimeoutAndHalIsAnsweredMeanwhile() throws {
        let run = try Run()
        let spin = try run.module("spin", Self.spin)
        let started = Date()
        let node = try run.start(["run", "--board", "\(ProcessCluster.boards)/cortex-m33.yaml", "--name", "spinner", "--timeout", "3s", spin])
        // The control socket appears once the kernel is up; the guest spins from then on.
        let socket = run.directory.appendingPathComponent("fireball/spinner.sock").path
        while !FileManager.default.fileExists(atPath: socket), Date().timeIntervalSince(started) < 10 { usleep(20_000) }
        let asked = Date()
        let hal = try run.start(["hal", "spinner", "gpio", "get"])
        let halStatus = try hal.wait(seconds: 10)
        #expect(halStatus == 0, "\(hal.stderr)")
        #expect(hal.stdout.split(separator: "\n").count == 32 && hal.stdout.hasPrefix("gpio0 pin 0 in  0"), "\(hal.stdout)")
        #expect(Date().timeIntervalSince(asked) < 2.5)   // answered while the guest spins, not at the end
        #expect(node.process.isRunning)
        let status = try node.wait(seconds: 15)
        let elapsed = Date().timeIntervalSince(started)
        #expect(status == 124, "\(node.stderr)")
        #expect(node.stderr.contains("spin (task 2): runnable"))
        #expect(node.stderr.contains("timed out: --timeout 3s reached with guests still running"))
        #expect(elapsed >= 3 && elapsed < 10)
    }

    @Test func invokeEndsAtTheTimeoutAndMemoryGrowthStopsAtTheLimit() throws {
        let run = try Run()
        let spin = try run.module("spin", Self.spin), grow = try run.module("grow", Self.grow)
        let started = Date()
        let spinning = try run.start(["run", spin, "--invoke", "run", "--timeout", "1s"])
        #expect(try spinning.wait(seconds: 10) == 124)
        #expect(spinning.stderr.contains("run still running at --timeout 1s; timed out"), "\(spinning.stderr)")
        #expect(Date().timeIntervalSince(started) < 8)
        // 64 KiB + 10 pages fit 1 MiB; 64 KiB + 16 pages do not; the default stops at 64 MiB.
        let small = try run.start(["run", grow, "--invoke", "grow", "10", "--memory-limit", "1 MiB"])
        #expect(try small.wait(seconds: 10) == 0 && small.stdout == "i32:1\n", "\(small.stdout) \(small.stderr)")
        let over = try run.start(["run", grow, "--invoke", "grow", "16", "--memory-limit", "1MiB"])
        #expect(try over.wait(seconds: 10) == 0 && over.stdout == "i32:-1\n", "\(over.stdout)")
        #expect(over.stderr.contains("1 memory.grow refused (up to 1114112 bytes asked) at --memory-limit 1MiB"), "\(over.stderr)")
        let huge = try run.start(["run", grow, "--invoke", "grow", "65535"])
        #expect(try huge.wait(seconds: 10) == 0 && huge.stdout == "i32:-1\n", "\(huge.stdout)")
        let bad = try run.start(["run", grow, "--invoke", "grow", "1", "--memory-limit", "lots"])
        #expect(try bad.wait(seconds: 10) != 0 && bad.stderr.contains("--memory-limit 'lots'"), "\(bad.stderr)")
    }
}
