import BBSLog
import BBSPosix
import Dispatch

/// One of the server's serial queues, with what the connections on it share: they run one
/// at a time, so one read buffer and one `Date` cache serve them all.
final class ConnectionQueue: @unchecked Sendable {
    // Invariant: `readBuffer` and `date` are used only on `queue`.
    let queue: DispatchQueue
    let readBuffer: UnsafeMutableRawBufferPointer
    var date = HTTPDateCache()

    init(label: String, readBufferBytes: Int) {
        queue = DispatchQueue(label: label)
        readBuffer = .allocate(byteCount: readBufferBytes, alignment: 16)
    }

    deinit {
        readBuffer.deallocate()
    }
}

/// The transport of one accepted TCP connection: owns the socket, reads with a Dispatch
/// read source, writes from an outbound buffer (a write source waits out EAGAIN), and
/// keeps the connection's timer.
///
/// Lifecycle: `open` (reading and writing) → `flushingToClose` (graceful close asked:
/// sending what is queued) → `lingering` (write side shut down, input read and dropped
/// until the peer closes or `lingerTimeout`) → `closed`. `immediate` close, an I/O error,
/// or a stalled write jump straight to `closed`. The descriptor is closed only once both
/// Dispatch sources have been cancelled, as Dispatch requires.
final class SocketConnection: ConnectionTransport, @unchecked Sendable {
    // Invariant: every mutable property is read and written only on `lane.queue`; the
    // Dispatch sources deliver there and every entry point asserts it.

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
    var queue: DispatchQueue { lane.queue }
    private let settings: Settings
    private let logger: Logger
    /// Called on the queue once the descriptor is closed.
    private let onClosed: @Sendable (SocketConnection) -> Void
    /// Where this connection is counted; `kind` moves with `protocolChosen`.
    private let counts: OpenConnectionCounts
    private var kind: OpenConnectionKind
    var handler: (any ConnectionHandler)?

    private var state = State.open
    private var readSource: (any DispatchSourceRead)?
    private var writeSource: (any DispatchSourceWrite)?
    private var timer: (any DispatchSourceTimer)?
    private var readSourceRunning = false
    private var writeSourceRunning = false
    /// Sources whose cancel handler has not run yet; the descriptor closes at zero.
    private var liveSources = 0
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

    /// Creates the Dispatch sources and starts reading. Call once, on the queue, after
    /// `handler` is set.
    func start() {
        dispatchPrecondition(condition: .onQueue(queue))
        let read = DispatchSource.makeReadSource(fileDescriptor: socket.rawValue, queue: queue)
        read.setEventHandler { [self] in readable() }
        read.setCancelHandler { [self] in sourceCancelled() }
        readSource = read
        liveSources += 1

        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [self] in timerFired() }
        timer.schedule(deadline: .distantFuture)
        timer.resume()
        self.timer = timer

