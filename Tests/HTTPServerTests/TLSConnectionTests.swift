import COpenSSL
import Dispatch
import Foundation
import Testing

@testable import HTTPServer

// TLSConnection between an in-memory transport (ciphertext) and a recording protocol
// handler (plaintext), with a client TLSEngine as the peer. Everything runs on the
// lane's queue through `queue.sync`; a drain the connection queues for later has run
// once a following `queue.sync {}` returns. No sockets, no timing.

/// The socket side: what the TLS layer asks of it.
private final class CiphertextTransport: ConnectionTransport {
    var output: [UInt8] = []
    var reading = true
    var deadline: UInt64?
    var deadlineChanges = 0
    var closeMode: ConnectionCloseMode?
    /// Every byte ever queued.
    var totalQueued = 0

    func enqueue(_ write: (inout [UInt8]) -> Void) {
        guard closeMode == nil else { return }
        let before = output.count
        write(&output)
        totalQueued += output.count - before
    }
    func flush() {}
    var pendingOutboundBytes: Int { output.count }
    func setReading(_ enabled: Bool) { reading = enabled }
    func setDeadline(_ uptimeNanoseconds: UInt64?) {
        deadline = uptimeNanoseconds
        deadlineChanges += 1
    }
    func protocolChosen(_ protocol: ConnectionProtocol) {}
    func close(_ mode: ConnectionCloseMode) {
        if closeMode == nil { closeMode = mode }
    }

    func take() -> [UInt8] {
        defer { output = [] }
        return output
    }
}

/// The protocol side: records what the TLS layer tells it.
private final class RecordingHandler: ConnectionHandler {
    var transport: (any ConnectionTransport)?
    var started = false
    var received: [UInt8] = []
    var receivedEnd = false
    var wrote = 0
    var deadlinesPassed = 0
    var closed = false
    var shutdownAsked = false

    func transportStarted() { started = true }
    func transportReceived(_ bytes: UnsafeRawBufferPointer) { received += bytes }
    func transportReceivedEnd() { receivedEnd = true }
    func transportWrote(byteCount: Int) { wrote += byteCount }
    func transportDeadlinePassed() { deadlinesPassed += 1 }
    func transportClosed() { closed = true }
    func shutdownGracefully() { shutdownAsked = true }

    var text: String { String(decoding: received, as: UTF8.self) }
}

private final class Harness {
    let lane: ConnectionQueue
    let transport = CiphertextTransport()
    let connection: TLSConnection
    let client: TLSEngine
    /// What the factory was asked for, once per handshake.
    var negotiated: [String?] = []
    var handler: RecordingHandler?

    init(server: TLSConfiguration, serverALPN: [String] = ["http/1.1"], client clientContext: TLSContext,
         readBufferBytes: Int = 64 << 10) throws {
        lane = ConnectionQueue(label: "tls-connection-tests", readBufferBytes: readBufferBytes)
        let engine = try TLSEngine(context: TLSContext(server: server, alpnProtocols: serverALPN))
        client = try TLSEngine(context: clientContext, role: .client(serverName: "127.0.0.1"))
        // The factory is set after `self` is complete, through a box.
        let box = FactoryBox()
        connection = TLSConnection(engine: engine, lane: lane, handshakeTimeoutNanoseconds: 5_000_000_000,
                                   remoteAddress: "192.0.2.1:1234", logger: .discarding) { protocolName, transport in
            box.make!(protocolName, transport)
        }
        box.make = { [unowned self] protocolName, transport in
            negotiated.append(protocolName)
            let handler = RecordingHandler()
            handler.transport = transport
            self.handler = handler
            return handler
        }
        connection.transport = transport
        onQueue { connection.transportStarted() }
    }

    final class FactoryBox {
        var make: ((String?, TLSConnection) -> any ConnectionHandler)?
    }

    func onQueue<R>(_ body: () throws -> R) rethrows -> R {
        try lane.queue.sync { try body() }
    }

