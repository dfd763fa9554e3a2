import BBSLog
import Dispatch

/// HTTP/2 over one connection: an `HTTP2Session` turns the peer's frames into requests,
/// each stream's request goes to the responder as soon as it is complete, and answers go
/// out in whatever order they come back.
///
/// States:
///
///     open ──(session finished: GOAWAY exchanged and no stream left, terminated, failed;
///       │     or the peer sent EOF and no stream is left)──> closing ──> closed
///       └──(transport closed: peer gone, write stall, server timeout)──────────────────> closed
///
/// Graceful shutdown and the idle timeout send GOAWAY(NO_ERROR) and stay `open` until the
/// streams below it finish; the request timeout answers 408 on each stream whose request
/// has not arrived in time.
///
/// Output is produced, not pushed: at the end of every turn the session frames what it
/// may (flow control permitting) into the transport's buffer, up to
/// `outboundHighWaterBytes` pending, and the transport's `transportWrote` starts the next
/// round. Reading pauses while the output is that full, so a peer that sends but never
/// reads (PINGs, say) cannot grow it.
///
/// Answers the peer's flow control holds back (a window of 0, say) stay in the session.
/// No request is handed to the responder while those bytes and the transport's output
/// together reach `outboundHighWaterBytes`: complete requests wait (their streams open,
/// at most SETTINGS_MAX_CONCURRENT_STREAMS of them) until the peer takes some, so a peer
/// that opens many streams and reads none costs about one answer, not one per stream.
/// Reading goes on meanwhile (unless the output itself is full): the WINDOW_UPDATE that
/// lets the held answers go arrives that way.
///
/// Responder completions and stream writes arrive from any thread through `inbox` (the
/// only lock), exactly as in `HTTP1Connection`: whoever finds it idle schedules one turn on
/// the queue; completions arriving during a turn ride along in it.
final class HTTP2Connection: ConnectionHandler, @unchecked Sendable {
    // Invariant: everything except `inbox` is read and written only on `queue`
    // (asserted at every entry point). Other threads reach the connection only through
    // `post`.

    struct Settings: Sendable {
        var session: HTTP2Session.Settings
        var requestTimeoutNanoseconds: UInt64
        var idleTimeoutNanoseconds: UInt64
        /// Framing pauses, and reading too, while this many bytes wait to be sent; no
        /// request is dispatched while this many answer bytes wait, framed or not.
        var outboundHighWaterBytes: Int
        /// Requests handed to the responder and not yet answered; further complete
        /// requests wait their turn (their streams stay open).
        var maxRequestsInProgress: Int
    }

    private enum State {
        case open
        case closing
        case closed
    }

    enum InboxItem: Sendable {
        case response(streamID: Int32, HTTPResponse)
        case streamData(streamID: Int32, [UInt8])
        case streamFinish(streamID: Int32)
        case streamAbort(streamID: Int32)
    }

    let queue: EventLoop
    private let lane: ConnectionQueue
    private let responder: any HTTPResponder
    private let settings: Settings
    private let remoteAddress: String
    private let logger: Logger
    private let clock: @Sendable () -> UInt64
    var transport: (any ConnectionTransport)?

    private let session: HTTP2Session
    private var state = State.open
    /// The peer sent EOF.
    private var inputEnded = false
    /// Nesting of entry points (the transport may call back while we call it).
    private var depth = 0
    private let inbox = ConnectionInbox<InboxItem>()
    /// Reused between turns so draining the inbox and the session's events allocates nothing.
    private var drained: [InboxItem] = []
    private var events: [HTTP2Session.Event] = []
    /// Complete requests not yet handed to the responder, oldest first from `waitingHead`.
    private var waiting: [(streamID: Int32, request: HTTPRequest)] = []
    private var waitingHead = 0
    /// Requests handed to the responder whose answer has not come back, including those
    /// whose stream has been reset since: their work is still going on.
    private var inProgress = 0
    /// The deadline last given to the transport, valid when `deadlineArmed`.
    private var deadline: UInt64?
    private var deadlineArmed = false
    /// When the connection last became idle (no stream open).
    private var idleSince: UInt64?
    /// Dispatching stopped at the high-water mark with requests left waiting: once the
    /// answers drain, a turn must look again (the peer may have nothing more to send).
    private var dispatchHeldBack = false

