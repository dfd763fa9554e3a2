import BBSLog
import Dispatch

/// HTTP/1.1 over one connection: parses requests, hands them to the responder, and
/// writes the responses back in request order whatever order they complete in.
///
/// States:
///
///     open ──(request without keep-alive, parse error, timeout, peer EOF, shutdown)──> draining
///       │                                                                               │
///       │ a `.stream` response reaches the head of the line                             │ last response written
///       v                                                                               v
///     streaming ──(finish: terminal chunk / abort / peer gone)──────────────────────> closing ──> closed
///
/// - `open`: reading; each complete request takes the next sequence number and goes to
///   the responder at once (pipelined requests are dispatched in order, so a store that
///   linearises calls sees them in order), up to `maxPipelinedRequests` in flight. Then
///   reading pauses until responses go out. Nor is a request dispatched while the
///   response bytes the connection holds unsent (the transport's outbound buffer and
///   answers waiting behind an earlier one) reach `outboundHighWaterBytes`: requests
///   already read wait in the parser, and reading pauses, until the peer takes some. A
///   peer that pipelines many requests and never reads thus costs about one response,
///   not one per request.
/// - `draining`: reads nothing more; answers what was dispatched; the last response says
///   `Connection: close`; then closes gracefully.
/// - `streaming`: the head of a streamed body is out and the body's writer owns the
///   connection. Input is read only to notice the peer leaving, and dropped. Requests
///   pipelined behind the stream are never answered (the reference does the same: it
///   hijacks the connection).
/// - `closing`: the transport is closing; `closed`: it has.
///
/// Responder completions and stream writes arrive from any thread. They go through
/// `inbox` (the only lock), and whoever finds the inbox idle schedules one turn on the
/// queue to drain it. A completion that arrives while the queue is already running this
/// connection (a synchronous responder, or a group commit finishing many requests)
/// rides along in the current turn: many responses, one write.
final class HTTP1Connection: ConnectionHandler, @unchecked Sendable {
    // Invariant: everything except `inbox` is read and written only on `queue`
    // (asserted at every entry point). Other threads reach the connection only through
    // `post`.

    struct Settings: Sendable {
        var parserLimits: HTTP1Parser.Limits
        var requestTimeoutNanoseconds: UInt64
        var idleTimeoutNanoseconds: UInt64
        var maxPipelinedRequests: Int
        /// Reading, and dispatching requests already read, pause while this many response
        /// bytes wait to be sent.
        var outboundHighWaterBytes: Int
    }

    private enum State {
        case open
        case draining
        case streaming(HTTP1StreamWriter)
        case closing
        case closed
    }

    /// What the connection is waiting for, which decides its timeout.
    private enum Phase: Equatable {
        /// Between requests: `idleTimeout`.
        case idle
        /// Part of a request has arrived: the rest must come within `requestTimeout`.
        case readingRequest
        /// Responses or a stream are in progress: no timeout here.
        case busy
    }

    /// A dispatched request whose response is not written yet.
    private struct PendingResponse {
        var isHead: Bool
        /// The request allows another after it (and the server is not stopping).
        var keepAlive: Bool
        var isHTTP10: Bool
        var response: HTTPResponse?
    }

    enum InboxItem: Sendable {
        case response(sequence: UInt64, HTTPResponse)
        case streamChunk([UInt8])
        case streamFinish
        case streamAbort
    }

    let queue: EventLoop
    private let lane: ConnectionQueue
    private let responder: any HTTPResponder
    private let settings: Settings
    private let remoteAddress: String
    private let logger: Logger
    var transport: (any ConnectionTransport)?
    /// h2c upgrade (branch h2): set on cleartext connections (`CleartextProtocolHandler`).
    /// A request asking for `Upgrade: h2c` (RFC 7540 §3.2) with nothing in flight before it
    /// is answered 101 and handed over here, with the bytes read after it.
    var upgradeToHTTP2: ((H2CUpgrade) -> Void)?

