// A cluster inventory (Deploy/clusters/*.yaml): the nodes, their addresses, boards and labels.
import Core
import Foundation
import HAL

/// A device a node has: its kind (gpio, i2c, …) and, if given, its name (led0, i2c1, …).
public struct DeviceSpec: Sendable, Hashable {
    public var kind: String
    public var name: String?
    public init(kind: String, name: String? = nil) {
        self.kind = kind
        self.name = name
    }
    /// A module's `devices:` entry matches a kind or a name.
    public func matches(_ wanted: String) -> Bool { kind == wanted || name == wanted }
}

/// One node of the cluster.
public struct NodeSpec: Sendable {
    public var name: String
    /// "host:port" of its control plane.
    public var address: String
    public var board: Board
    /// Its labels, with `node` (its name) and `board` (its board's name) added when not given.
    public var labels: [String: String]
    /// The board file's devices and the inventory's, together.
    public var devices: [DeviceSpec]

    public init(name: String, address: String = "", board: Board, labels: [String: String] = [:], devices: [DeviceSpec] = []) {
        self.name = name
        self.address = address
        self.board = board
        var labels = labels
        if labels["node"] == nil { labels["node"] = name }
        if labels["board"] == nil { labels["board"] = board.name }
        self.labels = labels
        self.devices = devices
    }

    public func hasDevice(_ wanted: String) -> Bool { devices.contains { $0.matches(wanted) } }
}

/// A parsed, checked inventory.
public struct ClusterInventory: Sendable {
    public var name: String
    public var file: String
    /// Sorted by name.
    public var nodes: [NodeSpec]

    public init(name: String, file: String = "(built in)", nodes: [NodeSpec]) {
        self.name = name
        self.file = file
        self.nodes = nodes.sorted { $0.name < $1.name }
    }

    static let fields: Set<String> = ["cluster", "boards", "nodes"]
    static let nodeFields: Set<String> = ["name", "address", "board", "labels", "devices"]
    /// Nodes in one inventory, at most.
    public static let nodesMax = 4096

