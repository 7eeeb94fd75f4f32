// The text `fireball plan` prints: where each replica goes, and each node's partitions as bars.
import Core

extension Plan {
    /// The placement (replica → node) and a per-node partition table, e.g.
    /// `guest      [#########.....]  18.0 KiB / 24.0 KiB`.
    public func report(barWidth: Int = 24) -> String {
        var lines: [String] = []
        let width = max(assignments.map(\.replica.count).max() ?? 0, 8)
        lines.append("placement:")
        for assignment in assignments {
            var notes: [String] = []
            if assignment.kept { notes.append("kept") }
            if let previous = assignment.previousNode { notes.append("moved from \(previous)") }
            if !assignment.partnersOnNode.isEmpty { notes.append("with \(assignment.partnersOnNode.joined(separator: ", "))") }
            let padded = assignment.replica.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append("  \(padded) -> \(assignment.node)\(notes.isEmpty ? "" : "  (\(notes.joined(separator: "; ")))")")
        }
        for item in unplaced {
            let was = item.previousNode.map { "; was on \($0)" } ?? ""
            lines.append("  \(item.replica.padding(toLength: width, withPad: " ", startingAt: 0)) -> (nowhere\(was))")
        }
        for node in nodes {
            lines.append("")
            let status = node.status == .up ? "" : " [\(node.status)]"
            lines.append("node \(node.node) (\(node.board), \(node.address))\(status): \(node.replicas.isEmpty ? "no replicas" : node.replicas.joined(separator: ", "))")
            for kind in PartitionKind.allCases {
                let partition = node.budget[kind]
                lines.append("  " + Self.bar(kind.rawValue, used: partition.usedBytes, capacity: partition.capacity, width: barWidth))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `name       [#####.........]  used / capacity` (used counts allocator headers, as the kernel does).
    static func bar(_ name: String, used: Int, capacity: Int, width: Int) -> String {
        let filled = capacity > 0 ? min(width, Int((Double(used) / Double(capacity) * Double(width)).rounded())) : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        return "\(name.padding(toLength: 10, withPad: " ", startingAt: 0)) [\(bar)] \(Size(used)) / \(Size(capacity))"
    }
}
