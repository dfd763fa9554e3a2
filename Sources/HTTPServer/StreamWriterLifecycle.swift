import Synchronization

/// What the HTTP/1.1 and h2 stream writers share: writes are accepted until `finish` or
/// `abort` (or the end of the stream), the close handlers run exactly once when the
/// stream ends, and a count of the bytes written and not yet sent.
///
/// `whileAccepting` runs its body under the lock, so the posts a writer makes there keep
/// call order: a write cannot overtake the `finish` that follows it.
final class StreamWriterLifecycle: Sendable {
    private struct State {
        /// Writes are still accepted (no finish/abort yet, stream not over).
        var accepting: Bool
        /// The stream is over; close handlers have run.
        var ended: Bool
        var closeHandlers: [@Sendable () -> Void] = []
    }

    private let state: Mutex<State>
    private let buffered: Atomic<Int>

    /// `open` false: a writer that is over from the start (nothing to write to).
    init(open: Bool, initiallyBuffered: Int = 0) {
        state = Mutex(State(accepting: open, ended: !open))
        buffered = Atomic(initiallyBuffered)
    }

    /// Runs `body` if writes are still accepted, under the lock; `closing` stops accepting
    /// after it. False if writes were no longer accepted.
    @discardableResult
    func whileAccepting(closing: Bool = false, _ body: () -> Void) -> Bool {
        state.withLock { state in
            guard state.accepting else { return false }
            if closing { state.accepting = false }
            body()
            return true
        }
    }

    /// Bytes written and not yet sent (never negative).
    var bufferedBytes: Int { max(0, buffered.load(ordering: .relaxed)) }

    func buffer(_ byteCount: Int) {
        buffered.add(byteCount, ordering: .relaxed)
    }

    func sent(_ byteCount: Int) {
        buffered.subtract(byteCount, ordering: .relaxed)
    }

    /// Adds a close handler; once the stream is over it runs at once, on this thread.
    func onClose(_ handler: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state in
            if state.ended { return true }
            state.closeHandlers.append(handler)
            return false
        }
        if runNow { handler() }
    }

    /// The stream is over: refuse further writes and run the close handlers, once.
    func end() {
        let handlers = state.withLock { state -> [@Sendable () -> Void] in
            state.accepting = false
            guard !state.ended else { return [] }
            state.ended = true
            defer { state.closeHandlers = [] }
            return state.closeHandlers
        }
        for handler in handlers { handler() }
    }
}