    /// Client output to the connection, as the socket would deliver it.
    func toServer() {
        var bytes: [UInt8] = []
        client.takeOutput(appendingTo: &bytes)
        guard !bytes.isEmpty else { return }
        onQueue { bytes.withUnsafeBytes { connection.transportReceived($0) } }
    }

    /// The connection's output to the client.
    func toClient() {
        let bytes = onQueue { transport.take() }
        bytes.withUnsafeBytes { client.receive($0) }
    }

    /// Runs the handshake through the connection; returns the client's last result.
    @discardableResult
    func handshake() -> TLSEngine.OperationResult {
        var result = TLSEngine.OperationResult.incomplete
        for _ in 0..<10 {
            result = client.handshake()
            toServer()
            toClient()
            if result != .incomplete { break }
        }
        return result
    }

    func clientSends(_ text: String) {
        #expect(write(text, to: client) == .complete)
        toServer()
    }

    /// Plaintext the client can read now, and how its reading ended.
    func clientReads() -> (text: String, end: TLSEngine.ReadResult) {
        toClient()
        let (bytes, end) = readAll(client)
        return (String(decoding: bytes, as: UTF8.self), end)
    }

    /// The handler sends `text` as a protocol handler does: enqueue, then flush.
    func handlerSends(_ text: String) {
        onQueue {
            connection.enqueue { $0.append(contentsOf: text.utf8) }
            connection.flush()
        }
    }
}

private func goodHarness(serverALPN: [String] = ["http/1.1"], clientALPN: [String] = [],
                         readBufferBytes: Int = 64 << 10) throws -> Harness {
    let certificates = try TestCertificates.get().first
    return try Harness(server: certificates.serverConfiguration, serverALPN: serverALPN,
                       client: makeGoodClientContext(certificates, alpn: clientALPN),
                       readBufferBytes: readBufferBytes)
}

@Suite struct TLSConnectionTests {
    @Test func handshakeStartsTheProtocolHandlerAndCarriesPlaintext() throws {
        let harness = try goodHarness()
        // The handshake deadline is armed at once; no handler exists yet.
        #expect(harness.transport.deadline != nil)
        #expect(harness.handler == nil)
        #expect(harness.handshake() == .complete)
        let handler = try #require(harness.handler)
        #expect(handler.started)
        #expect(harness.negotiated == [nil])  // the client offered no ALPN
        #expect(harness.transport.deadline == nil)  // the handshake deadline is gone

        harness.clientSends("POST /v1/ping HTTP/1.1\r\n\r\n")
        #expect(handler.text == "POST /v1/ping HTTP/1.1\r\n\r\n")
        harness.handlerSends("HTTP/1.1 200 OK\r\n\r\n")
        #expect(harness.clientReads().text == "HTTP/1.1 200 OK\r\n\r\n")
    }

    @Test func alpnPicksTheHandler() throws {
        let harness = try goodHarness(serverALPN: ["h2", "http/1.1"], clientALPN: ["h2", "http/1.1"])
        #expect(harness.handshake() == .complete)
        #expect(harness.negotiated == ["h2"])
        let http1 = try goodHarness(serverALPN: ["h2", "http/1.1"], clientALPN: ["http/1.1"])
        #expect(http1.handshake() == .complete)
        #expect(http1.negotiated == ["http/1.1"])
    }

    @Test func aRequestSentWithTheLastHandshakeMessageIsDelivered() throws {
        let harness = try goodHarness()
        // ClientHello out, server flight back; then the client's Finished and its first
        // request reach the server in one read.
        #expect(harness.client.handshake() == .incomplete)
        harness.toServer()
        harness.toClient()
        #expect(harness.client.handshake() == .complete)
        #expect(write("GET /first HTTP/1.1\r\n\r\n", to: harness.client) == .complete)
        harness.toServer()
        let handler = try #require(harness.handler)
        #expect(handler.text == "GET /first HTTP/1.1\r\n\r\n")
    }

