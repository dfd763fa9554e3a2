internal import CNghttp2

// The server side of one HTTP/2 connection: libnghttp2's session behind a bytes-in,
// bytes-out seam. It never sees a socket (the connection feeds it what was read and
// hands it the transport's outbound buffer to fill), a responder, or a queue.
//
//     peer bytes ──receive──> nghttp2_session_mem_recv ──callbacks──> streams, events
//     respond / appendData ──> nghttp2_submit_* ──send──> nghttp2_session_mem_send ──> outbound buffer
//
// A stream's life here, from the request's first HEADERS to its close:
//
//     receiving ──(END_STREAM)──> dispatched (`Event.request` out) ──respond──> responding ──(END_STREAM sent)──> done
//         │                                                                                         │
//         └─(limit broken or request timeout: an error response at once, RST_STREAM(NO_ERROR)       │
//            after its END_STREAM, and the rest of the request dropped)                             │
//     any state ──(RST_STREAM either way, GOAWAY, connection end)──> closed (`on_stream_close`) <──┘
//
// Response bodies leave without an extra copy: DATA frames use NGHTTP2_DATA_FLAG_NO_COPY,
// so nghttp2 asks for a frame's length and flags (`dataSourceRead`) and then lets us
// write the 9-byte frame header and the payload straight from the response's own bytes
// into the outbound buffer (`sendData`). `send` stops once its byte budget is used, so
// a huge response is framed only as fast as the socket drains, and never buffered twice.
//
// Rapid reset (CVE-2023-44487): every stream that closes before its response is complete
// (the peer's RST_STREAM, whatever its error code, or one nghttp2 resets for a protocol
// error the peer provoked) spends a token of `StreamResetBudget`; an empty budget ends
// the session with GOAWAY(ENHANCE_YOUR_CALM), after which nghttp2 ignores new streams.
// A cancelled stream's state is dropped at its close; the responder's late answer finds
// no stream and is ignored. Floods of PING and SETTINGS are nghttp2's to bound
// (`max_outbound_ack`): it fails the session once that many acknowledgements wait, and
// the connection ends with a GOAWAY(ENHANCE_YOUR_CALM) we frame ourselves
// (`appendFloodGoAway`), nghttp2 being past sending anything.

/// One server-side HTTP/2 session over libnghttp2. Not thread-safe: its owner calls it
/// from one queue.
final class HTTP2Session {
    struct Settings: Sendable, Equatable {
        /// SETTINGS_MAX_CONCURRENT_STREAMS: streams the peer may have open at once; nghttp2
        /// refuses more with RST_STREAM(REFUSED_STREAM).
        var maxConcurrentStreams = 1000
        /// SETTINGS_INITIAL_WINDOW_SIZE: request body bytes a stream may send before we
        /// open its window again (nghttp2 does, as the bytes arrive).
        var initialStreamWindowBytes = 1 << 20
        /// The connection's receive window, across all streams.
        var connectionWindowBytes = 16 << 20
        /// SETTINGS_MAX_HEADER_LIST_SIZE, also enforced (RFC 9113 §6.5.2 accounting: name,
        /// value and 32 per field): a larger request head gets 431.
        var maxHeaderListBytes = 64 << 10
        /// The most fields in a request head (431 beyond it).
        var maxHeaderCount = 100
        /// The largest request body; a larger one gets 413 and the rest is dropped.
        var maxBodyBytes = 16 << 20
        /// Rapid-reset protection: streams that may end before their response is complete
        /// in a burst, and how many more are allowed per second after it.
        var streamResetBurst = 200
        var streamResetsPerSecond = 30
        /// PING and SETTINGS acknowledgements that may wait to be sent; a peer that makes
        /// more is flooding and the session fails.
        var maxQueuedControlFrames = 1000
    }

    enum Event {
        /// A complete request on `streamID`; answer with `respond`.
        case request(streamID: Int32, HTTPRequest)
        /// A streamed response's stream is over (finished, reset or cut): its writer must
        /// stop accepting and run its close handlers.
        case streamClosed(HTTP2StreamWriter)
    }

    /// What follows a response head.
    enum ResponseBody {
        /// No DATA: END_STREAM on the HEADERS frame. `contentLength` is still announced
        /// (a HEAD response says how long the GET body would be).
        case empty(contentLength: Int?)
        /// Sent in frames straight from these bytes, with `content-length`.
        case bytes([UInt8])
        /// Sent as `appendData` supplies it, until `finishData`.
        case stream(HTTP2StreamWriter)
    }

    /// Why the session cannot go on; the connection should close.
    struct Failure: Error, CustomStringConvertible {
        var code: Int
        var description: String

