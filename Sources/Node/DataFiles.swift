// The files of a node's data directory, by name relative to it ("assignments.json",
// "modules/SHA.wasm"): on disk for a real node, in memory for the cluster simulator, whose crashes
// may lose the last write as a crash on a real disk can.
import Foundation

public protocol DataFiles: AnyObject {
    /// Where the files are, for messages.
    var location: String { get }
    func read(_ name: String) -> [UInt8]?
    func exists(_ name: String) -> Bool
    /// Replaces the file whole or not at all.
    func write(_ bytes: [UInt8], to name: String) throws(ModuleStoreError)
    func remove(_ name: String)
    /// Renames a corrupt file out of the way; the new name (for messages), nil if that failed.
    func setAside(_ name: String) -> String?
}

/// A directory on disk. Every write goes to a temporary file, is synced, renamed over the old one,
/// and the directory synced: a crash leaves the old file or the new one, never half of either.
public final class DiskFiles: DataFiles {
    public let location: String

    public init(directory: String) throws(ModuleStoreError) {
        location = directory
        do {
            try FileManager.default.createDirectory(atPath: directory + "/modules", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw ModuleStoreError("data directory \(directory): \(error.localizedDescription)")
        }
        // Temporary files of a write that a crash interrupted are not data.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory + "/modules")) ?? [] where name.contains(".tmp") {
            unlink(directory + "/modules/" + name)
        }
        unlink(directory + "/" + ModuleStore.assignmentsFile + ".tmp")
    }

    private func path(_ name: String) -> String { location + "/" + name }

    public func read(_ name: String) -> [UInt8]? { FileManager.default.contents(atPath: path(name)).map { [UInt8]($0) } }

    public func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

    public func remove(_ name: String) { unlink(path(name)) }

    /// `NAME.corrupt-TIMESTAMP` (UTC), with a counter if that is taken.
    public func setAside(_ name: String) -> String? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let stamp = formatter.string(from: Date())
        var target = "\(path(name)).corrupt-\(stamp)"
        var attempt = 1
        while FileManager.default.fileExists(atPath: target), attempt < 100 {
            attempt += 1
            target = "\(path(name)).corrupt-\(stamp)-\(attempt)"
        }
        return rename(path(name), target) == 0 ? target : nil
    }

    public func write(_ bytes: [UInt8], to name: String) throws(ModuleStoreError) {
        let path = path(name), temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw ModuleStoreError("\(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
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

/// A data directory in memory that outlives the node using it (the simulator keeps it across a
/// crash). `loseLastWrite` undoes the newest write or removal, as a crash before the rename and
/// the directory's sync reached the disk would.
public final class MemoryFiles: DataFiles {
    public let location: String
    private var contents: [String: [UInt8]] = [:]
    /// The newest change and what the file held before it (nil: no file).
    private var last: (name: String, before: [UInt8]?)?
    private var asides = 0

    public init(location: String) { self.location = location }

    public func read(_ name: String) -> [UInt8]? { contents[name] }
    public func exists(_ name: String) -> Bool { contents[name] != nil }

    public func write(_ bytes: [UInt8], to name: String) throws(ModuleStoreError) {
        last = (name, contents[name])
        contents[name] = bytes
    }

    public func remove(_ name: String) {
        guard let old = contents.removeValue(forKey: name) else { return }
        last = (name, old)
    }

    public func setAside(_ name: String) -> String? {
        guard let old = contents.removeValue(forKey: name) else { return nil }
        asides += 1
        let target = "\(name).corrupt-\(asides)"
        contents[target] = old
        last = nil
        return location + "/" + target
    }

    /// Undoes the newest change if there is one; the file's name, for the trace.
    @discardableResult
    public func loseLastWrite() -> String? {
        guard let (name, before) = last else { return nil }
        contents[name] = before
        last = nil
        return name
    }

    /// Marks what is there now as on the disk (as a sync would): a crash loses nothing of it.
    public func settle() { last = nil }
}
