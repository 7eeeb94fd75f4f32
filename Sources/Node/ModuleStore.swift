// A node's data directory: the modules it was given (by digest) and its assignments, so that a
// restarted node brings its guests back. Every write is atomic (temporary file, fsync, rename,
// fsync of the directory): a crash leaves the old file or the new one, never half of either.
import Foundation
import Transport

public struct ModuleStoreError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

public final class ModuleStore {
    public let directory: String
    var modulesDirectory: String { directory + "/modules" }
    var assignmentsPath: String { directory + "/assignments.json" }

    public init(directory: String) throws(ModuleStoreError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory + "/modules", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw ModuleStoreError("data directory \(directory): \(error.localizedDescription)")
        }
        // Temporary files of a write that a crash interrupted are not data.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory + "/modules")) ?? [] where name.contains(".tmp") {
            unlink(modulesDirectory + "/" + name)
        }
        unlink(assignmentsPath + ".tmp")
    }

    public func modulePath(_ sha256: String) -> String { "\(modulesDirectory)/\(sha256).wasm" }

    public func hasModule(_ sha256: String) -> Bool { FileManager.default.fileExists(atPath: modulePath(sha256)) }

    public func saveModule(_ bytes: [UInt8], sha256: String) throws(ModuleStoreError) {
        try Self.writeAtomically(bytes, to: modulePath(sha256))
    }

    /// The module's bytes, checked against their digest (a damaged file is an error, not a guest).
    public func loadModule(_ sha256: String) throws(ModuleStoreError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: modulePath(sha256)) else {
            throw ModuleStoreError("module \(sha256.prefix(12)) is not in \(modulesDirectory)")
        }
        let bytes = [UInt8](data)
        guard Digest.sha256Hex(bytes) == sha256 else { throw ModuleStoreError("\(modulePath(sha256)) does not match its SHA-256: damaged") }
        return bytes
    }

    public func removeModule(_ sha256: String) { unlink(modulePath(sha256)) }

    public func loadAssignments() throws(ModuleStoreError) -> [ModuleAssignment] {
        guard let data = FileManager.default.contents(atPath: assignmentsPath) else { return [] }
        do { return try JSONDecoder().decode([ModuleAssignment].self, from: data) } catch {
            throw ModuleStoreError("\(assignmentsPath): \(error)")
        }
    }

    public func saveAssignments(_ assignments: [ModuleAssignment]) throws(ModuleStoreError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Self.writeAtomically([UInt8](try! encoder.encode(assignments.sorted { $0.key < $1.key })), to: assignmentsPath)
    }

    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(ModuleStoreError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw ModuleStoreError("\(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw ModuleStoreError("\(temporary): \(reason)")
            }
            written += n
        }
        guard fsync(fd) == 0, close(fd) == 0, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ModuleStoreError("\(path): \(reason)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let dirfd = open(directory, O_RDONLY)
        if dirfd >= 0 { fsync(dirfd); close(dirfd) }
    }
}
