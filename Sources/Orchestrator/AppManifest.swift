// An application manifest (Deploy/apps/*.yaml): its modules, what each needs and where it may run.
// Every refusal names the file, the line and the field, before anything is deployed.
import Core
import Foundation
import HAL

/// Which partition a module's memory comes from: guests from `guest`, tier-1 services from `tier1`.
public enum ModuleTier: String, Sendable, CaseIterable {
    case guest
    case tier1

    /// The partition that holds its linear memory and value stack.
    public var heapPartition: PartitionKind { self == .guest ? .guest : .tier1 }
    /// The role the kernel spawns it with.
    public var role: TaskRole { self == .guest ? .guest : .service }
}

/// One module of an application, with its limits read from the wasm file.
public struct ModuleSpec: Sendable {
    public var name: String
    /// The wasm file as the manifest names it, resolved against the manifest's folder.
    public var wasmPath: String
    public var tier: ModuleTier
    /// URIs it serves (`fireball://service/stream`); each costs a registry entry and a channel on its node.
    public var serves: [String]
    /// URIs it opens; a module serving one of them is its channel partner.
    public var uses: [String]
    /// Device kinds (gpio, i2c, …) or device names the node must have.
    public var devices: [String]
    public var replicas: Int
    /// A node label key: replicas go to nodes with different values of it (`node`: different nodes).
    public var spread: String?
    /// Labels a node must have (affinity).
    public var nodeLabels: [String: String]
    /// Labels a node must not have (anti-affinity on nodes).
    public var avoidNodeLabels: [String: String]
    /// Modules it must not share a node with (anti-affinity on modules; symmetric).
    public var avoidModules: [String]
    public var restart: RestartPolicy
    /// The manifest's `memory:`, which may tighten the module's declared maximum.
    public var memoryBytes: Int?
    public var image: ModuleImage
    /// The `wasm:` entry as the manifest writes it, and the bytes read for it (what is deployed:
    /// the file is not read again).
    public var wasm = ""
    public var bytes: [UInt8] = []
    /// Where the module was declared, for errors: file, and line of each field ("" = the item).
    public var origin: Origin

    public struct Origin: Sendable {
        public var file: String
        public var field: String
        public var lines: [String: Int]
        public init(file: String = "(built in)", field: String = "modules", lines: [String: Int] = [:]) {
            self.file = file
            self.field = field
            self.lines = lines
        }
        public func error(_ key: String, _ detail: String) -> ConfigurationError {
            ConfigurationError(file: file, line: lines[key] ?? lines[String(key.prefix { $0 != "." })] ?? lines[""], field: key.isEmpty ? field : "\(field).\(key)", detail: detail)
        }
    }

    public init(name: String, image: ModuleImage, wasmPath: String = "", tier: ModuleTier = .guest, serves: [String] = [], uses: [String] = [],
                devices: [String] = [], replicas: Int = 1, spread: String? = nil, nodeLabels: [String: String] = [:],
                avoidNodeLabels: [String: String] = [:], avoidModules: [String] = [], restart: RestartPolicy = .stop,
                memoryBytes: Int? = nil, origin: Origin = Origin()) {
        self.name = name
        self.image = image
        self.wasmPath = wasmPath
        self.tier = tier
        self.serves = serves
        self.uses = uses
        self.devices = devices
        self.replicas = replicas
        self.spread = spread
        self.nodeLabels = nodeLabels
        self.avoidNodeLabels = avoidNodeLabels
        self.avoidModules = avoidModules
        self.restart = restart
        self.memoryBytes = memoryBytes
        self.origin = origin
    }

    /// Linear-memory bytes reserved for it: the manifest's `memory:`, else the declared maximum
    /// (0 without a memory). `validateMemory` guarantees that one of them exists.
    public var memoryBudgetBytes: Int {
        guard image.hasMemory else { return 0 }
        return memoryBytes ?? image.memoryMaximumBytes ?? image.memoryMinimumBytes
    }

    /// The names its replicas get: the module's name alone, or `name-1` … `name-N`.
    public var replicaNames: [String] {
        replicas == 1 ? [name] : (1...max(replicas, 1)).map { "\(name)-\($0)" }
    }

    /// Checks `memory:` against the module (tighten, never loosen), and that a budget exists.
    public func validateMemory() throws(ConfigurationError) {
        guard image.hasMemory else {
            if let memoryBytes, memoryBytes > 0 { throw origin.error("memory", "the module has no linear memory") }
            return
        }
        let page = image.pageBytes
        guard let memory = memoryBytes else {
            guard image.memoryMaximumBytes != nil else {
                throw origin.error("", "\(wasmPath) declares no memory maximum: state `memory:` (at least \(Size(image.memoryMinimumBytes)))")
            }
            return
        }
        if let maximum = image.memoryMaximumBytes, memory > maximum {
            throw origin.error("memory", "\(Size(memory)) is more than the module's declared maximum of \(Size(maximum)); memory: may only tighten it")
        }
        guard memory >= image.memoryMinimumBytes else {
            throw origin.error("memory", "\(Size(memory)) is less than the module's initial memory of \(Size(image.memoryMinimumBytes))")
        }
        guard memory >= image.dataEndBytes else {
            throw origin.error("memory", "\(Size(memory)) is less than the end of its data segments (\(image.dataEndBytes) bytes)")
        }
        guard memory % page == 0 else {
            throw origin.error("memory", "\(Size(memory)) is not a whole number of the module's \(page)-byte pages")
        }
    }
}

