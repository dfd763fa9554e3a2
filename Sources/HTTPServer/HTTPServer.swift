import BBSLog
import BBSPosix
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 and h2 server on non-blocking POSIX sockets.
///
/// No thread per connection: the listener accepts on a Dispatch queue and spreads
/// connections over a small fixed pool of lanes (`queueCount`, one per core by default),
/// each an `EventLoop`: one thread with its own epoll set that does its connections' I/O.
/// Each connection's state lives on its lane; responders are called there and may
/// complete from any thread.
///
///     var configuration = HTTPServer.Configuration()
///     configuration.port = 8889
///     let server = HTTPServer(configuration: configuration, responder: router, logger: logger)
///     try server.start()
///     ...
///     server.shutdown(timeout: .seconds(10)) { exit(0) }
public final class HTTPServer: @unchecked Sendable {
    // Invariant: `listener`, `acceptSource`, `acceptSourceRunning`, `acceptPausedUntilClose`
    // and `nextLane` are touched only on `acceptQueue`; `registry` is a lock box; the
    // rest is immutable after `init`.

    public struct Configuration: Sendable {
        /// A numeric IPv4/IPv6 address or a host name; `0.0.0.0` or `::` for all; empty
        /// for every address of both families (Go's `:port`): `::` with IPV6_V6ONLY off,
        /// or `0.0.0.0` where IPv6 is unavailable.
        public var host = "127.0.0.1"
        /// 0 picks a free port (see `localPort`).
        public var port = 0
        public var backlog = 1024
        /// The largest request body; larger ones get 413 and the connection closes,
        /// without the body being read into memory.
        public var maxBodyBytes = 16 << 20
        /// The longest request line (414 beyond it).
        public var maxRequestLineBytes = 8 << 10
        /// The longest request head, and the longest chunked-body trailer (431 beyond it).
        public var maxHeaderBytes = 64 << 10
        /// The most header fields in a request (431 beyond it).
        public var maxHeaderCount = 100
        /// A request's head and body must arrive within this once its first byte has;
        /// otherwise 408 and close.
        public var requestTimeout: Duration = .seconds(30)
        /// A keep-alive connection with no request in progress closes after this long.
        /// Keep it above the clients' own idle timeout (Go's is 90 s), or they race the
        /// close with a new request.
        public var idleTimeout: Duration = .seconds(300)
        /// How long a closing connection keeps reading (and dropping) input after its last
        /// response, so the peer reads the response instead of a reset.
        public var lingerTimeout: Duration = .seconds(2)
        /// A connection whose pending output makes no progress for this long is closed
        /// (the peer stopped reading).
        public var writeStallTimeout: Duration = .seconds(60)
        /// TCP keep-alive probe period on accepted connections (the reference: 3 min);
        /// `.zero` turns probes off.
        public var tcpKeepAlive: Duration = .seconds(180)
        /// Requests of one connection dispatched and not yet answered; reading pauses
        /// at this many.
        public var maxPipelinedRequests = 16
        /// Reading a connection's requests pauses while this many response bytes wait
        /// to be sent.
        public var outboundHighWaterBytes = 1 << 20
        /// Open connections; accepting pauses at this many.
        public var maxConnections = 10_000
        /// Lanes (event loops, one thread each) that connections are spread over.
        public var queueCount = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        // TLS (branch tls) begin
        /// Serve TLS (with the certificates and client CA it names) instead of cleartext;
        /// nil for cleartext. Certificates are re-read by `reloadTLS`.
        public var tls: TLSConfiguration?
        // TLS (branch tls) end
        // HTTP/2 (branch h2) begin. h2 also applies `maxBodyBytes` (413 per stream),
        // `maxHeaderBytes` (SETTINGS_MAX_HEADER_LIST_SIZE, 431), `maxHeaderCount`,
        // `requestTimeout` (408 per stream), `idleTimeout` (no stream open: GOAWAY) and
        // `outboundHighWaterBytes` (framing and reading pause).
        /// HTTP/2: streams a client may have open at once on one connection
        /// (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused.
        public var http2MaxConcurrentStreams = 1000
        /// HTTP/2: requests of one connection handed to the responder and not yet
        /// answered (HTTP/1.1's `maxPipelinedRequests`); more complete requests wait,
        /// their streams open. Bounds the work and the answers one connection can pile up.
        public var http2MaxRequestsInProgress = 128
        /// HTTP/2: request body bytes one stream may send before the server opens its
        /// window again (SETTINGS_INITIAL_WINDOW_SIZE).
        public var http2InitialWindowBytes = 1 << 20
        /// HTTP/2: the connection's receive window, across its streams.
        public var http2ConnectionWindowBytes = 16 << 20
        /// HTTP/2 rapid-reset protection (CVE-2023-44487): streams a client may cancel
        /// before their response is complete, at once and then per second; beyond that
        /// the connection ends with GOAWAY(ENHANCE_YOUR_CALM).
        public var http2StreamResetBurst = 200
        public var http2StreamResetsPerSecond = 30
        /// HTTP/2: PING and SETTINGS acknowledgements that may wait to be sent; a client
        /// that provokes more is flooding and its connection ends.
        public var http2MaxQueuedControlFrames = 1000
        // HTTP/2 (branch h2) end