    @Test func largeInputIsDeliveredInBufferSizedPieces() throws {
        let harness = try goodHarness(readBufferBytes: 1000)
        harness.handshake()
        let body = String(repeating: "x", count: 50_000)
        harness.clientSends(body)
        #expect(harness.handler?.text == body)
    }

    @Test func aStalledHandshakeIsClosedAtItsDeadline() throws {
        let harness = try goodHarness()
        #expect(harness.client.handshake() == .incomplete)
        harness.toServer()  // ClientHello, then nothing more
        harness.onQueue { harness.connection.transportDeadlinePassed() }
        #expect(harness.transport.closeMode == .immediate)
        #expect(harness.handler == nil)
    }

    @Test func aRefusedHandshakeSendsTheAlertThenClosesGracefully() throws {
        let certificates = try TestCertificates.get().first
        let harness = try Harness(server: certificates.serverConfiguration, client: makeClientContext(
            trusting: certificates.ca, certificate: certificates.clientCertificate, key: certificates.clientKey,
            versions: TLS1_VERSION...TLS1_1_VERSION))
        #expect(harness.client.handshake() == .incomplete)
        harness.toServer()
        #expect(harness.transport.closeMode == .graceful)
        let alert = harness.onQueue { harness.transport.output }
        #expect(alert.first == 0x15)  // an alert record, sent before the close
        harness.toClient()
        guard case .failed(let error) = harness.client.handshake() else {
            Issue.record("the TLS 1.1 client was not refused")
            return
        }
        #expect(error.detail.contains("protocol version"))
        #expect(harness.handler == nil)
    }

    @Test func theHandlersGracefulCloseSendsCloseNotifyAfterItsData() throws {
        let harness = try goodHarness()
        harness.handshake()
        harness.onQueue {
            harness.connection.enqueue { $0.append(contentsOf: "bye".utf8) }
            harness.connection.close(.graceful)
        }
        #expect(harness.transport.closeMode == .graceful)
        let read = harness.clientReads()
        #expect(read.text == "bye")
        #expect(read.end == .closed)
    }

    @Test func anImmediateCloseSendsNothingMore() throws {
        let harness = try goodHarness()
        harness.handshake()
        _ = harness.clientReads()  // session tickets
        harness.onQueue {
            harness.connection.enqueue { $0.append(contentsOf: "never".utf8) }
            harness.connection.close(.immediate)
        }
        #expect(harness.transport.closeMode == .immediate)
        #expect(harness.onQueue { harness.transport.output }.isEmpty)
    }

    @Test func ciphertextProgressIsReportedAsPlaintext() throws {
        let harness = try goodHarness()
        harness.handshake()
        let handler = try #require(harness.handler)
        // The handshake's bytes carry no plaintext of the handler's.
        _ = harness.clientReads()
        let handshakeBytes = harness.onQueue { harness.transport.totalQueued }
        harness.onQueue { harness.connection.transportWrote(byteCount: handshakeBytes) }
        #expect(handler.wrote == 0)

        harness.handlerSends(String(repeating: "a", count: 40_000))
        let ciphertext = harness.onQueue { harness.transport.take().count }
        #expect(ciphertext > 40_000)
        #expect(harness.onQueue { harness.connection.pendingOutboundBytes } == 40_000)
        let firstPart = ciphertext / 3
        harness.onQueue { harness.connection.transportWrote(byteCount: firstPart) }
        #expect(handler.wrote > 0 && handler.wrote < 40_000)
        #expect(harness.onQueue { harness.connection.pendingOutboundBytes } == 40_000 - handler.wrote)
        harness.onQueue { harness.connection.transportWrote(byteCount: ciphertext - firstPart) }
        #expect(handler.wrote == 40_000)
        #expect(harness.onQueue { harness.connection.pendingOutboundBytes } == 0)
    }