        /// The peer made nghttp2 queue more control-frame acknowledgements (PING,
        /// SETTINGS) than `maxQueuedControlFrames`.
        var isFlood: Bool { code == Int(NGHTTP2_ERR_FLOODED.rawValue) }
    }

    let settings: Settings
    /// The uptime clock in nanoseconds, injected so tests decide what time it is.
    private let clock: () -> UInt64
    // Set once in `init`, right after `self` exists (nghttp2 needs `self` as its user
    // data to create the session), and never nil after that.
    private var session: OpaquePointer!

    private var streams: [Int32: HTTP2Stream] = [:]
    /// Streams whose request is still arriving, oldest first (stream ids and start times
    /// both increase); entries that completed or closed are skipped lazily.
    private var incompleteRequests: [Int32] = []
    private var incompleteRequestsHead = 0
    private var events: [Event] = []
    private var resetBudget: StreamResetBudget
    private(set) var failure: Failure?
    /// Response body bytes submitted (or written to a streamed response) and not yet
    /// framed into the output: what the peer's flow-control windows, or our framing
    /// budget, hold back.
    private(set) var unsentResponseBytes = 0
    /// GOAWAY(ENHANCE_YOUR_CALM) has been submitted.
    private(set) var calmedDown = false
    /// The last stream named by our graceful GOAWAY: streams above it are refused when it
    /// is sent, so their requests must never reach the responder.
    private var goAwayLastStreamID: Int32?

    /// The outbound buffer while `send` runs (swapped in and out, never copied), and the
    /// size at which DATA framing pauses.
    private var output: [UInt8] = []
    private var outputLimit = 0

    // Scratch space for response heads, reused so answering allocates little.
    private var headBytes: [UInt8] = []
    private var headFields: [(name: Range<Int>, value: Range<Int>)] = []
    private var headEntries: [nghttp2_nv] = []

    /// The libnghttp2 loaded at run time is at least the one compiled against (an older
    /// one may lack what the headers promised); checked once, before the first session.
    private static let libraryChecked: Void = {
        let version = CNghttp2_version_num()
        precondition(nghttp2_version(version) != nil,
                     "libnghttp2 is older than the \(String(version, radix: 16)) this server was built with")
    }()