        public init() {}

        var parserLimits: HTTP1Parser.Limits {
            var limits = HTTP1Parser.Limits()
            limits.maxBodyBytes = maxBodyBytes
            limits.maxRequestLineBytes = maxRequestLineBytes
            limits.maxHeaderBytes = maxHeaderBytes
            limits.maxHeaderCount = maxHeaderCount
            return limits
        }
    }

    private struct Registry {
        var connections: [UInt64: SocketConnection] = [:]
        var nextID: UInt64 = 0
        var started = false
        var stopping = false
        var listenerClosed = false
        var localPort = 0
        var localAddress = ""
        var shutdownCompletions: [@Sendable () -> Void] = []
    }

    public let configuration: Configuration
    let responder: any HTTPResponder
    let logger: Logger
    private let lanes: [ConnectionQueue]
    private let socketSettings: SocketConnection.Settings
    let http1Settings: HTTP1Connection.Settings
    /// TLS (branch tls): the context new connections use; nil for cleartext. Replaced
    /// whole by `reloadTLS` (HTTPServer+TLS.swift).
    let tlsContext = Mutex<TLSContext?>(nil)
    /// Makes each connection's protocol handler (HTTP/2 branch h2).
    let protocols: ProtocolSelection
    private let acceptQueue = DispatchQueue(label: "http-server.accept")
    private let registry = Mutex(Registry())
    private let connectionCounts = OpenConnectionCounts()

    private var listener: SocketDescriptor?
    private var acceptSource: (any DispatchSourceRead)?
    private var acceptSourceRunning = false
    private var acceptPausedUntilClose = false
    private var nextLane = 0