    /// Reads an inventory; a node's `board:` is a name in the boards folder, or a .yaml path relative
    /// to the inventory. The boards folder is the inventory's own `boards:` (relative to the
    /// inventory, not the current folder) unless `boardsOverride` is given, else `boardsDirectory`.
    public static func load(path: String, boardsDirectory: String = "Deploy/boards", boardsOverride: String? = nil) throws(ConfigurationError) -> ClusterInventory {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, line: nil, field: "(file)", detail: "cannot read the file")
        }
        let folder = (path as NSString).deletingLastPathComponent
        let text = String(decoding: data, as: UTF8.self)
        var boardsDirectory = boardsDirectory
        if let boardsOverride { boardsDirectory = boardsOverride } else if let named = try boardsField(text, file: path) {
            boardsDirectory = named.hasPrefix("/") || folder.isEmpty ? named : "\(folder)/\(named)"
        }
        var boards: [String: (Board, [DeviceSpec])] = [:]
        return try parse(text, file: path) { (reference: String) throws(ConfigurationError) -> (Board, [DeviceSpec]) in
            let boardPath: String
            if reference.hasSuffix(".yaml") || reference.contains("/") {
                boardPath = reference.hasPrefix("/") || folder.isEmpty ? reference : "\(folder)/\(reference)"
            } else {
                boardPath = "\(boardsDirectory)/\(reference).yaml"
                guard FileManager.default.fileExists(atPath: boardPath) else {
                    _ = try Board.resolve(reference, in: boardsDirectory)   // throws the list of known boards
                    throw ConfigurationError(file: boardPath, line: nil, field: "board", detail: "no board '\(reference)'")
                }
            }
            if let known = boards[boardPath] { return known }
            let board = try Board.load(path: boardPath)
            let loaded = (board, try boardDevices(path: boardPath))
            boards[boardPath] = loaded
            return loaded
        }
    }

    /// The inventory's `boards:` as written, if it has one.
    static func boardsField(_ text: String, file: String) throws(ConfigurationError) -> String? {
        let top = try YAMLMapping(text: text, file: file)
        guard let value = try top.optionalString("boards") else { return nil }
        guard !value.isEmpty else { throw top.error("boards", "an empty path") }
        return value
    }

    /// The devices a board file lists (`devices: [uart, {kind: gpio, name: led0}]`).
    static func boardDevices(path: String) throws(ConfigurationError) -> [DeviceSpec] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let top = try YAMLMapping(text: String(decoding: data, as: UTF8.self), file: path)
        return try devices(top)
    }

    static func devices(_ mapping: YAMLMapping) throws(ConfigurationError) -> [DeviceSpec] {
        guard mapping.has("devices") else { return [] }
        var result: [DeviceSpec] = []
        // Either plain kinds, or mappings with a kind and a name.
        if let plain = try? mapping.strings("devices") {
            for (kind, line) in plain {
                guard Board.deviceKinds.contains(kind) else {
                    throw mapping.error(field: "devices", line: line, "unknown device kind '\(kind)' (known: \(Board.deviceKinds.sorted().joined(separator: ", ")))")
                }
                result.append(DeviceSpec(kind: kind))
            }
            return result
        }
        for item in try mapping.mappings("devices") {
            let kind = try item.string("kind")
            guard Board.deviceKinds.contains(kind) else {
                throw item.error("kind", "unknown device kind '\(kind)' (known: \(Board.deviceKinds.sorted().joined(separator: ", ")))")
            }
            result.append(DeviceSpec(kind: kind, name: try item.optionalString("name")))
        }
        return result
    }

    /// Parses inventory text; `resolveBoard` turns a `board:` entry into the board and its devices.
    public static func parse(_ text: String, file: String,
                             resolveBoard: (String) throws(ConfigurationError) -> (Board, [DeviceSpec])) throws(ConfigurationError) -> ClusterInventory {
        let top = try YAMLMapping(text: text, file: file)
        try top.allowOnly(fields)
        let name = try top.string("cluster")
        try AppManifest.checkName(name, in: top, field: "cluster")
        let items = try top.mappings("nodes")
        guard !items.isEmpty else { throw top.error("nodes", "a cluster needs at least one node") }
        guard items.count <= nodesMax else { throw top.error("nodes", "\(items.count) nodes, at most \(nodesMax)") }
        var nodes: [NodeSpec] = []
        var names: [String: Int] = [:]
        var addresses: [String: String] = [:]
        for item in items {
            try item.allowOnly(nodeFields)
            let nodeName = try item.string("name")
            try AppManifest.checkName(nodeName, in: item, field: "name")
            if let line = names[nodeName] { throw item.error("name", "node '\(nodeName)' is listed twice (first on line \(line))") }
            names[nodeName] = item.line(of: "name") ?? 0
            let address = try item.string("address")
            try checkAddress(address, in: item)
            if let other = addresses[address] { throw item.error("address", "\(address) is also node \(other)'s address") }
            addresses[address] = nodeName
            let reference = try item.string("board")
            let board: Board
            var devices: [DeviceSpec]
            do { (board, devices) = try resolveBoard(reference) } catch {
                // The board file's own error names its file and line; say which node asked for it.
                throw item.error("board", "\(error)")
            }
            var labels: [String: String] = [:]
            for (key, value, line) in try item.stringPairs("labels") {
                guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }) else {
                    throw item.error(field: "labels.\(key)", line: line, "label keys use letters, digits, '-', '_', '.', '/'")
                }
                if key == "node", value != nodeName { throw item.error(field: "labels.node", line: line, "the `node` label is the node's name, '\(nodeName)'") }
                if key == "board", value != board.name { throw item.error(field: "labels.board", line: line, "the `board` label is the board's name, '\(board.name)'") }
                labels[key] = value
            }
            for device in try Self.devices(item) where !devices.contains(device) { devices.append(device) }
            nodes.append(NodeSpec(name: nodeName, address: address, board: board, labels: labels, devices: devices))
        }
        return ClusterInventory(name: name, file: file, nodes: nodes)
    }

    static func checkAddress(_ address: String, in item: YAMLMapping) throws(ConfigurationError) {
        guard let (_, port) = HostPort.split(address), port > 0 else {
            throw item.error("address", "'\(address)': expected host:port with a port in 1…65535")
        }
    }
}

/// `HOST:PORT` text, as inventories and the command line give addresses.
public enum HostPort {
    /// Host and port; the last colon splits (`::1:7401` works) and `[::1]:7401` loses its brackets. Nil if not HOST:PORT.
    public static func split(_ text: String) -> (host: String, port: UInt16)? {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex, let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }
}