    private var state = State.open
    private var parser: HTTP1Parser
    /// Responses owed, oldest first; `pending[0]` has sequence `nextSequence - pending.count`.
    private var pending: [PendingResponse] = []
    private var nextSequence: UInt64 = 0
    /// A request behind others expects `100 Continue`: send it once those are answered.
    private var continueOwed = false
    private var shuttingDown = false
    /// The peer has half-closed: once the buffered requests are dispatched, drain.
    private var inputEnded = false
    private var phase = Phase.busy
    /// Nesting of entry points (the transport may call back while we call it).
    private var depth = 0
    private let inbox = ConnectionInbox<InboxItem>()
    /// The streamed body's writer, kept after the stream ends so its `bufferedBytes`
    /// still counts down as the last bytes leave.
    private var streamWriter: HTTP1StreamWriter?
    /// Reused between turns so draining the inbox allocates nothing.
    private var drained: [InboxItem] = []
    /// Body bytes of answers in `pending` that wait behind an earlier one (not yet
    /// handed to the transport).
    private var heldResponseBytes = 0
    /// Dispatching stopped at the high-water mark with requests possibly left in the
    /// parser: once the output drains, a turn must look again (no read may come to start
    /// one, since the peer may be waiting for its answers).
    private var dispatchHeldBack = false

    init(lane: ConnectionQueue, responder: any HTTPResponder, settings: Settings, remoteAddress: String,
         logger: Logger) {
        self.queue = lane.queue
        self.lane = lane
        self.responder = responder
        self.settings = settings
        self.remoteAddress = remoteAddress
        self.logger = logger
        self.parser = HTTP1Parser(limits: settings.parserLimits)
    }

    // MARK: - ConnectionHandler

    func transportStarted() {
        turn {}
    }

    func transportReceived(_ bytes: UnsafeRawBufferPointer) {
        turn {
            // Input outside `open` is dropped: a stream owns the connection, or no more
            // requests will be read.
            if case .open = state { parser.append(bytes) }
        }
    }

    func transportReceivedEnd() {
        turn {
            switch state {
            case .open:
                // A half-closed peer may still read: the requests it sent are answered,
                // then the connection closes (see `dispatchRequests`). A partial request
                // can never complete and is dropped.
                inputEnded = true
            case .streaming(let writer):
                // The peer is gone (HTTP clients do not half-close a stream they read).
                endStream(writer)
                state = .closing
                transport?.close(.immediate)
            case .draining, .closing, .closed:
                break
            }
        }
    }

    func transportWrote(byteCount: Int) {
        turn {
            streamWriter?.sent(byteCount)
        }
    }

    func transportDeadlinePassed() {
        turn {
            guard case .open = state else { return }
            switch phase {
            case .idle:
                logger.debug("idle-timeout", ["remote_address": remoteAddress])
                state = .closing
                transport?.close(.graceful)
            case .readingRequest:
                // RFC 9110 §15.5.9: 408 tells the client the server gave up on it.
                logger.debug("request-timeout", ["remote_address": remoteAddress])
                appendErrorResponse(status: 408)
            case .busy:
                break
            }
        }
    }

    func transportClosed() {
        turn {
            if case .streaming(let writer) = state { endStream(writer) }
            state = .closed
            pending.removeAll()
            heldResponseBytes = 0
            transport = nil
            streamWriter = nil
        }
    }

    func shutdownGracefully() {
        turn {
            shuttingDown = true
            // A request being received may finish (its response will close the
            // connection); otherwise stop reading now. A stream runs until its writer
            // ends it or the server's shutdown timeout does.
            if case .open = state, parser.isAtRequestBoundary { state = .draining }
        }
    }

    // MARK: - Other threads

    /// Delivers a completion or stream operation from any thread.
    func post(_ item: InboxItem) {
        if inbox.post(item) { queue.async { self.turn {} } }
    }

    // MARK: - Turns

    /// Runs one entry point, then everything it made possible: write the responses that
    /// are ready, dispatch buffered requests, take in the inbox, until nothing moves;
    /// then flush once and re-evaluate reading and the timeout.
    private func turn(_ body: () -> Void) {
        queue.preconditionInLoop()
        depth += 1
        defer { depth -= 1 }
        if depth == 1 { inbox.turnBegan() }
        body()
        guard depth == 1 else { return }
        while true {
            advance()
            guard takeInboxItems() else { break }
        }
        finishTurn()
    }

    /// Takes in what the inbox holds; false if it was empty. `endingTurn`: an empty
    /// inbox also marks it idle, so the next post schedules a turn of its own.
    @discardableResult
    private func takeInboxItems(endingTurn: Bool = true) -> Bool {
        guard inbox.take(into: &drained, endingTurn: endingTurn) else { return false }
        for item in drained { receive(item) }
        drained.removeAll(keepingCapacity: true)
        return true
    }

