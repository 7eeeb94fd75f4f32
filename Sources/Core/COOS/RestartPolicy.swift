// Fault policies (after Tock's): what the kernel does when a guest faults.

/// Applies when a guest traps or the kernel ends it for a fault; not when it completes, exits by
/// itself or is killed. A restarted guest is a new task (new id) with fresh memory: none of the
/// old state survives.
public enum RestartPolicy: Sendable, Equatable {
    /// Leave it stopped.
    case stop
    /// Start it again, every time.
    case restart
    /// Start it again unless it already restarted `count` times within the window.
    case restartUpTo(count: Int, withinNanoseconds: UInt64)

    /// Restarts counted in one window, at most (manifests and stored assignments are checked against it).
    public static let countMax = 1000
    /// The longest restart window: a week. Longer ones are refused where they are read, so the
    /// window's arithmetic (milliseconds to nanoseconds) cannot overflow.
    public static let windowNanosecondsMax: UInt64 = 7 * 86_400 * 1_000_000_000
}

extension Kernel {
    /// The task that replaced `task` after a restart, if any (follow the chain for later ones).
    public func successor(of task: TaskID) -> TaskID? { tasks[task]?.successor }

    func restartIfPolicyAllows(_ record: TaskRecord, after reason: ExitReason) {
        switch reason {
        case .trapped, .fault: break
        default: return
        }
        guard panicReport == nil, let module = record.module else { return }
        let now = clock.nanoseconds
        var history = record.restartHistory
        switch record.restartPolicy {
        case .stop:
            return
        case .restart:
            break
        case .restartUpTo(let count, let window):
            history = history.filter { now &- $0 <= window }
            guard history.count < count else {
                console("[\(record.name)] not restarted: \(count) restarts within \(window / 1_000_000) ms")
                return
            }
        }
        history.append(now)
        do {
            let successor = try startGuest(module, name: record.name, role: record.role, restart: record.restartPolicy,
                                           devices: record.deviceGrants, memoryLimitBytes: record.memoryLimitBytes,
                                           kernelBudgetBytes: record.kernelBudgetBytes, history: history,
                                           arguments: record.startupArguments)
            record.successor = successor
            restartsTotal += 1
            note("\(record.name) restarts as \(successor)")
            for observer in restartObservers { observer(record.id, successor) }
        } catch {
            console("[\(record.name)] restart failed: \(error)")
        }
    }
}

extension RestartPolicy: CustomStringConvertible {
    /// `stop`, `restart`, or `up-to N within MS ms`: how nodes store a module's policy.
    public var description: String {
        switch self {
        case .stop: "stop"
        case .restart: "restart"
        case .restartUpTo(let count, let window): "up-to \(count) within \(window / 1_000_000) ms"
        }
    }

    /// Parses `description`'s form; nil for anything else.
    public init?(text: String) {
        guard let policy = try? Self.parse(text) else { return nil }
        self = policy
    }

    /// Parses `description`'s form, with the count in 1…`countMax` and the window in 1 ms…`windowNanosecondsMax`;
    /// the error says which part is wrong. Text comes from control requests and data directories.
    public static func parse(_ text: String) throws(QuantityError) -> RestartPolicy {
        switch text {
        case "stop": return .stop
        case "restart": return .restart
        default:
            let words = text.split(separator: " ", omittingEmptySubsequences: false)
            guard words.count == 5, words[0] == "up-to", words[2] == "within", words[4] == "ms",
                  let count = Int(words[1]), let milliseconds = UInt64(words[3]) else {
                throw QuantityError("'\(text.prefix(80))' is not stop, restart or up-to N within MS ms")
            }
            _ = try Quantity.check(count, in: 1...countMax)
            let window = try Quantity.nanoseconds(milliseconds, unitNanoseconds: 1_000_000, in: 1_000_000...windowNanosecondsMax)
            return .restartUpTo(count: count, withinNanoseconds: window)
        }
    }
}
