// Interrupts into guests (the upstream ISR-safety mechanism): a device only records that a cause
// occurred; the kernel checks at every switch, and a running guest is stopped at its next safe
// point, then its exported `interrupt_handler(cause)` runs and the interrupted code resumes.

/// One guest's interrupt causes (0…31): enabled, masked, waiting, and in service.
struct InterruptState {
    static let causes = 32
    var enabled: UInt32 = 0
    var masked: UInt32 = 0
    /// Raised and not yet delivered, per cause (each raise is one handler run: edges are counted).
    var pending = [UInt32](repeating: 0, count: causes)
    /// Delivered and not yet acknowledged: not delivered again until `interrupt_ack`.
    var inService: UInt32 = 0
    var handler: FunctionAddress?

    /// True if some cause could be delivered now.
    var hasDeliverable: Bool {
        for cause in 0..<Self.causes where pending[cause] > 0 {
            let bit = UInt32(1) << UInt32(cause)
            if enabled & bit != 0, masked & bit == 0, inService & bit == 0 { return true }
        }
        return false
    }

    /// The next cause to deliver, lowest number first.
    mutating func takeDeliverable() -> UInt32? {
        for cause in 0..<Self.causes where pending[cause] > 0 {
            let bit = UInt32(1) << UInt32(cause)
            guard enabled & bit != 0, masked & bit == 0, inService & bit == 0 else { continue }
            pending[cause] -= 1
            inService |= bit
            return UInt32(cause)
        }
        return nil
    }
}

extension Kernel {
    /// A device's interrupt for `task`: records the cause; a running guest stops at its next safe
    /// point, a runnable one takes it when it next runs, a blocked one when it wakes.
    public func raiseInterrupt(_ cause: UInt32, for task: TaskID) {
        guard cause < InterruptState.causes, let record = tasks[task], let guest = record.guest else { return }
        guest.interrupts.pending[Int(cause)] &+= 1
        note("interrupt \(cause) for \(record.name)")
        if currentTask == task {
            guest.execution.requestInterrupt()
        } else if record.state == .sleeping {
            // A sleeping guest is woken (its sleep returns early) so that its handler can run;
            // a guest blocked on a channel takes the interrupt when the operation completes.
            record.deadline = nil
            record.wake = .resumeEmpty
            makeRunnable(record)
        }
    }

    /// Injects the next deliverable handler call, if the guest can take one now.
    func deliverInterrupt(to guest: GuestRuntime) {
        guard let handler = guest.interrupts.handler, let cause = guest.interrupts.takeDeliverable() else { return }
        do {
            try guest.execution.injectCall(handler, arguments: [.i32(cause)])
            interruptsDelivered += 1
        } catch {
            // No room on its stacks: the cause waits.
            guest.interrupts.pending[Int(cause)] += 1
            guest.interrupts.inService &= ~(UInt32(1) << cause)
        }
    }
}
