// Shared by the orchestrator tests: boards from Deploy/boards, modules from the text format
// (wabt's wat2wasm), synthetic module specs, and files in a temporary folder.
import Core
import Foundation
import HAL
@testable import Orchestrator

enum Fixtures {
    struct ToolError: Error, CustomStringConvertible { let description: String }

    /// The package root (tests may run from anywhere).
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
    static let boardsDirectory = "\(root)/Deploy/boards"

    static func board(_ name: String) throws -> Board { try Board.resolve(name, in: boardsDirectory) }

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-orchestrator-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The binary of a module in the text format.
    static func wat(_ text: String) throws -> [UInt8] {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try text.write(toFile: "\(directory)/m.wat", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["wat2wasm", "--enable-all", "\(directory)/m.wat", "-o", "\(directory)/m.wasm"]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ToolError(description: "wat2wasm: \(String(decoding: output, as: UTF8.self))") }
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/m.wasm")))
    }

    /// `bytes` (from `wat`, with one memory of one 64 KiB page) with that memory made `size` one-byte
    /// pages (custom-page-sizes), which this wat2wasm cannot write: for boards whose guest
    /// partition is smaller than a page.
    static func withOneBytePages(_ bytes: [UInt8], size: Int) -> [UInt8] {
        precondition(size < 1 << 14, "two LEB128 bytes")
        func leb(_ at: inout Int) -> Int {
            var value = 0, shift = 0
            while true {
                let byte = Int(bytes[at]); at += 1
                value |= (byte & 0x7F) << shift; shift += 7
                if byte < 0x80 { return value }
            }
        }
        var at = 8
        while at < bytes.count {
            let id = bytes[at], start = at
            at += 1
            let length = leb(&at)
            if id == 5 {
                precondition(Array(bytes[at..<at + length]) == [1, 1, 1, 1], "one memory, one page minimum and maximum")
                let sizeBytes: [UInt8] = [UInt8(size & 0x7F | 0x80), UInt8(size >> 7)]
                let memory: [UInt8] = [1, 0x09] + sizeBytes + sizeBytes + [0]   // flags: maximum and page size; exponent 0
                return Array(bytes[..<start]) + [5, UInt8(memory.count)] + memory + Array(bytes[(at + length)...])
            }
            at += length
        }
        preconditionFailure("no memory section")
    }

    /// A synthetic module of `memory` bytes (initial = maximum) with no wasm file behind it.
    static func module(_ name: String, memory: Int = 16 * 1024, tier: ModuleTier = .guest, serves: [String] = [], uses: [String] = [],
                       devices: [String] = [], replicas: Int = 1, spread: String? = nil, labels: [String: String] = [:],
                       avoidLabels: [String: String] = [:], avoidModules: [String] = [], float: Bool = false) -> ModuleSpec {
        ModuleSpec(name: name, image: ModuleImage(hasMemory: memory > 0, pageBytes: 1, memoryMinimumBytes: memory, memoryMaximumBytes: memory, usesFloat: float),
                   wasmPath: "\(name).wasm", tier: tier, serves: serves, uses: uses, devices: devices, replicas: replicas, spread: spread,
                   nodeLabels: labels, avoidNodeLabels: avoidLabels, avoidModules: avoidModules)
    }

    static func node(_ name: String, _ board: Board, labels: [String: String] = [:], devices: [String] = []) -> NodeSpec {
        NodeSpec(name: name, address: "127.0.0.1:\(7400 + abs(name.hashValue % 500))", board: board, labels: labels,
                 devices: devices.map { DeviceSpec(kind: $0) })
    }
}
