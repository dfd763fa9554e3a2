import BBSPosix

#if canImport(Glibc)
import Glibc
#endif

/// One request and its response on a connection of its own, run on the calling thread:
/// resolve, connect (each address in turn), TLS handshake for https, send, read until
/// `HTTP1Parser` (response mode) has the whole response. The socket stays non-blocking
/// and every wait is a `poll` bounded by the deadline, so no step can outlive it
/// (except the resolver: getaddrinfo takes no timeout).
struct HTTPClientConnection {
    let url: HTTPClientURL
    let deadline: ContinuousClock.Instant
    let tlsContext: TLSContext
    let limits: HTTP1Parser.Limits

    /// Sends `head` and `body` and returns the response.
    func exchange(head: [UInt8], body: [UInt8]) throws(HTTPClientError) -> HTTPClientResponse {
        let addresses: [SocketAddress]
        do {
            addresses = try SocketAddress.resolve(host: url.host, port: url.port, passive: false)
        } catch {
            throw HTTPClientError(.resolution, "\(url.host): \(error)")
        }
        let socket = try connect(addresses)
        defer { socket.close() }
        var channel = Channel(socket: socket, deadline: deadline)
        if url.isTLS {
            let engine: TLSEngine
            do {
                engine = try TLSEngine(context: tlsContext, role: .client(serverName: url.host))
            } catch {
                throw HTTPClientError(.tls, error.description)
            }
            channel.engine = engine
            try channel.handshake()
        }
        try channel.send(head + body)

        var parser = HTTP1Parser(responseLimits: limits)
        while true {
            let open = try channel.receive(into: &parser)
            let event = open ? parser.nextResponse() : parser.endOfInput()
            switch event {
            case .response(let response, _):
                return response
            case .error(.truncatedResponse):
                throw HTTPClientError(.connectionClosed, "connection closed before the response was complete")
            case .error(let error):
                throw HTTPClientError(.malformedResponse, "\(error)")
            case .needMoreBytes:
                if !open {
                    throw HTTPClientError(.connectionClosed, "connection closed before any response")
                }
            }
        }
    }

    /// The first address that accepts the connection; a refusal moves on to the next.
    private func connect(_ addresses: [SocketAddress]) throws(HTTPClientError) -> SocketDescriptor {
        var lastError = "no address"
        for address in addresses {
            let socket: SocketDescriptor
            do {
                socket = try SocketDescriptor.makeStream(family: address.family)
            } catch {
                throw HTTPClientError(.connectFailed, error.description)
            }
            do {
                if case .wouldBlock = try socket.connect(to: address) {
                    guard try socket.wait(forWriting: true, timeoutMilliseconds: try remainingMilliseconds()) else {
                        throw HTTPClientError(.timedOut, "connecting to \(address) timed out")
                    }
                    let code = try socket.pendingError()
                    if code != 0 { throw SystemCallError(call: "connect", errno: code) }
                }
                try? socket.setNoDelay()
                return socket
            } catch let error as HTTPClientError {
                socket.close()
                throw error
            } catch let error as SystemCallError {
                socket.close()
                if error.errno == ETIMEDOUT { throw HTTPClientError(.timedOut, "connecting to \(address): \(error)") }
                lastError = "\(address): \(error)"
            } catch {
                socket.close()
                lastError = "\(address): \(error)"
            }
        }
        throw HTTPClientError(.connectFailed, lastError)
    }

    private func remainingMilliseconds() throws(HTTPClientError) -> Int32 {
        try Channel.remainingMilliseconds(until: deadline)
    }
}

/// The byte stream of one client connection: the socket, with TLS on top when `engine`
/// is set. Reads and writes wait with `poll` until the deadline.
private struct Channel {
    let socket: SocketDescriptor
    let deadline: ContinuousClock.Instant
    var engine: TLSEngine?
    private var readBuffer = [UInt8](repeating: 0, count: 16 << 10)

    init(socket: SocketDescriptor, deadline: ContinuousClock.Instant) {
        self.socket = socket
        self.deadline = deadline
    }

    static func remainingMilliseconds(until deadline: ContinuousClock.Instant) throws(HTTPClientError) -> Int32 {
        let remaining = ContinuousClock.now.duration(to: deadline)
        let milliseconds = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
        guard milliseconds > 0 else { throw HTTPClientError(.timedOut, "timed out") }
        return Int32(clamping: milliseconds)
    }

