// One fuzz target per parser of outside input, each seeded with the repository's real files and
// encoded messages. Decoders that accept an input must also encode it back to the same thing.
import Core
import Foundation
import HAL
import Node
import Orchestrator
import Transport

public enum FuzzTargets {
    /// The repository's root, where the seed corpus comes from (Deploy/boards, apps, examples).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path

    /// Every target, in a fixed order.
    public static let all: [FuzzTarget] = [
        wasm(), message(), routerFrame(), link(), controlRequest(), board(), inventory(), manifest(), assignments(), units(),
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    static func files(_ folder: String, suffix: String, maximumBytes: Int = 64 * 1024) -> [(name: String, bytes: [UInt8])] {
        let path = "\(root)/\(folder)"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(suffix) }.sorted()
        return names.compactMap { name in
            guard let data = FileManager.default.contents(atPath: "\(path)/\(name)"), data.count <= maximumBytes else { return nil }
            return (name, [UInt8](data))
        }
    }

    /// The benchmark programs (Bench/programs, each under 4 KiB built), built by Bench/build.sh into
    /// .build/bench so that the corpus is the same on every clone; empty, with a note on stderr,
    /// where clang cannot build them.
    static func benchModules() -> [(name: String, bytes: [UInt8])] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(root)/Bench/build.sh")
        process.arguments = ["\(root)/.build/bench"]
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            FileHandle.standardError.write(Data("fuzz: cannot run Bench/build.sh (\(error)); the wasm corpus lacks the benchmark programs\n".utf8))
            return []
        }
        guard process.terminationStatus == 0 else {
            FileHandle.standardError.write(Data("fuzz: Bench/build.sh failed; the wasm corpus lacks the benchmark programs\n".utf8))
            return []
        }
        return files(".build/bench", suffix: ".wasm", maximumBytes: 4096)
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    // MARK: binary formats

    /// The wasm loader (parser, validator, translator) and the planner's own read of a module's page size.
    static func wasm() -> FuzzTarget {
        let corpus = files("Deploy/examples", suffix: ".wasm").map(\.bytes) + benchModules().map(\.bytes)
        return FuzzTarget(name: "wasm", corpus: corpus, isText: false) { bytes in
            let loaded = try? LoadedModule.load(bytes, options: LoadOptions(allowFloat: bytes.count % 2 == 0))
            let inspected = try? ModuleImage.inspect(bytes)
            return loaded != nil || inspected != nil
        }
    }

    static func sampleMessages() -> [Message] {
        var messages: [Message] = [Message()]
        for count in [1, 3, Message.entriesMax] {
            var builder = MessageBuilder()
            for index in 0..<count {
                let key = index % 5 == 4 ? MessageKey.dictionary(UInt32(index * 4)) : MessageKey.functional(UInt32(index * 37))
                switch index % 4 {
                case 0: try? builder.add(key, Int32(-index))
                case 1: try? builder.add(key, UInt32(index))
                case 2: try? builder.add(key, Float(index) * 0.25)
                default: try? builder.add(key, SharedMemoryID(UInt32(index)))
                }
            }
            messages.append(builder.build())
        }
        return messages
    }

    /// The wire message decoder; an accepted message must encode to the same bytes.
    static func message() -> FuzzTarget {
        FuzzTarget(name: "message", corpus: sampleMessages().map { $0.encoded() }, isText: false) { bytes in
            guard let message = try? Message(decoding: bytes) else { return false }
            let again = message.encoded()
            precondition((try? Message(decoding: again))?.encoded() == again, "message: re-encoding an accepted message changed it")
            return true
        }
    }

    static func sampleFrames() -> [RouterFrame] {
        let client = RouterFrame.Client(name: "sensor-1", role: .guest)
        let messages = sampleMessages()
        // A message moving one co_value, and that value's bytes.
        var builder = MessageBuilder()
        try? builder.add(.functional(1), SharedMemoryID(7))
        try? builder.add(.functional(2), Int32(-1))
        let withValue = builder.build()
        let values = [[UInt8](repeating: 7, count: 5)]
        return [
            .announce(incarnation: 0x0123_4567_89AB_CDEF, [.init(uri: "fireball://greenhouse/readings", role: .guest), .init(uri: "fireball://hal/adc0", role: .hal)]),
            .send(seq: 1, uri: "fireball://greenhouse/readings", client: client, message: messages[1], values: []),
            .send(seq: 2, uri: "fireball://a/b", client: client, message: withValue, values: values),
            .sendResult(seq: 9, status: -3),
            .want(id: 4, uri: "fireball://a/b", client: client, ahead: true),
            .deliver(id: 4, status: 0, message: withValue, values: values),
            .deliver(id: 5, status: 2, message: Message(), values: []),
            .taken(id: 4, outcome: .accepted),
            .close(seq: 3, uri: "fireball://a/b", client: client),
            .openDenied(uri: "fireball://a/b", client: RouterFrame.Client(name: "x", role: .service)),
        ]
    }

    /// The router's frame decoder: byte 0 picks the kind (16…23 mostly), the rest is the payload.
    /// An accepted frame must encode to a payload that decodes to the same frame.
    static func routerFrame() -> FuzzTarget {
        FuzzTarget(name: "router", corpus: sampleFrames().map { [$0.kind] + $0.payload }, isText: false) { bytes in
            guard let first = bytes.first else { return false }
            let kind = first < 0xF0 ? 16 + first % 8 : first
            guard let frame = try? RouterFrame(kind: kind, payload: Array(bytes.dropFirst())) else { return false }
            precondition((try? RouterFrame(kind: frame.kind, payload: frame.payload)) == frame, "router: an accepted frame does not survive re-encoding")
            return true
        }
    }

    static func linkFrame(kind: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let length = UInt32(payload.count + 1)
        return withUnsafeBytes(of: length.littleEndian, Array.init) + [kind] + payload
    }

    /// The link protocol's frame reader and hello decoder, fed the input in pieces with time passing.
    static func link() -> FuzzTarget {
        let hello = Hello(identity: PeerIdentity(name: "peer", role: .node)).encoded()
        let corpus = [
            linkFrame(kind: Frame.kindHello, hello),
            linkFrame(kind: Frame.kindHello, hello) + linkFrame(kind: Frame.kindHeartbeat, []) + linkFrame(kind: 17, sampleFrames()[1].payload),
            linkFrame(kind: Frame.kindHello, hello) + linkFrame(kind: Frame.kindGoodbye, [5] + Array("bye".utf8)),
            linkFrame(kind: Frame.kindHello, Hello(identity: PeerIdentity(name: "orchestrator", role: .orchestrator)).encoded()),
            linkFrame(kind: Frame.kindHello, hello) + linkFrame(kind: ControlFrame.request, ControlRequest(id: 1, .status).encoded()),
        ]
        return FuzzTarget(name: "link", corpus: corpus, isText: false) { bytes in
            _ = bytes.withUnsafeBytes { Hello.decode(UnsafeRawBufferPointer(rebasing: $0.dropFirst(min(5, $0.count)))) }
            var link = LinkProtocol(local: PeerIdentity(name: "self", role: .node), certified: PeerIdentity(name: "peer", role: .node),
                                    expectedPeerName: nil, now: 0)
            _ = link.start()
            // Pieces of 1…64 bytes (set by the first byte), as a TCP stream may split them.
            let piece = 1 + Int(bytes.first ?? 0) % 64
            var now: UInt64 = 0
            var frames = 0
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + piece)
                bytes[offset..<end].withUnsafeBytes { link.receive($0, now: now) }
                offset = end
                while let event = link.nextEvent() {
                    if case .frame = event { frames += 1 }
                    if case .closed = event { break }
                }
                now += 100_000_000
                _ = link.tick(now: now)
                link.consumeOutbound(link.outboundBytes)
            }
            return link.state == .established
        }
    }

    /// The control plane's request decoder and the node's check of a `start`'s assignment.
    static func controlRequest() -> FuzzTarget {
        let assignment = ModuleAssignment(app: "greenhouse", replica: "sensor", module: "sensor", sha256: String(repeating: "ab", count: 32),
                                          devices: ["adc0", "i2c0"], restart: "up-to 3 within 60000 ms", uses: ["fireball://greenhouse/readings"],
                                          memoryBytes: 16384)
        let corpus = [
            ControlRequest(id: 1, .status), ControlRequest(id: 2, .start(assignment)), ControlRequest(id: 3, .stop(key: "greenhouse/sensor")),
            ControlRequest(id: 4, .logs(key: "greenhouse/sensor", lines: 20)),
            ControlRequest(id: 5, .push(sha256: assignment.sha256, total: 100, offset: 0, bytes: Data(repeating: 1, count: 40))),
        ].map { $0.encoded() }
        return FuzzTarget(name: "control", corpus: corpus, isText: true) { bytes in
            guard let request = bytes.withUnsafeBytes({ try? ControlRequest.decode($0) }) else {
                _ = bytes.withUnsafeBytes { try? ControlResponse.decode($0) }
                return false
            }
            if case .start(let assignment) = request.operation {
                do { try assignment.validate() } catch { return false }
                precondition(RestartPolicy(text: assignment.restart) != nil, "control: a valid assignment's restart policy must parse")
            }
            return true
        }
    }

    // MARK: text formats

    /// Board files, read as if they sat in Deploy/boards (their sample series resolve there).
    static func board() -> FuzzTarget {
        let file = "\(root)/Deploy/boards/fuzz.yaml"
        return FuzzTarget(name: "board", corpus: files("Deploy/boards", suffix: ".yaml").map(\.bytes), isText: true) { bytes in
            (try? Board.parse(text(bytes), file: file)) != nil
        }
    }

    /// Inventories; `board:` names the shipped boards (parsed once), anything else is refused.
    static func inventory() -> FuzzTarget {
        var boards: [String: (Board, [InventoryDevice])] = [:]
        for (name, bytes) in files("Deploy/boards", suffix: ".yaml") {
            guard let board = try? Board.parse(text(bytes), file: "\(root)/Deploy/boards/\(name)") else { continue }
            boards[String(name.dropLast(5))] = (board, board.devices.map { InventoryDevice(kind: $0.kind.rawValue, name: $0.name) })
        }
        let known = boards
        return FuzzTarget(name: "inventory", corpus: files("Deploy/clusters", suffix: ".yaml").map(\.bytes), isText: true) { bytes in
            let inventory = try? ClusterInventory.parse(text(bytes), file: "fuzz.yaml") { (reference: String) throws(ConfigurationError) in
                guard let board = known[reference] else { throw ConfigurationError(file: "fuzz.yaml", line: nil, field: "board", detail: "unknown") }
                return board
            }
            return inventory != nil
        }
    }

    /// App manifests; `wasm:` names the example modules by file name, anything else is unreadable.
    /// Each stands for a one-page module with a 1-page maximum: validating the real examples would
    /// cost most of the time, and the `wasm` target covers the loader.
    static func manifest() -> FuzzTarget {
        var modules: [String: [UInt8]] = [:]
        let onePage: [UInt8] = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x05, 0x04, 0x01, 0x01, 0x01, 0x01]
        for (name, _) in files("Deploy/examples", suffix: ".wasm") { modules[name] = onePage }
        let known = modules
        return FuzzTarget(name: "manifest", corpus: files("Deploy/apps", suffix: ".yaml").map(\.bytes), isText: true) { bytes in
            let app = try? AppManifest.parse(text(bytes), file: "fuzz.yaml") { wasm in
                (wasm, known[String(wasm.split(separator: "/").last ?? "")])
            }
            return app != nil
        }
    }

    /// A node's assignments file, as `ModuleStore` restores it at boot.
    static func assignments() -> FuzzTarget {
        let sha = String(repeating: "0f", count: 32)
        let sets: [[ModuleAssignment]] = [
            [],
            [ModuleAssignment(app: "greenhouse", replica: "sensor", module: "sensor", sha256: sha, devices: ["adc0"], restart: "up-to 3 within 60000 ms",
                              uses: ["fireball://greenhouse/readings"])],
            [ModuleAssignment(app: "a", replica: "p-1", module: "p", sha256: sha, tier: "service", restart: "restart", serves: ["fireball://a/b"], memoryBytes: 65536),
             ModuleAssignment(app: "a", replica: "p-2", module: "p", sha256: sha, restart: "stop", uses: ["fireball://a/b@n1"])],
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let corpus = sets.map { [UInt8]((try? encoder.encode($0)) ?? Data()) }
        return FuzzTarget(name: "assignments", corpus: corpus, isText: true) { bytes in
            let (kept, refusals) = ModuleStore.parseAssignments(bytes, file: "assignments.json")
            return !kept.isEmpty && refusals.isEmpty
        }
    }

    /// The small text forms: sizes, durations, restart policies, messages as text, sample series.
    static func units() -> FuzzTarget {
        let corpus = ["64 KiB", "1 GiB", "60 s", "500 ms", "up-to 3 within 60000 ms", "7=i32:-5", "0x20=u32:9", "@3=f32:21.5", "4=shm:12", "# soil\n12\n1,13\n4095\n"]
        return FuzzTarget(name: "units", corpus: corpus.map { Array($0.utf8) }, isText: true) { bytes in
            let text = text(bytes)
            let size = try? Quantity.bytes(text, in: 0...(1 << 32))
            let duration = try? Quantity.nanoseconds(text, in: 0...UInt64.max)
            let policy = try? RestartPolicy.parse(text)
            if let policy { precondition(RestartPolicy(text: policy.description) == policy, "units: a restart policy does not survive its text") }
            let entry = try? MessageEntry(text: text)
            let series = try? SampleSeries.parse(text, maximum: 4095)
            return size != nil || duration != nil || policy != nil || entry != nil || series != nil
        }
    }
}
