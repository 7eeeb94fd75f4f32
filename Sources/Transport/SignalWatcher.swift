// POSIX signals delivered on the loop thread (uv_signal_t), so that SIGTERM can drain a node
// without a second thread touching kernel state.
import CLibUV
import Glibc

/// Watches one signal on an EventLoop; `cancel()` ends it (before the loop closes).
public final class SignalWatcher {
    private var handle: UnsafeMutablePointer<uv_signal_t>?
    private let body: () -> Void

    /// Calls `body` on the loop thread each time `signal` arrives (e.g. SIGTERM, SIGINT).
    public init(loop: EventLoop, signal: Int32, _ body: @escaping () -> Void) throws(TransportError) {
        self.body = body
        let handle = UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)
        uv_signal_init(loop.loop, handle)
        handle.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let status = uv_signal_start(handle, { handle, _ in
            guard let data = handle?.pointee.data else { return }
            Unmanaged<SignalWatcher>.fromOpaque(data).takeUnretainedValue().body()
        }, signal)
        self.handle = handle
        guard status == 0 else {
            cancel()
            throw TransportError(.system, "uv_signal_start(\(signal)): \(uvErrorText(status))")
        }
        // A signal watcher alone does not keep the loop running.
        uv_unref(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self))
        // A process started by a parent that blocks signals inherits that mask (test runners and
        // some supervisors do): unblock this one, or it would never arrive.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, signal)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    deinit { precondition(handle == nil, "SignalWatcher dropped without cancel()") }

    public func cancel() {
        guard let handle else { return }
        self.handle = nil
        uv_close(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)) { handle in
            UnsafeMutableRawPointer(handle)?.deallocate()
        }
    }
}
