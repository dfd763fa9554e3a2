import BBSLog
import Dispatch

/// TLS between a connection's socket and its protocol: a `ConnectionHandler` to the
/// transport below (ciphertext) and a `ConnectionTransport` to the protocol handler
/// above (plaintext), with a `TLSEngine` in between.
///
///     handshaking ──(handshake complete: ALPN picks the protocol handler)──> established
///          │                                                                    │
///          │ handshake failed / timed out / peer gone                           │ handler closes, record error
///          v                                                                    v
///        closing ─────────────────(the transport has closed)──────────────> closed
///
/// - `handshaking`: the handshake deadline is set on the transport; no protocol handler
///   exists yet. A failed handshake sends OpenSSL's alert and closes gracefully; a timeout
///   or EOF closes at once.
/// - `established`: the handler made by `makeProtocolHandler` (from the ALPN protocol)
///   sees plaintext; reading, deadlines and closing pass through to the transport.
///   Plaintext is decrypted into the lane's read buffer: the transport's bytes are copied
///   into the engine first, so the buffer is free again, and the lane runs one
///   connection at a time.
/// - `closing`: the transport is closing; the handler (if any) still hears of bytes
///   written, deadlines and the final close.
///
/// The transport reports ciphertext written; the handler counts plaintext (a stream
/// writer's buffered bytes). `inFlight` records how much plaintext each piece of
/// ciphertext carries, so progress is translated, not guessed.
final class TLSConnection: ConnectionHandler, ConnectionTransport, @unchecked Sendable {
    // Invariant: every property is used only on `lane.queue` (asserted at the entry
    // points); the only closure sent elsewhere is the input drain, queued on that queue.

    /// Makes the protocol handler once the handshake is done, from the ALPN protocol
    /// (nil: none negotiated); the handler's transport is the given connection.
    typealias ProtocolHandlerFactory = (_ negotiatedProtocol: String?, _ transport: TLSConnection)
        -> any ConnectionHandler

    private enum State {
        case handshaking
        case established
        case closing
        case closed
    }

    let engine: TLSEngine
    private let lane: ConnectionQueue
    private var queue: EventLoop { lane.queue }
    private let handshakeTimeoutNanoseconds: UInt64
    private let remoteAddress: String
    private let logger: Logger
    private let makeProtocolHandler: ProtocolHandlerFactory
    var transport: (any ConnectionTransport)?
    /// The protocol handler, from the end of the handshake until the connection closes.
    private(set) var handler: (any ConnectionHandler)?

    private var state = State.handshaking
    /// Plaintext the handler queued, encrypted at `flush`.
    private var plaintextOut: [UInt8] = []
    /// Ciphertext handed to the transport and not yet written, oldest first, with the
    /// plaintext it carries; entries before `inFlightHead` are done.
    private var inFlight: [(ciphertext: Int, plaintext: Int)] = []
    private var inFlightHead = 0
    /// Plaintext carried by `inFlight`.
    private var inFlightPlaintext = 0
    private var readingWanted = true
    /// The transport saw the peer's EOF.
    private var transportEnded = false
    /// No more plaintext will come (close_notify, or EOF after the last record).
    private var inputFinished = false
    private var endDelivered = false
    private var drainScheduled = false

    init(engine: TLSEngine, lane: ConnectionQueue, handshakeTimeoutNanoseconds: UInt64, remoteAddress: String,
         logger: Logger, makeProtocolHandler: @escaping ProtocolHandlerFactory) {
        self.engine = engine
        self.lane = lane
        self.handshakeTimeoutNanoseconds = handshakeTimeoutNanoseconds
        self.remoteAddress = remoteAddress
        self.logger = logger
        self.makeProtocolHandler = makeProtocolHandler
    }

    // MARK: - ConnectionHandler (the transport below)

    func transportStarted() {
        queue.preconditionInLoop()
        transport?.setDeadline(DispatchTime.now().uptimeNanoseconds &+ handshakeTimeoutNanoseconds)
        transport?.setReading(true)
    }

    func transportReceived(_ bytes: UnsafeRawBufferPointer) {
        queue.preconditionInLoop()
        switch state {
        case .handshaking:
            engine.receive(bytes)
            continueHandshake()
        case .established:
            engine.receive(bytes)
            deliverInput()
        case .closing, .closed:
            break  // closing: what the peer still sends is dropped
        }
    }

