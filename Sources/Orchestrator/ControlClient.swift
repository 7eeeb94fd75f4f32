// The orchestrator's side of the control plane: TLS links (with an orchestrator-role certificate) to
// every node of the inventory, and requests answered in order. It drives its own event loop on the
// calling thread: a request returns when the answer came, the link dropped, or the time ran out.
import Foundation
import Transport

public struct ControlError: Error, CustomStringConvertible {
    public let node: String
    public let detail: String
    public var description: String { "\(node): \(detail)" }
    public init(node: String, detail: String) { self.node = node; self.detail = detail }
}

/// A link to a node came up or went down.
public struct LinkChange: Equatable, Sendable {
    public let node: String
    public let up: Bool
    public init(node: String, up: Bool) { self.node = node; self.up = up }
}

/// What the deployer and the controller need of the control plane: requests to nodes, link state,
/// and a clock. `ControlClient` is the real one; tests drive nodes in the same process.
public protocol ControlConnection: AnyObject {
    /// Monotonic nanoseconds.
    var nowNanoseconds: UInt64 { get }
    /// Inventory nodes without a link now, and since when (`nowNanoseconds`'s clock).
    var downSince: [String: UInt64] { get }
    /// The link changes since the last call, oldest first (a queue the caller takes: no callback).
    func takeLinkChanges() -> [LinkChange]
    /// Serves links and answers for up to `seconds`, or until `done()`; returns `done()`.
    @discardableResult func drive(seconds: Double, until done: () -> Bool) -> Bool
    /// Sends one request to `node` and waits for its answer; a refusal is a ControlError with the node's words.
    func request(_ node: String, _ operation: ControlRequest.Operation, seconds: Double) throws(ControlError) -> ControlResponse
}

public final class ControlClient: LinkDelegate, ControlConnection {
    public let loop: EventLoop
    let endpoint: Endpoint
    private var answers: [UInt64: ControlResponse] = [:]
    private var nextID: UInt64 = 1
    /// Nodes with a link up now, and when each went down (loop clock).
    public private(set) var up: Set<String> = []
    public private(set) var downSince: [String: UInt64] = [:]
    private var linkChanges: [LinkChange] = []

    /// Dials every node in `nodes` at its address, with `certificateDirectory/NAME.pem`.
    public init(certificateDirectory: String, name: String, nodes: [NodeSpec], log: @escaping (String) -> Void) throws {
        let addresses = try nodes.map { node in
            guard let (host, port) = HostPort.split(node.address) else { throw ControlError(node: node.name, detail: "address '\(node.address)' is not HOST:PORT") }
            return (name: node.name, host: host, port: port)
        }
        let tls = try TLSContext(directory: certificateDirectory, name: name)
        guard tls.identity.role == .orchestrator else {
            throw ControlError(node: name, detail: "\(certificateDirectory)/\(name).pem has the \(tls.identity.role) role; the control plane takes an orchestrator certificate (fireball certs issue \(name) --role orchestrator)")
        }
        loop = try EventLoop()
        var configuration = EndpointConfiguration()
        // A node that restarts is back within a second: redial quickly, but not in a busy loop.
        configuration.reconnectMaxNanoseconds = 500_000_000
        do {
            endpoint = try Endpoint(loop: loop, tls: tls, configuration: configuration, log: log)
        } catch {
            loop.close()
            throw error
        }
        endpoint.delegate = self
        let now = loop.nowNanoseconds
        for node in addresses {
            downSince[node.name] = now
            try endpoint.connect(to: node.name, host: node.host, port: node.port)
        }
    }

    public var nowNanoseconds: UInt64 { loop.nowNanoseconds }

    public func takeLinkChanges() -> [LinkChange] {
        defer { linkChanges = [] }
        return linkChanges
    }

    public func close() {
        endpoint.close()
        loop.close()
    }

    // MARK: LinkDelegate

    public func linkUp(_ peer: PeerIdentity) {
        up.insert(peer.name)
        downSince[peer.name] = nil
        linkChanges.append(LinkChange(node: peer.name, up: true))
    }

    public func linkDown(_ peer: PeerIdentity, reason: LinkCloseReason) {
        up.remove(peer.name)
        downSince[peer.name] = loop.nowNanoseconds
        linkChanges.append(LinkChange(node: peer.name, up: false))
    }

    public func frameReceived(from peer: PeerIdentity, kind: UInt8, payload: UnsafeRawBufferPointer) {
        guard kind == ControlFrame.response, let response = try? ControlResponse.decode(payload) else { return }
        answers[response.id] = response
    }

    // MARK: driving the loop

    /// Runs the loop until `done()` or `seconds` passed; returns `done()`.
    @discardableResult
    public func drive(seconds: Double, until done: () -> Bool) -> Bool {
        // At most a day, and NaN counts as zero: the conversion to nanoseconds cannot trap.
        let bounded = seconds.isNaN ? 0 : min(max(seconds, 0), 86_400)
        let deadline = loop.nowNanoseconds + UInt64(bounded * 1e9)
        let timer = loop.schedule(atNanoseconds: deadline) {}
        defer { timer.cancel() }
        while !done() && loop.nowNanoseconds < deadline { loop.runOnce() }
        return done()
    }