    /// Rounds of framing and flushing one turn may do when the kernel takes everything
    /// at once, before yielding the queue to other connections.
    private static let sendRoundsPerTurn = 8

    init(lane: ConnectionQueue, responder: any HTTPResponder, settings: Settings, remoteAddress: String,
         logger: Logger, clock: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }) {
        self.queue = lane.queue
        self.lane = lane
        self.responder = responder
        self.settings = settings
        self.remoteAddress = remoteAddress
        self.logger = logger
        self.clock = clock
        self.session = HTTP2Session(settings: settings.session, clock: clock)
    }

    // MARK: - ConnectionHandler

    func transportStarted() {
        turn {
            session.start()
        }
    }

    /// Starts a connection that HTTP/1.1 upgraded to h2c (instead of `transportStarted`):
    /// the 101 is already queued; the upgrading request becomes stream 1 and the bytes
    /// read after it are the start of the peer's HTTP/2.
    func transportStarted(upgradedFrom upgrade: H2CUpgrade) {
        turn {
            if let failure = session.startUpgraded(settingsPayload: upgrade.settingsPayload, request: upgrade.request) {
                logger.debug("h2c-upgrade-failed", ["remote_address": remoteAddress, "error": failure.description])
                closeTransport(.graceful)
                return
            }
            if !upgrade.bufferedBytes.isEmpty {
                upgrade.bufferedBytes.withUnsafeBytes { receive($0) }
            }
        }
    }

    func transportReceived(_ bytes: UnsafeRawBufferPointer) {
        turn {
            receive(bytes)
        }
    }

    func transportReceivedEnd() {
        turn {
            guard case .open = state else { return }
            inputEnded = true
            session.peerEnded()
        }
    }

    func transportWrote(byteCount: Int) {
        // The next round of framing happens at the end of the turn.
        turn {}
    }

    func transportDeadlinePassed() {
        turn {
            deadlineArmed = false
            guard case .open = state else { return }
            let now = clock()
            if let oldest = session.oldestIncompleteRequestStart,
               oldest &+ settings.requestTimeoutNanoseconds <= now {
                let expired = session.expireIncompleteRequests(
                    startedAtOrBefore: now &- settings.requestTimeoutNanoseconds)
                logger.debug("request-timeout", ["remote_address": remoteAddress, "streams": String(expired)])
            } else if session.streamCount == 0, let idleSince,
                      idleSince &+ settings.idleTimeoutNanoseconds <= now {
                logger.debug("idle-timeout", ["remote_address": remoteAddress])
                session.goAway()
            }
        }
    }

    func transportClosed() {
        turn {
            state = .closed
            transport = nil
            waiting.removeAll()
            waitingHead = 0
            for writer in session.closeAll() { writer.end() }
        }
    }

    func shutdownGracefully() {
        turn {
            guard case .open = state else { return }
            session.goAway()
        }
    }

    /// Streams open on the session (for tests and diagnostics).
    var streamCount: Int {
        queue.preconditionInLoop()
        return session.streamCount
    }

    // MARK: - Other threads

    /// Delivers a completion or stream operation from any thread.
    func post(_ item: InboxItem) {
        if inbox.post(item) { queue.async { self.turn {} } }
    }

    // MARK: - Turns

    /// Runs one entry point, then everything it made possible: dispatch the requests the
    /// session completed, take in the inbox, until nothing moves; then frame output,
    /// flush, and re-evaluate reading, closing and the deadline.
    private func turn(_ body: () -> Void) {
        queue.preconditionInLoop()
        depth += 1
        defer { depth -= 1 }
        if depth == 1 { inbox.turnBegan() }
        body()
        guard depth == 1 else { return }
        repeat {
            handleSessionEvents()
            dispatchWaitingRequests()
        } while takeInboxItems()
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

    private func receive(_ bytes: UnsafeRawBufferPointer) {
        guard case .open = state, !inputEnded else { return }
        let wasCalm = !session.calmedDown
        if !session.receive(bytes) {
            if let failure = session.failure, failure.isFlood {
                logger.info("h2-control-frame-flood", ["remote_address": remoteAddress])
                // What is queued ahead of it is whole frames: the GOAWAY goes out last,
                // then the graceful close.
                transport?.enqueue { session.appendFloodGoAway(into: &$0) }
            } else {
                logger.debug("h2-session-failed", ["remote_address": remoteAddress,
                                                   "error": session.failure?.description ?? ""])
            }
            closeTransport(.graceful)
        }
        if wasCalm && session.calmedDown {
            logger.info("h2-rapid-reset", ["remote_address": remoteAddress])
        }
    }

    private func handleSessionEvents() {
        while true {
            session.takeEvents(into: &events)
            guard !events.isEmpty else { return }
            for event in events {
                switch event {
                case .request(let streamID, let request):
                    waiting.append((streamID, request))
                case .streamClosed(let writer):
                    writer.end()
                }
            }
            events.removeAll(keepingCapacity: true)
        }
    }

    /// Hands waiting requests to the responder, oldest first, while fewer than
    /// `maxRequestsInProgress` are unanswered. A request whose stream was reset before
    /// its turn (a rapid reset's HEADERS and RST_STREAM in one read) never costs the
    /// responder anything. After each call the inbox is taken in, so a responder that
    /// answers at once has its answer queued (or dropped) before the next request goes:
    /// answers do not pile up within a turn.
    private func dispatchWaitingRequests() {
        dispatchHeldBack = false
        while waitingHead < waiting.count, inProgress < settings.maxRequestsInProgress, case .open = state {
            guard belowHighWater else {
                dispatchHeldBack = true
                break
            }
            let streamID = waiting[waitingHead].streamID
            var request = waiting[waitingHead].request
            // The waiting list keeps no second reference to a body the responder owns now.
            waiting[waitingHead].request = HTTPRequest(method: "", path: "")
            waitingHead += 1
            guard session.awaitedRequestIsHead(streamID: streamID) != nil else { continue }
            request.remoteAddress = remoteAddress
            inProgress += 1
            responder.respond(to: request) { [self] response in
                post(.response(streamID: streamID, response))
            }
            takeInboxItems(endingTurn: false)
        }
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: waiting.capacity <= 1024)
            waitingHead = 0
        }
    }

    /// Answer bytes not yet sent, in the session (flow control) or the transport, are
    /// below the mark: another request may go to the responder.
    private var belowHighWater: Bool {
        session.unsentResponseBytes + (transport?.pendingOutboundBytes ?? 0) < settings.outboundHighWaterBytes
    }

    /// Called where a turn ends: if dispatching was held back and the answers have
    /// drained since (the kernel took them during this turn's flush, whose
    /// `transportWrote` started no turn of its own), look again in a later turn.
    private func redispatchIfDrained() {
        guard dispatchHeldBack, case .open = state, waitingHead < waiting.count, belowHighWater else { return }
        dispatchHeldBack = false
        queue.async { self.turn {} }
    }

    private func receive(_ item: InboxItem) {
        switch item {
        case .response(let streamID, let response):
            inProgress -= 1
            answer(streamID: streamID, response)
        case .streamData(let streamID, let chunk):
            session.appendData(chunk, streamID: streamID)
        case .streamFinish(let streamID):
            session.finishData(streamID: streamID)
        case .streamAbort(let streamID):
            session.cancel(streamID: streamID)
        }
    }

    /// Submits a responder's answer; a late one (the stream was reset or the connection
    /// is closing) is dropped.
    private func answer(streamID: Int32, _ response: HTTPResponse) {
        guard let isHead = session.awaitedRequestIsHead(streamID: streamID) else {
            if case .stream(let start) = response.body { start(HTTP2StreamWriter.ended()) }
            return
        }
        let date = lane.date.current()
        let allowsBody = HTTP1Serializer.statusAllowsBody(response.status)
        switch response.body {
        case .bytes(let bytes):
            let body: HTTP2Session.ResponseBody = !allowsBody ? .empty(contentLength: nil)
                : isHead || bytes.isEmpty ? .empty(contentLength: bytes.count)
                : .bytes(bytes)
            session.respond(streamID: streamID, status: response.status, headers: response.headers, body: body,
                            date: date)
        case .stream(let start):
            guard !isHead && allowsBody else {
                session.respond(streamID: streamID, status: response.status, headers: response.headers,
                                body: .empty(contentLength: nil), date: date)
                start(HTTP2StreamWriter.ended())
                return
            }
            let writer = HTTP2StreamWriter(connection: self, streamID: streamID)
            if session.respond(streamID: streamID, status: response.status, headers: response.headers,
                               body: .stream(writer), date: date) {
                start(writer)
            } else {
                start(HTTP2StreamWriter.ended())
            }
        }
    }

    private func finishTurn() {
        for _ in 0..<Self.sendRoundsPerTurn {
            guard let transport, case .open = state else { return }
            let pending = transport.pendingOutboundBytes
            var framed = false
            if session.wantsWrite && pending < settings.outboundHighWaterBytes {
                let budget = settings.outboundHighWaterBytes - pending
                transport.enqueue { out in
                    let before = out.count
                    session.send(into: &out, budget: budget)
                    framed = out.count > before
                }
                if let failure = session.failure {
                    logger.debug("h2-session-failed", ["remote_address": remoteAddress, "error": failure.description])
                }
                // Sending END_STREAM can close streams: their writers end now, not at
                // some later turn.
                handleSessionEvents()
            }
            if session.isFinished || (inputEnded && session.streamCount == 0) {
                closeTransport(.graceful)
                return
            }
            transport.flush()
            // The flush may have closed the connection (a write error), or the kernel may
            // have taken everything, which calls for another round: no `transportWrote`
            // will come for output that never had to wait.
            guard let transport = self.transport, case .open = state else { return }
            if !framed || transport.pendingOutboundBytes > 0 || !session.wantsWrite {
                transport.setReading(!inputEnded && transport.pendingOutboundBytes < settings.outboundHighWaterBytes)
                updateDeadline(transport)
                redispatchIfDrained()
                return
            }
        }
        // Still more to frame after every round: continue in a later turn, so the other
        // connections on this queue get to run.
        guard let transport, case .open = state else { return }
        transport.setReading(!inputEnded && transport.pendingOutboundBytes < settings.outboundHighWaterBytes)
        updateDeadline(transport)
        queue.async { self.turn {} }
    }

    private func closeTransport(_ mode: ConnectionCloseMode) {
        guard case .open = state else { return }
        state = .closing
        transport?.close(mode)
    }

    /// Requests still arriving: the oldest one's request timeout. No stream: the idle
    /// timeout. Streams being answered: none (a stalled write is the transport's).
    private func updateDeadline(_ transport: any ConnectionTransport) {
        let wanted: UInt64?
        if let oldest = session.oldestIncompleteRequestStart {
            idleSince = nil
            wanted = oldest &+ settings.requestTimeoutNanoseconds
        } else if session.streamCount == 0 {
            let since = idleSince ?? clock()
            idleSince = since
            wanted = since &+ settings.idleTimeoutNanoseconds
        } else {
            idleSince = nil
            wanted = nil
        }
        guard !deadlineArmed || wanted != deadline else { return }
        deadline = wanted
        deadlineArmed = true
        transport.setDeadline(wanted)
    }
}