    init(settings: Settings, clock: @escaping () -> UInt64) {
        _ = Self.libraryChecked
        self.settings = settings
        self.clock = clock
        resetBudget = StreamResetBudget(burst: settings.streamResetBurst, perSecond: settings.streamResetsPerSecond,
                                        now: clock())

        var callbacks: OpaquePointer?
        precondition(nghttp2_session_callbacks_new(&callbacks) == 0, "nghttp2_session_callbacks_new: out of memory")
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkReceived)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameReceived)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSent)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClosed)
        nghttp2_session_callbacks_set_send_data_callback(callbacks, onSendData)

        var options: OpaquePointer?
        precondition(nghttp2_option_new(&options) == 0, "nghttp2_option_new: out of memory")
        defer { nghttp2_option_del(options) }
        nghttp2_option_set_max_outbound_ack(options, settings.maxQueuedControlFrames)
        // Closed streams are kept only for RFC 7540 priorities, which we do not use
        // (SETTINGS_NO_RFC7540_PRIORITIES below): a reset flood leaves nothing behind.
        nghttp2_option_set_no_closed_streams(options, 1)

        var created: OpaquePointer?
        let result = nghttp2_session_server_new2(&created, callbacks, Unmanaged.passUnretained(self).toOpaque(),
                                                 options)
        precondition(result == 0, "nghttp2_session_server_new2: \(String(cString: nghttp2_strerror(result)))")
        session = created
    }

    deinit {
        // Frees the streams without calling back (nghttp2_session_del makes no callbacks).
        nghttp2_session_del(session)
    }

    // MARK: - Starting

    /// Queues the server's connection preface: SETTINGS and the connection window.
    /// Call once, first, on a connection that starts with the client preface.
    func start() {
        submitSettings()
    }

    /// Starts a connection upgraded from HTTP/1.1 (RFC 7540 §3.2): applies the client's
    /// `HTTP2-Settings`, queues our SETTINGS, and makes `request` stream 1, half-closed
    /// by the peer, whose `Event.request` is queued at once. Nil if nghttp2 rejects the
    /// settings payload.
    func startUpgraded(settingsPayload: [UInt8], request: HTTPRequest) -> Failure? {
        let isHead = request.method == "HEAD"
        let result = settingsPayload.withUnsafeBufferPointer { payload in
            nghttp2_session_upgrade2(session, payload.baseAddress, payload.count, isHead ? 1 : 0, nil)
        }
        guard result == 0 else {
            return Failure(code: Int(result), description: String(cString: nghttp2_strerror(result)))
        }
        submitSettings()
        let stream = HTTP2Stream(id: 1, openedAt: clock())
        stream.isHead = isHead
        stream.requestComplete = true
        stream.dispatched = true
        streams[1] = stream
        events.append(.request(streamID: 1, request))
        return nil
    }

    private func submitSettings() {
        let entries = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                                   value: UInt32(clamping: settings.maxConcurrentStreams)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                                   value: UInt32(clamping: min(settings.initialStreamWindowBytes, Int(Int32.max)))),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                                   value: UInt32(clamping: settings.maxHeaderListBytes)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        let result = entries.withUnsafeBufferPointer {
            nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), $0.baseAddress, $0.count)
        }
        precondition(result == 0, "nghttp2_submit_settings: \(String(cString: nghttp2_strerror(result)))")
        let window = Int32(clamping: settings.connectionWindowBytes)
        if window > 65_535 {
            nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, window)
        }
    }

    // MARK: - Input

    /// Feeds bytes from the peer. Events it produces wait in `takeEvents`. False (and
    /// `failure` set) if the session cannot go on: the peer broke the protocol beyond
    /// what a GOAWAY answers, or flooded it.
    @discardableResult
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard failure == nil else { return false }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        let result = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        if result < 0 {
            failure = Failure(code: result, description: String(cString: nghttp2_strerror(Int32(result))))
            return false
        }
        return true
    }

    /// Moves the events produced since the last call into `into` (emptied first).
    func takeEvents(into drained: inout [Event]) {
        drained.removeAll(keepingCapacity: true)
        swap(&events, &drained)
    }

    // MARK: - Output

    /// Appends frames to `out` until about `budget` bytes were added or nothing more may
    /// be sent now (flow control, nothing queued). A DATA frame is never split, so the
    /// budget may be passed by up to one frame. Returns false (and sets `failure`) if
    /// nghttp2 fails.
    @discardableResult
    func send(into out: inout [UInt8], budget: Int) -> Bool {
        guard failure == nil else { return false }
        swap(&out, &output)
        defer { swap(&out, &output) }
        outputLimit = output.count + budget
        while output.count < outputLimit {
            var frame: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &frame)
            if count < 0 {
                failure = Failure(code: count, description: String(cString: nghttp2_strerror(Int32(count))))
                return false
            }
            // Zero: nothing left, or DATA framing paused at the budget (`sendData`).
            guard count > 0, let frame else { break }
            output.append(contentsOf: UnsafeBufferPointer(start: frame, count: count))
        }
        return true
    }

    /// nghttp2 still expects frames from the peer (false once GOAWAY has been exchanged
    /// and no stream is left, or the session was terminated).
    var wantsRead: Bool { failure == nil && nghttp2_session_want_read(session) != 0 }
    /// nghttp2 has frames to send.
    var wantsWrite: Bool { failure == nil && nghttp2_session_want_write(session) != 0 }
    /// The session is over: close the connection once the output is sent.
    var isFinished: Bool { failure != nil || (!wantsRead && !wantsWrite) }

    /// Streams open from their first HEADERS until their close.
    var streamCount: Int { streams.count }

    /// When the oldest request still arriving began, if any.
    var oldestIncompleteRequestStart: UInt64? {
        while incompleteRequestsHead < incompleteRequests.count {
            let id = incompleteRequests[incompleteRequestsHead]
            if let stream = streams[id], !stream.requestComplete, stream.rejection == nil { return stream.openedAt }
            incompleteRequestsHead += 1
        }
        if incompleteRequestsHead > 0 {
            incompleteRequests.removeAll(keepingCapacity: incompleteRequests.capacity <= 1024)
            incompleteRequestsHead = 0
        }
        return nil
    }

    // MARK: - Answering

    /// Whether the request on `streamID`, which waits for the responder's answer, is a
    /// HEAD request; nil if the stream is gone (reset, say) or was answered.
    func awaitedRequestIsHead(streamID: Int32) -> Bool? {
        guard let stream = streams[streamID], stream.dispatched, !stream.responded else { return nil }
        return stream.isHead
    }

    /// Queues the response to a dispatched request. False if the stream is gone or was
    /// answered (a late or second answer), in which case nothing is queued.
    @discardableResult
    func respond(streamID: Int32, status: Int, headers: HTTPHeaders, body: ResponseBody, date: [UInt8]) -> Bool {
        guard let stream = streams[streamID], stream.dispatched, !stream.responded else { return false }
        return submitResponse(stream, status: status, headers: headers, body: body, date: date)
    }

    private func submitResponse(_ stream: HTTP2Stream, status: Int, headers: HTTPHeaders, body: ResponseBody,
                                date: [UInt8]) -> Bool {
        let contentLength: Int?
        var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: dataSourceRead)
        let hasData: Bool
        switch body {
        case .empty(let length):
            contentLength = length
            hasData = false
        case .bytes(let bytes):
            contentLength = bytes.count
            stream.responseBytes = bytes
            unsentResponseBytes += bytes.count
            hasData = true
        case .stream(let writer):
            contentLength = nil
            stream.writer = writer
            stream.streamedBody = ChunkQueue()
            hasData = true
        }
        buildHead(status: status, headers: headers, contentLength: contentLength, date: date)
        let result = headBytes.withUnsafeMutableBufferPointer { bytes in
            headEntries.removeAll(keepingCapacity: true)
            for field in headFields {
                headEntries.append(nghttp2_nv(
                    name: bytes.baseAddress! + field.name.lowerBound, value: bytes.baseAddress! + field.value.lowerBound,
                    namelen: field.name.count, valuelen: field.value.count,
                    flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
            }
            return headEntries.withUnsafeBufferPointer { entries in
                hasData
                    ? nghttp2_submit_response(session, stream.id, entries.baseAddress, entries.count, &provider)
                    : nghttp2_submit_response(session, stream.id, entries.baseAddress, entries.count, nil)
            }
        }
        guard result == 0 else {
            unsentResponseBytes -= stream.responseBytes.count
            stream.responseBytes = []
            stream.streamedBody = nil
            stream.writer = nil
            return false
        }
        stream.responded = true
        return true
    }

    /// Fields no h2 response may carry (RFC 9113 §8.2.2), or that the server sets itself.
    private static let droppedFields = ["connection", "keep-alive", "proxy-connection", "transfer-encoding",
                                        "upgrade", "te", "content-length"]

    /// Lays out `:status` and the fields, lowercased (RFC 9113 §8.2.1) and with control
    /// characters in values made spaces, in `headBytes`/`headFields`.
    private func buildHead(status: Int, headers: HTTPHeaders, contentLength: Int?, date: [UInt8]) {
        headBytes.removeAll(keepingCapacity: true)
        headFields.removeAll(keepingCapacity: true)
        func addField(_ name: StaticString, _ appendValue: (inout [UInt8]) -> Void) {
            let nameStart = headBytes.count
            name.withUTF8Buffer { headBytes.append(contentsOf: $0) }
            let valueStart = headBytes.count
            appendValue(&headBytes)
            headFields.append((nameStart..<valueStart, valueStart..<headBytes.count))
        }
        addField(":status") { HTTP1Serializer.appendDecimal(status, into: &$0) }
        var hasDate = false
        for field in headers {
            if field.name.utf8.first == UInt8(ascii: ":")
                || Self.droppedFields.contains(where: { HTTPHeaders.equalNames(field.name, $0) }) {
                continue
            }
            if HTTPHeaders.equalNames(field.name, "date") { hasDate = true }
            let nameStart = headBytes.count
            for byte in field.name.utf8 {
                headBytes.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte)
            }
            let valueStart = headBytes.count
            for byte in field.value.utf8 {
                headBytes.append(ASCII.isFieldValueCharacter(byte) ? byte : ASCII.space)
            }
            headFields.append((nameStart..<valueStart, valueStart..<headBytes.count))
        }
        if let contentLength {
            addField("content-length") { HTTP1Serializer.appendDecimal(contentLength, into: &$0) }
        }
        if !hasDate && !date.isEmpty {
            addField("date") { $0.append(contentsOf: date) }
        }
    }

    /// Queues a chunk of a streamed response. False if the stream is gone.
    @discardableResult
    func appendData(_ chunk: [UInt8], streamID: Int32) -> Bool {
        guard let stream = streams[streamID], stream.streamedBody != nil, !stream.dataFinished else { return false }
        stream.streamedBody!.append(chunk)
        unsentResponseBytes += chunk.count
        resumeIfDeferred(stream)
        return true
    }

    /// Ends a streamed response (END_STREAM after what is queued).
    func finishData(streamID: Int32) {
        guard let stream = streams[streamID], stream.streamedBody != nil, !stream.dataFinished else { return }
        stream.dataFinished = true
        resumeIfDeferred(stream)
    }

    private func resumeIfDeferred(_ stream: HTTP2Stream) {
        guard stream.dataDeferred else { return }
        stream.dataDeferred = false
        nghttp2_session_resume_data(session, stream.id)
    }

    /// Resets a stream on the server's own initiative (a streamed response aborted, the
    /// peer gone). Not counted as a peer's reset.
    func cancel(streamID: Int32, code: UInt32 = NGHTTP2_INTERNAL_ERROR.rawValue) {
        guard let stream = streams[streamID], !stream.serverReset else { return }
        stream.serverReset = true
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, code)
    }

    // MARK: - Ending

    /// Graceful end (RFC 9113 §6.8): GOAWAY(NO_ERROR) naming the last stream we took;
    /// those below it finish, nothing new starts.
    func goAway() {
        guard failure == nil, goAwayLastStreamID == nil else { return }
        let last = nghttp2_session_get_last_proc_stream_id(session)
        goAwayLastStreamID = last
        nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, NGHTTP2_NO_ERROR.rawValue, nil, 0)
    }

    /// After a flood (`Failure.isFlood`) nghttp2 is done with the session: appends a
    /// GOAWAY(ENHANCE_YOUR_CALM) frame, built here, naming the last stream it processed,
    /// so the peer learns why the connection ends. The acknowledgements still queued in
    /// nghttp2 are dropped: they are what the peer flooded us with.
    func appendFloodGoAway(into out: inout [UInt8]) {
        let last = UInt32(max(0, nghttp2_session_get_last_proc_stream_id(session)))
        let code = NGHTTP2_ENHANCE_YOUR_CALM.rawValue
        // Length 8, type GOAWAY, no flags, stream 0 (RFC 9113 §6.8).
        out.append(contentsOf: [0, 0, 8, UInt8(NGHTTP2_GOAWAY.rawValue), 0, 0, 0, 0, 0])
        for value in [last & 0x7fff_ffff, code] {
            out.append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff),
                                    UInt8(value & 0xff)])
        }
    }

    /// The peer sent EOF: nothing more arrives, so requests still arriving and streamed
    /// responses (which only end when the peer reads them out) are reset; answers owed
    /// for complete requests still go out. New streams are refused.
    func peerEnded() {
        goAway()
        for stream in streams.values where !stream.requestComplete || stream.writer != nil {
            cancel(streamID: stream.id, code: NGHTTP2_CANCEL.rawValue)
        }
    }

    /// Answers every request that began arriving at or before `cutoff` and is still
    /// incomplete with 408 (its remaining frames are dropped). Returns how many.
    @discardableResult
    func expireIncompleteRequests(startedAtOrBefore cutoff: UInt64) -> Int {
        var expired = 0
        var index = incompleteRequestsHead
        while index < incompleteRequests.count {
            defer { index += 1 }
            guard let stream = streams[incompleteRequests[index]], !stream.requestComplete,
                  stream.rejection == nil else { continue }
            guard stream.openedAt <= cutoff else { break }
            reject(stream, status: 408)
            expired += 1
        }
        return expired
    }

    /// The connection is gone: forgets every stream and returns the writers of the
    /// streamed responses, which the caller must end.
    func closeAll() -> [HTTP2StreamWriter] {
        let writers = streams.values.compactMap(\.writer)
        streams.removeAll()
        unsentResponseBytes = 0
        incompleteRequests.removeAll()
        incompleteRequestsHead = 0
        if failure == nil { failure = Failure(code: 0, description: "connection closed") }
        return writers
    }

    // MARK: - Callbacks (from the trampolines below)

    fileprivate func beginRequest(streamID: Int32) -> Int32 {
        let stream = HTTP2Stream(id: streamID, openedAt: clock())
        streams[streamID] = stream
        incompleteRequests.append(streamID)
        return 0
    }

    fileprivate func receiveField(streamID: Int32, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>)
        -> Int32 {
        guard let stream = streams[streamID], stream.rejection == nil, !stream.requestComplete else { return 0 }
        // Trailers (a second HEADERS) count against the same limits and are dropped.
        stream.headerListBytes += name.count + value.count + 32
        if stream.headerListBytes > settings.maxHeaderListBytes {
            stream.rejection = 431
            return 0
        }
        if name.first == UInt8(ascii: ":") {
            if Self.equals(name, ":method") {
                stream.method = String(decoding: value, as: UTF8.self)
                stream.isHead = stream.method == "HEAD"
            } else if Self.equals(name, ":path") {
                guard let target = HTTP1Parser.splitTarget(value[...]) else {
                    stream.rejection = 400
                    return 0
                }
                stream.path = target.path
                stream.query = target.query
            } else if Self.equals(name, ":authority") {
                stream.authority = String(decoding: value, as: UTF8.self)
            }
            // :scheme says nothing the server needs; nghttp2 checked it is there.
            return 0
        }
        guard !stream.headersComplete else { return 0 }
        if stream.headers.count >= settings.maxHeaderCount {
            stream.rejection = 431
            return 0
        }
        stream.headers.add(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        return 0
    }

    fileprivate func receiveData(streamID: Int32, _ data: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard let stream = streams[streamID], stream.rejection == nil, !stream.requestComplete else { return 0 }
        guard stream.body.count + data.count <= settings.maxBodyBytes else {
            reject(stream, status: 413)
            return 0
        }
        stream.body.append(contentsOf: data)
        return 0
    }

    fileprivate func receiveFrame(type: UInt8, flags: UInt8, streamID: Int32, isRequestHeaders: Bool) -> Int32 {
        guard let stream = streams[streamID] else { return 0 }
        let endStream = flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch type {
        case UInt8(NGHTTP2_HEADERS.rawValue):
            if isRequestHeaders {
                stream.headersComplete = true
                if let status = stream.rejection, !stream.responded {
                    reject(stream, status: status)
                } else if !endStream, stream.rejection == nil,
                          stream.headers["expect"].map({ ASCII.equalsIgnoringCase($0.utf8, "100-continue") }) == true {
                    submitContinue(stream)
                }
            }
            if endStream { requestEnded(stream) }
        case UInt8(NGHTTP2_DATA.rawValue):
            if endStream { requestEnded(stream) }
        default:
            break
        }
        return 0
    }

    private func submitContinue(_ stream: HTTP2Stream) {
        var status = Array(":status100".utf8)
        status.withUnsafeMutableBufferPointer { bytes in
            var entry = nghttp2_nv(name: bytes.baseAddress!, value: bytes.baseAddress! + 7, namelen: 7, valuelen: 3,
                                   flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            _ = nghttp2_submit_headers(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, nil, &entry, 1, nil)
        }
    }

    private func requestEnded(_ stream: HTTP2Stream) {
        guard !stream.requestComplete else { return }
        stream.requestComplete = true
        if let status = stream.rejection {
            if !stream.responded { reject(stream, status: status) }
            return
        }
        if let last = goAwayLastStreamID, stream.id > last {
            // Refused by our GOAWAY once it is sent (the peer may retry it elsewhere).
            return
        }
        guard let method = stream.method, let path = stream.path else {
            // nghttp2 lets CONNECT through without :path; we serve no such thing.
            reject(stream, status: 400)
            return
        }
        var headers = stream.headers
        if let authority = stream.authority, headers["host"] == nil { headers.add("host", authority) }
        let request = HTTPRequest(method: method, path: path, query: stream.query, version: .http2,
                                  headers: headers, body: stream.body)
        stream.headers = HTTPHeaders()
        stream.body = []
        stream.dispatched = true
        events.append(.request(streamID: stream.id, request))
    }

    /// Answers at once with `status` and a short text body; what is left of the request
    /// is dropped, and once the answer's END_STREAM is out the stream is reset with
    /// NO_ERROR if the peer is still sending (`frameSent`).
    private func reject(_ stream: HTTP2Stream, status: Int) {
        stream.rejection = status
        stream.body = []
        stream.headers = HTTPHeaders()
        guard !stream.responded else { return }
        let text = Array("\(status) \(HTTPResponse.reason(status))".utf8)
        // No date cache here: error answers are rare, and clients do not need one.
        _ = submitResponse(stream, status: status, headers: ["content-type": "text/plain; charset=utf-8"],
                           body: stream.isHead ? .empty(contentLength: text.count) : .bytes(text), date: [])
    }

    fileprivate func frameSent(type: UInt8, flags: UInt8, streamID: Int32) -> Int32 {
        guard type == UInt8(NGHTTP2_HEADERS.rawValue) || type == UInt8(NGHTTP2_DATA.rawValue),
              flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
              let stream = streams[streamID] else { return 0 }
        stream.responseComplete = true
        if !stream.requestComplete {
            // RFC 9113 §8.1: the answer is complete before the request; tell the peer to
            // stop sending it.
            stream.serverReset = true
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID,
                                      NGHTTP2_NO_ERROR.rawValue)
        }
        return 0
    }

    fileprivate func streamClosed(streamID: Int32, errorCode: UInt32) -> Int32 {
        guard let stream = streams.removeValue(forKey: streamID) else { return 0 }
        unsentResponseBytes -= stream.unsentBodyBytes
        if let writer = stream.writer { events.append(.streamClosed(writer)) }
        // Once we are going away, streams closing early are our doing, not the peer's.
        let cancelledByPeer = !stream.responseComplete && !stream.serverReset && goAwayLastStreamID == nil
        if cancelledByPeer && !calmedDown && !resetBudget.spend(now: clock()) {
            calmedDown = true
            nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        }
        return 0
    }

    fileprivate func readData(streamID: Int32, length: Int, flags: inout UInt32) -> Int {
        guard let stream = streams[streamID] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        var count: Int
        var isLast: Bool
        if stream.streamedBody != nil {
            // One write's bytes never share a frame with the next write's (events.md: a
            // frame or more per write).
            let available = stream.streamedBody!.headChunkRemaining
            if available == 0 {
                guard stream.dataFinished else {
                    stream.dataDeferred = true
                    return Int(NGHTTP2_ERR_DEFERRED.rawValue)
                }
                count = 0
                isLast = true
            } else {
                count = min(length, available)
                isLast = stream.dataFinished && count == stream.streamedBody!.byteCount
            }
        } else {
            let remaining = stream.responseBytes.count - stream.responseBytesSent
            count = min(length, remaining)
            isLast = count == remaining
        }
        flags |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue
        if isLast { flags |= NGHTTP2_DATA_FLAG_EOF.rawValue }
        return count
    }

    fileprivate func sendData(streamID: Int32, frameHeader: UnsafePointer<UInt8>, length: Int) -> Int32 {
        guard let stream = streams[streamID] else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
        output.append(contentsOf: UnsafeBufferPointer(start: frameHeader, count: 9))
        if stream.streamedBody != nil {
            stream.streamedBody!.move(length, into: &output)
            stream.writer?.sent(length)
            unsentResponseBytes -= length
        } else {
            let start = stream.responseBytesSent
            output.append(contentsOf: stream.responseBytes[start..<(start + length)])
            stream.responseBytesSent += length
            unsentResponseBytes -= length
            if stream.responseBytesSent == stream.responseBytes.count {
                // The body is out: its memory (tens of MB for a big list) goes now, not
                // when the peer gets round to closing the stream.
                stream.responseBytes = []
                stream.responseBytesSent = 0
            }
        }
        // Pausing makes mem_send return, so `send` can stop at its budget.
        return output.count >= outputLimit ? NGHTTP2_ERR_PAUSE.rawValue : 0
    }

    private static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { bytes.elementsEqual($0) }
    }
}

