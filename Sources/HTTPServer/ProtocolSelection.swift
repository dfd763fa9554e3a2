import BBSLog

// Which protocol handler goes on top of a connection's transport.
//
//     TLS: the handshake's ALPN result ──> makeHandler(for: .http2 / .http1)
//     cleartext: makeCleartextHandler ──> HTTP/1.1 until the first bytes say otherwise:
//         the HTTP/2 connection preface ("prior knowledge", RFC 9113 §3.3) ──> HTTP/2
//         an HTTP/1.1 request with `Upgrade: h2c` (RFC 7540 §3.2) ──> 101, then HTTP/2
//                                                  with that request as stream 1

/// The protocol a connection speaks once chosen.
enum ConnectionProtocol: Sendable, Equatable, Hashable {
    case http1
    case http2

    /// The ALPN protocol identifiers a TLS server offers, preferred first.
    static let alpnIdentifiers = ["h2", "http/1.1"]

    /// The protocol of a TLS ALPN result: `h2` is HTTP/2; `http/1.1`, or nothing
    /// negotiated, is HTTP/1.1.
    init(alpn: String?) {
        self = alpn == "h2" ? .http2 : .http1
    }
}

/// Makes each connection's protocol handler, with the server's responder and settings.
struct ProtocolSelection: Sendable {
    let responder: any HTTPResponder
    let http1Settings: HTTP1Connection.Settings
    let http2Settings: HTTP2Connection.Settings
    let logger: Logger

    /// The handler for a protocol already chosen (by TLS ALPN), speaking over
    /// `transport`. The caller makes it the transport's handler; `transportStarted` comes
    /// next.
    func makeHandler(for protocol: ConnectionProtocol, transport: any ConnectionTransport, lane: ConnectionQueue,
                     remoteAddress: String) -> any ConnectionHandler {
        switch `protocol` {
        case .http1:
            let handler = makeHTTP1(lane: lane, remoteAddress: remoteAddress)
            handler.transport = transport
            return handler
        case .http2:
            let handler = makeHTTP2(lane: lane, remoteAddress: remoteAddress)
            handler.transport = transport
            return handler
        }
    }

    /// The handler of a cleartext connection: HTTP/1.1, or HTTP/2 by prior knowledge or
    /// by `Upgrade: h2c`. Set its `transport` before the transport starts it.
    func makeCleartextHandler(lane: ConnectionQueue, remoteAddress: String) -> CleartextProtocolHandler {
        CleartextProtocolHandler(selection: self, lane: lane, remoteAddress: remoteAddress)
    }

    func makeHTTP1(lane: ConnectionQueue, remoteAddress: String) -> HTTP1Connection {
        HTTP1Connection(lane: lane, responder: responder, settings: http1Settings, remoteAddress: remoteAddress,
                        logger: logger)
    }

    func makeHTTP2(lane: ConnectionQueue, remoteAddress: String) -> HTTP2Connection {
        HTTP2Connection(lane: lane, responder: responder, settings: http2Settings, remoteAddress: remoteAddress,
                        logger: logger)
    }
}

/// A cleartext connection's handler: HTTP/1.1 from the start (its idle timeout applies
/// to a silent connection), switched to HTTP/2 if the first bytes are the connection
/// preface, or if HTTP/1.1 accepts an `Upgrade: h2c`. Every transport call goes on to
/// the protocol handler chosen.
///
/// Detection reads only the first bytes: anything that is not a prefix of the preface
/// goes to HTTP/1.1 at once (a POST differs at its second byte); a prefix that is cut
/// short waits for more.
final class CleartextProtocolHandler: ConnectionHandler {
    // Invariant: used only on the connection's queue, like the handlers it holds.

    private enum State {
        /// HTTP/1.1 unless the bytes seen so far (`prefix`, a proper prefix of the
        /// preface) go on to form the preface.
        case detecting(HTTP1Connection, prefix: [UInt8])
        case chosen(any ConnectionHandler)
        case closed
    }

    /// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (RFC 9113 §3.4).
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    var transport: (any ConnectionTransport)?
    private let selection: ProtocolSelection
    private let lane: ConnectionQueue
    private let remoteAddress: String
    private var state: State

    init(selection: ProtocolSelection, lane: ConnectionQueue, remoteAddress: String) {
        self.selection = selection
        self.lane = lane
        self.remoteAddress = remoteAddress
        let http1 = selection.makeHTTP1(lane: lane, remoteAddress: remoteAddress)
        state = .detecting(http1, prefix: [])
        http1.upgradeToHTTP2 = { [weak self] upgrade in self?.upgrade(upgrade) }
    }

    /// The protocol chosen so far (HTTP/1.1 while detecting).
    var currentProtocol: ConnectionProtocol? {
        switch state {
        case .detecting: .http1
        case .chosen(let handler): handler is HTTP2Connection ? .http2 : .http1
        case .closed: nil
        }
    }

