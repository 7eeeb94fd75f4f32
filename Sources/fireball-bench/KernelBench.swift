// Kernel costs in one run: guest↔guest rendezvous round trips over a local channel,
// kernel-service↔guest round trips, and a context switch (two guests yielding to each other).
import ArgumentParser
import Core
import Foundation

struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernel", abstract: "Rendezvous round trips and context switches.")
    @Option(help: "Round trips per measurement.") var roundTrips = 200_000

    static let imports = """
        (import "fireball" "channel_serve" (func $serve (param i32 i32) (result i32)))
        (import "fireball" "channel_open" (func $open (param i32 i32) (result i32)))
        (import "fireball" "channel_send" (func $send (param i32 i32 i32) (result i32)))
        (import "fireball" "channel_recv" (func $recv (param i32 i32 i32) (result i32)))
        (import "fireball" "yield" (func $yield))
        (memory 1 1)
        (data (i32.const 0) "fireball://pong/echo")
        (data (i32.const 32) "\\01\\01\\00\\00\\01\\07\\00\\00\\00\\00\\00\\00\\00")
        """
    static func ping(_ n: Int) -> String {
        """
        (module \(imports) (func (export "run") (local $ch i32) (local $i i32)
          (local.set $ch (call $open (i32.const 0) (i32.const 20)))
          (loop $next
            (drop (call $send (local.get $ch) (i32.const 32) (i32.const 13)))
            (drop (call $recv (local.get $ch) (i32.const 64) (i32.const 292)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $next (i32.lt_u (local.get $i) (i32.const \(n)))))))
        """
    }
    static let pong = """
        (module \(imports) (func (export "run") (local $ch i32) (local $n i32)
          (local.set $ch (call $serve (i32.const 0) (i32.const 20)))
          (loop $next
            (local.set $n (call $recv (local.get $ch) (i32.const 64) (i32.const 292)))
            (br_if 1 (i32.lt_s (local.get $n) (i32.const 0)))
            (drop (call $send (local.get $ch) (i32.const 64) (local.get $n)))
            (br $next))))
        """
    static func yielder(_ n: Int) -> String {
        """
        (module \(imports) (func (export "run") (local $i i32)
          (loop $next (call $yield) (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $next (i32.lt_u (local.get $i) (i32.const \(n)))))))
        """
    }

    final class Echo: KernelService {
        let channel: ChannelID
        init(_ channel: ChannelID) { self.channel = channel }
        func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction {
            if case .received(let message, _) = event { return .send(message, to: channel) }
            return .receive([channel], timeoutNanoseconds: nil)
        }
    }

    func run() throws {
        let n = roundTrips
        let guestPair = try measure { kernel, capabilities in
            _ = try kernel.spawnGuest(try wat(Self.pong), name: "pong", capability: capabilities.process)
            _ = try kernel.spawnGuest(try wat(Self.ping(n)), name: "ping", capability: capabilities.process)
        }
        let servicePair = try measure { kernel, capabilities in
            let channel = try kernel.serve("fireball://pong/echo", role: .service)
            _ = kernel.spawnService(Echo(channel), name: "echo", capability: capabilities.process)
            _ = try kernel.spawnGuest(try wat(Self.ping(n)), name: "ping", capability: capabilities.process)
        }
        var switches = 0
        let yielding = try measure { kernel, capabilities in
            _ = try kernel.spawnGuest(try wat(Self.yielder(n)), name: "a", capability: capabilities.process)
            _ = try kernel.spawnGuest(try wat(Self.yielder(n)), name: "b", capability: capabilities.process)
        } after: { switches = $0.switches }
        let rate = { (seconds: Double) in Double(n) / seconds }
        print("guest <-> guest round trip:   \(Int(rate(guestPair)).formatted()) /s   \(format(guestPair / Double(n) * 1e9)) ns   (aim: under 1000 ns)")
        print("service <-> guest round trip: \(Int(rate(servicePair)).formatted()) /s   \(format(servicePair / Double(n) * 1e9)) ns")
        print("context switch (yield):       \(format(yielding / Double(switches) * 1e9)) ns   (\(switches) switches)")
    }

    /// Boots a kernel, sets it up, runs it until idle; returns the seconds the run took.
    func measure(_ setup: (Kernel, borrowing KernelCapabilities) throws -> Void, after: (Kernel) -> Void = { _ in }) throws -> Double {
        let kernel = Kernel(configuration: KernelConfiguration(slice: .standard))
        kernel.console = { _ in }
        let capabilities = kernel.mintCapabilities()
        try setup(kernel, capabilities)
        let start = DispatchTime.now().uptimeNanoseconds
        kernel.runUntilIdle()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        after(kernel)
        return seconds
    }

}

/// Builds a module from the text format with wabt's wat2wasm (installed by Deploy/setup.sh).
func wat(_ text: String) throws -> LoadedModule {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let source = directory.appendingPathComponent("m.wat"), output = directory.appendingPathComponent("m.wasm")
    try text.write(to: source, atomically: true, encoding: .utf8)
    _ = try runProcess("/usr/bin/env", ["wat2wasm", source.path, "-o", output.path])
    guard let bytes = FileManager.default.contents(atPath: output.path) else { throw ValidationError("wat2wasm failed (run Deploy/setup.sh)") }
    return try LoadedModule.load([UInt8](bytes))
}
