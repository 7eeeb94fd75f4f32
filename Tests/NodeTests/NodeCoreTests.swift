// The node core without sockets: on a manual clock and a data directory in memory, as the cluster
// simulator runs it. A restart is a new core on the same files; a crash may lose the last write.
import Core
import Foundation
import Testing
import HAL
@testable import Node
import Transport

@Suite struct NodeCoreTests {
    final class NoLinks: RouterTransport {
        func send(kind: UInt8, payload: [UInt8], to peer: String) -> Bool { false }
    }

    static let board = try! Board.resolve("linux-host", in: ProcessCluster.boards)

    static func core(_ files: MemoryFiles, clock: ManualClock, seed: UInt64 = 1, lines: @escaping (String) -> Void = { _ in }) throws -> NodeCore {
        var configuration = NodeConfiguration(name: "n1", board: board, listenHost: "-", listenPort: 0, peers: [],
                                              certificateDirectory: "-", dataDirectory: files.location)
        configuration.slice = .safePoints(100)
        return try NodeCore(configuration: configuration, clock: clock, store: ModuleStore(files: files), transport: NoLinks(),
                            seed: seed, wallTime: { "t" }, output: lines)
    }

    static func deploy(_ core: NodeCore, replica: String) throws -> ModuleAssignment {
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: DataDirectoryTests.hello)))
        let sha = Digest.sha256Hex(bytes)
        let push = core.handle(ControlRequest(id: 1, .push(sha256: sha, total: bytes.count, offset: 0, bytes: Data(bytes))))
        #expect(push.error == nil && push.lines == ["stored"], "\(push.error ?? "")")
        let assignment = DataDirectoryTests.good(sha, replica: replica)
        let start = core.handle(ControlRequest(id: 2, .start(assignment)))
        #expect(start.error == nil, "\(start.error ?? "")")
        return assignment
    }

    @Test func aRestartedCoreRestoresItsGuestsFromItsDataDirectory() throws {
        let files = MemoryFiles(location: "memory:n1")
        let clock = ManualClock()
        let first = try Self.core(files, clock: clock)
        let assignment = try Self.deploy(first, replica: "hello")
        _ = first.runKernel(maxSlices: 1_000)
        #expect(first.report().guests.map(\.assignment) == [assignment])

        var lines: [String] = []
        let second = try Self.core(files, clock: clock, seed: 2) { lines.append($0) }
        #expect(second.report().guests.isEmpty)
        second.restoreAssignments()
        let report = second.report()
        #expect(report.guests.map(\.assignment) == [assignment])
        #expect(report.guests.first?.state.hasPrefix("missing") == false, "\(report.guests)")
        #expect(lines.contains { $0.contains("restored 1 of 1 module(s) from memory:n1") }, "\(lines)")
    }

    @Test func aLostLastWriteLeavesWhatWasThereBefore() throws {
        let files = MemoryFiles(location: "memory:n1")
        let core = try Self.core(files, clock: ManualClock())
        let first = try Self.deploy(core, replica: "first")
        files.settle()
        _ = try Self.deploy(core, replica: "second")
        // The second start's write of assignments.json did not reach the disk.
        #expect(files.loseLastWrite() == "assignments.json")
        #expect(ModuleStore(files: files).loadAssignments().assignments == [first])
        #expect(files.loseLastWrite() == nil, "one write is lost at most")

        // A stop that removes the last module is undone the same way.
        let store = ModuleStore(files: files)
        store.removeModule(first.sha256)
        #expect(!store.hasModule(first.sha256))
        files.loseLastWrite()
        #expect(store.hasModule(first.sha256))
    }

    @Test func aCorruptFileInMemoryIsSetAsideAsOnDisk() throws {
        let files = MemoryFiles(location: "memory:n1")
        try files.write(Array("{not json".utf8), to: "assignments.json")
        let (kept, refusals) = ModuleStore(files: files).loadAssignments()
        #expect(kept.isEmpty)
        #expect(refusals.contains { $0.contains("set aside as memory:n1/assignments.json.corrupt-1") }, "\(refusals)")
        #expect(files.read("assignments.json.corrupt-1") == Array("{not json".utf8))
        #expect(!files.exists("assignments.json"))
    }

    @Test func routerFramesOfAnotherKindAreRefusedNamingThePeer() throws {
        let core = try Self.core(MemoryFiles(location: "memory:n1"), clock: ManualClock())
        let error = #expect(throws: NodeError.self) { try core.routerFrame(kind: 3, payload: [], from: "n2") }
        #expect(error?.description.contains("unknown kind 3 from n2") == true)
        core.linkUp("n3"); core.linkUp("n2"); core.linkUp("n2")
        #expect(core.links == ["n2", "n3"])
        core.linkDown("n2", reason: "test")
        #expect(core.links == ["n3"])
    }
}
