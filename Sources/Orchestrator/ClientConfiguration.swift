// The CLI's configuration file (kubectl-style named contexts) and where the CLI finds its boards,
// so that a command works from any folder with no path flags.
import Foundation
import HAL

/// One named cluster: its inventory, certificates, orchestrator state and boards. Paths are kept as
/// the file writes them; `resolved` makes them absolute against the file that names them.
public struct ClientContext: Sendable, Equatable {
    public var name: String
    public var inventory: String?
    public var certs: String?
    public var state: String?
    public var boards: String?

    public init(name: String, inventory: String? = nil, certs: String? = nil, state: String? = nil, boards: String? = nil) {
        self.name = name
        self.inventory = inventory
        self.certs = certs
        self.state = state
        self.boards = boards
    }

    static let fields: Set<String> = ["name", "inventory", "certs", "state", "boards"]
}

/// The file `$XDG_CONFIG_HOME/fireball/config.yaml` (else `~/.config/fireball/config.yaml`,
/// overridden by `FIREBALL_CONFIG` and `--config`):
///
///     current-context: local
///     contexts:
///       - name: local
///         inventory: /home/me/fireball/clusters/local.yaml
///         certs: /home/me/fireball/certs
///         state: /home/me/.local/state/fireball/local
public struct ClientConfiguration: Sendable, Equatable {
    /// The file this was read from (or will be written to).
    public var file: String
    public var currentContext: String?
    public var contexts: [ClientContext]

    public init(file: String, currentContext: String? = nil, contexts: [ClientContext] = []) {
        self.file = file
        self.currentContext = currentContext
        self.contexts = contexts
    }

    static let fields: Set<String> = ["current-context", "contexts"]
    /// Contexts in one file, at most.
    public static let contextsMax = 256

    /// Which file: `--config`, else `FIREBALL_CONFIG`, else the XDG location.
    public static func path(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let flag, !flag.isEmpty { return absolute(flag) }
        if let variable = environment["FIREBALL_CONFIG"], !variable.isEmpty { return absolute(variable) }
        return configHome(environment) + "/fireball/config.yaml"
    }

