// A node's metrics in the Prometheus text exposition format (version 0.0.4), built on each scrape
// from the node's report and counters. Docs/cluster.md lists every family with its type and labels.
import Transport

/// Writes the text format: `# HELP`, `# TYPE`, then `name{label="value"} number` lines.
struct PrometheusText {
    private(set) var text = ""
    private var families: Set<String> = []

    /// Starts a family; each name once (the format wants one HELP and TYPE per family).
    mutating func family(_ name: String, _ type: String, _ help: String) {
        precondition(!families.contains(name) && Self.isMetricName(name), "metric family \(name)")
        families.insert(name)
        text += "# HELP \(name) \(help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))\n"
        text += "# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String> = [:], _ value: Int) {
        sample(name, labels, String(value))
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.key)=\"\(Self.escaped($0.value))\"" }.joined(separator: ",") + "}"
        }
        text += " \(value)\n"
    }

    /// A label value as the format wants it: backslash, double quote and newline escaped.
    static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic || first == "_" || first == ":" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == ":") }
    }
}

extension NodeDaemon {
    /// The guest states every scrape reports (0 when none is in it), so that series do not come and go.
    static let guestStates = ["runnable", "blocked", "sleeping", "exited", "missing", "gone"]

    /// The scrape: see Docs/cluster.md, "Metrics".
    public func metricsText() -> String {
        let report = report()
        var out = PrometheusText()
        out.family("fireball_node_info", "gauge", "The node: its name and board (always 1).")
        out.sample("fireball_node_info", ["node": report.name, "board": report.board], 1)
        out.family("fireball_node_uptime_seconds", "gauge", "Seconds since the node booted.")
        out.sample("fireball_node_uptime_seconds", [:], Int(report.uptimeMilliseconds / 1000))
        if let notAfter = report.certificateNotAfter {
            out.family("fireball_certificate_expiry_timestamp_seconds", "gauge", "When the node's certificate expires (Unix seconds).")
            out.sample("fireball_certificate_expiry_timestamp_seconds", [:], Int(notAfter))
        }

        var states: [String: Int] = [:]
        for guest in report.guests { states[Self.stateName(guest.state), default: 0] += 1 }
        out.family("fireball_guests", "gauge", "Assigned module replicas on this node, by the state of their current task.")
        for state in Self.guestStates { out.sample("fireball_guests", ["state": state], states[state] ?? 0) }
        out.family("fireball_guest_up", "gauge", "1 while a replica's current task is runnable, blocked or sleeping; 0 when it exited or is missing.")
        for guest in report.guests {
            let up = ["runnable", "blocked", "sleeping"].contains(Self.stateName(guest.state)) ? 1 : 0
            out.sample("fireball_guest_up", ["app": guest.assignment.app, "replica": guest.assignment.replica, "module": guest.assignment.module], up)
        }
        out.family("fireball_guest_restarts_total", "counter", "Restarts of a replica by its restart policy since it was started here.")
        for guest in report.guests {
            out.sample("fireball_guest_restarts_total", ["app": guest.assignment.app, "replica": guest.assignment.replica], guest.restarts)
        }
        out.family("fireball_guest_log_lines_dropped_total", "counter", "Console lines of a replica (all its incarnations) its log rate limit dropped.")
        for guest in report.guests {
            out.sample("fireball_guest_log_lines_dropped_total", ["app": guest.assignment.app, "replica": guest.assignment.replica],
                       guest.logLinesDropped ?? 0)
        }

        out.family("fireball_slices_total", "counter", "Slices the kernel ran (context switches).")
        out.sample("fireball_slices_total", [:], kernel.switches)
        out.family("fireball_slices_preempted_total", "counter", "Guest slices that used their whole budget and were preempted.")
        out.sample("fireball_slices_preempted_total", [:], kernel.slicesPreempted)
        out.family("fireball_interrupts_delivered_total", "counter", "Interrupt handler calls injected into guests.")
        out.sample("fireball_interrupts_delivered_total", [:], kernel.interruptsDelivered)
        out.family("fireball_traps_total", "counter", "Tasks that ended by a trap or a fault.")
        out.sample("fireball_traps_total", [:], kernel.trapsTotal)
        out.family("fireball_restarts_total", "counter", "Guests started again by their restart policy.")
        out.sample("fireball_restarts_total", [:], kernel.restartsTotal)

        for (name, help, value) in [
            ("fireball_partition_capacity_bytes", "Bytes of each memory partition.", \NodeReport.PartitionUse.capacity),
            ("fireball_partition_used_bytes", "Bytes allocated in each partition.", \NodeReport.PartitionUse.used),
            ("fireball_partition_largest_free_bytes", "The largest free block of each partition.", \NodeReport.PartitionUse.largestFree),
        ] {
            out.family(name, "gauge", help)
            for partition in report.partitions { out.sample(name, ["partition": partition.kind], partition[keyPath: value]) }
        }
        out.family("fireball_partition_free_bytes", "gauge", "Bytes free in each partition.")
        for partition in report.partitions { out.sample("fireball_partition_free_bytes", ["partition": partition.kind], partition.capacity - partition.used) }

        out.family("fireball_channels_open", "gauge", "Channels not closed: served, mirrors and private ones.")
        out.sample("fireball_channels_open", [:], report.channelsOpen)
        out.family("fireball_router_pending", "gauge", "Remote sends, wants and held deliveries the router waits on.")
        out.sample("fireball_router_pending", [:], report.routerPending)
        out.family("fireball_router_frames_total", "counter", "Router frames over all links.")
        out.sample("fireball_router_frames_total", ["direction": "in"], router.framesIn)
        out.sample("fireball_router_frames_total", ["direction": "out"], router.framesOut)
        out.family("fireball_receive_ahead_total", "counter", "Messages received ahead that a task took, and that went back unused.")
        out.sample("fireball_receive_ahead_total", ["outcome": "taken"], router.offersTaken)
        out.sample("fireball_receive_ahead_total", ["outcome": "returned"], router.offersReturned)

        let up = Set(report.links)
        let peers = Set(configuration.peers.map(\.name)).union(endpoint.traffic.keys).subtracting([configuration.name]).sorted()
        out.family("fireball_link_up", "gauge", "1 while the link to a node peer is up.")
        for peer in peers { out.sample("fireball_link_up", ["peer": peer], up.contains(peer) ? 1 : 0) }
        out.family("fireball_link_round_trip_seconds", "gauge", "Smoothed round-trip time of the link to a peer, as the host's TCP measures it.")
        for peer in peers {
            guard let microseconds = endpoint.roundTripMicroseconds(to: peer) else { continue }
            out.sample("fireball_link_round_trip_seconds", ["peer": peer], String(Double(microseconds) / 1e6))
        }
        out.family("fireball_link_frames_total", "counter", "Application frames on a peer's links since boot (heartbeats not counted).")
        out.family("fireball_link_bytes_total", "counter", "Payload bytes of those frames.")
        let traffic = endpoint.traffic.sorted { $0.key < $1.key }
        for (peer, counts) in traffic {
            out.sample("fireball_link_frames_total", ["peer": peer, "direction": "in"], counts.framesIn)
            out.sample("fireball_link_frames_total", ["peer": peer, "direction": "out"], counts.framesOut)
        }
        for (peer, counts) in traffic {
            out.sample("fireball_link_bytes_total", ["peer": peer, "direction": "in"], counts.bytesIn)
            out.sample("fireball_link_bytes_total", ["peer": peer, "direction": "out"], counts.bytesOut)
        }

        out.family("fireball_control_sessions", "gauge", "Control sessions (orchestrator clients) open now.")
        out.sample("fireball_control_sessions", [:], endpoint.sessionCount)
        out.family("fireball_connections_pending", "gauge", "Accepted connections waiting for their TLS handshake and hello.")
        out.sample("fireball_connections_pending", [:], endpoint.pendingConnectionCount)
        out.family("fireball_connections_refused_total", "counter", "Accepted connections refused, by reason.")
        for (code, count) in endpoint.refusedConnections.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            out.sample("fireball_connections_refused_total", ["reason": "\(code)"], count)
        }
        out.family("fireball_events_total", "counter", "Events recorded in the node's ring (see `fireball events`).")
        out.sample("fireball_events_total", [:], eventCount)
        if let metrics {
            out.family("fireball_metrics_scrapes_total", "counter", "Scrapes answered, refused past the connection limit, and rejected (4xx, timeouts).")
            out.sample("fireball_metrics_scrapes_total", ["outcome": "served"], metrics.served)
            out.sample("fireball_metrics_scrapes_total", ["outcome": "refused"], metrics.refused)
            out.sample("fireball_metrics_scrapes_total", ["outcome": "rejected"], metrics.rejected)
        }
        out.family("fireball_kernel_panicked", "gauge", "1 if the node's kernel panicked (its guests are stopped).")
        out.sample("fireball_kernel_panicked", [:], report.panic == nil ? 0 : 1)
        return out.text
    }

    /// The first word of a report's guest state: `exited: trap …` is `exited`.
    static func stateName(_ state: String) -> String {
        String(state.prefix { $0 != ":" && $0 != " " && $0 != "(" })
    }
}
