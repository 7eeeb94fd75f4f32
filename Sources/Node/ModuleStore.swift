// A node's data directory: the modules it was given (by digest) and its assignments, so that a
// restarted node brings its guests back. Every write is atomic (temporary file, fsync, rename,
// fsync of the directory): a crash leaves the old file or the new one, never half of either. A file
// that is corrupt or holds impossible values is set aside (renamed NAME.corrupt-TIMESTAMP), never fatal.
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

    /// The module's bytes, checked against their digest (a damaged file is an error, not a guest;
    /// it is set aside, so that the orchestrator's next push stores a good copy).
    public func loadModule(_ sha256: String) throws(ModuleStoreError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: modulePath(sha256)) else {
            throw ModuleStoreError("module \(sha256.prefix(12)) is not in \(modulesDirectory)")
        }
        let bytes = [UInt8](data)
        guard Digest.sha256Hex(bytes) == sha256 else {
            let aside = setAside(modulePath(sha256))
            throw ModuleStoreError("\(modulePath(sha256)) does not match its SHA-256: damaged\(aside.map { ", set aside as \($0)" } ?? "")")
        }
        return bytes
    }

    public func removeModule(_ sha256: String) { unlink(modulePath(sha256)) }

    /// The stored assignments that are readable and within `ControlLimits`, and one line per thing
    /// refused. If anything was refused, the file is set aside whole (nothing is lost) and the
    /// entries kept are written back, so the next boot reads a clean file.
    public func loadAssignments() -> (assignments: [ModuleAssignment], refusals: [String]) {
        guard let data = FileManager.default.contents(atPath: assignmentsPath) else { return ([], []) }
        var (kept, refusals) = Self.parseAssignments([UInt8](data), file: assignmentsPath)
        guard !refusals.isEmpty else { return (kept, []) }
        if let aside = setAside(assignmentsPath) {
            refusals.append("\(assignmentsPath) set aside as \(aside); \(kept.count) assignment(s) kept")
            if !kept.isEmpty {
                do { try saveAssignments(kept) } catch { refusals.append("could not write the kept assignments back: \(error)") }
            }
        } else {
            refusals.append("could not set \(assignmentsPath) aside (it stays; \(kept.count) assignment(s) kept)")
        }
        return (kept, refusals)
    }

    /// Reads an assignments file: a JSON list of assignments. An entry that does not decode, fails
    /// `ModuleAssignment.validate`, or repeats a key is refused with a line naming file, entry and
    /// field; the others are kept. Pure, so it can be fuzzed.
    public static func parseAssignments(_ bytes: [UInt8], file: String) -> (kept: [ModuleAssignment], refusals: [String]) {
        /// One entry decoded on its own, so that one bad entry does not lose the others.
        struct Entry: Decodable {
            let result: Result<ModuleAssignment, Error>
            init(from decoder: Decoder) throws {
                do { result = .success(try ModuleAssignment(from: decoder)) } catch { result = .failure(error) }
            }
        }
        let entries: [Entry]
        do { entries = try JSONDecoder().decode([Entry].self, from: Data(bytes)) } catch {
            return ([], ["\(file): not a JSON list of assignments (\(describe(error)))"])
        }
        var kept: [ModuleAssignment] = []
        var keys: Set<String> = []
        var refusals: [String] = []
        for (index, entry) in entries.enumerated() {
            let place = "\(file): entry \(index)"
            guard index < ControlLimits.assignmentsMax else {
                refusals.append("\(file): \(entries.count) entries, at most \(ControlLimits.assignmentsMax); the rest are dropped")
                break
            }
            switch entry.result {
            case .failure(let error):
                refusals.append("\(place): \(describe(error))")
            case .success(let assignment):
                do { try assignment.validate() } catch {
                    refusals.append("\(place) (\(assignment.key.prefix(130))): \(error)")
                    continue
                }
                guard keys.insert(assignment.key).inserted else {
                    refusals.append("\(place): \(assignment.key) is listed twice; the first is kept")
                    continue
                }
                kept.append(assignment)
            }
        }
        return (kept, refusals)
    }

    /// A decoding error in one line: which field and what was wrong.
    static func describe(_ error: Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            // The first key is the entry's index in the list, which the caller names already.
            let keys = context.codingPath.dropFirst(context.codingPath.first?.intValue == nil ? 0 : 1)
                .map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "" : "field \(keys.joined(separator: ".")): "
        }
        switch error as? DecodingError {
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?, .keyNotFound(_, let context)?, .dataCorrupted(let context)?:
            if case .keyNotFound(let key, _)? = error as? DecodingError { return "\(path(context))field \(key.stringValue) missing" }
            return "\(path(context))\(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    /// Renames a corrupt file to `NAME.corrupt-TIMESTAMP` (UTC); the new name, or nil if the rename failed.
    @discardableResult
    func setAside(_ path: String) -> String? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let stamp = formatter.string(from: Date())
        var target = "\(path).corrupt-\(stamp)"
        var attempt = 1
        while FileManager.default.fileExists(atPath: target), attempt < 100 {
            attempt += 1
            target = "\(path).corrupt-\(stamp)-\(attempt)"
        }
        return rename(path, target) == 0 ? target : nil
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
