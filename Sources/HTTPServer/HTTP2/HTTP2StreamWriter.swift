/// The writer of a streamed response body on one h2 stream.
///
/// Thread-safe: writes are posted to the connection's inbox in call order, under the
/// writer's lock so a write cannot overtake the `finish` that follows it. Each write
/// leaves as one DATA frame or more (never sharing a frame with the next write);
/// `finish` sends END_STREAM, `abort` RST_STREAM. `bufferedBytes` counts bytes handed to
/// `write` and not yet framed into the connection's output: a peer that stops reading
/// (flow-control window closed, or the socket full) shows up there.
final class HTTP2StreamWriter: HTTPBodyStreamWriter {
    let streamID: Int32
    private let connection: HTTP2Connection?
    private let lifecycle: StreamWriterLifecycle

    init(connection: HTTP2Connection?, streamID: Int32) {
        self.connection = connection
        self.streamID = streamID
        lifecycle = StreamWriterLifecycle(open: connection != nil)
    }

    /// A writer for a response that has no body (HEAD, 204): closed from the start.
    static func ended() -> HTTP2StreamWriter {
        HTTP2StreamWriter(connection: nil, streamID: 0)
    }

    @discardableResult
    func write(_ chunk: [UInt8]) -> Bool {
        lifecycle.whileAccepting {
            guard !chunk.isEmpty else { return }
            lifecycle.buffer(chunk.count)
            connection?.post(.streamData(streamID: streamID, chunk))
        }
    }

    func finish() {
        lifecycle.whileAccepting(closing: true) { connection?.post(.streamFinish(streamID: streamID)) }
    }

    func abort() {
        lifecycle.whileAccepting(closing: true) { connection?.post(.streamAbort(streamID: streamID)) }
    }

    var bufferedBytes: Int { lifecycle.bufferedBytes }

    func onClose(_ handler: @escaping @Sendable () -> Void) { lifecycle.onClose(handler) }

    /// `byteCount` bytes of this stream were framed into the connection's output.
    func sent(_ byteCount: Int) { lifecycle.sent(byteCount) }

    /// The stream is closed (END_STREAM sent and seen, reset, or the connection gone):
    /// refuse further writes and run the close handlers, once.
    func end() { lifecycle.end() }
}