/// A stream's request and response state inside `HTTP2Session`.
private final class HTTP2Stream {
    let id: Int32
    /// When its first HEADERS arrived (the request timeout counts from here).
    let openedAt: UInt64

    // The request as it arrives.
    var method: String?
    var path: String?
    var query: String?
    var authority: String?
    var isHead = false
    var headers = HTTPHeaders()
    var headerListBytes = 0
    var headersComplete = false
    var body: [UInt8] = []
    /// The error status the request gets instead of dispatch (a limit broken).
    var rejection: Int?
    /// END_STREAM received.
    var requestComplete = false

    // The response.
    /// Handed to the responder as `Event.request`.
    var dispatched = false
    /// A response was submitted.
    var responded = false
    /// END_STREAM sent.
    var responseComplete = false
    /// The server reset it (or asked the peer to stop): not the peer's cancellation.
    var serverReset = false
    var responseBytes: [UInt8] = []
    var responseBytesSent = 0
    var streamedBody: ChunkQueue?
    var dataFinished = false
    /// nghttp2 was told DEFERRED and waits for `nghttp2_session_resume_data`.
    var dataDeferred = false
    var writer: HTTP2StreamWriter?

    /// Response body bytes queued here and not yet framed.
    var unsentBodyBytes: Int {
        responseBytes.count - responseBytesSent + (streamedBody?.byteCount ?? 0)
    }