    /// Waits until every node in `names` has a link; returns those still without one.
    public func waitForLinks(_ names: [String], seconds: Double) -> [String] {
        drive(seconds: seconds) { names.allSatisfy(up.contains) }
        return names.filter { !up.contains($0) }
    }

    /// Sends one request to `node` and waits for its answer. A refusal by the node is a ControlError
    /// with the node's words; so is a lost link or no answer in time.
    public func request(_ node: String, _ operation: ControlRequest.Operation, seconds: Double) throws(ControlError) -> ControlResponse {
        guard up.contains(node) else { throw ControlError(node: node, detail: "no link (node down or unreachable)") }
        let id = nextID
        nextID += 1
        let bytes = ControlRequest(id: id, operation).encoded()
        do { try endpoint.send(to: node, kind: ControlFrame.request, bytes: bytes) } catch {
            throw ControlError(node: node, detail: "cannot send: \(error)")
        }
        drive(seconds: seconds) { answers[id] != nil || !up.contains(node) }
        guard let answer = answers.removeValue(forKey: id) else {
            throw ControlError(node: node, detail: up.contains(node) ? "no answer within \(seconds) s" : "link lost before the answer")
        }
        if let error = answer.error { throw ControlError(node: node, detail: error) }
        return answer
    }

}

extension ControlConnection {
    /// `request` with the usual 10 s to answer.
    public func request(_ node: String, _ operation: ControlRequest.Operation) throws(ControlError) -> ControlResponse {
        try request(node, operation, seconds: 10)
    }

    public func status(_ node: String) throws(ControlError) -> NodeReport {
        guard let report = try request(node, .status).report else { throw ControlError(node: node, detail: "status answer without a report") }
        return report
    }

    /// What a replica logged (see `ControlRequest.Operation.logs`), every page of it: the lines in
    /// order, a note line for lines the node no longer held, and the cursor to follow from.
    public func logs(_ node: String, key: String, lines: Int, sinceMilliseconds: UInt64? = nil, after: LogCursor? = nil) throws(ControlError) -> (lines: [String], cursor: LogCursor?) {
        var out: [String] = []
        var cursor = after
        var wanted = lines
        var since = sinceMilliseconds
        // Pages until the node says nothing more waits; bounded, so a guest that logs faster than
        // it is read cannot keep this call going.
        for _ in 0..<64 {
            let answer = try request(node, .logs(key: key, lines: wanted, sinceMilliseconds: since, after: cursor))
            if answer.restarted == true { out.append("-- the log on \(node) began anew (the replica or the node restarted) --") }
            if let skipped = answer.skipped, skipped > 0 { out.append("-- \(skipped) line\(skipped == 1 ? "" : "s") dropped by \(node) before they were read --") }
            let page = answer.lines ?? []
            out += page
            cursor = answer.cursor ?? cursor
            guard answer.more == true, !page.isEmpty else { break }
            if wanted > 0 { wanted = max(wanted - page.count, 0); if wanted == 0 { break } }
            since = nil
        }
        return (out, cursor)
    }

    /// The node's events (see `ControlRequest.Operation.events`): the last `lines` (0: all it holds),
    /// or those after `after`; every page, with a note line for events dropped before they were read.
    public func events(_ node: String, lines: Int, after: LogCursor? = nil) throws(ControlError) -> (lines: [String], cursor: LogCursor?) {
        var out: [String] = []
        var cursor = after
        var wanted = lines
        for _ in 0..<64 {
            let answer = try request(node, .events(lines: wanted, after: cursor))
            if answer.restarted == true { out.append("-- \(node) restarted: its events begin anew --") }
            if let skipped = answer.skipped, skipped > 0 { out.append("-- \(skipped) event\(skipped == 1 ? "" : "s") dropped by \(node) before they were read --") }
            let page = answer.lines ?? []
            out += page
            cursor = answer.cursor ?? cursor
            guard answer.more == true, !page.isEmpty else { break }
            if wanted > 0 { wanted = max(wanted - page.count, 0); if wanted == 0 { break } }
        }
        return (out, cursor)
    }

    /// Pushes a module in parts; returns the bytes sent (0 if the node already had it).
    @discardableResult
    public func push(_ bytes: [UInt8], sha256: String, to node: String) throws(ControlError) -> Int {
        var offset = 0
        repeat {
            let part = Data(bytes[offset..<min(bytes.count, offset + ControlFrame.chunkBytes)])
            let answer = try request(node, .push(sha256: sha256, total: bytes.count, offset: offset, bytes: part))
            offset += part.count
            // "stored" before the last part: the node had the module already.
            if answer.lines == ["stored"] { return offset < bytes.count ? 0 : bytes.count }
        } while offset < bytes.count
        throw ControlError(node: node, detail: "pushed \(bytes.count) bytes and the node did not store the module")
    }
}
