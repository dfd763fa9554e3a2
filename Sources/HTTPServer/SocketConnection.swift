import BBSLog
import BBSPosix
import Dispatch

/// One of the server's lanes: an event loop (a serial queue with its own thread), with
/// what the connections on it share: they run one at a time, so one read buffer and one
/// `Date` cache serve them all.
final class ConnectionQueue: @unchecked Sendable {
    // Invariant: `readBuffer` and `date` are used only on `queue`'s thread.
    let queue: EventLoop
    let readBuffer: UnsafeMutableRawBufferPointer
    var date = HTTPDateCache()

    init(label: String, readBufferBytes: Int) {
        queue = EventLoop(label: label)
        readBuffer = .allocate(byteCount: readBufferBytes, alignment: 16)
    }

    deinit {
        queue.stop()
        readBuffer.deallocate()
    }
}

/// The transport of one accepted TCP connection: owns the socket, registered with its
/// lane's event loop, which calls it when the socket is readable, writable (only while
/// output waits out EAGAIN) or its timer is due; writes from an outbound buffer.
///
/// Lifecycle: `open` (reading and writing) → `flushingToClose` (graceful close asked:
/// sending what is queued) → `lingering` (write side shut down, input read and dropped
/// until the peer closes or `lingerTimeout`) → `closed`. `immediate` close, an I/O error,
/// or a stalled write jump straight to `closed`, which deregisters and closes the socket.
final class SocketConnection: ConnectionTransport, EventLoopHandler, @unchecked Sendable {
    // Invariant: every mutable property is read and written only on the lane's event loop
    // thread; the loop calls in there and every entry point asserts it.

    struct Settings: Sendable {
        var lingerNanoseconds: UInt64
        /// A write that makes no progress for this long closes the connection (the peer
        /// stopped reading).
        var writeStallNanoseconds: UInt64
    }

    private enum State {
        case open
        case flushingToClose
        case lingering
        case closed
    }

    let id: UInt64
    let socket: SocketDescriptor
    let lane: ConnectionQueue
    var queue: EventLoop { lane.queue }
    private let settings: Settings
    private let logger: Logger
    /// Called on the queue once the descriptor is closed.
    private let onClosed: @Sendable (SocketConnection) -> Void
    /// Where this connection is counted; `kind` moves with `protocolChosen`.
    private let counts: OpenConnectionCounts
    private var kind: OpenConnectionKind
    var handler: (any ConnectionHandler)?

    private var state = State.open
    /// The event loop's name for this socket's registration; nil until `start`, and
    /// again once closed.
    private var registration: UInt64?
    /// Output is waiting for the socket to take more (EAGAIN): watch for writability.
    private var awaitingWritable = false
    private var readingWanted = true
    private var peerEnded = false

    private var outbound: [UInt8] = []
    /// Bytes at the front of `outbound` already sent.
    private var outboundSent = 0

    private var handlerDeadline: UInt64?
    private var lingerDeadline: UInt64?
    private var writeStallDeadline: UInt64?
    /// When the timer will next fire, if armed.
    private var timerArmedFor: UInt64?

    init(id: UInt64, socket: SocketDescriptor, lane: ConnectionQueue, settings: Settings, logger: Logger,
         counts: OpenConnectionCounts, kind: OpenConnectionKind,
         onClosed: @escaping @Sendable (SocketConnection) -> Void) {
        self.id = id
        self.socket = socket
        self.lane = lane
        self.settings = settings
        self.logger = logger
        self.onClosed = onClosed
        self.counts = counts
        self.kind = kind
        counts.opened(kind)
    }

    /// Registers with the event loop and starts reading. Call once, on the loop, after
    /// `handler` is set.
    func start() {
        queue.preconditionInLoop()
        do {
            registration = try queue.register(socket.rawValue, interest: wantedInterest, handler: self)
        } catch {
            logger.error("connection-registration-failed", ["error": error.description])
            handler = nil  // never started, so it hears nothing
            closeNow()
            return
        }
        handler?.transportStarted()
    }