    @Test func pausedReadingHoldsInputUntilResumed() throws {
        let harness = try goodHarness()
        harness.handshake()
        let handler = try #require(harness.handler)
        harness.onQueue { harness.connection.setReading(false) }
        #expect(harness.transport.reading == false)
        harness.clientSends("held back")
        #expect(handler.received.isEmpty)
        // Not delivered inside setReading (the handler is mid-turn there) ...
        let deliveredInsideTheCall = harness.onQueue {
            harness.connection.setReading(true)
            return !handler.received.isEmpty
        }
        #expect(!deliveredInsideTheCall)
        #expect(harness.transport.reading == true)
        // ... but on a later turn of the queue.
        harness.onQueue {}
        #expect(handler.text == "held back")
    }

    @Test func closeNotifyFromTheClientEndsTheInputAfterItsData() throws {
        let harness = try goodHarness()
        harness.handshake()
        let handler = try #require(harness.handler)
        #expect(write("last", to: harness.client) == .complete)
        _ = harness.client.shutdown()
        harness.toServer()
        #expect(handler.text == "last")
        #expect(handler.receivedEnd)
    }

    @Test func endOfStreamWithoutCloseNotifyEndsTheInputToo() throws {
        let harness = try goodHarness()
        harness.handshake()
        let handler = try #require(harness.handler)
        harness.clientSends("data")
        harness.onQueue { harness.connection.transportReceivedEnd() }
        #expect(handler.text == "data")
        #expect(handler.receivedEnd)
    }

    @Test func endOfStreamDuringTheHandshakeClosesAtOnce() throws {
        let harness = try goodHarness()
        #expect(harness.client.handshake() == .incomplete)
        harness.toServer()
        harness.onQueue { harness.connection.transportReceivedEnd() }
        #expect(harness.transport.closeMode == .immediate)
        #expect(harness.handler == nil)
    }

    @Test func gracefulShutdownClosesHandshakesAndIsForwardedOnceEstablished() throws {
        let handshaking = try goodHarness()
        handshaking.onQueue { handshaking.connection.shutdownGracefully() }
        #expect(handshaking.transport.closeMode == .immediate)

        let established = try goodHarness()
        established.handshake()
        established.onQueue { established.connection.shutdownGracefully() }
        #expect(established.handler?.shutdownAsked == true)
        #expect(established.transport.closeMode == nil)
    }

    @Test func deadlinesAndClosePassThroughOnceEstablished() throws {
        let harness = try goodHarness()
        harness.handshake()
        let handler = try #require(harness.handler)
        harness.onQueue { harness.connection.setDeadline(12345) }
        #expect(harness.transport.deadline == 12345)
        harness.onQueue { harness.connection.transportDeadlinePassed() }
        #expect(handler.deadlinesPassed == 1)
        #expect(harness.transport.closeMode == nil)
        harness.onQueue { harness.connection.transportClosed() }
        #expect(handler.closed)
    }

    @Test func aCorruptRecordClosesTheConnection() throws {
        let harness = try goodHarness()
        harness.handshake()
        #expect(write("tampered", to: harness.client) == .complete)
        var record: [UInt8] = []
        harness.client.takeOutput(appendingTo: &record)
        record[record.count - 1] ^= 0x01  // breaks the AEAD tag
        _ = harness.clientReads()  // session tickets
        harness.onQueue { record.withUnsafeBytes { harness.connection.transportReceived($0) } }
        #expect(harness.handler?.received.isEmpty == true)
        #expect(harness.transport.closeMode == .graceful)
        // The client learns why: bad_record_mac.
        guard case .failed(let error) = harness.clientReads().end else {
            Issue.record("no alert after a corrupt record")
            return
        }
        #expect(error.detail.contains("bad record mac"))
        // Nothing the handler queues afterwards is sent.
        harness.onQueue {
            harness.connection.enqueue { $0.append(contentsOf: "late".utf8) }
            harness.connection.flush()
        }
        #expect(harness.onQueue { harness.transport.output }.isEmpty)
    }
}
