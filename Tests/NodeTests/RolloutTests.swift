// Applied state, the controller app by app, and upgrades, against real node daemons in this process:
// the orchestrator's requests go straight to each daemon's control handling (no TLS), so pushes,
// starts and stops meet the node's real checks and partitions.
import Foundation
import HAL
import Orchestrator
import Testing
import Transport
@testable import Node

/// Node daemons in this process, reached through their control handling; every request is logged.
final class InProcessNodes: ControlConnection {
    let root: URL
    private(set) var daemons: [String: NodeDaemon] = [:]
    private(set) var requests: [String] = []
    var downSince: [String: UInt64] = [:]
    func takeLinkChanges() -> [LinkChange] { [] }   // in-process nodes: no links to change
    private var nextID: UInt64 = 1
    var nowNanoseconds: UInt64 { DispatchTime.now().uptimeNanoseconds }

    init(_ boards: [String: String]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-rollout-\(UUID().uuidString.prefix(8))")
        let certs = root.appendingPathComponent("certs").path
        let ca = try CertificateAuthority.initialize(directory: certs)
        for (name, board) in boards.sorted(by: { $0.key < $1.key }) {
            try ca.issue(name: name, role: .node)
            let configuration = NodeConfiguration(name: name, board: try Board.resolve(board, in: ProcessCluster.boards), listenHost: "127.0.0.1",
                                                  listenPort: 0, peers: [], certificateDirectory: certs,
                                                  dataDirectory: root.appendingPathComponent("data/\(name)").path)
            daemons[name] = try NodeDaemon(configuration: configuration) { _ in }
        }
    }

    deinit {
        for daemon in daemons.values { daemon.drain(because: "test over"); daemon.loop.close() }
        try? FileManager.default.removeItem(at: root)
    }

    var inventory: ClusterInventory {
        ClusterInventory(name: "test", nodes: daemons.keys.sorted().map { name in
            let board = daemons[name]!.configuration.board
            return NodeSpec(name: name, address: "127.0.0.1:1", board: board, labels: ["node": name],
                            devices: board.devices.map { DeviceSpec(kind: $0.kind.rawValue, name: $0.name) })
        })
    }

    /// Lets every kernel run what is runnable.
    func settle() { for daemon in daemons.values { for _ in 0..<4 { daemon.loop.runOnce(nowait: true) } } }

    @discardableResult
    func drive(seconds: Double, until done: () -> Bool) -> Bool { settle(); return done() }

    func request(_ node: String, _ operation: ControlRequest.Operation, seconds: Double) throws(ControlError) -> ControlResponse {
        guard let daemon = daemons[node] else { throw ControlError(node: node, detail: "no link (node down or unreachable)") }
        switch operation {
        case .status: break
        case .push(_, _, let offset, _): if offset == 0 { requests.append("push \(node)") }
        case .start(let assignment): requests.append("start \(assignment.key)@\(node) \(assignment.sha256.prefix(6))")
        case .stop(let key): requests.append("stop \(key)@\(node)")
        case .logs, .events, .hal: break
        }
        let answer = daemon.handle(ControlRequest(id: nextID, operation))
        nextID += 1
        settle()
        if let error = answer.error { throw ControlError(node: node, detail: error) }
        return answer
    }

    /// The module `key` runs on `node` (its SHA-256's first 6 digits), if it runs.
    func running(_ key: String, on node: String) -> String? {
        guard let guest = daemons[node]!.report().guests.first(where: { $0.assignment.key == key }), !guest.state.hasPrefix("exited") else { return nil }
        return String(guest.assignment.sha256.prefix(6))
    }
}

@Suite(.serialized) struct RolloutTests {
    static let examples = ProcessCluster.packageRoot.appendingPathComponent("Deploy/examples").path

