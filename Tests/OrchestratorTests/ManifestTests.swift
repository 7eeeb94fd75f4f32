// Manifests and inventories: what they accept, and refusals that name file, line and field.
import Core
import Foundation
import HAL
import Testing
@testable import Orchestrator

@Suite struct ManifestTests {
    /// A module with one 64 KiB page, a maximum of 2 pages, and data up to byte 100.
    static let twoPages = """
        (module (memory 1 2) (data (i32.const 90) "0123456789") (func (export "run")))
        """

    func parse(_ text: String, wasm: [String: [UInt8]]) throws(ConfigurationError) -> AppManifest {
        try AppManifest.parse(text, file: "app.yaml") { name in ("apps/\(name)", wasm[name]) }
    }

    func refusal(_ text: String, wasm: [String: [UInt8]]) -> ConfigurationError? {
        do { _ = try parse(text, wasm: wasm); return nil } catch { return error }
    }

    @Test func readsEveryField() throws {
        let wasm = ["a.wasm": try Fixtures.wat(Self.twoPages)]
        let app = try parse("""
            app: demo
            modules:
              - name: sensor
                wasm: a.wasm
                tier: tier1
                serves: [fireball://sensor/temperature]
                uses: [fireball://log/out]
                devices: [adc, i2c]
                replicas: 2
                spread: zone
                affinity:
                  node-labels: {board: esp32-c3}
                  avoid-node-labels: {power: battery}
                restart: {up-to: 3, within: 60 s}
                memory: 64 KiB
              - name: log
                wasm: a.wasm
                restart: restart
                affinity: {avoid-modules: [sensor]}
            """, wasm: wasm)
        #expect(app.name == "demo")
        #expect(app.modules.map(\.name) == ["log", "sensor"], "sorted by name")
        let sensor = app.modules[1]
        #expect(sensor.tier == .tier1 && sensor.replicas == 2 && sensor.spread == "zone")
        #expect(sensor.devices == ["adc", "i2c"] && sensor.serves == ["fireball://sensor/temperature"])
        #expect(sensor.nodeLabels == ["board": "esp32-c3"] && sensor.avoidNodeLabels == ["power": "battery"])
        #expect(sensor.restart == .restartUpTo(count: 3, withinNanoseconds: 60_000_000_000))
        #expect(sensor.memoryBudgetBytes == 64 * 1024, "tightened from the declared 128 KiB")
        #expect(sensor.replicaNames == ["sensor-1", "sensor-2"])
        #expect(sensor.image.memoryMaximumBytes == 128 * 1024 && sensor.image.dataEndBytes == 100)
        #expect(app.modules[0].restart == .restart && app.modules[0].memoryBudgetBytes == 128 * 1024)
        #expect(app.modules[0].avoidModules == ["sensor"])
    }

