// Who is at the other end of a link: a node name and its role, as the certificate and the hello state them.

/// The role a certificate grants (stored in the subject's OU, see Docs/transport.md).
public enum NodeRole: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case node = 1
    case orchestrator = 2

    /// The OU text in a certificate and the CLI spelling.
    public var name: String { self == .node ? "node" : "orchestrator" }
    public var description: String { name }

    public init?(name: String) {
        switch name {
        case "node": self = .node
        case "orchestrator": self = .orchestrator
        default: return nil
        }
    }
}

/// A peer's name and role, proven by its certificate.
public struct PeerIdentity: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let role: NodeRole

    public init(name: String, role: NodeRole) {
        precondition(NodeName.isValid(name), "invalid node name '\(name)'")
        self.name = name
        self.role = role
    }

    public var description: String { "\(name) (\(role))" }
}

/// Node names: 1 to 63 ASCII letters, digits and '-' (a DNS label), so they fit a certificate's CN and DNS SAN.
public enum NodeName {
    public static let bytesMax = 63

    public static func isValid(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard !utf8.isEmpty, utf8.count <= bytesMax else { return false }
        return utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte == 0x2d
        }
    }

    /// Why `name` is not valid, for error messages; nil if it is.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "a node name must not be empty" }
        if name.utf8.count > bytesMax { return "node name '\(name)' is longer than \(bytesMax) bytes" }
        if !isValid(name) { return "node name '\(name)' may contain only letters, digits and '-'" }
        return nil
    }
}