    /// `pong.wasm` with a custom section naming `version`: another module (another SHA-256) that runs the same.
    static func pong(version: UInt8) throws -> [UInt8] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: examples + "/pong.wasm")))
        return bytes + [0, 3, 1, UInt8(ascii: "v"), version]
    }

    /// A module that traps as soon as it runs.
    static let trapping: [UInt8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                                    0x07, 0x0a, 0x01, 0x06, 0x5f, 0x73, 0x74, 0x61, 0x72, 0x74, 0x00, 0x00, 0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b]

    /// Writes `wasm` and a manifest for app `app` (module `pong`, `replicas`, spread over nodes) into `folder`.
    static func write(app: String, wasm: [UInt8], replicas: Int = 1, into folder: URL) throws -> String {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(wasm).write(to: folder.appendingPathComponent("\(app).wasm"))
        let spread = replicas > 1 ? ", spread: node" : ""
        let manifest = folder.appendingPathComponent("\(app).yaml").path
        try "app: \(app)\nmodules:\n  - {name: pong, wasm: \(app).wasm, serves: [fireball://\(app)/echo], replicas: \(replicas)\(spread)}\n"
            .write(toFile: manifest, atomically: true, encoding: .utf8)
        return manifest
    }

    @Test func aRoundIsDecidedWithoutARequestAndSentAsDecided() throws {
        let nodes = try InProcessNodes(["a": "linux-host", "b": "linux-host", "c": "linux-host"])
        let folder = nodes.root.appendingPathComponent("apps")
        let deployer = Deployer(inventory: nodes.inventory, client: nodes) { _ in }
        let first = try AppManifest.load(path: try Self.write(app: "echo", wasm: try Self.pong(version: 1), replicas: 2, into: folder))
        _ = try deployer.execute(try deployer.round(first, view: deployer.view()))
        let placed = nodes.requests.filter { $0.hasPrefix("start") }
        #expect(placed.count == 2)

        // Version 2, and a node that died: the round says what will happen, and nothing happens yet.
        let second = try AppManifest.load(path: try Self.write(app: "echo", wasm: try Self.pong(version: 2), replicas: 2, into: folder))
        let view = deployer.view()
        let holders = Set(view.reports.filter { !$0.value.guests.isEmpty }.keys)
        let gone = holders.sorted().first!, stays = holders.sorted().last!
        let spare = Set(["a", "b", "c"]).subtracting(holders).first!
        let before = nodes.requests
        let round = try deployer.round(second, view: view, dead: [gone])
        #expect(nodes.requests == before, "a round is decided without a request")
        let moved = round.steps.filter { $0.hasPrefix("start") }
        let upgraded = round.steps.filter { $0.hasPrefix("upgrade") }
        #expect(moved.count == 1 && moved[0].hasSuffix("@\(spare)"), "\(round.steps)")
        #expect(upgraded.count == 1 && upgraded[0].contains("@\(stays) ("), "\(round.steps)")
        #expect(round.steps.count == 2, "the dead node's copy is not stopped (it cannot answer): \(round.steps)")
        // Sent as decided: the starts, then the upgrade.
        let outcome = try deployer.execute(round)
        #expect(outcome.started.count == 1 && outcome.upgraded.count == 1)
        #expect(nodes.requests.dropFirst(before.count).filter { $0.hasPrefix("start") }.map { $0.split(separator: " ")[1] }
                == [moved[0].split(separator: " ")[1], upgraded[0].split(separator: " ")[1]])
    }

    @Test func appliedCopiesAreWhatIsDeployedWhateverHappensToTheFilesLater() throws {
        let nodes = try InProcessNodes(["a": "linux-host"])
        let state = nodes.root.appendingPathComponent("state").path
        let manifest = try Self.write(app: "echo", wasm: try Self.pong(version: 1), into: nodes.root.appendingPathComponent("apps"))
        var applied = ClusterState()
        applied.apps["echo"] = try ClusterState.capture(manifestPath: manifest, directory: state).applied
        try applied.save(directory: state)

        // The file is rebuilt, then the manifest deleted: the stored copies are still version 1.
        try Data(try Self.pong(version: 2)).write(to: nodes.root.appendingPathComponent("apps/echo.wasm"))
        try FileManager.default.removeItem(atPath: manifest)
        let loaded = try ClusterState.load(directory: state)
        #expect(try loaded.manifest(of: "echo", directory: state).modules[0].bytes == Self.pong(version: 1))
        let deployer = Deployer(inventory: nodes.inventory, client: nodes) { _ in }
        let controller = Controller(deployer: deployer, stateDirectory: state) { _ in }
        controller.step()
        #expect(nodes.running("echo/pong", on: "a") == String(Digest.sha256Hex(try Self.pong(version: 1)).prefix(6)))
        controller.step()
        #expect(nodes.requests.filter { $0.hasPrefix("start") }.count == 1, "nothing rolled out without an apply: \(nodes.requests)")

        // A damaged object is named; garbage collection keeps only what an applied app names.
        let objects = state + "/objects"
        try Data("junk".utf8).write(to: URL(fileURLWithPath: objects + "/0000"))
        loaded.collectGarbage(directory: state)
        #expect(try FileManager.default.contentsOfDirectory(atPath: objects).sorted() == loaded.apps["echo"]!.objects.sorted())
        try Data("damaged".utf8).write(to: URL(fileURLWithPath: objects + "/" + loaded.apps["echo"]!.manifest))
        #expect(throws: DeployError.self) { _ = try loaded.manifest(of: "echo", directory: state) }
        do { _ = try loaded.manifest(of: "echo", directory: state) } catch { #expect("\(error)".contains("is damaged")) }

        // A state.json of the first kind (app → path) is read, and such apps are to be applied again.
        try Data(#"{"apps": {"old": "/tmp/old.yaml"}, "drained": ["a"]}"#.utf8).write(to: URL(fileURLWithPath: state + "/state.json"))
        let legacy = try ClusterState.load(directory: state)
        #expect(legacy.apps.isEmpty && legacy.unversioned == ["old": "/tmp/old.yaml"] && legacy.drained == ["a"])
        do { _ = try legacy.manifest(of: "old", directory: state) } catch { #expect("\(error)".contains("apply it again")) }
    }

    @Test func oneUnreadableAppIsReportedOnceAndTheOthersAreStillPlaced() throws {
        let nodes = try InProcessNodes(["a": "linux-host", "b": "linux-host"])
        let state = nodes.root.appendingPathComponent("state").path
        let apps = nodes.root.appendingPathComponent("apps")
        var applied = ClusterState()
        for app in ["alpha", "broken", "gamma"] {
            applied.apps[app] = try ClusterState.capture(manifestPath: try Self.write(app: app, wasm: try Self.pong(version: 1), into: apps),
                                                         directory: state).applied
        }
        try applied.save(directory: state)
        // The broken app's manifest object is gone (its module object is shared with the others).
        try FileManager.default.removeItem(atPath: state + "/objects/" + applied.apps["broken"]!.manifest)
        var lines: [String] = []
        let controller = Controller(deployer: Deployer(inventory: nodes.inventory, client: nodes) { _ in }, stateDirectory: state) { lines.append($0) }
        controller.watch.resyncNanoseconds = 0
        controller.step()
        controller.step()
        let placed = nodes.daemons.values.flatMap { $0.report().guests.map(\.assignment.app) }.sorted()
        #expect(placed == ["alpha", "gamma"], "\(lines)")
        #expect(lines.filter { $0.hasPrefix("app broken: cannot read what was applied") }.count == 1, "reported once: \(lines)")
        #expect(lines.contains { $0.hasPrefix("app alpha: started 1") } && lines.contains { $0.hasPrefix("app gamma: started 1") })
    }

    @Test func anUpgradeGoesOneReplicaAtATimeInPlaceWhereOldAndNewFit() throws {
        let nodes = try InProcessNodes(["a": "linux-host", "b": "linux-host", "c": "linux-host"])
        let apps = nodes.root.appendingPathComponent("apps")
        var progress: [String] = []
        let deployer = Deployer(inventory: nodes.inventory, client: nodes) { progress.append($0) }
        let v1 = try AppManifest.load(path: try Self.write(app: "echo", wasm: try Self.pong(version: 1), replicas: 3, into: apps))
        #expect(try deployer.reconcile(v1, view: deployer.view()).started.count == 3)
        let v2 = try AppManifest.load(path: try Self.write(app: "echo", wasm: try Self.pong(version: 2), replicas: 3, into: apps))
        let before = nodes.requests.count
        let outcome = try deployer.reconcile(v2, view: deployer.view())
        #expect(outcome.started.isEmpty && outcome.stopped.isEmpty)
        #expect(outcome.upgraded.map(\.key) == ["echo/pong-1", "echo/pong-2", "echo/pong-3"] && outcome.upgraded.allSatisfy { $0.mode == .inPlace })
        // Each replica's push and start before the next one's: one at a time, none stopped first.
        let new = String(Digest.sha256Hex(try Self.pong(version: 2)).prefix(6))
        let steps = Array(nodes.requests[before...])
        let nodeOf = Dictionary(uniqueKeysWithValues: outcome.upgraded.map { ($0.key, $0.node) })
        #expect(steps == ["echo/pong-1", "echo/pong-2", "echo/pong-3"].flatMap { key in
            ["push \(nodeOf[key]!)", "start \(key)@\(nodeOf[key]!) \(new)"]
        })
        for record in outcome.upgraded { #expect(nodes.running(record.key, on: record.node) == new) }
        #expect(progress.contains { $0.hasPrefix("[upgrade 1/3] pong-1 on") && $0.contains("(in place)") && $0.contains("down") })
        // Applying the same again changes nothing.
        #expect(try deployer.reconcile(v2, view: deployer.view()).upgraded.isEmpty)
    }

    @Test func aBoardThatCannotHoldOldAndNewStopsThenStartsAndSaysHowLongItWasDown() throws {
        let nodes = try InProcessNodes(["m33": "cortex-m33"])
        let apps = nodes.root.appendingPathComponent("apps")
        var progress: [String] = []
        let deployer = Deployer(inventory: nodes.inventory, client: nodes) { progress.append($0) }
        let v1 = try AppManifest.load(path: try Self.write(app: "echo", wasm: try Self.pong(version: 1), into: apps))
        _ = try deployer.reconcile(v1, view: deployer.view())
        let v2 = try AppManifest.load(path: try Self.write(app: "echo", wasm: try Self.pong(version: 2), into: apps))
        // The node itself refuses the new module while the old one runs: it could not be done in place.
        let bytes = try Self.pong(version: 2)
        #expect(throws: ControlError.self) { try nodes.push(bytes, sha256: Digest.sha256Hex(bytes), to: "m33") }
        // plan says so before apply does it.
        let plan = Planner.plan(PlacementRequest(manifest: v2, inventory: nodes.inventory))
        let preview = RolloutPreview.lines(applied: v1, next: v2, plan: plan, inventory: nodes.inventory)
        #expect(preview.count == 2 && preview[1].contains("pong -> m33: stopped, then started (the cortex-m33 cannot hold old and new at once: guest partition)"))

        let outcome = try deployer.reconcile(v2, view: deployer.view())
        #expect(outcome.upgraded.count == 1 && outcome.upgraded[0].mode == .stopThenStart)
        #expect(Array(nodes.requests.suffix(3)) == ["stop echo/pong@m33", "push m33", "start echo/pong@m33 \(Digest.sha256Hex(bytes).prefix(6))"])
        #expect(nodes.running("echo/pong", on: "m33") == String(Digest.sha256Hex(bytes).prefix(6)))
        #expect(progress.last?.contains("(stop, then start): pushed") == true && progress.last?.contains("running; down") == true, "\(progress)")
    }

    @Test func aFailedRolloutIsRolledBackReportedAndNotRetriedUntilTheNextApply() throws {
        let nodes = try InProcessNodes(["a": "linux-host"])
        let state = nodes.root.appendingPathComponent("state").path
        let apps = nodes.root.appendingPathComponent("apps")
        var applied = ClusterState()
        applied.apps["echo"] = try ClusterState.capture(manifestPath: try Self.write(app: "echo", wasm: try Self.pong(version: 1), into: apps),
                                                        directory: state).applied
        try applied.save(directory: state)
        var lines: [String] = []
        let controller = Controller(deployer: Deployer(inventory: nodes.inventory, client: nodes) { _ in }, stateDirectory: state) { lines.append($0) }
        controller.watch.resyncNanoseconds = 0
        controller.step()
        let old = String(Digest.sha256Hex(try Self.pong(version: 1)).prefix(6))
        #expect(nodes.running("echo/pong", on: "a") == old)

        // What is applied now traps at once: its rollout fails, is undone, and is reported once.
        let manifest = try Self.write(app: "echo", wasm: Self.trapping, into: apps)
        applied.apps["echo"] = try ClusterState.capture(manifestPath: manifest, directory: state).applied
        try applied.save(directory: state)
        controller.step()
        #expect(nodes.running("echo/pong", on: "a") == old, "rolled back to what ran: \(lines)")
        #expect(lines.filter { $0.contains("its replicas are left as they run until the next apply") }.count == 1, "\(lines)")
        let starts = nodes.requests.filter { $0.hasPrefix("start") }.count
        for _ in 0..<5 { controller.step() }
        #expect(nodes.requests.filter { $0.hasPrefix("start") }.count == starts, "no retry loop: \(nodes.requests)")
        #expect(controller.rolloutFailed["echo"] == applied.apps["echo"]!.version)
        #expect(!lines.contains("app echo: reconciled again"))

        // The next apply (another version) is rolled out.
        applied.apps["echo"] = try ClusterState.capture(manifestPath: try Self.write(app: "echo", wasm: try Self.pong(version: 3), into: apps),
                                                        directory: state).applied
        try applied.save(directory: state)
        controller.step()
        #expect(nodes.running("echo/pong", on: "a") == String(Digest.sha256Hex(try Self.pong(version: 3)).prefix(6)), "\(lines)")
    }
}

@Suite struct NodeGuestLogTests {
    /// Guests/Logs.c built for one-byte pages and 16 KiB of memory.
    static func logsGuest(into folder: URL) throws -> String {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let output = folder.appendingPathComponent("logs.wasm").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["clang", "--target=wasm32", "-O2", "-ffreestanding", "-nostdlib", "-Wl,--no-entry", "-I", ProcessCluster.sdk,
                             "-Wl,--page-size=1", "-Wl,--stack-first", "-Wl,-z,stack-size=4096", "-Wl,--initial-memory=16384", "-Wl,--max-memory=16384",
                             "-o", output, ProcessCluster.here.appendingPathComponent("Guests/Logs.c").path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ClusterTestError("clang failed on Logs.c") }
        return output
    }

    @Test func logsHoldEveryKindOfGuestLineAndFollowFromACursor() throws {
        let nodes = try InProcessNodes(["a": "linux-host"])
        let apps = nodes.root.appendingPathComponent("apps")
        let wasm = try Self.logsGuest(into: apps)
        let manifest = apps.appendingPathComponent("logs.yaml").path
        try "app: demo\nmodules:\n  - {name: logs, wasm: \(wasm), devices: [uart]}\n".write(toFile: manifest, atomically: true, encoding: .utf8)
        let deployer = Deployer(inventory: nodes.inventory, client: nodes) { _ in }
        _ = try deployer.reconcile(try AppManifest.load(path: manifest), view: deployer.view())
        for _ in 0..<20 { nodes.settle() }
        let (lines, cursor) = try nodes.logs("a", key: "demo/logs", lines: 0)
        let expected = ["INFO a text record", "INFO task 42 started", "[logs] to stdout", "[logs] to stderr", "[logs] to the uart"]
        for text in expected { #expect(lines.contains { $0.hasSuffix(text) }, "\(text) in \(lines)") }
        #expect(lines.count == expected.count, "\(lines)")
        #expect(try nodes.logs("a", key: "demo/logs", lines: 2).lines.count == 2)
        // Following: nothing new yet; once stopped, the log is gone with the replica.
        #expect(try nodes.logs("a", key: "demo/logs", lines: 0, after: cursor).lines.isEmpty)
        _ = try nodes.request("a", .stop(key: "demo/logs"))
        #expect(throws: ControlError.self) { _ = try nodes.logs("a", key: "demo/logs", lines: 0) }
    }
}
