import BBSLog
import Dispatch

// The server's TLS side: the current context (replaced whole on reload), and the TLS
// layer put first on every accepted connection when `Configuration.tls` is set.

extension HTTPServer {
    /// The protocols offered through ALPN, most preferred first: exactly those
    /// `makeTLSProtocolHandler` serves, so a client never negotiates one we cannot speak.
    static let alpnProtocols = ConnectionProtocol.alpnIdentifiers

    /// Re-reads the certificate, key and CA files of `configuration.tls` and uses them
    /// for connections accepted from now on; open connections keep their session. On
    /// any error the previous certificates stay in use. Safe from any thread.
    public func reloadTLS() throws(TLSError) {
        guard let tls = configuration.tls else { throw TLSError.notConfigured }
        let context = try TLSContext(server: tls, alpnProtocols: Self.alpnProtocols)
        tlsContext.withLock { $0 = context }
    }

    /// Builds the first TLS context; called by `start` before the port is bound, so a
    /// bad certificate stops the server from starting.
    func loadTLSContext() throws(TLSError) {
        guard let tls = configuration.tls else { return }
        let context = try TLSContext(server: tls, alpnProtocols: Self.alpnProtocols)
        tlsContext.withLock { $0 = context }
    }

    /// The TLS layer of a new connection from `context`; after the handshake it puts
    /// the negotiated protocol's handler on top of itself.
    func makeTLSConnection(context: TLSContext, lane: ConnectionQueue, remoteAddress: String) -> TLSConnection? {
        let engine: TLSEngine
        do {
            engine = try TLSEngine(context: context)
        } catch {
            logger.error("tls-session-failed", ["remote_address": remoteAddress, "error": error.description])
            return nil
        }
        let timeout = Self.nanoseconds(configuration.tls?.handshakeTimeout ?? .seconds(10))
        return TLSConnection(
            engine: engine, lane: lane, handshakeTimeoutNanoseconds: timeout, remoteAddress: remoteAddress,
            logger: logger
        ) { [self] negotiatedProtocol, transport in
            makeTLSProtocolHandler(negotiatedProtocol: negotiatedProtocol, transport: transport, lane: lane,
                                   remoteAddress: remoteAddress)
        }
    }

    /// The handler of the protocol ALPN negotiated ("h2" → h2; "http/1.1" or none →
    /// HTTP/1.1). Never the cleartext handler: h2c upgrade is for cleartext only.
    private func makeTLSProtocolHandler(negotiatedProtocol: String?, transport: TLSConnection,
                                        lane: ConnectionQueue, remoteAddress: String) -> any ConnectionHandler {
        let chosen = ConnectionProtocol(alpn: negotiatedProtocol)
        transport.protocolChosen(chosen)
        return protocols.makeHandler(for: chosen, transport: transport, lane: lane, remoteAddress: remoteAddress)
    }
}