    @Test func refusalsNameFileLineAndField() throws {
        let wasm = ["a.wasm": try Fixtures.wat(Self.twoPages), "bad.wasm": [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 99],
                    "free.wasm": try Fixtures.wat("(module (memory 1) (func (export \"run\")))")]
        func check(_ body: String, line: Int, field: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let error = refusal("app: demo\nmodules:\n" + body, wasm: wasm)
            #expect(error?.file == "app.yaml", sourceLocation: sourceLocation)
            #expect(error?.line == line, "\(error.map { "\($0)" } ?? "accepted")", sourceLocation: sourceLocation)
            #expect(error?.field == field, "\(error.map { "\($0)" } ?? "accepted")", sourceLocation: sourceLocation)
            #expect(error?.detail.contains(fragment) == true, "\(error.map { "\($0)" } ?? "accepted")", sourceLocation: sourceLocation)
        }
        check("  - name: a\n    wasm: a.wasm\n    colour: blue\n", line: 5, field: "modules[0].colour", "unknown field")
        check("  - name: a\n    wasm: missing.wasm\n", line: 4, field: "modules[0].wasm", "cannot read apps/missing.wasm")
        check("  - name: a\n    wasm: bad.wasm\n", line: 4, field: "modules[0].wasm", "not a valid module")
        check("  - name: a\n    wasm: a.wasm\n    memory: 256 KiB\n", line: 5, field: "modules[0].memory", "more than the module's declared maximum")
        check("  - name: a\n    wasm: a.wasm\n    memory: 32 KiB\n", line: 5, field: "modules[0].memory", "less than the module's initial memory")
        check("  - name: a\n    wasm: free.wasm\n", line: 3, field: "modules[0]", "declares no memory maximum")
        check("  - name: a\n    wasm: a.wasm\n    serves: [http://x]\n", line: 5, field: "modules[0].serves", "not a URI")
        check("  - name: a\n    wasm: a.wasm\n    serves: [fireball://a/b@n1]\n", line: 5, field: "modules[0].serves", "names a node")
        #expect(refusal("app: demo\nmodules:\n  - name: a\n    wasm: a.wasm\n    uses: [fireball://a/b@n1]\n", wasm: wasm) == nil, "a module may use a named node's URI")
        check("  - name: a\n    wasm: a.wasm\n    replicas: 0\n", line: 5, field: "modules[0].replicas", "outside")
        check("  - name: a\n    wasm: a.wasm\n    tier: kernel\n", line: 5, field: "modules[0].tier", "expected guest or tier1")
        check("  - name: a\n    wasm: a.wasm\n    restart: sometimes\n", line: 5, field: "modules[0].restart", "expected stop, restart")
        check("  - name: a\n    wasm: a.wasm\n    restart: {up-to: 2, within: soon}\n", line: 5, field: "modules[0].restart.within", "duration")
        check("  - name: a\n    wasm: a.wasm\n  - name: a\n    wasm: a.wasm\n", line: 5, field: "modules[1].name", "declared twice")
        check("  - name: a\n    wasm: a.wasm\n    affinity: {avoid-modules: [b]}\n", line: 5, field: "modules[0].affinity.avoid-modules", "no module 'b'")
        check("  - name: a\n    wasm: a.wasm\n    affinity: {near: b}\n", line: 5, field: "modules[0].affinity.near", "unknown field")
        check("  - name: a b\n    wasm: a.wasm\n", line: 3, field: "modules[0].name", "letters, digits")
        // The hostile numbers of issue 13: refused with their range, not an overflow trap.
        check("  - name: a\n    wasm: a.wasm\n    memory: 8589934592 GiB\n", line: 5, field: "modules[0].memory", "4 GiB")
        check("  - name: a\n    wasm: a.wasm\n    memory: 99999999999999999999999\n", line: 5, field: "modules[0].memory", "4 GiB")
        check("  - name: a\n    wasm: a.wasm\n    restart: {up-to: 2, within: 4294967295 h}\n", line: 5, field: "modules[0].restart.within", "7 d")
        check("  - name: a\n    wasm: a.wasm\n    restart: {up-to: 2, within: 18446744073709551615 ms}\n", line: 5, field: "modules[0].restart.within", "7 d")
        check("  - name: a\n    wasm: a.wasm\n    restart: {up-to: 9223372036854775807, within: 1 s}\n", line: 5, field: "modules[0].restart.up-to", "1…1000")
        check("  - name: a\n    wasm: a.wasm\n    replicas: -9223372036854775808\n", line: 5, field: "modules[0].replicas", "outside")
        // A module's memory must cover its data segments (data ends at byte 100).
        let tiny = ["t.wasm": try Fixtures.wat("(module (memory 0 1) (data (i32.const 90) \"0123456789\") (func (export \"run\")))")]
        let error = refusal("app: demo\nmodules:\n  - name: t\n    wasm: t.wasm\n    memory: 0\n", wasm: tiny)
        #expect(error?.field == "modules[0].memory" && error?.detail.contains("data segments") == true, "\(String(describing: error))")
    }

    @Test func loadsFilesRelativeToTheManifest() throws {
        let app = try AppManifest.load(path: "\(Fixtures.root)/Deploy/apps/sensors.yaml")
        #expect(app.modules.map(\.name) == ["consumer", "ping", "pong", "producer"])
        #expect(app.modules.allSatisfy { $0.memoryBudgetBytes == 16384 })   // the examples declare 16 KiB in one-byte pages
        #expect(app.modules.first { $0.name == "consumer" }?.image.usesFloat == true)
        let missing = #expect(throws: ConfigurationError.self) { try AppManifest.load(path: "/nonexistent/app.yaml") }
        #expect(missing?.field == "(file)")
    }