    // MARK: - EventLoopHandler

    func eventLoopReadable() { readable() }
    func eventLoopWritable() { writable() }
    func eventLoopTimerFired() { timerFired() }

    // MARK: - ConnectionTransport

    func enqueue(_ write: (inout [UInt8]) -> Void) {
        queue.preconditionInLoop()
        guard case .open = state else { return }
        if outboundSent > 0 && outboundSent >= outbound.count / 2 {
            outbound.removeSubrange(0..<outboundSent)
            outboundSent = 0
        }
        write(&outbound)
    }

    func flush() {
        queue.preconditionInLoop()
        switch state {
        case .open, .flushingToClose:
            // While awaiting writability the socket is full: the loop will call back.
            if !awaitingWritable { writePending() }
        case .lingering, .closed:
            break
        }
    }

    var pendingOutboundBytes: Int { outbound.count - outboundSent }

    func setReading(_ enabled: Bool) {
        queue.preconditionInLoop()
        readingWanted = enabled
        updateInterest()
    }

    func setDeadline(_ uptimeNanoseconds: UInt64?) {
        queue.preconditionInLoop()
        handlerDeadline = uptimeNanoseconds
        rearmTimer()
    }

    func protocolChosen(_ protocol: ConnectionProtocol) {
        queue.preconditionInLoop()
        let new = OpenConnectionKind(`protocol`)
        counts.changed(from: kind, to: new)
        kind = new
    }

    func close(_ mode: ConnectionCloseMode) {
        queue.preconditionInLoop()
        switch (state, mode) {
        case (.open, .graceful):
            state = .flushingToClose
            updateInterest()
            if !awaitingWritable { writePending() }
        case (.flushingToClose, .graceful), (.lingering, .graceful):
            break  // already closing gracefully
        case (.open, .immediate), (.flushingToClose, .immediate), (.lingering, .immediate):
            closeNow()
        case (.closed, _):
            break  // a late request from a handler finishing its turn
        }
    }

    /// The server's graceful stop, forwarded to the protocol.
    func shutdownGracefully() {
        queue.preconditionInLoop()
        guard case .open = state else { return }
        handler?.shutdownGracefully()
    }

    // MARK: - Reading

    /// What the loop should watch the socket for, from the state and the handler's wishes.
    private var wantedInterest: EpollInterest {
        var interest: EpollInterest = []
        switch state {
        case .open: if readingWanted && !peerEnded { interest.insert(.readable) }
        case .lingering: interest.insert(.readable)
        case .flushingToClose, .closed: break
        }
        if awaitingWritable { interest.insert(.writable) }
        return interest
    }

    /// Tells the loop what to watch for; a system call only when that changes.
    private func updateInterest() {
        guard let registration else { return }
        do {
            try queue.setInterest(registration, wantedInterest)
        } catch {
            logger.debug("epoll-ctl-failed", ["error": error.description])
            closeNow()
        }
    }


    private func readable() {
        queue.preconditionInLoop()
        // A few reads per wake-up, then let other connections on this queue run.
        for _ in 0..<4 {
            let wanted: Bool
            switch state {
            case .open: wanted = readingWanted && !peerEnded
            case .lingering: wanted = true
            case .flushingToClose, .closed: wanted = false
            }
            guard wanted else { return }
            let result: NonBlockingResult<Int>
            do {
                result = try socket.read(into: lane.readBuffer)
            } catch {
                logger.debug("read-failed", ["error": error.description])
                closeNow()
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .done(0):
                if case .lingering = state {
                    closeNow()
                } else {
                    peerEnded = true
                    updateInterest()
                    handler?.transportReceivedEnd()
                }
                return
            case .done(let count):
                if case .open = state {
                    handler?.transportReceived(UnsafeRawBufferPointer(rebasing: lane.readBuffer[..<count]))
                }
                // Lingering: the input is dropped.
                // A short read drained the socket; another would almost always be EAGAIN.
                // Interest is level-triggered, so the loop reports the socket again if
                // more has arrived.
                if count < lane.readBuffer.count { return }
            }
        }
    }

