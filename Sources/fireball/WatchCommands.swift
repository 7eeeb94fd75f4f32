// `fireball top` and `fireball events`: watching the cluster live through the control plane.
import ArgumentParser
import Foundation
import Orchestrator
import Transport

struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Show the cluster's nodes live: guests, restarts, traps, slices and frames per second, memory, links.",
        discussion: """
            Asks every node of the inventory for its status once per --interval and redraws the table. On a \
            terminal the screen is redrawn in place; into a pipe or a file each refresh is one block, headed by \
            its time. Ctrl-C (or SIGTERM) ends it. Below the nodes it lists the replicas that are not running \
            or restarted since the previous refresh.

            Examples:
              fireball top
              fireball top --interval 5 --count 3 > top.txt
            """)
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Seconds between refreshes (0.2…3600).") var interval: Double = 1
    @Option(help: "Refreshes before it ends by itself (0: until Ctrl-C).") var count = 0

    func validate() throws {
        guard interval.isFinite, (0.2...3600).contains(interval) else { throw ValidationError("--interval \(interval): expected 0.2…3600 seconds") }
        guard (0...1_000_000).contains(count) else { throw ValidationError("--count \(count): expected 0…1000000") }
    }

    func run() throws {
        let (inventory, client, deployer, _) = try cluster.connect()
        defer { client.close() }
        var stop = false
        let watchers = [SIGINT, SIGTERM].compactMap { signal in try? SignalWatcher(loop: client.loop, signal: signal) { stop = true } }
        defer { for watcher in watchers { watcher.cancel() } }
        let terminal = isatty(STDOUT_FILENO) == 1
        var previous: TopTable.Sample?
        var refreshes = 0
        while !stop {
            let sample = TopTable.Sample(view: deployer.view(), nanoseconds: client.nowNanoseconds)
            let heading = "\(inventory.name): \(sample.view.reports.count) of \(inventory.nodes.count) node(s) up, \(Self.clock())"
            let text = TopTable.render(sample, previous: previous, inventory: inventory)
            // Clear and home the cursor on a terminal; a separator line otherwise.
            say(terminal ? "\u{1B}[H\u{1B}[2J" + heading + "\n\n" + text : "--- " + heading + "\n" + text)
            previous = sample
            refreshes += 1
            if count > 0 && refreshes >= count { break }
            client.drive(seconds: interval) { stop }
        }
    }

    static func clock() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date())
    }
}

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "What happened on the nodes: starts, stops, exits, traps, restarts, links up and down, refusals, drains.",
        discussion: """
            Each node keeps its newest 1000 events (`fireball node`), each line headed by its UTC time; the \
            lines of all nodes are printed in time order, each after its node's name. With -f the command \
            stays and prints new events as they come (polling every --interval), until Ctrl-C. A node that \
            dropped events before they were read, or restarted, says so in a line of its own.

            Examples:
              fireball events
              fireball events -f
              fireball events --node node-a --lines 0
            """)
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "How many of each node's last events (0: all it holds).") var lines = 20
    @Option(help: "Only these nodes (repeatable; default: every node of the inventory).") var node: [String] = []
    @Flag(name: [.customShort("f"), .long], help: "Keep printing new events until Ctrl-C.") var follow = false
    @Option(help: "Seconds between polls with -f (0.2…60).") var interval: Double = 1

    func validate() throws {
        try checkOption(lines, in: OptionLimits.logLines, "--lines")
        guard interval.isFinite, (0.2...60).contains(interval) else { throw ValidationError("--interval \(interval): expected 0.2…60 seconds") }
    }

    func run() throws {
        let (inventory, client, _, paths) = try cluster.connect()
        defer { client.close() }
        let unknown = node.filter { name in !inventory.nodes.contains { $0.name == name } }
        guard unknown.isEmpty else { throw failure("no node \(unknown.joined(separator: ", ")) in \(paths.inventory)") }
        let names = node.isEmpty ? inventory.nodes.map(\.name) : node
        var cursors: [String: LogCursor] = [:]
        var unreachable: Set<String> = []
        func poll() {
            var batch: [(node: String, line: String)] = []
            for name in names {
                guard client.up.contains(name) else {
                    if unreachable.insert(name).inserted { note("\(name): no link (node down or unreachable)") }
                    continue
                }
                do {
                    let page = try client.events(name, lines: cursors[name] == nil ? lines : 0, after: cursors[name])
                    batch += page.lines.map { (name, $0) }
                    cursors[name] = page.cursor ?? cursors[name]
                    unreachable.remove(name)
                } catch {
                    if unreachable.insert(name).inserted { note("\(error)") }
                }
            }
            // Events start with their UTC time: sorted, the nodes' lines interleave in time order
            // (a node's own order is kept for equal times and for its note lines).
            let ordered = batch.enumerated().sorted { a, b in
                let (x, y) = (Self.time(a.element.line), Self.time(b.element.line))
                return x != y ? x < y : a.offset < b.offset
            }
            for (_, entry) in ordered { say("\(entry.node) \(entry.line)") }
        }
        poll()
        guard follow else { return }
        var stop = false
        let watchers = [SIGINT, SIGTERM].compactMap { signal in try? SignalWatcher(loop: client.loop, signal: signal) { stop = true } }
        defer { for watcher in watchers { watcher.cancel() } }
        while !stop {
            client.drive(seconds: interval) { stop }
            if !stop { poll() }
        }
    }

    /// The time an event line begins with (24 characters), or "" for a note line.
    static func time(_ line: String) -> Substring {
        guard let first = line.first, first.isNumber else { return "" }
        return line.prefix(24)
    }
}
