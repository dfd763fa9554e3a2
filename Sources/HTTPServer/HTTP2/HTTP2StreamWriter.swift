import Synchronization

/// The writer of a streamed response body on one h2 stream.
///
/// Thread-safe: writes are posted to the connection's inbox in call order, under the
/// writer's lock so a write cannot overtake the `finish` that follows it. Each write
/// leaves as one DATA frame or more (never sharing a frame with the next write);
/// `finish` sends END_STREAM, `abort` RST_STREAM. `bufferedBytes` counts bytes handed to
/// `write` and not yet framed into the connection's output: a peer that stops reading
/// (flow-control window closed, or the socket full) shows up there.
final class HTTP2StreamWriter: HTTPBodyStreamWriter {
    private struct State {
        /// `write` still accepts bytes (no finish/abort yet, stream not closed).
        var accepting: Bool
        /// The stream is over; close handlers have run.
        var ended: Bool
        var closeHandlers: [@Sendable () -> Void] = []
    }

    let streamID: Int32
    private let connection: HTTP2Connection?
    private let state: Mutex<State>
    private let buffered = Atomic<Int>(0)

    init(connection: HTTP2Connection?, streamID: Int32) {
        self.connection = connection
        self.streamID = streamID
        let open = connection != nil
        state = Mutex(State(accepting: open, ended: !open))
    }

    /// A writer for a response that has no body (HEAD, 204): closed from the start.
    static func ended() -> HTTP2StreamWriter {
        HTTP2StreamWriter(connection: nil, streamID: 0)
    }

    @discardableResult
    func write(_ chunk: [UInt8]) -> Bool {
        state.withLock { state in
            guard state.accepting, let connection else { return false }
            guard !chunk.isEmpty else { return true }
            buffered.add(chunk.count, ordering: .relaxed)
            connection.post(.streamData(streamID: streamID, chunk))
            return true
        }
    }

    func finish() {
        state.withLock { state in
            guard state.accepting, let connection else { return }
            state.accepting = false
            connection.post(.streamFinish(streamID: streamID))
        }
    }

    func abort() {
        state.withLock { state in
            guard state.accepting, let connection else { return }
            state.accepting = false
            connection.post(.streamAbort(streamID: streamID))
        }
    }

    var bufferedBytes: Int { max(0, buffered.load(ordering: .relaxed)) }

    func onClose(_ handler: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state in
            if state.ended { return true }
            state.closeHandlers.append(handler)
            return false
        }
        if runNow { handler() }
    }

    /// `byteCount` bytes of this stream were framed into the connection's output.
    func sent(_ byteCount: Int) {
        buffered.subtract(byteCount, ordering: .relaxed)
    }

    /// The stream is closed (END_STREAM sent and seen, reset, or the connection gone):
    /// refuse further writes and run the close handlers, once.
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