        updateReadInterest()
        handler?.transportStarted()
    }

    // MARK: - ConnectionTransport

    func enqueue(_ write: (inout [UInt8]) -> Void) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard case .open = state else { return }
        if outboundSent > 0 && outboundSent >= outbound.count / 2 {
            outbound.removeSubrange(0..<outboundSent)
            outboundSent = 0
        }
        write(&outbound)
    }

    func flush() {
        dispatchPrecondition(condition: .onQueue(queue))
        switch state {
        case .open, .flushingToClose:
            // With the write source running, the socket is full: it will call back.
            if !writeSourceRunning { writePending() }
        case .lingering, .closed:
            break
        }
    }

    var pendingOutboundBytes: Int { outbound.count - outboundSent }

    func setReading(_ enabled: Bool) {
        dispatchPrecondition(condition: .onQueue(queue))
        readingWanted = enabled
        updateReadInterest()
    }

    func setDeadline(_ uptimeNanoseconds: UInt64?) {
        dispatchPrecondition(condition: .onQueue(queue))
        handlerDeadline = uptimeNanoseconds
        rearmTimer()
    }

    func protocolChosen(_ protocol: ConnectionProtocol) {
        dispatchPrecondition(condition: .onQueue(queue))
        let new = OpenConnectionKind(`protocol`)
        counts.changed(from: kind, to: new)
        kind = new
    }

    func close(_ mode: ConnectionCloseMode) {
        dispatchPrecondition(condition: .onQueue(queue))
        switch (state, mode) {
        case (.open, .graceful):
            state = .flushingToClose
            updateReadInterest()
            if !writeSourceRunning { writePending() }
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
        dispatchPrecondition(condition: .onQueue(queue))
        guard case .open = state else { return }
        handler?.shutdownGracefully()
    }

    // MARK: - Reading

    private func updateReadInterest() {
        guard let readSource else { return }
        let wanted: Bool
        switch state {
        case .open: wanted = readingWanted && !peerEnded
        case .lingering: wanted = true
        case .flushingToClose, .closed: wanted = false
        }
        if wanted && !readSourceRunning {
            readSourceRunning = true
            readSource.resume()
        } else if !wanted && readSourceRunning {
            readSourceRunning = false
            readSource.suspend()
        }
    }

    private func readable() {
        dispatchPrecondition(condition: .onQueue(queue))
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
                    updateReadInterest()
                    handler?.transportReceivedEnd()
                }
                return
            case .done(let count):
                if case .open = state {
                    handler?.transportReceived(UnsafeRawBufferPointer(rebasing: lane.readBuffer[..<count]))
                }
                // Lingering: the input is dropped.
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
        if writeSourceRunning, let writeSource {
            writeSourceRunning = false
            writeSource.suspend()
        }
        if written > 0 { handler?.transportWrote(byteCount: written) }
        if case .flushingToClose = state { beginLingering() }
    }

    private func waitUntilWritable(progressed: Bool) {
        if progressed || writeStallDeadline == nil {
            writeStallDeadline = DispatchTime.now().uptimeNanoseconds &+ settings.writeStallNanoseconds
            rearmTimer()
        }
        guard !writeSourceRunning else { return }
        if writeSource == nil {
            let source = DispatchSource.makeWriteSource(fileDescriptor: socket.rawValue, queue: queue)
            source.setEventHandler { [self] in writable() }
            source.setCancelHandler { [self] in sourceCancelled() }
            writeSource = source
            liveSources += 1
        }
        writeSourceRunning = true
        writeSource?.resume()
    }

    private func writable() {
        dispatchPrecondition(condition: .onQueue(queue))
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
        updateReadInterest()
    }

    private func closeNow() {
        if case .closed = state { return }
        state = .closed
        outbound = []
        outboundSent = 0
        timer?.cancel()
        timer = nil
        // Dispatch runs a cancel handler only for a running source.
        if let readSource {
            if !readSourceRunning { readSource.resume() }
            readSource.cancel()
        }
        if let writeSource {
            if !writeSourceRunning { writeSource.resume() }
            writeSource.cancel()
        }
        readSourceRunning = false
        writeSourceRunning = false
        if liveSources == 0 { closeDescriptor() }
        let handler = self.handler
        self.handler = nil
        handler?.transportClosed()
    }

    private func sourceCancelled() {
        dispatchPrecondition(condition: .onQueue(queue))
        liveSources -= 1
        if liveSources == 0 { closeDescriptor() }
    }

    private func closeDescriptor() {
        socket.close()
        readSource = nil
        writeSource = nil
        counts.closed(kind)
        onClosed(self)
    }

    /// Closes at once (the server's forced stop).
    func closeImmediately() {
        dispatchPrecondition(condition: .onQueue(queue))
        closeNow()
    }

    // MARK: - Timer

    /// Arms the timer for the earliest deadline unless it already fires sooner; a timer
    /// that fires early finds nothing due and re-arms. Moving a deadline later (every
    /// request does) thus costs no system call.
    private func rearmTimer() {
        guard let timer else { return }
        var earliest = handlerDeadline
        if let deadline = lingerDeadline, deadline < earliest ?? .max { earliest = deadline }
        if let deadline = writeStallDeadline, deadline < earliest ?? .max { earliest = deadline }
        guard let earliest else { return }
        if let armed = timerArmedFor, armed <= earliest { return }
        timerArmedFor = earliest
        timer.schedule(deadline: DispatchTime(uptimeNanoseconds: earliest), leeway: .milliseconds(5))
    }

    private func timerFired() {
        dispatchPrecondition(condition: .onQueue(queue))
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
