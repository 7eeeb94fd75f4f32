// The node's libuv loop (uv_loop_t): timers, a per-iteration callback for the kernel, and a thread-safe wake-up.
// The loop is single-threaded: everything but `remote` is used on the thread that runs it.
import CLibUV
import Synchronization

/// One libuv loop, run by one thread (the kernel's). Not Sendable: only `remote` crosses threads.
public final class EventLoop {
    let loop: UnsafeMutablePointer<uv_loop_t>
    private let prepareHandle: UnsafeMutablePointer<uv_prepare_t>
    private let idleHandle: UnsafeMutablePointer<uv_idle_t>
    private let asyncHandle: UnsafeMutablePointer<uv_async_t>
    /// The thread-safe side of this loop: post work, wake it, stop it.
    public let remote: EventLoopRemote

    private var iterationCallbacks: [(id: Int, body: () -> Bool)] = []
    private var beforePollHooks: [(id: Int, body: () -> Void)] = []
    private var timers: [ObjectIdentifier: LoopTimer] = [:]
    /// Closers of the sockets that Endpoints opened on this loop, so that `close()` can end them all.
    var sockets: [ObjectIdentifier: () -> Void] = [:]
    /// The one buffer every TCP stream of this loop reads into. A read callback is done with the
    /// bytes when it returns and the loop runs one callback at a time, so a buffer per connection
    /// (64 KiB each, for every connection a flood opens) would only cost memory.
    var readBuffer: UnsafeMutableRawPointer {
        if let readBufferStorage { return readBufferStorage }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.readBufferBytes, alignment: 16)
        readBufferStorage = buffer
        return buffer
    }
    private var readBufferStorage: UnsafeMutableRawPointer?
    static let readBufferBytes = 64 * 1024
    private var wakeHandler: (() -> Void)?
    private var nextID = 0
    private var idleRunning = false
    public private(set) var isClosed = false

    /// Creates a loop (uv_loop_init).
    public init() throws(TransportError) {
        loop = .allocate(capacity: 1)
        let status = uv_loop_init(loop)
        guard status == 0 else {
            loop.deallocate()
            throw TransportError(.system, "uv_loop_init: \(uvErrorText(status))")
        }
        prepareHandle = .allocate(capacity: 1)
        idleHandle = .allocate(capacity: 1)
        asyncHandle = .allocate(capacity: 1)
        uv_prepare_init(loop, prepareHandle)
        uv_idle_init(loop, idleHandle)
        uv_async_init(loop, asyncHandle) { handle in
            guard let loop = EventLoop.from(handle?.pointee.data) else { return }
            loop.drainRemote()
        }
        remote = EventLoopRemote(async: asyncHandle)
        let me = Unmanaged.passUnretained(self).toOpaque()
        prepareHandle.pointee.data = me
        idleHandle.pointee.data = me
        asyncHandle.pointee.data = me
        uv_prepare_start(prepareHandle) { handle in EventLoop.from(handle?.pointee.data)?.beforePoll() }
        // The prepare handle alone does not keep the loop running; the async handle does.
        uv_unref(UnsafeMutableRawPointer(prepareHandle).assumingMemoryBound(to: uv_handle_t.self))
    }

    deinit {
        precondition(isClosed, "EventLoop dropped without close()")
    }

    static func from(_ data: UnsafeMutableRawPointer?) -> EventLoop? {
        data.map { Unmanaged<EventLoop>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Monotonic time in nanoseconds (uv_hrtime), the clock of every deadline here.
    public var nowNanoseconds: UInt64 { uv_hrtime() }

    /// Runs until `stop()` (uv_run, UV_RUN_DEFAULT).
    public func run() {
        precondition(!isClosed)
        uv_run(loop, UV_RUN_DEFAULT)
    }

    /// Runs one iteration (uv_run UV_RUN_ONCE, or UV_RUN_NOWAIT without blocking). Returns true if handles are alive.
    @discardableResult
    public func runOnce(nowait: Bool = false) -> Bool {
        precondition(!isClosed)
        return uv_run(loop, nowait ? UV_RUN_NOWAIT : UV_RUN_ONCE) != 0
    }

    /// Makes `run()` return after this iteration (uv_stop). From another thread use `remote.stop()`.
    public func stop() { uv_stop(loop) }

    /// Calls `body` once per loop iteration, before the loop waits for I/O (a uv_prepare handle).
    /// `body` returns true while it has more work; then the loop polls without blocking (a uv_idle handle),
    /// so a kernel's `runUntilIdle()` can run here between I/O events.
    @discardableResult
    public func addIterationCallback(_ body: @escaping () -> Bool) -> Int {
        nextID += 1
        iterationCallbacks.append((nextID, body))
        return nextID
    }

    public func removeIterationCallback(_ id: Int) { iterationCallbacks.removeAll { $0.id == id } }

    /// Transport's own per-iteration work (flushing links), run after the iteration callbacks so that
    /// frames sent by the kernel in this iteration leave before the loop blocks.
    func addBeforePollHook(_ body: @escaping () -> Void) -> Int {
        nextID += 1
        beforePollHooks.append((nextID, body))
        return nextID
    }

    func removeBeforePollHook(_ id: Int) { beforePollHooks.removeAll { $0.id == id } }

    /// Called on the loop thread after every `remote.wake()` / `post` (signal handling, device threads).
    public func setWakeHandler(_ body: (() -> Void)?) { wakeHandler = body }

    private func beforePoll() {
        var busy = false
        for callback in iterationCallbacks where callback.body() { busy = true }
        for hook in beforePollHooks { hook.body() }
        if busy != idleRunning {
            idleRunning = busy
            if busy { uv_idle_start(idleHandle) { _ in } } else { uv_idle_stop(idleHandle) }
        }
    }

    private func drainRemote() {
        let (work, stopRequested) = remote.take()
        for item in work { item() }
        wakeHandler?()
        if stopRequested { uv_stop(loop) }
    }

    /// Calls `body` at `deadlineNanoseconds` on the `nowNanoseconds` clock, and then every `repeatNanoseconds` if given
    /// (a uv_timer_t, millisecond resolution, never early).
    @discardableResult
    public func schedule(atNanoseconds deadlineNanoseconds: UInt64, repeatNanoseconds: UInt64? = nil,
                         _ body: @escaping () -> Void) -> LoopTimer {
        precondition(!isClosed)
        let timer = LoopTimer(loop: self, body: body)
        timers[ObjectIdentifier(timer)] = timer
        timer.start(atNanoseconds: deadlineNanoseconds, repeatNanoseconds: repeatNanoseconds)
        return timer
    }

    /// `schedule(atNanoseconds: now + delay)`.
    @discardableResult
    public func schedule(afterNanoseconds delay: UInt64, repeatNanoseconds: UInt64? = nil, _ body: @escaping () -> Void) -> LoopTimer {
        schedule(atNanoseconds: nowNanoseconds + delay, repeatNanoseconds: repeatNanoseconds, body)
    }

    func forget(_ timer: LoopTimer) { timers[ObjectIdentifier(timer)] = nil }

    /// Handles open on this loop (timers and sockets), for leak checks.
    public var openResourceCount: Int { timers.count + sockets.count }
    /// Sockets (TCP handles) open on this loop, including those still shutting down.
    public var openSocketCount: Int { sockets.count }

    /// Closes every timer and socket, the loop's own handles, and the loop (uv_loop_close).
    public func close() {
        guard !isClosed else { return }
        for closer in Array(sockets.values) { closer() }
        for timer in Array(timers.values) { timer.cancel() }
        remote.closeAsync()
        for handle in [UnsafeMutableRawPointer(prepareHandle), UnsafeMutableRawPointer(idleHandle), UnsafeMutableRawPointer(asyncHandle)] {
            uv_close(handle.assumingMemoryBound(to: uv_handle_t.self)) { handle in UnsafeMutableRawPointer(handle)?.deallocate() }
        }
        // Let the close callbacks run.
        var rounds = 0
        while uv_run(loop, UV_RUN_NOWAIT) != 0 && rounds < 10_000 { rounds += 1 }
        let status = uv_loop_close(loop)
        precondition(status == 0, "uv_loop_close: \(uvErrorText(status)) (a handle is still open)")
        loop.deallocate()
        readBufferStorage?.deallocate()
        readBufferStorage = nil
        isClosed = true
    }
}

/// A timer on an EventLoop (uv_timer_t). Fires on the loop thread; `cancel()` ends it.
public final class LoopTimer {
    private unowned let eventLoop: EventLoop
    private var handle: UnsafeMutablePointer<uv_timer_t>?
    private let body: () -> Void
    private var repeats = false
    private var deadline: UInt64 = 0

    fileprivate init(loop: EventLoop, body: @escaping () -> Void) {
        eventLoop = loop
        self.body = body
        let handle = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
        uv_timer_init(loop.loop, handle)
        handle.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        self.handle = handle
    }

    deinit { precondition(handle == nil, "LoopTimer leaked an open handle") }

    public var isActive: Bool { handle != nil }

    /// Moves the deadline (uv_timer_start); also revives a fired one-shot timer that was not cancelled.
    public func reschedule(atNanoseconds deadline: UInt64, repeatNanoseconds: UInt64? = nil) {
        precondition(handle != nil, "timer was cancelled")
        start(atNanoseconds: deadline, repeatNanoseconds: repeatNanoseconds)
    }

    fileprivate func start(atNanoseconds deadline: UInt64, repeatNanoseconds: UInt64?) {
        guard let handle else { return }
        self.deadline = deadline
        let period = repeatNanoseconds.map { max(1, ($0 + 999_999) / 1_000_000) } ?? 0
        repeats = period > 0
        // libuv counts in whole milliseconds from the loop's cached time (floor of the monotonic clock):
        // refresh it, and round the deadline up, so that the timer never fires before `deadline`.
        uv_update_time(eventLoop.loop)
        let deadlineMilliseconds = (deadline + 999_999) / 1_000_000
        let nowMilliseconds = uv_now(eventLoop.loop)
        let delay = deadlineMilliseconds > nowMilliseconds ? deadlineMilliseconds - nowMilliseconds : 0
        uv_timer_start(handle, { handle in
            guard let data = handle?.pointee.data else { return }
            let timer = Unmanaged<LoopTimer>.fromOpaque(data).takeUnretainedValue()
            timer.fire()
        }, delay, period)
    }

    private func fire() {
        // Should the loop's clock and uv_hrtime disagree, a one-shot timer waits out the rest rather than fire early.
        if !repeats, uv_hrtime() < deadline {
            start(atNanoseconds: deadline, repeatNanoseconds: nil)
            return
        }
        body()
        // A one-shot timer that was not rescheduled by its body is done.
        if !repeats, let handle, uv_is_active(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)) == 0 {
            cancel()
        }
    }

    /// Stops the timer and closes its handle (uv_close). Safe to call twice.
    public func cancel() {
        guard let handle else { return }
        self.handle = nil
        uv_close(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)) { handle in
            UnsafeMutableRawPointer(handle)?.deallocate()
        }
        eventLoop.forget(self)
    }
}