    private func receive(_ item: InboxItem) {
        switch item {
        case .response(let sequence, let response):
            let first = nextSequence - UInt64(pending.count)
            // Late answers (connection closed, or pipelined behind a stream) are dropped;
            // so is a second answer to one request.
            guard sequence >= first, sequence < nextSequence else { return }
            let index = Int(sequence - first)
            guard pending[index].response == nil else { return }
            pending[index].response = response
            heldResponseBytes += Self.bodySize(response)
        case .streamChunk(let chunk):
            guard case .streaming(let writer) = state else { return }
            transport?.enqueue { out in
                switch writer.framing {
                case .chunked: HTTP1Serializer.appendChunk(chunk, into: &out)
                default: out.append(contentsOf: chunk)
                }
            }
        case .streamFinish:
            guard case .streaming(let writer) = state else { return }
            if writer.framing == .chunked {
                transport?.enqueue { $0.append(contentsOf: HTTP1Serializer.lastChunk) }
            }
            endStream(writer)
            state = .closing
            transport?.close(.graceful)
        case .streamAbort:
            guard case .streaming(let writer) = state else { return }
            endStream(writer)
            state = .closing
            transport?.close(.immediate)
        }
    }

    private func advance() {
        var progressed = true
        while progressed {
            progressed = writeReadyResponses()
            if case .open = state, pending.count < settings.maxPipelinedRequests {
                progressed = dispatchRequests() || progressed
            }
        }
    }

    /// Response bytes this connection holds unsent: what the transport has queued and
    /// the answers waiting their turn.
    private var unsentResponseBytes: Int {
        (transport?.pendingOutboundBytes ?? 0) + heldResponseBytes
    }

    private var belowHighWater: Bool { unsentResponseBytes < settings.outboundHighWaterBytes }

    private static func bodySize(_ response: HTTPResponse) -> Int {
        if case .bytes(let body) = response.body { return body.count }
        return 0
    }

    private func finishTurn() {
        guard let transport else { return }
        if case .draining = state, pending.isEmpty {
            state = .closing
            transport.close(.graceful)
        }
        transport.flush()
        // The flush may have closed the connection (a write error).
        guard let transport = self.transport else { return }
        if dispatchHeldBack, case .open = state, belowHighWater {
            // The kernel took enough during the flush (its `transportWrote` came while
            // this turn was running, so it started none): dispatch again in a turn of
            // its own, after the other connections on this lane had theirs.
            dispatchHeldBack = false
            queue.async { self.turn {} }
        }
        switch state {
        case .open:
            transport.setReading(pending.count < settings.maxPipelinedRequests && belowHighWater)
        case .streaming:
            transport.setReading(true)
        case .draining, .closing, .closed:
            transport.setReading(false)
        }
        updatePhase(transport)
    }

    private func updatePhase(_ transport: any ConnectionTransport) {
        let newPhase: Phase
        // Requests held back at the high-water mark are read already: no request or idle
        // timeout while they wait (a peer that never reads meets the write stall timeout).
        if case .open = state, pending.isEmpty, !dispatchHeldBack, belowHighWater {
            newPhase = parser.isAtRequestBoundary ? .idle : .readingRequest
        } else {
            newPhase = .busy
        }
        guard newPhase != phase else { return }
        phase = newPhase
        let now = DispatchTime.now().uptimeNanoseconds
        switch newPhase {
        case .idle: transport.setDeadline(now &+ settings.idleTimeoutNanoseconds)
        case .readingRequest: transport.setDeadline(now &+ settings.requestTimeoutNanoseconds)
        case .busy: transport.setDeadline(nil)
        }
    }

    // MARK: - Requests

