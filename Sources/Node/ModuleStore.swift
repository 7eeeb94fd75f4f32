// A node's data directory: the modules it was given (by digest) and its assignments, so that a
// restarted node brings its guests back. Every write replaces a file whole (DataFiles). A file
// that is corrupt or holds impossible values is set aside (renamed NAME.corrupt-…), never fatal.
import Foundation
import Transport

public struct ModuleStoreError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

public final class ModuleStore {
    /// Where the files live: a directory on disk, or memory in the simulator.
    public let files: DataFiles
    public var directory: String { files.location }
    static let assignmentsFile = "assignments.json"

    /// The data directory at `directory` (made if missing).
    public convenience init(directory: String) throws(ModuleStoreError) {
        self.init(files: try DiskFiles(directory: directory))
    }

    public init(files: DataFiles) { self.files = files }

    static func moduleFile(_ sha256: String) -> String { "modules/\(sha256).wasm" }

    public func modulePath(_ sha256: String) -> String { files.location + "/" + Self.moduleFile(sha256) }

    public func hasModule(_ sha256: String) -> Bool { files.exists(Self.moduleFile(sha256)) }

    public func saveModule(_ bytes: [UInt8], sha256: String) throws(ModuleStoreError) {
        try files.write(bytes, to: Self.moduleFile(sha256))
    }

    /// The module's bytes, checked against their digest (a damaged file is an error, not a guest;
    /// it is set aside, so that the orchestrator's next push stores a good copy).
    public func loadModule(_ sha256: String) throws(ModuleStoreError) -> [UInt8] {
        guard let bytes = files.read(Self.moduleFile(sha256)) else {
            throw ModuleStoreError("module \(sha256.prefix(12)) is not in \(files.location)/modules")
        }
        guard Digest.sha256Hex(bytes) == sha256 else {
            let aside = files.setAside(Self.moduleFile(sha256))
            throw ModuleStoreError("\(modulePath(sha256)) does not match its SHA-256: damaged\(aside.map { ", set aside as \($0)" } ?? "")")
        }
        return bytes
    }

    public func removeModule(_ sha256: String) { files.remove(Self.moduleFile(sha256)) }

    /// The stored assignments that are readable and within `ControlLimits`, and one line per thing
    /// refused. If anything was refused, the file is set aside whole (nothing is lost) and the
    /// entries kept are written back, so the next boot reads a clean file.
    public func loadAssignments() -> (assignments: [ModuleAssignment], refusals: [String]) {
        let assignmentsPath = files.location + "/" + Self.assignmentsFile
        guard let data = files.read(Self.assignmentsFile) else { return ([], []) }
        var (kept, refusals) = Self.parseAssignments(data, file: assignmentsPath)
        guard !refusals.isEmpty else { return (kept, []) }
        if let aside = files.setAside(Self.assignmentsFile) {
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

    public func saveAssignments(_ assignments: [ModuleAssignment]) throws(ModuleStoreError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try files.write([UInt8](try! encoder.encode(assignments.sorted { $0.key < $1.key })), to: Self.assignmentsFile)
    }
}
