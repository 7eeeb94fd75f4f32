// The CLI's configuration file and where it finds boards: contexts read and written back, paths
// relative to the file that names them, the file's location from flag, variable and XDG, and
// errors that name the file, line and field.
import Foundation
import HAL
import Testing
@testable import Orchestrator

@Suite struct ClientConfigurationTests {
    static let text = """
        # two clusters
        current-context: lab
        contexts:
          - name: local
            inventory: clusters/local.yaml
            certs: ../certs
          - name: lab
            inventory: /srv/lab/cluster.yaml
            certs: "~/lab certs"
            state: /var/lib/fireball/lab
            boards: boards
        """

    @Test func contextsAndRelativePaths() throws {
        let file = try ClientConfiguration.parse(Self.text, file: "/home/me/.config/fireball/config.yaml")
        #expect(file.currentContext == "lab")
        #expect(file.contexts.map(\.name) == ["local", "lab"])
        let local = try #require(file.context("local"))
        #expect(file.resolved(try #require(local.inventory)) == "/home/me/.config/fireball/clusters/local.yaml")
        #expect(file.resolved(try #require(local.certs)) == "/home/me/.config/certs")
        let lab = try #require(file.context())
        #expect(lab.name == "lab" && lab.state == "/var/lib/fireball/lab")
        #expect(file.resolved(try #require(lab.boards)) == "/home/me/.config/fireball/boards")
        #expect(file.resolved("/abs") == "/abs")
    }

    @Test func writtenFileReadsBackTheSame() throws {
        var file = try ClientConfiguration.parse(Self.text, file: "/x/config.yaml")
        file.contexts.append(ClientContext(name: "odd", inventory: "/a \"quoted\" path\\with: colons #and hash"))
        let again = try ClientConfiguration.parse(file.rendered(), file: "/x/config.yaml")
        #expect(again == file)
        #expect(try ClientConfiguration.parse("", file: "/x/c.yaml") == ClientConfiguration(file: "/x/c.yaml"))
        #expect(try ClientConfiguration.parse("# only a comment\n", file: "/x/c.yaml").contexts.isEmpty)
        #expect(try ClientConfiguration.parse(ClientConfiguration(file: "/x/c.yaml").rendered(), file: "/x/c.yaml").contexts.isEmpty)
    }

    @Test func refusalsNameTheFileLineAndField() {
        let cases: [(String, String)] = [
            ("current-context: nowhere\ncontexts:\n  - name: a\n", "current-context"),
            ("contexts:\n  - name: a\n  - name: a\n", "name"),
            ("contexts:\n  - name: a\n    inventroy: x.yaml\n", "inventroy"),
            ("contexts:\n  - name: \"has space\"\n", "name"),
            ("contexts:\n  - name: a\n    certs: \"\"\n", "certs"),
            ("colour: blue\n", "colour"),
        ]
        for (text, field) in cases {
            do {
                _ = try ClientConfiguration.parse(text, file: "/x/config.yaml")
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.file == "/x/config.yaml", "\(error)")
                #expect(error.description.contains(field), "\(text) -> \(error)")
            }
        }
    }

    @Test func whichFile() {
        let home = ["HOME": "/home/me"]
        #expect(ClientConfiguration.path(flag: nil, environment: home) == "/home/me/.config/fireball/config.yaml")
        #expect(ClientConfiguration.path(flag: nil, environment: home.merging(["XDG_CONFIG_HOME": "/cfg"]) { $1 }) == "/cfg/fireball/config.yaml")
        // A relative XDG_CONFIG_HOME is ignored, as the XDG rules say.
        #expect(ClientConfiguration.path(flag: nil, environment: home.merging(["XDG_CONFIG_HOME": "cfg"]) { $1 }) == "/home/me/.config/fireball/config.yaml")
        #expect(ClientConfiguration.path(flag: nil, environment: home.merging(["FIREBALL_CONFIG": "/etc/f.yaml"]) { $1 }) == "/etc/f.yaml")
        #expect(ClientConfiguration.path(flag: "/flag.yaml", environment: home.merging(["FIREBALL_CONFIG": "/etc/f.yaml"]) { $1 }) == "/flag.yaml")
        #expect(ClientConfiguration.defaultState(context: "lab", environment: home) == "/home/me/.local/state/fireball/lab")
        #expect(ClientConfiguration.defaultState(context: "lab", environment: ["XDG_STATE_HOME": "/st"]) == "/st/fireball/lab")
    }

    @Test func missingFileIsEmptyAndNotCreated() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-config-\(UUID().uuidString)/config.yaml").path
        #expect(try ClientConfiguration.load(path: path).contexts.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func boardsSearchOrder() throws {
        let env = ["FIREBALL_BOARDS": "/env/boards"]
        #expect(BoardsLocation.find(flag: "/flag", context: "/ctx", environment: env, executable: "").path == "/flag")
        #expect(BoardsLocation.find(flag: nil, context: "/ctx", environment: env, executable: "").path == "/ctx")
        #expect(BoardsLocation.find(flag: nil, context: nil, environment: env, executable: "").path == "/env/boards")
        // An install: PREFIX/bin/fireball finds PREFIX/share/fireball/boards.
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-prefix-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: prefix) }
        try FileManager.default.createDirectory(at: prefix.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: prefix.appendingPathComponent("share/fireball/boards"), withIntermediateDirectories: true)
        let installed = BoardsLocation.find(flag: nil, context: nil, environment: [:], executable: prefix.appendingPathComponent("bin/fireball").path)
        #expect(installed.path == prefix.appendingPathComponent("share/fireball/boards").path && installed.source == "the install")
        // A checkout: .build/debug/fireball finds ROOT/Deploy/boards.
        let built = BoardsLocation.find(flag: nil, context: nil, environment: [:], executable: "\(Fixtures.root)/.build/debug/fireball")
        #expect(built.path == "\(Fixtures.root)/Deploy/boards" && built.source == "the checkout")
    }

    /// Board names in an inventory resolve against the inventory's `boards:` (relative to the
    /// inventory), whatever the current folder; an explicit boards folder overrides it.
    @Test func inventoryBoardsAreRelativeToTheInventory() throws {
        let inventory = try ClusterInventory.load(path: "\(Fixtures.root)/Deploy/clusters/local.yaml", boardsDirectory: "/nonexistent")
        #expect(inventory.nodes.map(\.board.name).sorted() == ["cortex-m33", "esp32-c3", "microbit-v2"])
        #expect(throws: ConfigurationError.self) {
            try ClusterInventory.load(path: "\(Fixtures.root)/Deploy/clusters/local.yaml", boardsOverride: "/nonexistent")
        }
    }
}