    func transportStarted() {
        guard case .detecting(let http1, _) = state else { return }
        http1.transport = transport
        http1.transportStarted()
    }

    func transportReceived(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .chosen(let handler):
            handler.transportReceived(bytes)
        case .detecting(let http1, let prefix):
            if prefix.isEmpty {
                switch Self.matchPreface(bytes) {
                case .no:
                    choose(http1).transportReceived(bytes)
                case .partly:
                    state = .detecting(http1, prefix: Array(bytes))
                case .yes:
                    chooseHTTP2(replacing: http1).transportReceived(bytes)
                }
            } else {
                let seen = prefix + bytes
                seen.withUnsafeBytes { seen in
                    switch Self.matchPreface(seen) {
                    case .no:
                        choose(http1).transportReceived(seen)
                    case .partly:
                        state = .detecting(http1, prefix: Array(seen))
                    case .yes:
                        chooseHTTP2(replacing: http1).transportReceived(seen)
                    }
                }
            }
        case .closed:
            break
        }
    }

    func transportReceivedEnd() {
        current?.transportReceivedEnd()
    }

    func transportWrote(byteCount: Int) {
        undecided?.transportWrote(byteCount: byteCount)
    }

    func transportDeadlinePassed() {
        undecided?.transportDeadlinePassed()
    }

    func transportClosed() {
        let handler = current
        state = .closed
        transport = nil
        handler?.transportClosed()
    }

    func shutdownGracefully() {
        undecided?.shutdownGracefully()
    }

    // MARK: - Choosing

    /// The handler calls go to; while detecting, a partial preface goes to HTTP/1.1 first
    /// (it was not HTTP/2 after all).
    private var current: (any ConnectionHandler)? {
        switch state {
        case .chosen(let handler):
            return handler
        case .detecting(let http1, let prefix):
            let handler = choose(http1)
            if !prefix.isEmpty { prefix.withUnsafeBytes { handler.transportReceived($0) } }
            return handler
        case .closed:
            return nil
        }
    }

    /// The handler calls go to, without deciding: while detecting, HTTP/1.1 (its idle
    /// timeout and shutdown close a connection that has not chosen).
    private var undecided: (any ConnectionHandler)? {
        switch state {
        case .chosen(let handler): handler
        case .detecting(let http1, _): http1
        case .closed: nil
        }
    }

    private func choose(_ handler: any ConnectionHandler) -> any ConnectionHandler {
        state = .chosen(handler)
        return handler
    }

    private func chooseHTTP2(replacing http1: HTTP1Connection) -> HTTP2Connection {
        http1.upgradeToHTTP2 = nil
        http1.transport = nil
        let http2 = selection.makeHTTP2(lane: lane, remoteAddress: remoteAddress)
        http2.transport = transport
        state = .chosen(http2)
        transport?.protocolChosen(.http2)
        http2.transportStarted()
        return http2
    }

    /// HTTP/1.1 accepted `Upgrade: h2c` and queued its 101: HTTP/2 takes over.
    private func upgrade(_ upgrade: H2CUpgrade) {
        let http2 = selection.makeHTTP2(lane: lane, remoteAddress: remoteAddress)
        http2.transport = transport
        state = .chosen(http2)
        transport?.protocolChosen(.http2)
        http2.transportStarted(upgradedFrom: upgrade)
    }

    private enum PrefaceMatch {
        case no
        /// The bytes are a proper prefix of the preface.
        case partly
        /// The bytes begin with the whole preface.
        case yes
    }

    private static func matchPreface(_ bytes: UnsafeRawBufferPointer) -> PrefaceMatch {
        let count = min(bytes.count, preface.count)
        for index in 0..<count where bytes[index] != preface[index] { return .no }
        return count == preface.count ? .yes : .partly
    }
}

extension HTTPServer.Configuration {
    /// What each HTTP/2 connection is made with.
    var http2ConnectionSettings: HTTP2Connection.Settings {
        var session = HTTP2Session.Settings()
        session.maxConcurrentStreams = max(1, http2MaxConcurrentStreams)
        session.initialStreamWindowBytes = http2InitialWindowBytes
        session.connectionWindowBytes = http2ConnectionWindowBytes
        session.maxHeaderListBytes = maxHeaderBytes
        session.maxHeaderCount = maxHeaderCount
        session.maxBodyBytes = maxBodyBytes
        session.streamResetBurst = http2StreamResetBurst
        session.streamResetsPerSecond = http2StreamResetsPerSecond
        session.maxQueuedControlFrames = http2MaxQueuedControlFrames
        return HTTP2Connection.Settings(
            session: session,
            requestTimeoutNanoseconds: HTTPServer.nanoseconds(requestTimeout),
            idleTimeoutNanoseconds: HTTPServer.nanoseconds(idleTimeout),
            outboundHighWaterBytes: max(16 << 10, outboundHighWaterBytes),
            maxRequestsInProgress: max(1, http2MaxRequestsInProgress))
    }
}
