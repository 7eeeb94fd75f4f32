// A data directory with a corrupt or impossible assignments file never stops a node from booting:
// the file is set aside under a new name and the node restores what is left (issue 13).
import Foundation
import Testing
import HAL
@testable import Node
import Transport

@Suite struct DataDirectoryTests {
    static let hello = ProcessCluster.packageRoot.appendingPathComponent("Deploy/examples/hello.wasm").path

    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("fireball-data-\(UUID().uuidString)").path
    }

    static func good(_ sha256: String, replica: String = "hello") -> ModuleAssignment {
        ModuleAssignment(app: "demo", replica: replica, module: "hello", sha256: sha256, restart: "up-to 3 within 60000 ms")
    }

    static func json(_ assignments: [ModuleAssignment]) throws -> String {
        String(decoding: try JSONEncoder().encode(assignments), as: UTF8.self)
    }

    @Test func badEntriesAreRefusedByEntryAndFieldAndTheRestKept() throws {
        let sha = String(repeating: "a", count: 64)
        var hostile = Self.good(sha, replica: "hostile")
        hostile.restart = "up-to 3 within 18446744073709551615 ms"   // once a trap at every boot
        var huge = Self.good(sha, replica: "huge")
        huge.memoryBytes = Int.max
        // One good entry, two impossible ones, one that does not decode, and the good one again.
        func inner(_ assignments: [ModuleAssignment]) throws -> String { String(try Self.json(assignments).dropFirst().dropLast()) }
        let good = try inner([Self.good(sha)])
        let bad = try inner([hostile, huge])
        let text: String = "[" + good + ", " + bad + ", {\"app\": 5}, " + good + "]"
        let (kept, refusals) = ModuleStore.parseAssignments(Array(text.utf8), file: "assignments.json")
        #expect(kept == [Self.good(sha)])
        #expect(refusals.count == 4, "\(refusals)")
        let lines: [String] = refusals + ["", "", "", ""]
        #expect(lines[0].contains("entry 1 (demo/hostile): field restart") && lines[0].contains("7 d"), "\(lines[0])")
        #expect(lines[1].contains("entry 2 (demo/huge): field memoryBytes"), "\(lines[1])")
        #expect(lines[2].contains("entry 3: field app"), "\(lines[2])")
        #expect(lines[3].contains("entry 4: demo/hello is listed twice"), "\(lines[3])")
        #expect(ModuleStore.parseAssignments(Array("{not json".utf8), file: "a.json").refusals.first?.contains("not a JSON list") == true)
    }

    @Test func aNodeBootsPastACorruptAssignmentsFileAndSetsItAside() throws {
        let root = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ca = try CertificateAuthority.initialize(directory: root + "/certs")
        try ca.issue(name: "n1", role: .node)
        let data = root + "/data"
        let store = try ModuleStore(directory: data)
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: Self.hello)))
        let sha = Digest.sha256Hex(bytes)
        try store.saveModule(bytes, sha256: sha)
        var hostile = Self.good(sha, replica: "hostile")
        hostile.restart = "up-to 3 within 18446744073709551615 ms"
        try Data((try Self.json([Self.good(sha), hostile])).utf8).write(to: URL(fileURLWithPath: data + "/assignments.json"))

        let board = try Board.resolve("linux-host", in: ProcessCluster.boards)
        var lines: [String] = []
        let configuration = NodeConfiguration(name: "n1", board: board, listenHost: "127.0.0.1", listenPort: 0, peers: [],
                                              certificateDirectory: root + "/certs", dataDirectory: data)
        let daemon = try NodeDaemon(configuration: configuration) { lines.append($0) }
        defer { daemon.drain(because: "test over"); daemon.run() }

        #expect(daemon.report().guests.map(\.assignment.key) == ["demo/hello"])
        #expect(daemon.report().guests.first?.state.hasPrefix("missing") == false)
        #expect(lines.contains { $0.contains("entry 1 (demo/hostile): field restart") }, "\(lines)")
        let names = try FileManager.default.contentsOfDirectory(atPath: data)
        #expect(names.contains { $0.hasPrefix("assignments.json.corrupt-") }, "\(names)")
        // What was kept is written back: the next boot reads a clean file.
        let again = store.loadAssignments()
        #expect(again.assignments == [Self.good(sha)] && again.refusals.isEmpty)

        // The same hostile start as a control request is refused, naming the request and the field.
        let response = daemon.handle(ControlRequest(id: 7, .start(hostile)))
        #expect(response.error?.contains("request 7") == true && response.error?.contains("field restart") == true, "\(response.error ?? "accepted")")
        let push = daemon.handle(ControlRequest(id: 8, .push(sha256: String(repeating: "b", count: 64), total: 10, offset: Int.max, bytes: Data([1]))))
        #expect(push.error != nil)
        let logs = daemon.handle(ControlRequest(id: 9, .logs(key: "demo/hello", lines: Int.max)))
        #expect(logs.error == nil)
    }

    @Test func aDamagedModuleIsSetAside() throws {
        let root = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try ModuleStore(directory: root)
        let sha = String(repeating: "c", count: 64)
        try store.saveModule([1, 2, 3], sha256: sha)
        let error = #expect(throws: ModuleStoreError.self) { try store.loadModule(sha) }
        #expect(error?.description.contains("set aside as") == true)
        #expect(!store.hasModule(sha))
    }
}