    func transportReceivedEnd() {
        queue.preconditionInLoop()
        transportEnded = true
        switch state {
        case .handshaking:
            logger.debug("tls-handshake-eof", ["remote_address": remoteAddress])
            closeTransport(.immediate)
        case .established:
            deliverInput()
        case .closing, .closed:
            break
        }
    }

    func transportWrote(byteCount: Int) {
        queue.preconditionInLoop()
        let plaintext = consumeInFlight(ciphertext: byteCount)
        if plaintext > 0 { handler?.transportWrote(byteCount: plaintext) }
    }

    func transportDeadlinePassed() {
        queue.preconditionInLoop()
        switch state {
        case .handshaking:
            logger.info("tls-handshake-timed-out", ["remote_address": remoteAddress])
            closeTransport(.immediate)
        case .established, .closing:
            handler?.transportDeadlinePassed()
        case .closed:
            break
        }
    }

    func transportClosed() {
        queue.preconditionInLoop()
        state = .closed
        plaintextOut = []
        inFlight = []
        inFlightHead = 0
        inFlightPlaintext = 0
        transport = nil
        let handler = self.handler
        self.handler = nil
        handler?.transportClosed()
    }

    func shutdownGracefully() {
        queue.preconditionInLoop()
        switch state {
        case .handshaking:
            // No request can be in progress yet.
            closeTransport(.immediate)
        case .established:
            handler?.shutdownGracefully()
        case .closing, .closed:
            break
        }
    }

    // MARK: - ConnectionTransport (the protocol handler above)

    func enqueue(_ write: (inout [UInt8]) -> Void) {
        queue.preconditionInLoop()
        guard case .established = state else { return }
        write(&plaintextOut)
    }

    func flush() {
        queue.preconditionInLoop()
        guard case .established = state else { return }
        encryptQueued()
    }

    var pendingOutboundBytes: Int { plaintextOut.count + inFlightPlaintext }

    func setReading(_ enabled: Bool) {
        queue.preconditionInLoop()
        readingWanted = enabled
        guard case .established = state else { return }
        transport?.setReading(enabled)
        // Records already decrypted or buffered raise no socket event: drain them on a
        // later turn (not now: the handler is in the middle of its own turn).
        if enabled && (engine.hasBufferedInput || ((inputFinished || transportEnded) && !endDelivered)) {
            scheduleDrain()
        }
    }

    func setDeadline(_ uptimeNanoseconds: UInt64?) {
        queue.preconditionInLoop()
        guard case .established = state else { return }
        transport?.setDeadline(uptimeNanoseconds)
    }

    func protocolChosen(_ protocol: ConnectionProtocol) {
        transport?.protocolChosen(`protocol`)
    }

    func close(_ mode: ConnectionCloseMode) {
        queue.preconditionInLoop()
        guard case .established = state else { return }
        switch mode {
        case .graceful:
            encryptQueued()
            guard case .established = state else { return }  // the flush failed
            // close_notify after the last response, so the peer can tell the end from a cut.
            if case .failed(let error) = engine.shutdown() {
                logger.debug("tls-shutdown-failed", ["remote_address": remoteAddress, "error": error.description])
            }
            sendEngineOutput(plaintext: 0)
            closeTransport(.graceful)
        case .immediate:
            closeTransport(.immediate)
        }
    }

    // MARK: - Handshake

    private func continueHandshake() {
        let result = engine.handshake()
        // The next flight, or the alert that explains a failure.
        sendEngineOutput(plaintext: 0)
        guard case .handshaking = state else { return }  // sending failed and closed
        switch result {
        case .incomplete:
            if transportEnded { closeTransport(.immediate) }
        case .failed(let error):
            logger.info("tls-handshake-failed", ["remote_address": remoteAddress, "error": error.description])
            closeTransport(.graceful)
        case .complete:
            established()
        }
    }

    private func established() {
        let negotiated = engine.negotiatedProtocol
        logger.debug("tls-handshake-complete", [
            "remote_address": remoteAddress,
            "version": engine.protocolVersion,
            "cipher": engine.cipherSuite ?? "",
            "alpn": negotiated ?? "",
            "peer": engine.peerCertificateSubject ?? "",
        ])
        state = .established
        transport?.setDeadline(nil)
        let handler = makeProtocolHandler(negotiated, self)
        self.handler = handler
        handler.transportStarted()
        // The client's first request may have come with its last handshake message.
        deliverInput()
    }