    /// Drives the client handshake to completion. A certificate the client refuses, or a
    /// server that refuses ours, is a `.tls` error: not worth retrying.
    mutating func handshake() throws(HTTPClientError) {
        guard let engine else { return }
        while true {
            let result = engine.handshake()
            try flushTLS()
            switch result {
            case .complete:
                return
            case .failed(let error):
                throw HTTPClientError(.tls, error.description)
            case .incomplete:
                guard let ciphertext = try readSocket() else {
                    throw HTTPClientError(.tls, "connection closed during the TLS handshake")
                }
                ciphertext.withUnsafeBytes { engine.receive($0) }
            }
        }
    }

    /// Sends all of `bytes` (encrypted first on TLS).
    mutating func send(_ bytes: [UInt8]) throws(HTTPClientError) {
        if let engine {
            if case .failed(let error) = bytes.withUnsafeBytes({ engine.write($0) }) {
                throw HTTPClientError(.tls, error.description)
            }
            try flushTLS()
        } else {
            try sendSocket(bytes)
        }
    }

    /// Feeds what arrives next to `parser`; false at the end of the stream.
    mutating func receive(into parser: inout HTTP1Parser) throws(HTTPClientError) -> Bool {
        guard let engine else {
            guard let bytes = try readSocket() else { return false }
            parser.append(bytes)
            return true
        }
        while true {
            var plaintext = [UInt8](repeating: 0, count: 16 << 10)
            var total = 0
            var closed = false
            readLoop: while total < plaintext.count {
                let result = plaintext.withUnsafeMutableBytes { raw in
                    engine.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[total...]))
                }
                switch result {
                case .bytes(let count): total += count
                case .incomplete: break readLoop
                case .closed: closed = true; break readLoop
                case .failed(let error): throw HTTPClientError(.tls, error.description)
                }
            }
            try flushTLS()  // a key update or alert may be owed
            if total > 0 {
                parser.append(plaintext[..<total])
                return true
            }
            if closed { return false }
            guard let ciphertext = try readSocket() else { return false }
            ciphertext.withUnsafeBytes { engine.receive($0) }
        }
    }

    private mutating func flushTLS() throws(HTTPClientError) {
        guard let engine, engine.pendingOutputBytes > 0 else { return }
        var out: [UInt8] = []
        engine.takeOutput(appendingTo: &out)
        try sendSocket(out)
    }

    /// The next bytes from the socket, nil at the end of the stream.
    private mutating func readSocket() throws(HTTPClientError) -> [UInt8]? {
        let socket = socket
        while true {
            let result: NonBlockingResult<Int>
            do {
                result = try readBuffer.withUnsafeMutableBytes { raw throws(SystemCallError) in try socket.read(into: raw) }
            } catch {
                throw HTTPClientError(.connectionClosed, "\(error)")
            }
            switch result {
            case .done(0): return nil
            case .done(let count): return Array(readBuffer[..<count])
            case .wouldBlock: try waitUntilReady(forWriting: false)
            }
        }
    }

    private func sendSocket(_ bytes: [UInt8]) throws(HTTPClientError) {
        var offset = 0
        while offset < bytes.count {
            let result: NonBlockingResult<Int>
            do {
                result = try bytes.withUnsafeBytes { raw throws(SystemCallError) in
                    try socket.send(UnsafeRawBufferPointer(rebasing: raw[offset...]))
                }
            } catch {
                // EPIPE, ECONNRESET: the peer went away mid-exchange.
                throw HTTPClientError(.connectionClosed, "\(error)")
            }
            switch result {
            case .done(let count): offset += count
            case .wouldBlock: try waitUntilReady(forWriting: true)
            }
        }
    }

    private func waitUntilReady(forWriting: Bool) throws(HTTPClientError) {
        let ready: Bool
        do {
            ready = try socket.wait(forWriting: forWriting,
                                    timeoutMilliseconds: try Self.remainingMilliseconds(until: deadline))
        } catch let error as HTTPClientError {
            throw error
        } catch {
            throw HTTPClientError(.connectionClosed, "\(error)")
        }
        if !ready { throw HTTPClientError(.timedOut, "timed out waiting for the server") }
    }
}
