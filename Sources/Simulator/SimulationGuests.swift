// The workload's wasm guests, built from Guests/Workload.c by the toolchain's clang once per process.
import Core
import Foundation
import Transport

public struct SimulationGuests: @unchecked Sendable {
    /// Module bytes and their SHA-256 by variant and URI ("SENDER fireball://p0/in").
    private var modules: [String: (bytes: [UInt8], sha256: String)] = [:]

    public struct BuildError: Error, CustomStringConvertible { public let description: String }

    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let sdk = sources.appendingPathComponent("../../Deploy/sdk").standardized.path

    /// Builds every variant the layout needs.
    public static func build(for layout: SimulationLayout) throws -> SimulationGuests {
        var guests = SimulationGuests()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-simulator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for guest in layout.guests + layout.extras where guests.modules[guest.key] == nil {
            let output = directory.appendingPathComponent("\(guests.modules.count).wasm").path
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["clang", "--target=wasm32", "-O2", "-ffreestanding", "-nostdlib", "-Wl,--no-entry", "-I", sdk,
                                 "-Wl,--page-size=1", "-Wl,--stack-first", "-Wl,-z,stack-size=4096", "-Wl,--initial-memory=16384",
                                 "-Wl,--max-memory=65536", "-D\(guest.variant.rawValue)", "-DURI=\"\(guest.uri)\""] + guest.flags.map { "-D" + $0 } + [
                                 "-o", output, sources.appendingPathComponent("Guests/Workload.c").path]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0, let bytes = FileManager.default.contents(atPath: output) else {
                throw BuildError(description: "clang could not build the \(guest.variant) guest for \(guest.uri) (Deploy/setup.sh installs what it needs)")
            }
            _ = try LoadedModule.load([UInt8](bytes))   // a module that does not load fails here, not in every run
            guests.modules[guest.key] = ([UInt8](bytes), Digest.sha256Hex([UInt8](bytes)))
        }
        return guests
    }

    func module(_ guest: SimulationLayout.Guest) -> (bytes: [UInt8], sha256: String) { modules[guest.key]! }
}

/// Which guest runs where: for each node i a receiver serving fireball://p<i>/in and, on the next
/// node, its sender (across one link): the first pair's messages move a co_value each, the second's
/// sender closes the channel every 25 sends; and a relay: a hub serving fireball://hub/in on the
/// first node that receives nothing, a sender on the second and a receiver on the third (through
/// ALT with a timeout).
public struct SimulationLayout: Sendable {
    public enum Variant: String, Sendable { case SENDER, RECEIVER, SERVING_RECEIVER, HUB }
    public struct Guest: Sendable {
        public let name: String
        public let node: String
        public let variant: Variant
        public let uri: String
        /// Extra -D flags: WITH_VALUE, CLOSE_EVERY=N, ALT_TIMEOUT.
        public var flags: [String] = []
        var key: String { "\(variant.rawValue) \(uri) \(flags.joined(separator: " "))" }
    }
    public let nodes: [String]
    public let guests: [Guest]
    /// A second app for the controller mode, applied and deleted while the first runs: a receiver
    /// serving fireball://extra/in and its sender.
    public let extras: [Guest]

    public init(nodes count: Int) {
        precondition(count >= 3, "the relay needs three nodes")
        nodes = (1...count).map { "n\($0)" }
        var guests: [Guest] = []
        for (i, node) in nodes.enumerated() {
            let uri = "fireball://p\(i + 1)/in", next = nodes[(i + 1) % count]
            guests.append(Guest(name: "receiver-\(i + 1)", node: node, variant: .SERVING_RECEIVER, uri: uri))
            let flags = i == 0 ? ["WITH_VALUE"] : i == 1 ? ["CLOSE_EVERY=25"] : []
            guests.append(Guest(name: "sender-\(i + 1)", node: next, variant: .SENDER, uri: uri, flags: flags))
        }
        let hub = "fireball://hub/in"
        guests.append(Guest(name: "hub", node: nodes[0], variant: .HUB, uri: hub))
        guests.append(Guest(name: "relay-sender", node: nodes[1], variant: .SENDER, uri: hub))
        guests.append(Guest(name: "relay-receiver", node: nodes[2], variant: .RECEIVER, uri: hub, flags: ["ALT_TIMEOUT"]))
        self.guests = guests
        extras = [Guest(name: "extra-receiver", node: nodes[0], variant: .SERVING_RECEIVER, uri: "fireball://extra/in"),
                  Guest(name: "extra-sender", node: nodes[1], variant: .SENDER, uri: "fireball://extra/in")]
    }
}
