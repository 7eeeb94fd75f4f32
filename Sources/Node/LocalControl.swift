// A node's local control socket (a Unix socket beside the node): `fireball hal NODE …` sends one
// command line and reads the answer; `uart tail -f` keeps the connection and streams new lines.
// It is polled on the kernel's thread between slices, so commands never race the kernel.
import Core
import Foundation
import HAL

public final class LocalControl {
    public let path: String
    private let listener: Int32
    /// `PATH.lock`, held (flock) while this process serves the socket: two processes that start
    /// with one name at once cannot both decide the socket is stale.
    private let lock: Int32
    private var clients: [Client] = []
    private let bus: DeviceBus

    final class Client {
        let fd: Int32
        var input: [UInt8] = []
        /// Streaming device events (tail -f) until the client hangs up.
        var following: String?? = nil
        init(fd: Int32) { self.fd = fd }
    }

    /// The socket path of node `name`: in $XDG_RUNTIME_DIR, else /tmp/fireball-UID.
    public static func defaultPath(node name: String) -> String {
        let directory = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"].map { "\($0)/fireball" } ?? "/tmp/fireball-\(getuid())"
        return "\(directory)/\(name).sock"
    }

    public init(path: String, bus: DeviceBus) throws {
        self.path = path
        self.bus = bus
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var address = try Self.address(path)
        lock = try Self.claim(path)
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else {
            let reason = String(cString: strerror(errno))
            close(lock)
            throw DeviceControlError("control socket: \(reason)")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 8) == 0 else {
            let reason = String(cString: strerror(errno))
            close(listener)
            close(lock)
            throw DeviceControlError("control socket \(path): \(reason)")
        }
        _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK)
        bus.observers.append { [unowned self] event in self.broadcast(event) }
    }

    deinit {
        for client in clients { close(client.fd) }
        close(listener)
        unlink(path)
        close(lock)   // after the unlink: the next process finds no socket, or its own
    }

    /// Takes the socket's name for this process, or says it is in use. A socket that a process
    /// answers on is live: refused. One nobody answers on is what a crashed process left: removed.
    /// Anything else at the path (a file, a directory) is left alone and refused.
    static func claim(_ path: String) throws(DeviceControlError) -> Int32 {
        let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw DeviceControlError("control socket \(path).lock: \(String(cString: strerror(errno)))") }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            close(lock)
            throw DeviceControlError("control socket \(path) is in use: another process with this node's name is starting or running (give another --name, or stop it)")
        }
        var status = stat()
        guard lstat(path, &status) == 0 else { return lock }   // nothing there
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            close(lock)
            throw DeviceControlError("control socket \(path): something that is not a socket is there; not removed")
        }
        if Self.answers(path) {
            close(lock)
            throw DeviceControlError("control socket \(path) is in use: a running process with this node's name serves it (give another --name, or stop it)")
        }
        unlink(path)
        return lock
    }

    /// Whether a process accepts connections on the socket at `path`.
    static func answers(_ path: String) -> Bool {
        guard var address = try? Self.address(path) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return connected == 0
    }

    /// Waits up to `milliseconds` (-1: no limit) for commands and answers them.
    public func poll(milliseconds: Int32) {
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)] + clients.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        guard Glibc.poll(&fds, nfds_t(fds.count), milliseconds) > 0 else { return }
        if fds[0].revents != 0 { accept() }
        for (index, entry) in fds.dropFirst().enumerated() where entry.revents != 0 { serve(clients[index]) }
        clients.removeAll { $0.fd < 0 }
    }

    private func accept() {
        while true {
            let fd = Glibc.accept(listener, nil, nil)
            guard fd >= 0 else { return }
            clients.append(Client(fd: fd))
        }
    }

    private func serve(_ client: Client) {
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = read(client.fd, &buffer, buffer.count)
        guard count > 0 else { hangUp(client); return }
        client.input += buffer[..<count]
        guard client.following == nil, let newline = client.input.firstIndex(of: 10) else {
            if client.input.count > 4096 { answer(client, ["error: command too long"]); hangUp(client) }
            return
        }
        let words = String(decoding: client.input[..<newline], as: UTF8.self).split(separator: " ").map(String.init)
        client.input = []
        // `uart tail [GUEST] -f`: the history, then every new line until the client goes.
        if words.count >= 2, words[1] == "tail" || (words.count >= 3 && words[2] == "tail"), words.last == "-f" {
            let filtered = Array(words.dropLast())
            do { answer(client, try DeviceControl.run(filtered, on: bus)) } catch { answer(client, ["error: \(error)"]); hangUp(client); return }
            let tailIndex = filtered.firstIndex(of: "tail")!
            client.following = .some(tailIndex + 1 < filtered.count ? filtered[tailIndex + 1] : nil)
            return
        }
        do { answer(client, try DeviceControl.run(words, on: bus)) } catch { answer(client, ["error: \(error)"]) }
        hangUp(client)
    }

    private func broadcast(_ event: DeviceEvent) {
        for client in clients where client.fd >= 0 {
            guard case .some(let guest) = client.following, case .uartLine = event.kind, guest == nil || guest == event.source else { continue }
            answer(client, [event.description])
        }
    }

    private func answer(_ client: Client, _ lines: [String]) {
        let bytes = Array(lines.map { $0 + "\n" }.joined().utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(client.fd, $0.baseAddress, $0.count) }
            guard written > 0 else { hangUp(client); return }
            offset += written
        }
    }

    private func hangUp(_ client: Client) {
        guard client.fd >= 0 else { return }
        close(client.fd)
        clients.removeAll { $0 === client }
    }

    /// The socket address of `path` (NUL-terminated, so at most 107 bytes).
    static func address(_ path: String) throws(DeviceControlError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else { throw DeviceControlError("control socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        return address
    }

    /// Sends one command to a node's control socket; the answer's lines as they arrive.
    public static func send(_ words: [String], to path: String, line: (String) -> Void) throws {
        var address = try Self.address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DeviceControlError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw DeviceControlError("no node listening at \(path) (\(String(cString: strerror(errno)))); is it running, with that name?")
        }
        let request = Array((words.joined(separator: " ") + "\n").utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { break }
            pending += buffer[..<count]
            while let newline = pending.firstIndex(of: 10) {
                line(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
        if !pending.isEmpty { line(String(decoding: pending, as: UTF8.self)) }
    }
}