/// A parsed, checked application manifest.
public struct AppManifest: Sendable {
    public var name: String
    public var file: String
    /// Sorted by name.
    public var modules: [ModuleSpec]

    public init(name: String, file: String = "(built in)", modules: [ModuleSpec]) {
        self.name = name
        self.file = file
        self.modules = modules.sorted { $0.name < $1.name }
    }

    static let fields: Set<String> = ["app", "modules"]
    static let moduleFields: Set<String> = ["name", "wasm", "tier", "serves", "uses", "devices", "replicas", "spread", "affinity",
                                            "restart", "memory"]
    static let affinityFields: Set<String> = ["node-labels", "avoid-node-labels", "avoid-modules"]
    /// Replicas of one module, at most (a limit on everything).
    public static let replicasMax = 1024
    /// Modules in one manifest, at most.
    public static let modulesMax = 4096
    /// A module's `memory:`: at most 4 GiB, all a wasm32 memory can address.
    public static let memoryBytes = 0...(1 << 32)
    /// A restart window (`within:`): 1 ms to a week (Core's `RestartPolicy.windowNanosecondsMax`).
    public static let restartWindowNanoseconds: ClosedRange<UInt64> = 1_000_000...RestartPolicy.windowNanosecondsMax

    /// Reads a manifest and every wasm file it names (relative to the manifest's folder).
    public static func load(path: String) throws(ConfigurationError) -> AppManifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, line: nil, field: "(file)", detail: "cannot read the file")
        }
        return try load(text: [UInt8](data), path: path)
    }

    /// Parses manifest text read from `path`, reading every wasm file it names (relative to `path`'s folder).
    public static func load(text: [UInt8], path: String) throws(ConfigurationError) -> AppManifest {
        let folder = (path as NSString).deletingLastPathComponent
        return try parse(String(decoding: text, as: UTF8.self), file: path) { wasm in
            let full = wasm.hasPrefix("/") ? wasm : (folder.isEmpty ? wasm : "\(folder)/\(wasm)")
            return (full, FileManager.default.contents(atPath: full).map { [UInt8]($0) })
        }
    }

    /// Parses manifest text; `readWasm` turns a `wasm:` entry into its resolved path and bytes (nil: unreadable).
    public static func parse(_ text: String, file: String,
                             readWasm: (String) -> (path: String, bytes: [UInt8]?)) throws(ConfigurationError) -> AppManifest {
        let top = try YAMLMapping(text: text, file: file)
        try top.allowOnly(fields)
        let name = try top.string("app")
        try checkName(name, in: top, field: "app")
        let items = try top.mappings("modules")
        guard !items.isEmpty else { throw top.error("modules", "an app needs at least one module") }
        guard items.count <= modulesMax else { throw top.error("modules", "\(items.count) modules, at most \(modulesMax)") }
        var modules: [ModuleSpec] = []
        var seen: [String: Int] = [:]
        for item in items {
            let module = try parseModule(item, readWasm: readWasm)
            if let first = seen[module.name] {
                throw item.error("name", "module '\(module.name)' is declared twice (first on line \(first))")
            }
            seen[module.name] = item.line(of: "name") ?? 0
            modules.append(module)
        }
        // Replica names must not collide with another module's name, and anti-affinity must name modules.
        let names = Set(modules.map(\.name))
        for module in modules {
            if module.replicas > 1, let clash = module.replicaNames.first(where: names.contains) {
                throw module.origin.error("replicas", "replica name '\(clash)' is also a module's name")
            }
            for other in module.avoidModules where !names.contains(other) {
                throw module.origin.error("affinity.avoid-modules", "no module '\(other)' in this app")
            }
        }
        return AppManifest(name: name, file: file, modules: modules)
    }

    static func checkName(_ name: String, in mapping: YAMLMapping, field: String) throws(ConfigurationError) {
        guard !name.isEmpty, name.count <= 48, name.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "_" }) else {
            throw mapping.error(field, "'\(name)': use 1–48 letters, digits, '-' or '_'")
        }
    }

    static func parseModule(_ item: YAMLMapping, readWasm: (String) -> (path: String, bytes: [UInt8]?)) throws(ConfigurationError) -> ModuleSpec {
        try item.allowOnly(moduleFields)
        var lines: [String: Int] = ["": item.sourceLine ?? 0]
        for key in item.keys { lines[key] = item.line(of: key) }
        let origin = ModuleSpec.Origin(file: item.sourceFile, field: item.fieldPath, lines: lines)
        let name = try item.string("name")
        try checkName(name, in: item, field: "name")
        let wasm = try item.string("wasm")
        let (path, bytes) = readWasm(wasm)
        guard let bytes else { throw item.error("wasm", "cannot read \(path)") }
        let image: ModuleImage
        do { image = try ModuleImage.inspect(bytes).image } catch {
            throw item.error("wasm", "\(path) is not a valid module: \(error)")
        }
        let tierText = try item.optionalString("tier") ?? "guest"
        guard let tier = ModuleTier(rawValue: tierText) else { throw item.error("tier", "'\(tierText)': expected guest or tier1") }
        func uris(_ key: String) throws(ConfigurationError) -> [String] {
            var result: [String] = []
            for (uri, line) in try item.strings(key) {
                guard let parsed = ServiceURI(uri) else {
                    throw item.error(field: key, line: line, "'\(uri)' is not a URI of the form fireball://service/stream")
                }
                guard parsed.node == nil || key == "uses" else {
                    throw item.error(field: key, line: line, "'\(uri)' names a node: a module serves a URI wherever it is placed")
                }
                guard !result.contains(uri) else { throw item.error(field: key, line: line, "\(uri) is listed twice") }
                result.append(uri)
            }
            return result
        }
        let serves = try uris("serves")
        let uses = try uris("uses")
        var devices: [String] = []
        for (device, line) in try item.strings("devices") {
            guard !device.isEmpty, device.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw item.error(field: "devices", line: line, "'\(device)': a device kind (\(Board.deviceKinds.sorted().joined(separator: ", "))) or a device name")
            }
            if !devices.contains(device) { devices.append(device) }
        }
        let replicas = item.has("replicas") ? try item.int("replicas", in: 1...replicasMax) : 1
        let spread = try item.optionalString("spread")
        if let spread, spread.isEmpty { throw item.error("spread", "name a node label key (or `node`)") }

        var nodeLabels: [String: String] = [:]
        var avoidLabels: [String: String] = [:]
        var avoidModules: [String] = []
        if item.has("affinity") {
            let affinity = try item.mapping("affinity")
            try affinity.allowOnly(affinityFields)
            for (key, value, _) in try affinity.stringPairs("node-labels") { nodeLabels[key] = value }
            for (key, value, _) in try affinity.stringPairs("avoid-node-labels") { avoidLabels[key] = value }
            for (other, line) in try affinity.strings("avoid-modules") {
                guard other != name else { throw affinity.error(field: "avoid-modules", line: line, "a module cannot avoid itself (use spread: node for its replicas)") }
                avoidModules.append(other)
            }
            for (key, value) in nodeLabels where avoidLabels[key] == value {
                throw affinity.error("avoid-node-labels", "\(key)=\(value) is both required and avoided")
            }
        }
        let restart = try parseRestart(item)
        let memory = item.has("memory") ? try item.bytes("memory", in: memoryBytes) : nil
        var module = ModuleSpec(name: name, image: image, wasmPath: path, tier: tier, serves: serves, uses: uses, devices: devices,
                                replicas: replicas, spread: spread, nodeLabels: nodeLabels, avoidNodeLabels: avoidLabels,
                                avoidModules: avoidModules.sorted(), restart: restart, memoryBytes: memory, origin: origin)
        module.wasm = wasm
        module.bytes = bytes
        try module.validateMemory()
        return module
    }

    /// `restart: stop`, `restart: restart` (or `always`), or `restart: {up-to: 3, within: 60 s}`.
    static func parseRestart(_ item: YAMLMapping) throws(ConfigurationError) -> RestartPolicy {
        guard item.has("restart") else { return .stop }
        if item.isMapping("restart") {
            let policy = try item.mapping("restart")
            try policy.allowOnly(["up-to", "within"])
            let count = try policy.int("up-to", in: 1...RestartPolicy.countMax)
            let nanoseconds = try policy.nanoseconds("within", in: restartWindowNanoseconds)
            return .restartUpTo(count: count, withinNanoseconds: nanoseconds)
        }
        switch try item.string("restart") {
        case "stop": return .stop
        case "restart", "always": return .restart
        case let other: throw item.error("restart", "'\(other)': expected stop, restart, or {up-to: N, within: DURATION}")
        }
    }
}

/// A byte count printed for people: "512 B", "18.0 KiB", "1.50 MiB".
public struct Size: CustomStringConvertible, Sendable {
    public let bytes: Int
    public init(_ bytes: Int) { self.bytes = bytes }
    public var description: String {
        if bytes.magnitude < 1024 { return "\(bytes) B" }
        if bytes.magnitude < 1 << 20 { return String(format: "%.1f KiB", Double(bytes) / 1024) }
        return String(format: "%.2f MiB", Double(bytes) / 1_048_576)
    }
}