    public init(configuration: Configuration, responder: any HTTPResponder, logger: Logger) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        socketSettings = SocketConnection.Settings(
            lingerNanoseconds: Self.nanoseconds(configuration.lingerTimeout),
            writeStallNanoseconds: Self.nanoseconds(configuration.writeStallTimeout))
        http1Settings = HTTP1Connection.Settings(
            parserLimits: configuration.parserLimits,
            requestTimeoutNanoseconds: Self.nanoseconds(configuration.requestTimeout),
            idleTimeoutNanoseconds: Self.nanoseconds(configuration.idleTimeout),
            maxPipelinedRequests: max(1, configuration.maxPipelinedRequests),
            outboundHighWaterBytes: configuration.outboundHighWaterBytes)
        protocols = ProtocolSelection(responder: responder, http1Settings: http1Settings,
                                      http2Settings: configuration.http2ConnectionSettings, logger: logger)
        lanes = (0..<max(1, configuration.queueCount)).map {
            ConnectionQueue(label: "http-server.connections.\($0)", readBufferBytes: 64 << 10)
        }
    }

    /// The bound port (the chosen one when `port` is 0); 0 before `start`.
    public var localPort: Int { registry.withLock { $0.localPort } }
    /// The bound address, `host:port` or `[v6]:port` (`[::]:port` for dual stack); "" before `start`.
    public var localAddress: String { registry.withLock { $0.localAddress } }

    // Operations (branch ops) begin
    /// Connections accepted and not yet closed (metrics).
    public var openConnections: Int { registry.withLock { $0.connections.count } }
    /// Open connections by what they speak (metrics); every kind, zeros included.
    public var openConnectionsByKind: [(kind: OpenConnectionKind, count: Int)] { connectionCounts.snapshot }
    // Operations (branch ops) end

    /// Binds, listens and starts accepting. Throws `AddressResolutionError` or
    /// `SystemCallError`, or `TLSError` when `tls` names files that do not load.
    public func start() throws {
        try loadTLSContext()  // TLS (branch tls): a bad certificate fails the start
        let alreadyStarted = registry.withLock { registry in
            defer { registry.started = true }
            return registry.started
        }
        precondition(!alreadyStarted, "HTTPServer.start called twice")
        let listener = try bindListener()
        let bound: SocketAddress
        do {
            bound = try listener.localAddress()
        } catch {
            listener.close()
            throw error
        }
        registry.withLock {
            $0.localPort = bound.port
            $0.localAddress = bound.description
        }
        acceptQueue.sync {
            self.listener = listener
            let source = DispatchSource.makeReadSource(fileDescriptor: listener.rawValue, queue: acceptQueue)
            source.setEventHandler { [self] in acceptConnections() }
            source.setCancelHandler { [self] in listenerCancelled() }
            acceptSource = source
            acceptSourceRunning = true
            source.resume()
        }
        logger.info("listening", ["address": bound.description])
    }

    /// The listening socket for `configuration.host`; an empty host is dual stack.
    private func bindListener() throws -> SocketDescriptor {
        let backlog = Int32(clamping: configuration.backlog)
        guard configuration.host.isEmpty else {
            let addresses = try SocketAddress.resolve(host: configuration.host, port: configuration.port)
            return try SocketDescriptor.listen(on: addresses[0], backlog: backlog)
        }
        do {
            let any6 = try SocketAddress.resolve(host: "::", port: configuration.port)
            return try SocketDescriptor.listen(on: any6[0], backlog: backlog, v6Only: false)
        } catch {
            // No IPv6 on this host (disabled, or no such address family): IPv4 only.
            logger.info("ipv6-unavailable", ["error": "\(error)", "fallback": "0.0.0.0"])
            let any4 = try SocketAddress.resolve(host: "0.0.0.0", port: configuration.port)
            return try SocketDescriptor.listen(on: any4[0], backlog: backlog)
        }
    }

    /// Stops accepting, lets connections finish the requests they have started (idle
    /// ones close at once, the last response on a busy one says `Connection: close`),
    /// and calls `completion` once every connection is closed, or once `timeout` has
    /// passed and the rest have been cut. `completion` runs on an arbitrary queue.
    public func shutdown(timeout: Duration, completion: @escaping @Sendable () -> Void) {
        let (connections, wasStarted) = registry.withLock { registry in
            registry.stopping = true
            registry.shutdownCompletions.append(completion)
            if !registry.started { registry.listenerClosed = true }
            return (Array(registry.connections.values), registry.started)
        }
        logger.info("shutdown-started", ["connections": String(connections.count)])
        if wasStarted {
            acceptQueue.async { [self] in
                guard let acceptSource else { return }
                if !acceptSourceRunning { acceptSource.resume() }
                acceptSourceRunning = false
                acceptSource.cancel()
                self.acceptSource = nil
            }
        }
        for connection in connections {
            connection.queue.async { connection.shutdownGracefully() }
        }
        acceptQueue.asyncAfter(deadline: .now() + Self.interval(timeout)) { [self] in
            let remaining = registry.withLock { Array($0.connections.values) }
            if !remaining.isEmpty {
                logger.info("shutdown-timed-out", ["connections": String(remaining.count)])
            }
            for connection in remaining {
                connection.queue.async { connection.closeImmediately() }
            }
        }
        finishShutdownIfDone()
    }

    // MARK: - Accepting

    private func acceptConnections() {
        dispatchPrecondition(condition: .onQueue(acceptQueue))
        guard let listener else { return }
        // Bounded, so a flood of connections cannot starve the accept queue's other work.
        for _ in 0..<128 {
            do {
                switch try listener.accept() {
                case .wouldBlock:
                    return
                case .done(let (socket, address)):
                    admit(socket, address: address)
                }
            } catch {
                switch error.errno {
                case ECONNABORTED, EPROTO, EPERM:
                    continue  // the connection died in the backlog
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: the pending connection stays in the
                    // backlog and the level-triggered source would spin, so pause.
                    logger.error("accept-failed", ["error": error.description])
                    pauseAccepting(for: .milliseconds(100))
                    return
                default:
                    logger.error("accept-failed", ["error": error.description])
                    return
                }
            }
        }
    }

    private func admit(_ socket: SocketDescriptor, address: SocketAddress) {
        do {
            try socket.setNoDelay()
            let keepAlive = Self.nanoseconds(configuration.tcpKeepAlive) / 1_000_000_000
            if keepAlive > 0 { try socket.setKeepAlive(idleSeconds: Int32(clamping: keepAlive)) }
        } catch {
            logger.debug("socket-options-failed", ["error": error.description])
        }
        let lane = lanes[nextLane]
        nextLane = (nextLane + 1) % lanes.count
        let remoteAddress = address.description
        // With TLS configured the first handler is the TLS layer, which asks `protocols`
        // for the negotiated protocol's handler after the handshake (HTTPServer+TLS.swift);
        // in cleartext it is HTTP/1.1, or h2c by prior knowledge or `Upgrade: h2c`.
        let handler: any ConnectionHandler
        let attach: (SocketConnection) -> Void
        let kind: OpenConnectionKind
        if let context = tlsContext.withLock({ $0 }) {
            guard let layer = makeTLSConnection(context: context, lane: lane, remoteAddress: remoteAddress) else {
                socket.close()
                return
            }
            (handler, attach, kind) = (layer, { layer.transport = $0 }, .tlsHandshake)
        } else {
            let cleartext = protocols.makeCleartextHandler(lane: lane, remoteAddress: remoteAddress)
            (handler, attach, kind) = (cleartext, { cleartext.transport = $0 }, .http1)
        }

        let count: Int? = registry.withLock { registry in
            guard !registry.stopping else { return nil }
            registry.nextID += 1
            let connection = SocketConnection(
                id: registry.nextID, socket: socket, lane: lane, settings: socketSettings, logger: logger,
                counts: connectionCounts, kind: kind, onClosed: { [self] in connectionClosed($0) })
            // Linked before `start` is queued: until then no queue sees either object.
            connection.handler = handler
            attach(connection)  // TLS (branch tls)
            registry.connections[connection.id] = connection
            // Queued under the lock, so a shutdown that sees this connection queues its
            // request to stop after the start.
            lane.queue.async { connection.start() }
            return registry.connections.count
        }
        guard let count else {
            socket.close()
            return
        }
        if count >= configuration.maxConnections {
            logger.info("connection-limit-reached", ["connections": String(count)])
            acceptPausedUntilClose = true
            setAccepting(false)
        }
    }

    private func connectionClosed(_ connection: SocketConnection) {
        let count = registry.withLock { registry in
            registry.connections[connection.id] = nil
            return registry.connections.count
        }
        if count < configuration.maxConnections {
            acceptQueue.async { [self] in
                guard acceptPausedUntilClose else { return }
                acceptPausedUntilClose = false
                setAccepting(true)
            }
        }
        finishShutdownIfDone()
    }

    private func pauseAccepting(for delay: DispatchTimeInterval) {
        setAccepting(false)
        acceptQueue.asyncAfter(deadline: .now() + delay) { [self] in
            if !acceptPausedUntilClose { setAccepting(true) }
        }
    }

    private func setAccepting(_ enabled: Bool) {
        dispatchPrecondition(condition: .onQueue(acceptQueue))
        guard let acceptSource, enabled != acceptSourceRunning else { return }
        acceptSourceRunning = enabled
        if enabled { acceptSource.resume() } else { acceptSource.suspend() }
    }

    private func listenerCancelled() {
        listener?.close()
        listener = nil
        registry.withLock { $0.listenerClosed = true }
        finishShutdownIfDone()
    }

    private func finishShutdownIfDone() {
        let completions = registry.withLock { registry -> [@Sendable () -> Void] in
            guard registry.stopping, registry.listenerClosed, registry.connections.isEmpty else { return [] }
            defer { registry.shutdownCompletions = [] }
            return registry.shutdownCompletions
        }
        if !completions.isEmpty { logger.info("shutdown-complete") }
        for completion in completions { completion() }
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }

    static func interval(_ duration: Duration) -> DispatchTimeInterval {
        .nanoseconds(Int(clamping: nanoseconds(duration)))
    }
}
