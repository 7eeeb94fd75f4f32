// What the orchestrator remembers between commands: the apps applied (by their manifest's path, so
// that the controller and `drain` can re-place them) and the nodes being drained. One small JSON
// file, written atomically.
import Foundation

public struct ClusterState: Codable, Sendable, Equatable {
    /// App name → absolute path of its manifest.
    public var apps: [String: String] = [:]
    public var drained: [String] = []

    public init() {}

    public static func load(directory: String) throws -> ClusterState {
        guard let data = FileManager.default.contents(atPath: directory + "/state.json") else { return ClusterState() }
        do { return try JSONDecoder().decode(ClusterState.self, from: data) } catch {
            throw DeployError("\(directory)/state.json: \(error)")
        }
    }

    public func save(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let temporary = directory + "/state.json.tmp"
        try encoder.encode(self).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, directory + "/state.json") == 0 else { throw DeployError("\(directory)/state.json: \(String(cString: strerror(errno)))") }
    }

    /// The manifests of every applied app, loaded and checked again.
    public func manifests() throws -> [AppManifest] {
        try apps.keys.sorted().map { name in try AppManifest.load(path: apps[name]!) }
    }
}
