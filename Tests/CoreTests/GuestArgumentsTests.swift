// WASI args_* and environ_*: a guest reads the lists given at spawn, laid out as WASI says; the
// lists are bounded at spawn, and a buffer outside memory is EFAULT, not a trap.
import Testing
@testable import Core

@Suite struct GuestArgumentsTests {
    /// Reads the list with `prefix`_sizes_get / `prefix`_get into memory at `buffer`, prints it
    /// (NULs turned into newlines) and exits with count × 1000 + the last string's offset, or
    /// 900 + the errno of a failed call.
    static func reader(_ prefix: String, buffer: Int = 256) -> String {
        """
        (module
          (import "wasi_snapshot_preview1" "\(prefix)_sizes_get" (func $sizes (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "\(prefix)_get" (func $get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory 1)
          (func (export "run") (local $i i32) (local $count i32) (local $size i32) (local $r i32)
            (local.set $r (call $sizes (i32.const 0) (i32.const 4)))
            (if (local.get $r) (then (call $exit (i32.add (i32.const 900) (local.get $r)))))
            (local.set $count (i32.load (i32.const 0)))
            (local.set $size (i32.load (i32.const 4)))
            (local.set $r (call $get (i32.const 64) (i32.const \(buffer))))
            (if (local.get $r) (then (call $exit (i32.add (i32.const 900) (local.get $r)))))
            (block $done (loop $next
              (br_if $done (i32.ge_u (local.get $i) (local.get $size)))
              (if (i32.eqz (i32.load8_u (i32.add (i32.const 256) (local.get $i))))
                (then (i32.store8 (i32.add (i32.const 256) (local.get $i)) (i32.const 10))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $next)))
            (i32.store (i32.const 16) (i32.const 256))
            (i32.store (i32.const 20) (local.get $size))
            (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
            (call $exit (i32.add (i32.mul (local.get $count) (i32.const 1000))
              (if (result i32) (local.get $count)
                (then (i32.sub (i32.load (i32.add (i32.const 60) (i32.mul (local.get $count) (i32.const 4)))) (i32.const 256)))
                (else (i32.const 0)))))))
        """
    }

    func run(_ text: String, _ arguments: GuestArguments) throws -> (lines: [String], state: TaskState?) {
        let kernel = Kernel()
        var lines: [String] = []
        kernel.console = { lines.append($0) }
        let task = try kernel.spawnGuest(try LoadedModule.load(try WasmTestSupport.wat(text)), name: "g", arguments: arguments,
                                         capability: ProcessCapability())
        _ = kernel.runUntilIdle()
        return (lines.filter { $0.hasPrefix("[g] ") && !$0.contains("exited") }.map { String($0.dropFirst(4)) }, kernel.state(of: task))
    }

    @Test func argumentsAndEnvironmentAsGiven() throws {
        let given = try GuestArguments(arguments: ["g", "3", "two words"], environment: ["NAME=world", "EMPTY="])
        let arguments = try run(Self.reader("args"), given)
        #expect(arguments.lines == ["g", "3", "two words"])
        // Three strings; the last starts after "g\0" and "3\0".
        #expect(arguments.state == .exited(.exited(code: 3004)))
        let environment = try run(Self.reader("environ"), given)
        #expect(environment.lines == ["NAME=world", "EMPTY="])
        #expect(environment.state == .exited(.exited(code: 2011)))
    }

    @Test func emptyListsAndTheirSizes() throws {
        let result = try run(Self.reader("args"), .none)
        #expect(result.lines.isEmpty)
        #expect(result.state == .exited(.exited(code: 0)))
    }

    @Test func bufferOutsideMemoryIsEFAULT() throws {
        let given = try GuestArguments(arguments: ["g", "an argument that does not fit"], environment: [])
        let result = try run(Self.reader("args", buffer: 65_530), given)
        #expect(result.state == .exited(.exited(code: 921)))
    }

    @Test func listsAreBoundedAtSpawn() {
        #expect(throws: GuestArguments.ArgumentsError.self) { try GuestArguments(arguments: ["a\0b"], environment: []) }
        #expect(throws: GuestArguments.ArgumentsError.self) { try GuestArguments(arguments: [], environment: ["NOEQUALS"]) }
        #expect(throws: GuestArguments.ArgumentsError.self) { try GuestArguments(arguments: [], environment: ["=value"]) }
        #expect(throws: GuestArguments.ArgumentsError.self) {
            try GuestArguments(arguments: Array(repeating: "x", count: GuestArguments.stringsMax + 1), environment: [])
        }
        #expect(throws: GuestArguments.ArgumentsError.self) {
            try GuestArguments(arguments: [String(repeating: "x", count: GuestArguments.bytesMax)], environment: [])
        }
        #expect((try? GuestArguments(arguments: [String(repeating: "x", count: GuestArguments.bytesMax - 1)], environment: [])) != nil)
    }
}
