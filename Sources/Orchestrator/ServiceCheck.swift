// Who serves what within one app, checked by `plan` and `apply` before anything is placed
// (Docs/orchestrator.md, "Services within an app").
import Core
import HAL

public enum ServiceCheck {
    /// Warnings, one line each naming file, line and field:
    /// - a `uses:` URI no module of the app serves (another app, or a pinned node's service, may
    ///   serve it: not an error, but a typo shows here first);
    /// - a URI served by two modules that can never share a node (their affinities keep them apart),
    ///   so each node has one server and a client reaches whichever the router knows first.
    /// Throws for a URI served by two modules that could land on the same node: which of them a
    /// client reaches would depend on placement. The error names both modules and the line of the
    /// second one's `serves:`.
    public static func check(_ manifest: AppManifest, against inventory: ClusterInventory) throws(ConfigurationError) -> [String] {
        var warnings: [String] = []
        var servers: [String: [ModuleSpec]] = [:]
        for module in manifest.modules { for uri in module.serves { servers[uri, default: []].append(module) } }
        for (uri, modules) in servers.sorted(by: { $0.key < $1.key }) where modules.count > 1 {
            for (index, second) in modules.enumerated() {
                for first in modules[..<index] {
                    if canShareANode(first, second, in: inventory) {
                        throw second.origin.error("serves", "module '\(second.name)' serves \(uri), and so does module '\(first.name)' (\(location(first, "serves"))); "
                            + "both can be placed on one node: serve it from one module, or keep them apart with affinity")
                    }
                    warnings.append("\(location(second, "serves")): \(second.origin.field).serves: module '\(second.name)' serves \(uri), and so does module '\(first.name)' (\(location(first, "serves"))); "
                        + "their affinities keep them on different nodes, and a client reaches whichever its node learns of first")
                }
            }
        }
        for module in manifest.modules {
            for uri in module.uses {
                let plain = ServiceURI(uri).map { "fireball://\($0.service)/\($0.stream)" } ?? uri
                guard servers[plain] == nil else { continue }
                warnings.append("\(location(module, "uses")): \(module.origin.field).uses: module '\(module.name)' uses \(plain), but no module of app \(manifest.name) serves it; "
                    + "it waits for another app or a node to serve it")
            }
        }
        return warnings
    }

    /// Whether some node of `inventory` takes both (labels) and neither avoids the other.
    static func canShareANode(_ a: ModuleSpec, _ b: ModuleSpec, in inventory: ClusterInventory) -> Bool {
        guard !a.avoidModules.contains(b.name), !b.avoidModules.contains(a.name) else { return false }
        func takes(_ module: ModuleSpec, _ node: NodeSpec) -> Bool {
            module.nodeLabels.allSatisfy { node.labels[$0.key] == $0.value } && !module.avoidNodeLabels.contains { node.labels[$0.key] == $0.value }
        }
        return inventory.nodes.contains { takes(a, $0) && takes(b, $0) }
    }

    static func location(_ module: ModuleSpec, _ field: String) -> String {
        let line = module.origin.lines[field] ?? module.origin.lines[""]
        return module.origin.file + (line.map { ":\($0)" } ?? "")
    }
}