    /// Parses and dispatches buffered requests while there is room, in flight and below
    /// the high-water mark of unsent response bytes; true if anything happened. After each
    /// dispatch the inbox is taken in, so an answer given at once counts against the mark
    /// before the next request goes.
    private func dispatchRequests() -> Bool {
        var progressed = false
        dispatchHeldBack = false
        while case .open = state, pending.count < settings.maxPipelinedRequests {
            guard belowHighWater else {
                dispatchHeldBack = true
                return progressed
            }
            switch parser.next() {
            case .needMoreBytes:
                if inputEnded {
                    state = .draining
                    return true
                }
                return progressed
            case .continueExpected:
                if pending.isEmpty {
                    transport?.enqueue { $0.append(contentsOf: HTTP1Serializer.continueResponse) }
                } else {
                    continueOwed = true
                }
            case .request(var request, let keepAlive):
                continueOwed = false
                request.remoteAddress = remoteAddress
                // h2c upgrade (branch h2): only with nothing in flight before it.
                if upgradeToHTTP2 != nil, pending.isEmpty, !shuttingDown, !inputEnded,
                   let settingsPayload = H2CUpgrade.settingsPayload(of: request) {
                    upgrade(request, settingsPayload: settingsPayload)
                    return true
                }
                let sequence = nextSequence
                nextSequence += 1
                pending.append(PendingResponse(
                    isHead: request.method == "HEAD", keepAlive: keepAlive && !shuttingDown,
                    isHTTP10: request.version.minor == 0, response: nil))
                if !keepAlive || shuttingDown { state = .draining }
                responder.respond(to: request) { [self] response in
                    post(.response(sequence: sequence, response))
                }
                takeInboxItems(endingTurn: false)
            case .error(let error):
                logger.debug("request-rejected", ["remote_address": remoteAddress, "error": "\(error)"])
                appendErrorResponse(status: error.status)
            }
            progressed = true
        }
        return progressed
    }

    // h2c upgrade (branch h2) begin
    /// Queues the 101 and hands the connection, the request and the bytes read after it
    /// to HTTP/2; this handler is done (it never hears from the transport again).
    private func upgrade(_ request: HTTPRequest, settingsPayload: [UInt8]) {
        guard let upgradeToHTTP2, let transport else { return }
        transport.enqueue { $0.append(contentsOf: H2CUpgrade.switchingProtocols) }
        let handOver = H2CUpgrade(request: request, settingsPayload: settingsPayload,
                                  bufferedBytes: parser.takeUnparsedBytes())
        state = .closed
        self.transport = nil
        self.upgradeToHTTP2 = nil
        upgradeToHTTP2(handOver)
    }
    // h2c upgrade (branch h2) end

    /// Answers with `status` after the responses already owed, then closes.
    private func appendErrorResponse(status: Int) {
        continueOwed = false
        nextSequence += 1
        let body = Array("\(status) \(HTTPResponse.reason(status))".utf8)
        heldResponseBytes += body.count
        pending.append(PendingResponse(
            isHead: false, keepAlive: false, isHTTP10: false,
            response: HTTPResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"],
                                   body: .bytes(body))))
        state = .draining
    }

    // MARK: - Responses

    /// Writes the ready responses at the head of the line; true if any was written.
    private func writeReadyResponses() -> Bool {
        var wrote = false
        while let transport, let owed = pending.first, let response = owed.response {
            pending.removeFirst()
            heldResponseBytes -= Self.bodySize(response)
            wrote = true
            let isLast = !owed.keepAlive || Self.asksToClose(response) || (pending.isEmpty && isDraining)
            let date = lane.date.current()
            switch response.body {
            case .bytes(let body):
                let hasBody = HTTP1Serializer.statusAllowsBody(response.status)
                transport.enqueue { out in
                    HTTP1Serializer.appendHead(
                        status: response.status, headers: response.headers,
                        framing: hasBody ? .contentLength(body.count) : .none,
                        connection: isLast ? "close" : (owed.isHTTP10 ? "keep-alive" : nil),
                        date: date, into: &out)
                    if hasBody && !owed.isHead { out.append(contentsOf: body) }
                }
            case .stream(let start):
                if owed.isHead || !HTTP1Serializer.statusAllowsBody(response.status) {
                    // A head without a body: the stream is over before it starts.
                    transport.enqueue { out in
                        HTTP1Serializer.appendHead(
                            status: response.status, headers: response.headers,
                            framing: owed.isHead && !owed.isHTTP10 ? .chunked : .none,
                            connection: isLast ? "close" : (owed.isHTTP10 ? "keep-alive" : nil),
                            date: date, into: &out)
                    }
                    start(HTTP1StreamWriter.ended())
                } else {
                    startStream(response, start: start, isHTTP10: owed.isHTTP10, date: date, transport: transport)
                    return true
                }
            }
            if isLast {
                pending.removeAll()
                heldResponseBytes = 0
                state = .closing
                transport.close(.graceful)
                return true
            }
        }
        if continueOwed, pending.isEmpty, case .open = state {
            continueOwed = false
            transport?.enqueue { $0.append(contentsOf: HTTP1Serializer.continueResponse) }
        }
        return wrote
    }

    /// Sends a streamed response's head and hands the body's writer to the responder.
    /// The stream owns the connection from here on.
    private func startStream(_ response: HTTPResponse, start: @Sendable (any HTTPBodyStreamWriter) -> Void,
                             isHTTP10: Bool, date: [UInt8], transport: any ConnectionTransport) {
        // HTTP/1.0 cannot read chunked encoding: send the raw body and close to end it.
        let framing: HTTP1BodyFraming = isHTTP10 ? .untilClose : .chunked
        transport.enqueue { out in
            // The responder's `Connection` field is kept on a chunked stream (the
            // reference sends `keep-alive` there, then closes after the terminal chunk).
            HTTP1Serializer.appendHead(
                status: response.status, headers: response.headers, framing: framing,
                connection: isHTTP10 ? "close" : nil, date: date, into: &out)
        }
        pending.removeAll()
        heldResponseBytes = 0
        let writer = HTTP1StreamWriter(connection: self, framing: framing,
                                       initiallyBuffered: transport.pendingOutboundBytes)
        state = .streaming(writer)
        streamWriter = writer
        start(writer)
    }

    private var isDraining: Bool {
        if case .draining = state { return true }
        return false
    }

    private func endStream(_ writer: HTTP1StreamWriter) {
        writer.end()
    }

    /// The responder asked to close after this response.
    private static func asksToClose(_ response: HTTPResponse) -> Bool {
        guard let connection = response.headers["Connection"] else { return false }
        var close = false
        Array(connection.utf8).withUnsafeBufferPointer { bytes in
            ASCII.forEachListElement(bytes[...]) { option in
                if ASCII.equalsIgnoringCase(option, "close") { close = true }
            }
        }
        return close
    }
}