    init(id: Int32, openedAt: UInt64) {
        self.id = id
        self.openedAt = openedAt
    }
}

/// The unsent chunks of a streamed response, oldest first.
struct ChunkQueue {
    private var chunks: [[UInt8]] = []
    private var head = 0
    /// Bytes of `chunks[head]` already sent.
    private var headOffset = 0
    private(set) var byteCount = 0

    var headChunkRemaining: Int { head < chunks.count ? chunks[head].count - headOffset : 0 }

    mutating func append(_ chunk: [UInt8]) {
        guard !chunk.isEmpty else { return }
        chunks.append(chunk)
        byteCount += chunk.count
    }

    /// Moves `count` bytes from the front to `out`.
    mutating func move(_ count: Int, into out: inout [UInt8]) {
        var left = count
        while left > 0 {
            let take = min(left, chunks[head].count - headOffset)
            out.append(contentsOf: chunks[head][headOffset..<(headOffset + take)])
            headOffset += take
            left -= take
            byteCount -= take
            if headOffset == chunks[head].count {
                chunks[head] = []
                head += 1
                headOffset = 0
            }
        }
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= chunks.count {
            chunks.removeSubrange(0..<head)
            head = 0
        }
    }
}

/// The rapid-reset allowance of one connection: a token bucket of `burst` tokens refilled
/// at `perSecond`; each stream cancelled before its response completed spends one.
struct StreamResetBudget: Equatable {
    let burst: Int
    let perSecond: Int
    private(set) var tokens: Int
    /// The uptime (ns) up to which refills have been credited.
    private var creditedUntil: UInt64