    /// `$XDG_CONFIG_HOME`, else `$HOME/.config` (the XDG base directory rules: a relative value is ignored).
    static func configHome(_ environment: [String: String]) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return xdg }
        return home(environment) + "/.config"
    }

    /// Where a context without `state:` keeps its orchestrator state: `$XDG_STATE_HOME/fireball/NAME`
    /// (else `~/.local/state/fireball/NAME`), the same whatever the current folder.
    public static func defaultState(context: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") { return "\(xdg)/fireball/\(context)" }
        return home(environment) + "/.local/state/fireball/\(context)"
    }

    static func home(_ environment: [String: String]) -> String {
        environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    }

    /// Reads the file; a file that does not exist is an empty configuration (nothing is created).
    public static func load(path: String) throws(ConfigurationError) -> ClientConfiguration {
        guard FileManager.default.fileExists(atPath: path) else { return ClientConfiguration(file: path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, line: nil, field: "(file)", detail: "cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    public static func parse(_ text: String, file: String) throws(ConfigurationError) -> ClientConfiguration {
        // An empty file (or only comments) is an empty configuration.
        let meaningful = text.split(separator: "\n").contains { line in
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            return !trimmed.isEmpty && !trimmed.hasPrefix("#")
        }
        guard meaningful else { return ClientConfiguration(file: file) }
        let top = try YAMLMapping(text: text, file: file)
        try top.allowOnly(fields)
        var contexts: [ClientContext] = []
        let items = top.has("contexts") ? try top.mappings("contexts") : []
        guard items.count <= contextsMax else { throw top.error("contexts", "\(items.count) contexts, at most \(contextsMax)") }
        for item in items {
            try item.allowOnly(ClientContext.fields)
            let name = try item.string("name")
            if let problem = contextNameProblem(name) { throw item.error("name", problem) }
            guard !contexts.contains(where: { $0.name == name }) else { throw item.error("name", "context '\(name)' is listed twice") }
            var context = ClientContext(name: name)
            for (key, path) in [("inventory", \ClientContext.inventory), ("certs", \.certs), ("state", \.state), ("boards", \.boards)] {
                guard let value = try item.optionalString(key) else { continue }
                guard !value.isEmpty, !value.contains("\0") else { throw item.error(key, "an empty path") }
                context[keyPath: path] = value
            }
            contexts.append(context)
        }
        let current = try top.optionalString("current-context")
        if let current, !contexts.contains(where: { $0.name == current }) {
            throw top.error("current-context", "no context '\(current)' (contexts: \(contexts.isEmpty ? "none" : contexts.map(\.name).joined(separator: ", ")))")
        }
        return ClientConfiguration(file: file, currentContext: current, contexts: contexts)
    }

    /// Letters, digits, '-', '_' and '.', 1…63 characters: nil if `name` is one.
    public static func contextNameProblem(_ name: String) -> String? {
        guard (1...63).contains(name.utf8.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            return "context name '\(name)': use 1 to 63 letters, digits, '-', '_' or '.'"
        }
        return nil
    }

    /// The context `name`, or the current one.
    public func context(_ name: String? = nil) -> ClientContext? {
        guard let wanted = name ?? currentContext else { return nil }
        return contexts.first { $0.name == wanted }
    }

    /// `path` as the file names it, made absolute against the file's folder ("~/" is the home folder).
    public func resolved(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        if path == "~" || path.hasPrefix("~/") { return Self.home(ProcessInfo.processInfo.environment) + path.dropFirst() }
        let folder = (file as NSString).deletingLastPathComponent
        return ((folder.isEmpty ? path : "\(folder)/\(path)") as NSString).standardizingPath
    }

    /// The file's text: values quoted so that any path reads back as written.
    public func rendered() -> String {
        var lines = ["# fireball's configuration: `fireball context --help`. Relative paths are relative to this file."]
        if let currentContext { lines.append("current-context: \(Self.quoted(currentContext))") }
        lines.append(contexts.isEmpty ? "contexts: []" : "contexts:")
        for context in contexts {
            lines.append("  - name: \(Self.quoted(context.name))")
            for (key, value) in [("inventory", context.inventory), ("certs", context.certs), ("state", context.state), ("boards", context.boards)] {
                if let value { lines.append("    \(key): \(Self.quoted(value))") }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A YAML double-quoted scalar.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\x%02x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    /// Writes the file whole or not at all, creating its folder (the only place the CLI writes it).
    public func save() throws {
        try ClusterState.write(Data(rendered().utf8), to: file)
    }

    /// `path` made absolute against the current folder.
    public static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return ((FileManager.default.currentDirectoryPath + "/" + path) as NSString).standardizingPath
    }
}

/// Where the CLI finds its boards, in this order: `--boards`, the context's `boards:`,
/// `FIREBALL_BOARDS`, an install's `PREFIX/share/fireball/boards` (found beside the executable), a
/// checkout's `Deploy/boards` (found above the executable, as `swift run` builds it), and last the
/// current folder's `Deploy/boards`.
public enum BoardsLocation {
    public static func find(flag: String?, context: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            executable: String = currentExecutable()) -> (path: String, source: String) {
        if let flag { return (flag, "--boards") }
        if let context { return (context, "the configuration's context") }
        if let variable = environment["FIREBALL_BOARDS"], !variable.isEmpty { return (variable, "FIREBALL_BOARDS") }
        if let found = beside(executable: executable) { return found }
        return ("Deploy/boards", "the current folder")
    }

    /// This process's executable (/proc/self/exe where there is one, else argv[0]).
    public static func currentExecutable() -> String {
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return target }
        return CommandLine.arguments.first ?? ""
    }

    /// The install's share folder or the checkout's Deploy folder for an executable at `executable`.
    public static func beside(executable: String) -> (path: String, source: String)? {
        guard let share = shareFolder(executable: executable) else { return nil }
        return (share + "/boards", share.hasSuffix("/Deploy") ? "the checkout" : "the install")
    }

    /// `PREFIX/share/fireball` for `PREFIX/bin/fireball`, or `ROOT/Deploy` for an executable built
    /// under a checkout at ROOT (`.build/…/fireball`); nil if neither holds boards.
    public static func shareFolder(executable: String) -> String? {
        guard !executable.isEmpty else { return nil }
        var path = executable.contains("/") ? ClientConfiguration.absolute(executable) : (searchPath(executable) ?? "")
        guard !path.isEmpty else { return nil }
        path = (path as NSString).resolvingSymlinksInPath
        let binFolder = (path as NSString).deletingLastPathComponent
        let installed = ((binFolder as NSString).deletingLastPathComponent as NSString).appendingPathComponent("share/fireball")
        if isDirectory(installed + "/boards") { return installed }
        // A checkout: climb to the folder holding Package.swift and Deploy/boards (at most a few levels).
        var folder = binFolder
        for _ in 0..<6 {
            if FileManager.default.fileExists(atPath: folder + "/Package.swift"), isDirectory(folder + "/Deploy/boards") { return folder + "/Deploy" }
            let parent = (folder as NSString).deletingLastPathComponent
            if parent == folder { break }
            folder = parent
        }
        return nil
    }

    static func searchPath(_ name: String) -> String? {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }
}
