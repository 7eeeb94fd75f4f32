// Which roles may open channels served by which (DESIGN.md §6). Roles are fixed at boot.

/// The upstream rules: guests and services (the vSoC) may reach every role; the HAL talks both
/// ways with the vSoC; logging only receives — it opens nothing.
public struct RolePolicy: Sendable {
    private var allowed: Set<Pair>
    private struct Pair: Hashable { let client: TaskRole; let server: TaskRole }

    public init(_ rules: [(client: TaskRole, server: TaskRole)]) {
        allowed = Set(rules.map { Pair(client: $0.client, server: $0.server) })
    }

    public func allows(client: TaskRole, server: TaskRole) -> Bool {
        allowed.contains(Pair(client: client, server: server))
    }

    public static let upstream: RolePolicy = {
        var rules: [(client: TaskRole, server: TaskRole)] = []
        for client in [TaskRole.guest, .service] {
            for server in TaskRole.allCases { rules.append((client, server)) }
        }
        for server in [TaskRole.guest, .service] { rules.append((.hal, server)) }
        for server in [TaskRole.guest, .service, .hal] { rules.append((.router, server)) }
        return RolePolicy(rules)
    }()
}