/// The writer of a streamed response body over HTTP/1.1.
///
/// Thread-safe: writes are posted to the connection's inbox in call order, under the
/// writer's lock so a write cannot overtake the `finish` that follows it. `bufferedBytes`
/// counts bytes handed to `write` (with chunk framing) and not yet taken by the kernel;
/// writing never blocks, so a slow reader shows up there.
final class HTTP1StreamWriter: HTTPBodyStreamWriter {
    let framing: HTTP1BodyFraming
    private let connection: HTTP1Connection?
    private let lifecycle: StreamWriterLifecycle

    init(connection: HTTP1Connection?, framing: HTTP1BodyFraming, initiallyBuffered: Int) {
        self.connection = connection
        self.framing = framing
        lifecycle = StreamWriterLifecycle(open: connection != nil, initiallyBuffered: initiallyBuffered)
    }

    /// A writer for a response that has no body (HEAD): closed from the start.
    static func ended() -> HTTP1StreamWriter {
        HTTP1StreamWriter(connection: nil, framing: .none, initiallyBuffered: 0)
    }

    @discardableResult
    func write(_ chunk: [UInt8]) -> Bool {
        lifecycle.whileAccepting {
            // An empty chunk would end a chunked body; there is nothing to send anyway.
            guard !chunk.isEmpty else { return }
            lifecycle.buffer(framing == .chunked ? HTTP1Serializer.chunkSize(dataCount: chunk.count) : chunk.count)
            connection?.post(.streamChunk(chunk))
        }
    }

    func finish() {
        lifecycle.whileAccepting(closing: true) {
            lifecycle.buffer(framing == .chunked ? HTTP1Serializer.lastChunk.count : 0)
            connection?.post(.streamFinish)
        }
    }

    func abort() {
        lifecycle.whileAccepting(closing: true) { connection?.post(.streamAbort) }
    }

    var bufferedBytes: Int { lifecycle.bufferedBytes }

    func onClose(_ handler: @escaping @Sendable () -> Void) { lifecycle.onClose(handler) }

    /// The kernel took `byteCount` bytes of this connection's output.
    func sent(_ byteCount: Int) { lifecycle.sent(byteCount) }

    /// The stream is over (finished, aborted, or the connection is gone): refuse further
    /// writes and run the close handlers, once.
    func end() { lifecycle.end() }
}