    init(burst: Int, perSecond: Int, now: UInt64) {
        self.burst = max(1, burst)
        self.perSecond = max(0, perSecond)
        tokens = self.burst
        creditedUntil = now
    }

    /// Spends a token at `now`; false if none is left (the peer resets too fast).
    mutating func spend(now: UInt64) -> Bool {
        refill(now: now)
        guard tokens > 0 else { return false }
        tokens -= 1
        return true
    }

    private mutating func refill(now: UInt64) {
        guard now > creditedUntil else { return }
        guard perSecond > 0, tokens < burst else {
            creditedUntil = now
            return
        }
        let elapsed = now - creditedUntil
        let earned = elapsed / 1_000_000_000 * UInt64(perSecond)
            + (elapsed % 1_000_000_000) * UInt64(perSecond) / 1_000_000_000
        guard earned > 0 else { return }
        tokens = Int(min(UInt64(burst), UInt64(tokens) + earned))
        if tokens == burst {
            creditedUntil = now
        } else {
            // Keep the fraction of a token not yet earned.
            creditedUntil += earned * 1_000_000_000 / UInt64(perSecond)
        }
    }
}

// MARK: - C trampolines
//
// nghttp2 calls these with the session's user data, which is the `HTTP2Session`
// (unretained: the Swift object owns the C session and outlives it). They only forward;
// no Swift error can cross into C because none is thrown.

