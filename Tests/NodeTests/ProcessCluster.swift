// Real node processes for integration tests: `fireball node` binaries on loopback with real
// certificates, their output in files, and an in-process orchestrator (ControlClient, Deployer,
// Controller) talking to them over TLS. Waiting is by polling the processes' output with a deadline:
// these tests are about real sockets and processes, whose timing no seed controls.
import Foundation
import Orchestrator
import Synchronization
import Testing
import Transport
@testable import HAL

final class ProcessCluster {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let packageRoot = here.appendingPathComponent("../..").standardized
    static let boards = packageRoot.appendingPathComponent("Deploy/boards").path
    static let sdk = packageRoot.appendingPathComponent("Deploy/sdk").path

    /// The `fireball` executable built beside this test binary.
    static var executable: String {
        get throws {
            let directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            let path = directory.appendingPathComponent("fireball").path
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw ClusterTestError("no fireball executable at \(path): `swift build` (or `swift test`, which builds it) first")
            }
            return path
        }
    }

    let root: URL
    let certs: String
    /// The cluster's members: every node started is told all of them (`--member`).
    let names: [String]
    /// Called while waiting instead of sleeping (to keep an orchestrator's links served).
    var pump: (() -> Void)?
    private(set) var nodes: [String: Node] = [:]

    final class Node {
        let name: String
        let port: UInt16
        let process: Process
        let logPath: String
        init(name: String, port: UInt16, process: Process, logPath: String) {
            self.name = name; self.port = port; self.process = process; self.logPath = logPath
        }
        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    }

    /// A CA and certificates for `nodes` (role node) and `orchestrator`.
    init(nodes names: [String]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("fireball-cluster-\(UUID().uuidString)")
        certs = root.appendingPathComponent("certs").path
        self.names = names
        let ca = try CertificateAuthority.initialize(directory: certs)
        for name in names { try ca.issue(name: name, role: .node) }
        try ca.issue(name: "orchestrator", role: .orchestrator)
    }

    deinit {
        for node in nodes.values where node.process.isRunning { kill(node.process.processIdentifier, SIGKILL) }
        for node in nodes.values { node.process.waitUntilExit() }
        try? FileManager.default.removeItem(at: root)
    }

    /// A free loopback port (bound, read, released).
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        guard let port = bindLoopback(fd) else { throw ClusterTestError("no free port: \(String(cString: strerror(errno)))") }
        return port
    }

    /// Binds `fd` to a free loopback port; returns the port, or nil (errno says why).
    static func bindLoopback(_ fd: Int32) -> UInt16? {
        var address = CuttingProxy.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        return bound ? UInt16(bigEndian: address.sin_port) : nil
    }

    /// Starts `fireball node NAME` listening on `port` (a free one if nil), dialing `peers` (name → port);
    /// or, with `inventory`, as that inventory says (`--config`; `port` must then be the inventory's).
    @discardableResult
    func start(_ name: String, board: String = "linux-host", port: UInt16? = nil, peers: [String: UInt16] = [:],
               certificates: String? = nil, graceMs: Int = 3000, inventory: String? = nil, extra: [String] = []) throws -> Node {
        let port = try port ?? nodes[name]?.port ?? Self.freePort()
        let logPath = root.appendingPathComponent("\(name)-\(nodes[name] == nil ? 1 : 2).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable)
        var arguments = ["node", "--name", name, "--boards", Self.boards, "--certs", certificates ?? certs,
                         "--data", root.appendingPathComponent("data/\(name)").path, "--grace", "\(graceMs)ms", "--no-control-socket"]
        if let inventory { arguments += ["--inventory", inventory] } else {
            arguments += ["--board", board, "--listen", "127.0.0.1:\(port)"]
            for (peer, peerPort) in peers.sorted(by: { $0.key < $1.key }) { arguments += ["--peer", "\(peer)=127.0.0.1:\(peerPort)"] }
            for member in names where member != name && peers[member] == nil { arguments += ["--member", member] }
        }
        process.arguments = arguments + extra
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let node = Node(name: name, port: port, process: process, logPath: logPath)
        nodes[name] = node
        try waitFor(name, "board up", seconds: 10)
        return node
    }

    func node(_ name: String) -> Node { nodes[name]! }

    /// Waits until node `name`'s output contains `text` (counted `times`); throws with the output if it never does.
    func waitFor(_ name: String, _ text: String, times: Int = 1, seconds: Double = 10) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if occurrences(of: text, in: nodes[name]!.log) >= times { return }
            if let pump { pump() } else { usleep(20_000) }
        }
        throw ClusterTestError("node \(name) did not print '\(text)' \(times)× within \(seconds) s; its output:\n\(nodes[name]!.log)")
    }

    func occurrences(of text: String, in log: String) -> Int { log.components(separatedBy: text).count - 1 }

    /// Sends `signal` and waits for the process to end; returns its exit status.
    @discardableResult
    func stop(_ name: String, signal: Int32 = SIGTERM) -> Int32 {
        let process = nodes[name]!.process
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// An inventory of the running nodes (addresses as the orchestrator dials them).
    func inventory(labels: [String: [String: String]] = [:], addresses: [String: UInt16] = [:]) throws -> ClusterInventory {
        let board = try Board.resolve("linux-host", in: Self.boards)
        return ClusterInventory(name: "test", nodes: nodes.keys.sorted().map { name in
            NodeSpec(name: name, address: "127.0.0.1:\(addresses[name] ?? nodes[name]!.port)", board: board,
                     labels: (labels[name] ?? [:]).merging(["node": name]) { a, _ in a })
        })
    }

    /// A control client for the inventory's nodes, links up.
    func client(for inventory: ClusterInventory) throws -> ControlClient {
        let client = try ControlClient(certificateDirectory: certs, name: "orchestrator", nodes: inventory.nodes) { _ in }
        let missing = client.waitForLinks(inventory.nodes.map(\.name), seconds: 10)
        guard missing.isEmpty else { client.close(); throw ClusterTestError("no control link to \(missing)") }
        pump = { [unowned client] in client.drive(seconds: 0.02) { false } }
        return client
    }

    /// Runs `fireball ARGUMENTS` to its end: exit status, stdout, and both outputs together.
    func cli(_ arguments: [String], seconds: Double = 20) throws -> (status: Int32, stdout: String, output: String) {
        let name = "cli-\(UUID().uuidString.prefix(8))"
        let outPath = root.appendingPathComponent("\(name).out").path, errPath = root.appendingPathComponent("\(name).err").path
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try process.run()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return (process.terminationStatus, stdout, "fireball \(arguments.joined(separator: " ")):\n\(stdout)\(stderr)")
    }

    /// Starts `fireball ARGUMENTS` in the background, its output in `log` under the cluster's directory.
    func spawn(_ arguments: [String], log: String) throws -> (process: Process, logPath: String) {
        let logPath = root.appendingPathComponent(log).path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable)
        process.arguments = arguments
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = output
        process.standardError = output
        try process.run()
        return (process, logPath)
    }

    /// Waits until the file at `path` contains `text`.
    func waitFor(file path: String, _ text: String, seconds: Double = 10) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains(text) { return }
            usleep(20_000)
        }
        throw ClusterTestError("\(path) did not show '\(text)' within \(seconds) s:\n\((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")")
    }

    /// Writes a manifest into the cluster's directory and loads it.
    func manifest(_ text: String) throws -> AppManifest {
        let path = root.appendingPathComponent("app-\(UUID().uuidString.prefix(8)).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try AppManifest.load(path: path)
    }

    /// Builds Counter.c (or another guest in Guests/) with `defines`, into the cluster's directory.
    func guest(_ source: String, _ defines: [String], name: String) throws -> String {
        let output = root.appendingPathComponent("\(name).wasm").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["clang", "--target=wasm32", "-O2", "-ffreestanding", "-nostdlib", "-Wl,--no-entry", "-I", Self.sdk,
                             "-Wl,--page-size=1", "-Wl,--stack-first", "-Wl,-z,stack-size=4096", "-Wl,--initial-memory=16384", "-Wl,--max-memory=16384",
                             "-o", output, Self.here.appendingPathComponent("Guests/\(source)").path] + defines.map { "-D" + $0 }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ClusterTestError("clang failed on \(source) \(defines)") }
        return output
    }
}