    // MARK: - Input

    private func scheduleDrain() {
        guard !drainScheduled else { return }
        drainScheduled = true
        queue.async { [self] in
            drainScheduled = false
            deliverInput()
        }
    }

    /// Decrypts what is buffered and hands it to the handler in buffer-sized pieces while
    /// it wants input; then the end of input, once everything before it is delivered.
    private func deliverInput() {
        while case .established = state, readingWanted, let handler {
            if inputFinished {
                if !endDelivered {
                    endDelivered = true
                    handler.transportReceivedEnd()
                }
                return
            }
            let buffer = lane.readBuffer
            var filled = 0
            var outcome = TLSEngine.ReadResult.bytes(0)
            while filled < buffer.count {
                outcome = engine.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                guard case .bytes(let count) = outcome else { break }
                filled += count
            }
            // Reading can produce output: a TLS 1.3 key update's answer, an alert.
            if engine.pendingOutputBytes > 0 { sendEngineOutput(plaintext: 0) }
            if filled > 0 {
                handler.transportReceived(UnsafeRawBufferPointer(rebasing: buffer[..<filled]))
            }
            switch outcome {
            case .bytes:
                continue  // the buffer filled up; there may be more
            case .incomplete:
                // After the transport's EOF, a partial record will never complete.
                guard transportEnded else { return }
                inputFinished = true
            case .closed:
                inputFinished = true
            case .failed(let error):
                logger.info("tls-read-failed", ["remote_address": remoteAddress, "error": error.description])
                // The alert saying why goes out; nothing more is read or written.
                if engine.pendingOutputBytes > 0 { sendEngineOutput(plaintext: 0) }
                closeTransport(.graceful)
                return
            }
        }
    }

    // MARK: - Output

    /// Encrypts the queued plaintext and sends the ciphertext.
    private func encryptQueued() {
        guard !plaintextOut.isEmpty else {
            transport?.flush()
            return
        }
        let result = plaintextOut.withUnsafeBytes { engine.write($0) }
        let plaintext = plaintextOut.count
        // A buffer grown by a large response is given back, as the socket's is.
        if plaintextOut.capacity > 16 << 10 {
            plaintextOut = []
        } else {
            plaintextOut.removeAll(keepingCapacity: true)
        }
        if case .failed(let error) = result {
            logger.info("tls-write-failed", ["remote_address": remoteAddress, "error": error.description])
            closeTransport(.immediate)
            return
        }
        sendEngineOutput(plaintext: plaintext)
    }

    /// Hands the engine's ciphertext to the transport and starts sending it; `plaintext`
    /// is how much of the handler's output it carries.
    private func sendEngineOutput(plaintext: Int) {
        guard let transport else { return }
        var ciphertext = 0
        transport.enqueue { out in ciphertext = engine.takeOutput(appendingTo: &out) }
        if ciphertext > 0 {
            // Recorded before the flush, which may report progress at once.
            if inFlightHead > 0 && inFlightHead == inFlight.count {
                inFlight.removeAll(keepingCapacity: true)
                inFlightHead = 0
            }
            inFlight.append((ciphertext: ciphertext, plaintext: plaintext))
            inFlightPlaintext += plaintext
        } else if engine.pendingOutputBytes > 0 {
            // The transport is closing and took nothing; drop what cannot be sent.
            var discarded: [UInt8] = []
            engine.takeOutput(appendingTo: &discarded)
        }
        transport.flush()
    }

    /// The plaintext carried by the next `ciphertext` bytes written; a piece written in
    /// part counts its share.
    private func consumeInFlight(ciphertext: Int) -> Int {
        var remaining = ciphertext
        var plaintext = 0
        while remaining > 0, inFlightHead < inFlight.count {
            let piece = inFlight[inFlightHead]
            if remaining >= piece.ciphertext {
                remaining -= piece.ciphertext
                plaintext += piece.plaintext
                inFlightHead += 1
            } else {
                let share = piece.plaintext * remaining / piece.ciphertext
                inFlight[inFlightHead] = (piece.ciphertext - remaining, piece.plaintext - share)
                plaintext += share
                remaining = 0
            }
        }
        inFlightPlaintext -= plaintext
        return plaintext
    }

    private func closeTransport(_ mode: ConnectionCloseMode) {
        switch state {
        case .handshaking, .established:
            state = .closing
            transport?.close(mode)
        case .closing, .closed:
            break
        }
    }
}