private func owner(_ userData: UnsafeMutableRawPointer?) -> HTTP2Session {
    Unmanaged<HTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
}

private func onBeginHeaders(_ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?,
                            _ userData: UnsafeMutableRawPointer?) -> Int32 {
    let frame = frame!.pointee
    guard frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.headers.cat == NGHTTP2_HCAT_REQUEST else {
        return 0
    }
    return owner(userData).beginRequest(streamID: frame.hd.stream_id)
}

private func onHeader(_ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?,
                      _ name: UnsafePointer<UInt8>?, _ nameLength: Int, _ value: UnsafePointer<UInt8>?,
                      _ valueLength: Int, _ flags: UInt8, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    owner(userData).receiveField(
        streamID: frame!.pointee.hd.stream_id, name: UnsafeBufferPointer(start: name, count: nameLength),
        value: UnsafeBufferPointer(start: value, count: valueLength))
}

private func onDataChunkReceived(_ session: OpaquePointer?, _ flags: UInt8, _ streamID: Int32,
                                 _ data: UnsafePointer<UInt8>?, _ length: Int,
                                 _ userData: UnsafeMutableRawPointer?) -> Int32 {
    owner(userData).receiveData(streamID: streamID, UnsafeBufferPointer(start: data, count: length))
}

private func onFrameReceived(_ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?,
                             _ userData: UnsafeMutableRawPointer?) -> Int32 {
    let frame = frame!.pointee
    let isRequestHeaders = frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) && frame.headers.cat == NGHTTP2_HCAT_REQUEST
    return owner(userData).receiveFrame(type: frame.hd.type, flags: frame.hd.flags, streamID: frame.hd.stream_id,
                                        isRequestHeaders: isRequestHeaders)
}