    @Test func inventoryReadsBoardsAndRefusesMistakes() throws {
        let cluster = try ClusterInventory.load(path: "\(Fixtures.root)/Deploy/clusters/local.yaml", boardsDirectory: Fixtures.boardsDirectory)
        #expect(cluster.name == "local" && cluster.nodes.map(\.name) == ["c3", "m33", "microbit"])
        #expect(Set(cluster.nodes.map(\.board.name)).count == 3)
        #expect(cluster.nodes[0].labels["board"] == "esp32-c3" && cluster.nodes[0].labels["node"] == "c3" && cluster.nodes[0].labels["zone"] == "bench-a")
        #expect(cluster.nodes.allSatisfy { $0.hasDevice("adc") && $0.hasDevice("i2c0") && !$0.hasDevice("pwm") })

        let board = try Fixtures.board("esp32-c3")
        func refusal(_ body: String) -> ConfigurationError? {
            do {
                _ = try ClusterInventory.parse("cluster: t\nnodes:\n" + body, file: "c.yaml") { (name: String) throws(ConfigurationError) in
                    guard name == "esp32-c3" else { throw ConfigurationError(file: "boards/\(name).yaml", line: nil, field: "board", detail: "no board '\(name)'") }
                    return (board, [])
                }
                return nil
            } catch { return error }
        }
        let node = "  - name: a\n    address: 127.0.0.1:7401\n    board: esp32-c3\n"
        #expect(refusal(node) == nil)
        #expect(refusal(node + "    rack: 4\n")?.field == "nodes[0].rack")
        #expect(refusal(node + "    rack: 4\n")?.line == 6)
        #expect(refusal(node + node.replacingOccurrences(of: "7401", with: "7402"))?.detail.contains("listed twice") == true)
        #expect(refusal(node + node.replacingOccurrences(of: "name: a", with: "name: b"))?.detail.contains("also node a's address") == true)
        #expect(refusal(node.replacingOccurrences(of: ":7401", with: ":99999"))?.field == "nodes[0].address")
        let unknown = refusal(node.replacingOccurrences(of: "board: esp32-c3", with: "board: esp8266"))
        #expect(unknown?.field == "nodes[0].board" && unknown?.line == 5 && unknown?.detail.contains("no board 'esp8266'") == true)
        #expect(refusal(node + "    devices: [laser]\n")?.detail.contains("unknown device kind 'laser'") == true)
        #expect(refusal(node + "    labels: {board: other}\n")?.field == "nodes[0].labels.board")
    }

    @Test func impossibleConstraintsAreRefusedBeforePlacement() throws {
        let c3 = try Fixtures.board("esp32-c3"), m33 = try Fixtures.board("cortex-m33")
        let cluster = ClusterInventory(name: "t", nodes: [
            Fixtures.node("a", c3, labels: ["zone": "1"], devices: ["i2c"]),
            Fixtures.node("b", m33, labels: ["zone": "1"]),
        ])
        func refusal(_ module: ModuleSpec) -> ConfigurationError? {
            var module = module
            module.origin = ModuleSpec.Origin(file: "app.yaml", field: "modules[0]", lines: ["": 3, "affinity": 7, "replicas": 5, "devices": 6, "wasm": 4])
            do { try Planner.check(AppManifest(name: "x", modules: [module]), against: cluster); return nil } catch { return error }
        }
        #expect(refusal(Fixtures.module("ok")) == nil)
        let labels = refusal(Fixtures.module("s", labels: ["board": "microbit-v2"]))
        #expect(labels?.line == 7 && labels?.field == "modules[0].affinity" && labels?.detail.contains("no node has the label board=microbit-v2") == true)
        let spread = refusal(Fixtures.module("s", replicas: 2, spread: "zone"))
        #expect(spread?.line == 5 && spread?.detail.contains("only 1 value(s)") == true, "\(String(describing: spread))")
        #expect(refusal(Fixtures.module("s", replicas: 2, spread: "node")) == nil)
        #expect(refusal(Fixtures.module("s", devices: ["adc"]))?.field == "modules[0].devices")
        #expect(refusal(Fixtures.module("s", devices: ["i2c"], float: true))?.detail.contains("no eligible node has an FPU") == true)
        #expect(refusal(Fixtures.module("s", memory: 400 * 1024))?.detail.contains("fits on no eligible node") == true)
        // A thousand mirrors (one per used URI) outgrow every guest partition here; four thousand, any kernel budget.
        let mirrors = refusal(Fixtures.module("s", uses: (0..<1000).map { "fireball://far/s\($0)" }))
        #expect(mirrors?.field == "modules[0].uses" && mirrors?.detail.contains("of guest partition") == true, "\(String(describing: mirrors))")
        let tooMany = refusal(Fixtures.module("s", uses: (0..<4000).map { "fireball://far/s\($0)" }))
        #expect(tooMany?.field == "modules[0].uses" && tooMany?.detail.contains("more than a guest may have (1.00 MiB)") == true, "\(String(describing: tooMany))")
    }

    @Test func pageSizeComesFromTheBinary() throws {
        // custom-page-sizes: limits flag 0x09 (maximum + page size), min 100, max 4096, exponent 0 (1-byte pages).
        let memory: [UInt8] = [0x05, 0x06, 0x01, 0x09, 0x64, 0x80, 0x20, 0x00]
        let module: [UInt8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00] + memory
        #expect(MemoryPageSize.log2(in: module) == 0)
        let standard = try Fixtures.wat("(module (memory 1 2))")
        #expect(MemoryPageSize.log2(in: standard) == nil)
        let imported = try Fixtures.wat("(module (import \"env\" \"f\" (func)) (import \"env\" \"m\" (memory 1)))")
        #expect(MemoryPageSize.log2(in: imported) == nil)
        #expect(try ModuleImage.inspect(standard).image.pageBytes == 65536)
    }
}