/// The thread-safe side of an EventLoop: `post`, `wake` and `stop` from any thread (uv_async_send).
/// Sendable because its only state is behind a Mutex, and the async handle is used only under it and only
/// until the loop closes it.
public final class EventLoopRemote: Sendable {
    private struct State {
        var work: [@Sendable () -> Void] = []
        var stopRequested = false
        /// The uv_async_t's address (an integer, so that the state is plainly Sendable); nil once the loop closed it.
        var asyncAddress: UInt?
        var async: UnsafeMutablePointer<uv_async_t>? { asyncAddress.flatMap { UnsafeMutablePointer(bitPattern: $0) } }
    }

    private let state: Mutex<State>

    fileprivate init(async: UnsafeMutablePointer<uv_async_t>) {
        state = Mutex(State(asyncAddress: UInt(bitPattern: async)))
    }

    /// Runs `body` on the loop thread soon. Returns false if the loop is closed.
    @discardableResult
    public func post(_ body: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state in
            guard let async = state.async else { return false }
            state.work.append(body)
            uv_async_send(async)
            return true
        }
    }

    /// Wakes the loop so that its wake handler runs. Returns false if the loop is closed.
    @discardableResult
    public func wake() -> Bool {
        state.withLock { state in
            guard let async = state.async else { return false }
            uv_async_send(async)
            return true
        }
    }

    /// Makes the loop's `run()` return.
    public func stop() {
        state.withLock { state in
            guard let async = state.async else { return }
            state.stopRequested = true
            uv_async_send(async)
        }
    }

    fileprivate func take() -> ([@Sendable () -> Void], Bool) {
        state.withLock { state in
            let taken = (state.work, state.stopRequested)
            state.work = []
            state.stopRequested = false
            return taken
        }
    }

    fileprivate func closeAsync() { state.withLock { $0.asyncAddress = nil } }
}

/// libuv's name and message for an error status (uv_err_name, uv_strerror).
func uvErrorText(_ status: Int32) -> String {
    "\(String(cString: uv_strerror(status))) (\(String(cString: uv_err_name(status))))"
}
