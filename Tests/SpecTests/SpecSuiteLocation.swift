// Where the official spec suite is, whether it is the pinned one, and whether its absence is a skip
// (a plain clone) or a failure (CI). The pin is Deploy/spec-suite.pin; Deploy/fetch-spec-suite.sh fills the cache.
import Foundation
import Testing

/// The suite's folder, as the tests look for it: `FIREBALL_SPEC_SUITE`, then the repository's cache
/// (`.cache/wasm-testsuite`, filled by Deploy/fetch-spec-suite.sh), then a sibling `../shared/wasm-testsuite`.
enum SpecSuiteLocation {
    /// `<package>/` (this file is `<package>/Tests/SpecTests/SpecSuiteLocation.swift`).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Absence fails instead of skipping: `FIREBALL_REQUIRE_SPEC_SUITE=1` (set by .ci/run), or `CI=true`
    /// unless `FIREBALL_REQUIRE_SPEC_SUITE=0` says otherwise.
    static let required: Bool = {
        let environment = ProcessInfo.processInfo.environment
        if let flag = environment["FIREBALL_REQUIRE_SPEC_SUITE"], !flag.isEmpty { return flag == "1" }
        return environment["CI"] == "true"
    }()

    /// How to get the suite, for every message that says it is missing.
    static let howToGet = "run Deploy/fetch-spec-suite.sh (it copies a sibling ../shared/wasm-testsuite or fetches the "
        + "pinned commit with git), or set FIREBALL_SPEC_SUITE to a checkout of \(pin.repository) at \(pin.commit)"

    /// The folder and which rule found it, or why none did. An explicit `FIREBALL_SPEC_SUITE` that
    /// names no folder is an error, not a fallback: the caller asked for that suite.
    static let found: Result<(folder: URL, via: String), SpecSetupError> = {
        let fileManager = FileManager.default
        func isFolder(_ url: URL) -> Bool {
            var directory: ObjCBool = false
            return fileManager.fileExists(atPath: url.path, isDirectory: &directory) && directory.boolValue
        }
        if let path = ProcessInfo.processInfo.environment["FIREBALL_SPEC_SUITE"], !path.isEmpty {
            let url = URL(fileURLWithPath: path)
            guard isFolder(url) else {
                return .failure(SpecSetupError(description: "FIREBALL_SPEC_SUITE=\(path) is not a folder; \(howToGet)"))
            }
            return .success((url, "FIREBALL_SPEC_SUITE"))
        }
        let cache = packageRoot.appendingPathComponent(".cache/wasm-testsuite")
        if isFolder(cache) { return .success((cache, ".cache/wasm-testsuite")) }
        let sibling = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/wasm-testsuite")
        if isFolder(sibling) { return .success((sibling, "../shared/wasm-testsuite")) }
        return .failure(SpecSetupError(description: "the official spec suite is not here (no FIREBALL_SPEC_SUITE, no "
            + "\(cache.path), no \(sibling.path)); \(howToGet)"))
    }()

    /// Whether the suite's tests run: found, required, or named by `FIREBALL_SPEC_SUITE` (then a
    /// missing suite is their failure, not a skip).
    static var shouldRun: Bool {
        if case .success = found { return true }
        return required || !(ProcessInfo.processInfo.environment["FIREBALL_SPEC_SUITE"] ?? "").isEmpty
    }

    /// The skip reason Swift Testing prints for each spec test that does not run.
    static var skipComment: Comment {
        guard case .failure(let error) = found else { return "" }
        return Comment(rawValue: "\(error.description) (CI=true or FIREBALL_REQUIRE_SPEC_SUITE=1 makes this a failure)")
    }

    // MARK: The pin

    struct Pin: Sendable { let repository: String; let commit: String; let sha256: String }

    /// Deploy/spec-suite.pin's `key=value` lines; empty fields if it cannot be read, which the
    /// content check then reports as a mismatch.
    static let pin: Pin = {
        let file = packageRoot.appendingPathComponent("Deploy/spec-suite.pin")
        var fields: [String: String] = [:]
        for line in ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return Pin(repository: fields["repository"] ?? "(Deploy/spec-suite.pin unreadable)",
                   commit: fields["commit"] ?? "?", sha256: fields["sha256"] ?? "?")
    }()

    /// The content hash the pin records (see Deploy/spec-suite.pin), computed by the same shell
    /// pipeline that Deploy/fetch-spec-suite.sh uses, so both agree by construction.
    static func contentHash(of folder: URL) throws(SpecSetupError) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // LC_ALL=C before the glob expands: the files go in byte order of their names.
        let script = """
            export LC_ALL=C
            h() { if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }
            cd "$1" && h -- *.wast | h | cut -d' ' -f1
            """
        process.arguments = ["-c", script, "sh", folder.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { throw SpecSetupError(description: "cannot run /bin/sh to hash the spec suite: \(error)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let hash = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, hash.count == 64 else {
            throw SpecSetupError(description: "cannot hash the .wast files of \(folder.path) (sha256sum or shasum needed)")
        }
        return hash
    }
}