private func onFrameSent(_ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?,
                         _ userData: UnsafeMutableRawPointer?) -> Int32 {
    let header = frame!.pointee.hd
    return owner(userData).frameSent(type: header.type, flags: header.flags, streamID: header.stream_id)
}

private func onStreamClosed(_ session: OpaquePointer?, _ streamID: Int32, _ errorCode: UInt32,
                            _ userData: UnsafeMutableRawPointer?) -> Int32 {
    owner(userData).streamClosed(streamID: streamID, errorCode: errorCode)
}

private func dataSourceRead(_ session: OpaquePointer?, _ streamID: Int32, _ buffer: UnsafeMutablePointer<UInt8>?,
                            _ length: Int, _ flags: UnsafeMutablePointer<UInt32>?,
                            _ source: UnsafeMutablePointer<nghttp2_data_source>?,
                            _ userData: UnsafeMutableRawPointer?) -> Int {
    owner(userData).readData(streamID: streamID, length: length, flags: &flags!.pointee)
}

private func onSendData(_ session: OpaquePointer?, _ frame: UnsafeMutablePointer<nghttp2_frame>?,
                      _ frameHeader: UnsafePointer<UInt8>?, _ length: Int,
                      _ source: UnsafeMutablePointer<nghttp2_data_source>?,
                      _ userData: UnsafeMutableRawPointer?) -> Int32 {
    owner(userData).sendData(streamID: frame!.pointee.hd.stream_id, frameHeader: frameHeader!, length: length)
}