struct ClusterTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A TCP forwarder between a listening port and a target, whose connections the test cuts at will.
final class CuttingProxy: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let target: UInt16
    private let lock = NSLock()
    private var sockets: [Int32] = []
    private var running = true
    private(set) var cuts = 0

    init(to target: UInt16) throws {
        self.target = target
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = fd
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard let bound = ProcessCluster.bindLoopback(fd), listen(fd, 16) == 0 else { throw ClusterTestError("proxy: \(String(cString: strerror(errno)))") }
        port = bound
        Thread { [self] in acceptLoop() }.start()
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                lock.lock(); let stopped = !running; lock.unlock()
                if stopped { return }
                usleep(1000)   // EINTR, ECONNABORTED, …: keep accepting
                continue
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: target)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard connected else {
                FileHandle.standardError.write(Data("proxy: connect to \(target): \(String(cString: strerror(errno)))\n".utf8))
                Glibc.close(client); Glibc.close(upstream); continue
            }
            lock.lock()
            sockets += [client, upstream]
            lock.unlock()
            // The last pump to finish closes both descriptors (closing them earlier could close a
            // newer connection's descriptor that reused the number).
            let pumps = Mutex(2)
            let finish: @Sendable () -> Void = { [self] in
                guard pumps.withLock({ $0 -= 1; return $0 }) == 0 else { return }
                lock.lock()
                sockets.removeAll { $0 == client || $0 == upstream }
                lock.unlock()
                Glibc.close(client)
                Glibc.close(upstream)
            }
            Thread { [self] in pump(from: client, to: upstream); finish() }.start()
            Thread { [self] in pump(from: upstream, to: client); finish() }.start()
        }
    }

    private func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            var offset = 0
            while offset < n {
                let w = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + offset, n - offset, Int32(MSG_NOSIGNAL)) }
                guard w > 0 else { shutdown(source, Int32(SHUT_RDWR)); return }
                offset += w
            }
        }
        shutdown(destination, Int32(SHUT_RDWR))
    }

    /// Cuts every connection through the proxy (both directions, at once); new ones are accepted.
    func cut() {
        lock.lock()
        for fd in sockets { shutdown(fd, Int32(SHUT_RDWR)) }   // the pumps see EOF and close them
        cuts += 1
        lock.unlock()
    }

    func close() {
        lock.lock(); running = false; lock.unlock()
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
        cut()
    }
}
