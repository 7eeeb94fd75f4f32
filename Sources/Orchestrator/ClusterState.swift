// What the orchestrator remembers between commands: every app as it was applied (its manifest's text
// and its modules' bytes, content-addressed under objects/), and the nodes being drained. The
// controller and `drain` work from these copies only: a manifest or .wasm edited, rebuilt or deleted
// after `apply` changes nothing until the next `apply`.
import Foundation
import HAL
import Transport

/// One applied app: the SHA-256 of its manifest's text and of each module's bytes, all in objects/.
public struct AppliedApp: Codable, Sendable, Equatable {
    /// The manifest's text as applied.
    public var manifest: String
    /// The path it was applied from (for messages; never read again).
    public var source: String
    /// Each `wasm:` entry as the manifest writes it → the SHA-256 of the bytes applied for it.
    public var modules: [String: String]

    public init(manifest: String, source: String, modules: [String: String]) {
        self.manifest = manifest
        self.source = source
        self.modules = modules
    }

    /// Every object it needs.
    public var objects: [String] { [manifest] + modules.values.sorted() }

    /// Names this apply: the manifest's and every module's SHA-256 together (the same manifest text
    /// with a rebuilt module is another version).
    public var version: String {
        Digest.sha256Hex(Array(([manifest] + modules.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }).joined(separator: "\n").utf8))
    }
}

public struct ClusterState: Codable, Sendable, Equatable {
    /// App name → what was applied.
    public var apps: [String: AppliedApp] = [:]
    public var drained: [String] = []
    /// Nodes cordoned: they keep what they run and take nothing new.
    public var cordoned: [String] = []
    /// Apps remembered by a version that kept only the manifest's path: they must be applied again
    /// (the controller reports them and leaves them alone).
    public var unversioned: [String: String] = [:]
    /// Apps deleted (and not applied since): the controller stops any copy of theirs a node brings
    /// back (one that was away when `delete` ran).
    public var deleted: [String] = []

    public init() {}

    enum Keys: String, CodingKey { case apps, drained, cordoned, unversioned, deleted }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        drained = try container.decodeIfPresent([String].self, forKey: .drained) ?? []
        cordoned = try container.decodeIfPresent([String].self, forKey: .cordoned) ?? []
        unversioned = try container.decodeIfPresent([String: String].self, forKey: .unversioned) ?? [:]
        deleted = try container.decodeIfPresent([String].self, forKey: .deleted) ?? []
        // The first state.json held app → manifest path: kept as such, never read as applied.
        if let paths = try? container.decode([String: String].self, forKey: .apps) {
            unversioned.merge(paths) { a, _ in a }
        } else {
            apps = try container.decodeIfPresent([String: AppliedApp].self, forKey: .apps) ?? [:]
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(apps, forKey: .apps)
        try container.encode(drained, forKey: .drained)
        try container.encode(cordoned, forKey: .cordoned)
        if !unversioned.isEmpty { try container.encode(unversioned, forKey: .unversioned) }
        if !deleted.isEmpty { try container.encode(deleted, forKey: .deleted) }
    }

    public static func load(directory: String) throws -> ClusterState {
        guard let data = FileManager.default.contents(atPath: directory + "/state.json") else { return ClusterState() }
        do { return try JSONDecoder().decode(ClusterState.self, from: data) } catch {
            throw DeployError("\(directory)/state.json: \(error)")
        }
    }

    public func save(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Self.write(try encoder.encode(self), to: directory + "/state.json")
    }

    // MARK: applied copies

    /// Reads the manifest at `path` and every module it names, once: the manifest parsed from those
    /// bytes, and the same bytes stored under `directory`/objects, with the record that names them.
    /// Nothing is recorded in the state here (`apps[name] = applied` after the apply succeeded).
    public static func capture(manifestPath path: String, directory: String) throws -> (manifest: AppManifest, applied: AppliedApp) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, line: nil, field: "(file)", detail: "cannot read the file")
        }
        let manifest = try AppManifest.load(text: [UInt8](data), path: path)
        var modules: [String: String] = [:]
        for module in manifest.modules {
            let digest = Digest.sha256Hex(module.bytes)
            try storeObject(module.bytes, sha256: digest, directory: directory)
            modules[module.wasm] = digest
        }
        let digest = Digest.sha256Hex([UInt8](data))
        try storeObject([UInt8](data), sha256: digest, directory: directory)
        let source = URL(fileURLWithPath: path).standardizedFileURL.path
        return (manifest, AppliedApp(manifest: digest, source: source, modules: modules))
    }

    /// The manifest of applied app `name`, from the stored copies (each checked against its
    /// SHA-256); the error names the app and what is wrong.
    public func manifest(of name: String, directory: String) throws -> AppManifest {
        guard let applied = apps[name] else {
            if let path = unversioned[name] {
                throw DeployError("app \(name) was applied by an older fireball that kept only its path (\(path)): apply it again")
            }
            throw DeployError("no app '\(name)' was applied")
        }
        let text = try Self.object(sha256: applied.manifest, directory: directory, what: "app \(name)'s manifest")
        var failure: DeployError?
        let manifest = try AppManifest.parse(String(decoding: text, as: UTF8.self), file: applied.source) { wasm in
            let path = Self.resolve(wasm, against: applied.source)
            guard let digest = applied.modules[wasm] else {
                failure = DeployError("app \(name): its stored record names no module for wasm: \(wasm)")
                return (path, nil)
            }
            do { return (path, try Self.object(sha256: digest, directory: directory, what: "app \(name)'s module \(wasm)")) } catch {
                failure = error as? DeployError ?? DeployError("\(error)")
                return (path, nil)
            }
        }
        if let failure { throw failure }
        return manifest
    }

    /// Removes stored objects that no applied app names any more.
    public func collectGarbage(directory: String) {
        let kept = Set(apps.values.flatMap(\.objects))
        let folder = directory + "/objects"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where !kept.contains(name) {
            try? FileManager.default.removeItem(atPath: folder + "/" + name)
        }
    }

    static func resolve(_ wasm: String, against manifest: String) -> String {
        let folder = (manifest as NSString).deletingLastPathComponent
        return wasm.hasPrefix("/") ? wasm : (folder.isEmpty ? wasm : "\(folder)/\(wasm)")
    }

    public static func object(sha256: String, directory: String, what: String = "module") throws -> [UInt8] {
        let path = "\(directory)/objects/\(sha256)"
        guard let data = FileManager.default.contents(atPath: path) else { throw DeployError("\(what): \(path) is missing") }
        let bytes = [UInt8](data)
        guard Digest.sha256Hex(bytes) == sha256 else { throw DeployError("\(what): \(path) is damaged (its SHA-256 differs)") }
        return bytes
    }

    static func storeObject(_ bytes: [UInt8], sha256: String, directory: String) throws {
        let path = "\(directory)/objects/\(sha256)"
        if let existing = FileManager.default.contents(atPath: path), Digest.sha256Hex([UInt8](existing)) == sha256 { return }
        try write(Data(bytes), to: path)
    }

    /// Writes `data` to `path` whole or not at all: a temporary file, fsynced, renamed into place.
    static func write(_ data: Data, to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DeployError("\(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let count = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
        let synced = written && fsync(fd) == 0
        close(fd)
        guard synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw DeployError("\(path): \(reason)")
        }
    }
}