    // MARK: - Writing

    private func writePending() {
        var written = 0
        while outboundSent < outbound.count {
            let sent = outbound.withUnsafeBytes { bytes in
                Result { () throws(SystemCallError) in
                    try socket.send(UnsafeRawBufferPointer(rebasing: bytes[outboundSent...]))
                }
            }
            let result: NonBlockingResult<Int>
            switch sent {
            case .success(let value):
                result = value
            case .failure(let error):
                logger.debug("write-failed", ["error": error.description])
                closeNow()
                return
            }
            switch result {
            case .done(let count):
                outboundSent += count
                written += count
            case .wouldBlock:
                waitUntilWritable(progressed: written > 0)
                if written > 0 { handler?.transportWrote(byteCount: written) }
                return
            }
        }
        // Everything is out. A buffer grown by a large response is given back, so idle
        // connections hold little memory.
        if outbound.capacity > 16 << 10 {
            outbound = []
        } else {
            outbound.removeAll(keepingCapacity: true)
        }
        outboundSent = 0
        writeStallDeadline = nil
        if awaitingWritable {
            awaitingWritable = false
            updateInterest()
        }
        if written > 0 { handler?.transportWrote(byteCount: written) }
        if case .flushingToClose = state { beginLingering() }
    }

    private func waitUntilWritable(progressed: Bool) {
        if progressed || writeStallDeadline == nil {
            writeStallDeadline = DispatchTime.now().uptimeNanoseconds &+ settings.writeStallNanoseconds
            rearmTimer()
        }
        guard !awaitingWritable else { return }
        awaitingWritable = true
        updateInterest()
    }

    private func writable() {
        queue.preconditionInLoop()
        switch state {
        case .open, .flushingToClose: writePending()
        case .lingering, .closed: break
        }
    }

    // MARK: - Closing

    private func beginLingering() {
        do {
            try socket.shutdown(.write)
        } catch {
            closeNow()
            return
        }
        state = .lingering
        lingerDeadline = DispatchTime.now().uptimeNanoseconds &+ settings.lingerNanoseconds
        rearmTimer()
        updateInterest()
    }

    private func closeNow() {
        if case .closed = state { return }
        state = .closed
        outbound = []
        outboundSent = 0
        awaitingWritable = false
        timerArmedFor = nil
        // Out of the epoll set before the descriptor number can be reused.
        if let registration { queue.deregister(registration) }
        registration = nil
        closeDescriptor()
        let handler = self.handler
        self.handler = nil
        handler?.transportClosed()
    }

    private func closeDescriptor() {
        socket.close()
        counts.closed(kind)
        onClosed(self)
    }

    /// Closes at once (the server's forced stop).
    func closeImmediately() {
        queue.preconditionInLoop()
        closeNow()
    }

    // MARK: - Timer

    /// Arms the timer for the earliest deadline unless it already fires sooner; a timer
    /// that fires early finds nothing due and re-arms. Moving a deadline later (every
    /// request does) thus costs no system call.
    private func rearmTimer() {
        guard let registration else { return }
        var earliest = handlerDeadline
        if let deadline = lingerDeadline, deadline < earliest ?? .max { earliest = deadline }
        if let deadline = writeStallDeadline, deadline < earliest ?? .max { earliest = deadline }
        guard let earliest else { return }
        if let armed = timerArmedFor, armed <= earliest { return }
        timerArmedFor = earliest
        queue.setTimer(registration, earliest)
    }

    private func timerFired() {
        queue.preconditionInLoop()
        timerArmedFor = nil
        let now = DispatchTime.now().uptimeNanoseconds
        if let deadline = lingerDeadline, deadline <= now {
            closeNow()
            return
        }
        if let deadline = writeStallDeadline, deadline <= now {
            logger.debug("write-stalled", ["connection": String(id)])
            closeNow()
            return
        }
        if let deadline = handlerDeadline, deadline <= now {
            handlerDeadline = nil
            handler?.transportDeadlinePassed()
        }
        rearmTimer()
    }
}
