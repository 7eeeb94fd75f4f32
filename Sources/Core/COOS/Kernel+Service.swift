// Kernel services: trusted Swift tasks, written as state machines that say what they wait for next.

/// What woke a service.
public enum ServiceEvent: Sendable {
    case start
    case received(Message, channelIndex: Int)
    case sent
    case failed(KernelError)
    /// After a sleep or a yield.
    case resumed
}

/// The next thing a service waits for.
public enum ServiceAction: Sendable {
    case receive([ChannelID], timeoutNanoseconds: UInt64?)
    case send(Message, to: ChannelID)
    case sleep(nanoseconds: UInt64)
    case yield
    case exit
}

/// A kernel service: each call handles one event and returns the next blocking operation.
public protocol KernelService: AnyObject {
    func handle(_ event: ServiceEvent, kernel: Kernel) -> ServiceAction
}

extension Kernel {
    /// Starts a service task. Services are trusted code wired in by the node; guests cannot create them.
    /// A `daemon` serves for as long as the node runs; runs end without waiting for it.
    public func spawnService(_ service: KernelService, name: String, role: TaskRole = .service, daemon: Bool = false,
                             capability: borrowing ProcessCapability) -> TaskID {
        let record = newTask(name: name, role: role)
        record.daemon = daemon
        record.service = service
        record.wake = nil
        makeRunnable(record)
        note("spawn \(name) as \(record.id)")
        return record.id
    }

    /// Steps before a service that never blocks is sent to the back of the queue.
    static let serviceStepsPerSlice = 64

    func runService(_ record: TaskRecord, _ service: KernelService) {
        var event: ServiceEvent
        switch record.wake {
        case nil: event = .start
        case .resumeEmpty?: event = .resumed
        case .completion(let completion)?: event = self.event(completion, record)
        case .serviceEvent(let pending)?: event = pending
        }
        record.wake = nil
        for _ in 0..<Self.serviceStepsPerSlice {
            let action = service.handle(event, kernel: self)
            let immediate: Completion?
            switch action {
            case .receive(let ids, let timeout):
                immediate = receive(on: ids, by: record, timeout: timeout)
            case .send(let message, let id):
                immediate = send(message, on: id, by: record)
            case .sleep(let nanoseconds):
                record.state = .sleeping
                record.deadline = clock.nanoseconds &+ nanoseconds
                return
            case .yield:
                record.wake = .resumeEmpty
                makeRunnable(record)
                return
            case .exit:
                finish(record, .completed)
                return
            }
            guard let immediate else {
                record.state = .blocked
                return
            }
            event = self.event(immediate, record)
        }
        // Still busy after a full slice: continue with the same event next time round.
        record.wake = .serviceEvent(event)
        makeRunnable(record)
    }

    func event(_ completion: Completion, _ record: TaskRecord) -> ServiceEvent {
        switch completion {
        case .sent: .sent
        case .received(let index): .received(record.inbox, channelIndex: index)
        case .failed(let error): .failed(error)
        }
    }

}
