import BBSLog
import CNghttp2
import Dispatch
import Synchronization
import Testing

@testable import HTTPServer

// The h2 connection handler between a client-side nghttp2 session (HTTP2TestClient) and
// an in-memory transport: both ends in the test, no sockets. The harness moves bytes
// until neither side has anything to say; everything runs on the handler's queue through
// `queue.sync`, and time is a manual clock, so nothing here depends on timing.

/// Keeps what the connection queues as "not yet taken by the kernel" until the harness
/// hands it to the client.
private final class MemoryTransport: ConnectionTransport {
    var output: [UInt8] = []
    var reading = true
    var deadline: UInt64?
    var closeMode: ConnectionCloseMode?
    /// The most bytes ever waiting at once.
    var largestPending = 0
    /// Set: each flush hands everything to the kernel at once, as a socket does, and
    /// reports it from inside the flush (within the handler's turn). Gets the bytes and
    /// returns the handler to tell.
    var drainsOnFlush: (([UInt8]) -> HTTP2Connection)?

    func enqueue(_ write: (inout [UInt8]) -> Void) {
        guard closeMode == nil else { return }
        write(&output)
        largestPending = max(largestPending, output.count)
    }
    func flush() {
        guard let drainsOnFlush, !output.isEmpty else { return }
        let bytes = take()
        drainsOnFlush(bytes).transportWrote(byteCount: bytes.count)
    }
    var pendingOutboundBytes: Int { output.count }
    func setReading(_ enabled: Bool) { reading = enabled }
    func setDeadline(_ uptimeNanoseconds: UInt64?) { deadline = uptimeNanoseconds }
    func protocolChosen(_ protocol: ConnectionProtocol) {}
    func close(_ mode: ConnectionCloseMode) {
        if closeMode == nil { closeMode = mode }
    }

    func take() -> [UInt8] {
        defer { output = [] }
        return output
    }
}

private final class ManualClock: Sendable {
    private let current = Mutex<UInt64>(1_000_000_000)
    var now: UInt64 { current.withLock { $0 } }
    func advance(seconds: Double) { current.withLock { $0 += UInt64(seconds * 1e9) } }
}

/// Keeps every request and its completion for the test to answer.
private final class HoldingResponder: HTTPResponder {
    let held = Mutex<[(request: HTTPRequest, completion: @Sendable (HTTPResponse) -> Void)]>([])

    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        held.withLock { $0.append((request, completion)) }
    }

    var count: Int { held.withLock { $0.count } }
    var paths: [String] { held.withLock { $0.map(\.request.path) } }
    func request(_ index: Int) -> HTTPRequest { held.withLock { $0[index].request } }

    func answer(_ index: Int, _ text: String, status: Int = 200, headers: HTTPHeaders = [:]) {
        answer(index, HTTPResponse(status: status, headers: headers, body: .bytes(Array(text.utf8))))
    }

    func answer(_ index: Int, _ response: HTTPResponse) {
        held.withLock { $0[index].completion }(response)
    }
}

/// Counts the requests it passes on.
private final class CountingResponder: HTTPResponder {
    let inner: any HTTPResponder
    private let counted = Mutex(0)
    init(_ inner: any HTTPResponder) { self.inner = inner }
    var count: Int { counted.withLock { $0 } }
    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        counted.withLock { $0 += 1 }
        inner.respond(to: request, completion: completion)
    }
}

/// Answers at once with `<method> <path> <query> <body length>`.
private struct EchoResponder: HTTPResponder {
    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        completion(HTTPResponse(
            status: 200, headers: ["Content-Type": "text/plain"],
            body: .bytes(Array("\(request.method) \(request.path) \(request.query ?? "-") \(request.body.count)".utf8))))
    }
}

/// Answers at once with `bytes` as the body.
private struct FixedResponder: HTTPResponder {
    let body: [UInt8]
    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        completion(HTTPResponse(status: 200, body: .bytes(body)))
    }
}

private final class Harness {
    let lane = ConnectionQueue(label: "http2-connection-tests", readBufferBytes: 16)
    let transport = MemoryTransport()
    let clock = ManualClock()
    let client: HTTP2TestClient
    let connection: HTTP2Connection
    /// Client bytes not yet delivered (the server stopped reading).
    private var toServer: [UInt8] = []

    static func settings(_ configure: (inout HTTP2Session.Settings) -> Void = { _ in },
                         highWater: Int = 1 << 20, maxRequestsInProgress: Int = 128) -> HTTP2Connection.Settings {
        var session = HTTP2Session.Settings()
        configure(&session)
        return HTTP2Connection.Settings(session: session, requestTimeoutNanoseconds: 5_000_000_000,
                                        idleTimeoutNanoseconds: 60_000_000_000, outboundHighWaterBytes: highWater,
                                        maxRequestsInProgress: maxRequestsInProgress)
    }

    init(responder: any HTTPResponder, settings: HTTP2Connection.Settings = Harness.settings(),
         client options: HTTP2TestClient.Options = .init(), drainsOnFlush: Bool = false) {
        client = HTTP2TestClient(options)
        let clock = self.clock
        connection = HTTP2Connection(lane: lane, responder: responder, settings: settings,
                                     remoteAddress: "192.0.2.1:1234", logger: .discarding, clock: { clock.now })
        connection.transport = transport
        if drainsOnFlush {
            transport.drainsOnFlush = { [client, unowned connection] bytes in
                #expect(client.receive(bytes) >= 0, "the client accepts what the server sends")
                return connection
            }
        }
        lane.queue.sync { [connection] in connection.transportStarted() }
        exchange()
    }

    /// Moves bytes both ways, in reads of at most `readSize`, delivering to the server
    /// only while it wants to read, until nothing moves.
    func exchange(readSize: Int = 64 << 10, drainServer: Bool = true) {
        for _ in 0..<100_000 {
            var moved = false
            toServer += client.output()
            while !toServer.isEmpty, lane.queue.sync(execute: { transport.reading && transport.closeMode == nil }) {
                let chunk = Array(toServer.prefix(readSize))
                toServer.removeFirst(chunk.count)
                lane.queue.sync { chunk.withUnsafeBytes { connection.transportReceived($0) } }
                moved = true
            }
            settle()
            if drainServer {
                let bytes = lane.queue.sync { transport.take() }
                if !bytes.isEmpty {
                    #expect(client.receive(bytes) >= 0, "the client accepts what the server sends")
                    lane.queue.sync { connection.transportWrote(byteCount: bytes.count) }
                    moved = true
                }
            }
            if !moved { return }
        }
        Issue.record("the exchange never settled")
    }

    /// Lets turns scheduled from other threads run.
    func settle() {
        lane.queue.sync {}
        lane.queue.sync {}
    }

    func onQueue<T>(_ body: () -> T) -> T {
        let result = lane.queue.sync(execute: body)
        settle()
        return result
    }

    var streamCount: Int { lane.queue.sync { connection.streamCount } }
}

@Suite struct HTTP2ConnectionTests {
    @Test func serverPrefaceAdvertisesTheLimits() {
        let harness = Harness(responder: EchoResponder(), settings: Harness.settings { $0.maxConcurrentStreams = 30 })
        let settings = harness.client.serverSettings
        #expect(settings[Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue)] == 30)
        #expect(settings[Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue)] == 1 << 20)
        #expect(settings[Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue)] == 64 << 10)
        #expect(harness.transport.closeMode == nil)
    }

    @Test func getAndPostRoundTrip() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder)
        let get = harness.client.request("GET", "/v1/ping?x=1&y", headers: [("x-trace", "abc")])
        let post = harness.client.request("POST", "/v1/tasks/desire.r2", headers: [("content-type", "application/x-protobuf")],
                                          body: Array(repeating: 7, count: 100_000))
        harness.exchange()
        #expect(responder.count == 2)
        let getRequest = responder.request(0)
        #expect(getRequest.method == "GET")
        #expect(getRequest.path == "/v1/ping")
        #expect(getRequest.query == "x=1&y")
        #expect(getRequest.version == .http2)
        #expect(getRequest.headers["X-Trace"] == "abc")
        #expect(getRequest.headers["Host"] == "test.local")
        #expect(getRequest.remoteAddress == "192.0.2.1:1234")
        let postRequest = responder.request(1)
        #expect(postRequest.method == "POST")
        #expect(postRequest.query == nil)
        #expect(postRequest.body == Array(repeating: 7, count: 100_000))
        #expect(postRequest.headers["Content-Type"] == "application/x-protobuf")

        responder.answer(0, "pong", headers: ["Content-Type": "text/plain"])
        responder.answer(1, "created", headers: ["Content-Type": "application/x-protobuf"])
        harness.exchange()
        #expect(harness.client[get].status == 200)
        #expect(harness.client[get].text == "pong")
        #expect(harness.client[get].header("content-type") == "text/plain")
        #expect(harness.client[get].header("content-length") == "4")
        #expect(harness.client[get].header("date") != nil)
        #expect(harness.client[get].endStream)
        #expect(harness.client[post].text == "created")
        #expect(harness.client[post].closeCode == NGHTTP2_NO_ERROR.rawValue)
        #expect(harness.streamCount == 0)
    }

    @Test func concurrentStreamsAreAnsweredInWhateverOrderTheyComplete() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder)
        let ids = (0..<3).map { harness.client.request("GET", "/\($0)") }
        harness.exchange()
        #expect(responder.paths == ["/0", "/1", "/2"])
        responder.answer(2, "two")
        harness.exchange()
        responder.answer(0, "zero")
        harness.exchange()
        #expect(harness.client.completionOrder == [ids[2], ids[0]])
        #expect(harness.client[ids[1]].status == nil)
        responder.answer(1, "one")
        harness.exchange()
        #expect(harness.client.completionOrder == [ids[2], ids[0], ids[1]])
        #expect(ids.map { harness.client[$0].text } == ["zero", "one", "two"])
    }

    @Test func aThousandStreamsAreOpenAtOnceOnOneConnection() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder)
        let ids = (0..<1000).map { harness.client.request("POST", "/v1/tasks/desire.r2", body: [UInt8($0 % 256)]) }
        harness.exchange()
        // Every stream is open (none refused); 128 are with the responder, the rest wait.
        #expect(harness.streamCount == 1000)
        #expect(responder.count == 128)
        #expect(ids.allSatisfy { harness.client[$0].closeCode == nil })
        var answered = 0
        while answered < responder.count {
            // Answering lets more in at once, on the connection's queue: count first.
            let dispatched = responder.count
            for index in answered..<dispatched { responder.answer(index, "ok") }
            answered = dispatched
            harness.exchange()
        }
        #expect(responder.count == 1000)
        #expect(ids.allSatisfy { harness.client[$0].status == 200 && harness.client[$0].endStream })
        #expect(harness.streamCount == 0)
    }

    @Test func aLargeResponseWaitsForTheClientsWindow() {
        let body = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let responder = HoldingResponder()
        let harness = Harness(responder: responder, client: .init(manualWindowUpdates: true))
        let id = harness.client.request("GET", "/big")
        harness.exchange()
        responder.answer(0, HTTPResponse(status: 200, body: .bytes(body)))
        harness.exchange()
        // The client's initial windows (65,535 for the stream and the connection) are all
        // the server may send before a WINDOW_UPDATE.
        #expect(harness.client[id].body.count == 65_535)
        #expect(harness.client[id].header("content-length") == "1000000")
        var rounds = 0
        while !harness.client[id].endStream && rounds < 100 {
            harness.client.consume(id, 65_535)
            harness.exchange()
            rounds += 1
        }
        #expect(harness.client[id].body == body)
        #expect(rounds == 1_000_000 / 65_535)
    }

    @Test func framingStopsAtTheOutboundHighWaterMark() {
        let body = [UInt8](repeating: 0x61, count: 4 << 20)
        let responder = HoldingResponder()
        let highWater = 64 << 10
        let harness = Harness(responder: responder, settings: Harness.settings(highWater: highWater),
                              client: .init(initialWindowBytes: 16 << 20, connectionWindowBytes: 64 << 20))
        let id = harness.client.request("GET", "/big")
        harness.exchange()
        responder.answer(0, HTTPResponse(status: 200, body: .bytes(body)))
        harness.exchange()
        #expect(harness.client[id].body.count == body.count)
        #expect(harness.client[id].endStream)
        // Never more than the mark plus one DATA frame (16 KiB + 9) and the head.
        #expect(harness.transport.largestPending <= highWater + 16_393 + 200)
        #expect(harness.client[id].dataFrames == body.count / 16_384)
    }

    @Test func aStreamedBodyGoesOutWriteByWrite() {
        let writerBox = Mutex<(any HTTPBodyStreamWriter)?>(nil)
        let closed = Atomic<Int>(0)
        let responder = HoldingResponder()
        // A 3-byte stream window: the rest of a write waits, and shows in bufferedBytes.
        let harness = Harness(responder: responder, client: .init(initialWindowBytes: 3, manualWindowUpdates: true))
        let id = harness.client.request("POST", "/v1/events/tasks.r1")
        harness.exchange()
        responder.answer(0, HTTPResponse(
            status: 200,
            headers: ["Content-Type": "text/event-stream; charset=utf-8", "Connection": "keep-alive",
                      "Transfer-Encoding": "chunked"],
            body: .stream { writer in
                writer.onClose { closed.add(1, ordering: .relaxed) }
                writerBox.withLock { $0 = writer }
            }))
        harness.exchange()
        let writer = writerBox.withLock { $0 }!
        #expect(harness.client[id].status == 200)
        #expect(harness.client[id].header("content-type") == "text/event-stream; charset=utf-8")
        #expect(harness.client[id].header("connection") == nil)
        #expect(harness.client[id].header("transfer-encoding") == nil)
        #expect(harness.client[id].header("content-length") == nil)

        #expect(writer.write(Array("ab".utf8)))
        #expect(writer.write(Array("cdefg".utf8)))
        harness.exchange()
        #expect(harness.client[id].text == "abc")
        #expect(harness.client[id].dataFrames == 2)  // "ab", then "c" of the second write
        #expect(writer.bufferedBytes == 4)

        writer.finish()
        #expect(!writer.write(Array("late".utf8)))
        harness.client.consume(id, 3)
        harness.exchange()
        #expect(harness.client[id].text == "abcdef")
        #expect(!harness.client[id].endStream)
        harness.client.consume(id, 3)
        harness.exchange()
        #expect(harness.client[id].text == "abcdefg")
        #expect(harness.client[id].endStream)
        #expect(harness.client[id].closeCode == NGHTTP2_NO_ERROR.rawValue)
        #expect(writer.bufferedBytes == 0)
        #expect(closed.load(ordering: .relaxed) == 1)
        #expect(harness.streamCount == 0)
    }

    @Test func abortingAStreamResetsIt() {
        let writerBox = Mutex<(any HTTPBodyStreamWriter)?>(nil)
        let responder = HoldingResponder()
        let harness = Harness(responder: responder)
        let id = harness.client.request("POST", "/events")
        harness.exchange()
        responder.answer(0, HTTPResponse(status: 200, body: .stream { writer in writerBox.withLock { $0 = writer } }))
        harness.exchange()
        let writer = writerBox.withLock { $0 }!
        writer.write(Array("x".utf8))
        harness.exchange()
        #expect(harness.client[id].text == "x")
        // Abrupt, as over HTTP/1.1: what is still queued when the reset goes is dropped.
        // Both posted before the connection's turn runs (it runs on the queue we hold).
        harness.onQueue {
            writer.write(Array("lost".utf8))
            writer.abort()
        }
        harness.exchange()
        #expect(harness.client[id].text == "x")
        #expect(harness.client[id].closeCode == NGHTTP2_INTERNAL_ERROR.rawValue)
        #expect(!harness.client[id].endStream)
        // The server's own abort is not the client's rapid reset.
        #expect(harness.client.goAway == nil)
    }

    @Test func aResetStreamsLateAnswerIsDroppedAndTheConnectionGoesOn() {
        let writerBox = Mutex<(any HTTPBodyStreamWriter)?>(nil)
        let closed = Atomic<Int>(0)
        let responder = HoldingResponder()
        let harness = Harness(responder: responder)
        let slow = harness.client.request("GET", "/slow")
        let events = harness.client.request("POST", "/events")
        harness.exchange()
        responder.answer(1, HTTPResponse(status: 200, body: .stream { writer in
            writer.onClose { closed.add(1, ordering: .relaxed) }
            writerBox.withLock { $0 = writer }
        }))
        harness.exchange()
        harness.client.reset(slow)
        harness.client.reset(events)
        harness.exchange()
        #expect(harness.streamCount == 0)
        #expect(closed.load(ordering: .relaxed) == 1)
        #expect(!writerBox.withLock { $0 }!.write(Array("gone".utf8)))

        responder.answer(0, "too late")
        harness.exchange()
        #expect(harness.client[slow].status == nil)
        #expect(harness.client[slow].closeCode == NGHTTP2_CANCEL.rawValue)
        #expect(harness.client.framesReceived[UInt8(NGHTTP2_RST_STREAM.rawValue)] == nil)

        let next = harness.client.request("GET", "/next")
        harness.exchange()
        responder.answer(2, "next")
        harness.exchange()
        #expect(harness.client[next].text == "next")
    }

    @Test func headRequestsGetTheLengthButNoBody() {
        let harness = Harness(responder: EchoResponder())
        let id = harness.client.request("HEAD", "/thing")
        harness.exchange()
        #expect(harness.client[id].status == 200)
        #expect(harness.client[id].header("content-length") == String("HEAD /thing - 0".utf8.count))
        #expect(harness.client[id].body.isEmpty)
        #expect(harness.client[id].dataFrames == 0)
        #expect(harness.client[id].endStream)
    }

    @Test func hopByHopFieldsAreDroppedAndNamesLowercased() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder)
        let id = harness.client.request("GET", "/")
        harness.exchange()
        responder.answer(0, "ok", headers: [
            "Content-Type": "text/plain", "Connection": "keep-alive", "Keep-Alive": "timeout=5",
            "Transfer-Encoding": "chunked", "Upgrade": "h2c", "Content-Length": "999", "X-Request-Id": "r\r\n1",
        ])
        harness.exchange()
        let names = harness.client[id].headers.map(\.name)
        #expect(names == ["content-type", "x-request-id", "content-length", "date"])
        #expect(harness.client[id].header("content-length") == "2")
        #expect(harness.client[id].header("x-request-id") == "r  1")
        #expect(harness.client[id].text == "ok")
    }

    @Test func anEmptyBodyEndsWithTheHeaders() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder)
        let id = harness.client.request("POST", "/v1/tasks/start")
        harness.exchange()
        responder.answer(0, "")
        harness.exchange()
        #expect(harness.client[id].status == 200)
        #expect(harness.client[id].header("content-length") == "0")
        #expect(harness.client[id].dataFrames == 0)
        #expect(harness.client[id].endStream)
    }

    @Test func requestHeadsOverTheLimitsGet431() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder, settings: Harness.settings {
            $0.maxHeaderListBytes = 4096
            $0.maxHeaderCount = 10
        })
        let big = harness.client.request("GET", "/big", headers: [("x-big", String(repeating: "v", count: 5000))])
        let many = harness.client.request("GET", "/many", headers: (0..<11).map { ("x-h\($0)", "v") })
        let fine = harness.client.request("GET", "/fine", headers: (0..<10).map { ("x-h\($0)", "v") })
        harness.exchange()
        #expect(harness.client[big].status == 431)
        #expect(harness.client[many].status == 431)
        #expect(harness.client[many].text == "431 Request Header Fields Too Large")
        #expect(responder.paths == ["/fine"])
        responder.answer(0, "fine")
        harness.exchange()
        #expect(harness.client[fine].status == 200)
        #expect(harness.client.goAway == nil)
    }

    @Test func aBodyOverTheLimitGets413WithoutReachingTheResponder() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder, settings: Harness.settings { $0.maxBodyBytes = 1000 })
        let tooBig = harness.client.request("POST", "/big", body: Array(repeating: 1, count: 40_000))
        let atLimit = harness.client.request("POST", "/ok", body: Array(repeating: 1, count: 1000))
        harness.exchange()
        #expect(harness.client[tooBig].status == 413)
        #expect(harness.client[tooBig].endStream)
        #expect(responder.paths == ["/ok"])
        #expect(responder.request(0).body.count == 1000)
        _ = atLimit
        #expect(harness.streamCount == 1)
    }

    @Test func expectContinueGets100BeforeTheBody() {
        let harness = Harness(responder: EchoResponder())
        let id = harness.client.request("PUT", "/up", headers: [("expect", "100-continue")], body: Array("data".utf8))
        harness.exchange()
        #expect(harness.client[id].informational == [100])
        #expect(harness.client[id].text == "PUT /up - 4")
    }

    @Test func aRequestThatStallsGets408AtItsDeadline() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder)
        let opened = harness.clock.now
        let stalled = harness.client.openStream("POST", "/stalled")
        harness.exchange()
        #expect(harness.transport.deadline == opened + 5_000_000_000)
        harness.clock.advance(seconds: 4)
        harness.onQueue { harness.connection.transportDeadlinePassed() }
        harness.exchange()
        #expect(harness.client[stalled].status == nil)
        harness.clock.advance(seconds: 1)
        harness.onQueue { harness.connection.transportDeadlinePassed() }
        harness.exchange()
        #expect(harness.client[stalled].status == 408)
        // The answer came before the request ended: the server then resets with NO_ERROR.
        #expect(harness.client[stalled].closeCode == NGHTTP2_NO_ERROR.rawValue)
        #expect(harness.client.framesReceived[UInt8(NGHTTP2_RST_STREAM.rawValue)] == 1)
        #expect(responder.count == 0)
        #expect(harness.streamCount == 0)
        // Idle now: the idle timeout runs from here.
        #expect(harness.transport.deadline == harness.clock.now + 60_000_000_000)
    }

    @Test func anIdleConnectionSaysGoAwayAndCloses() {
        let harness = Harness(responder: EchoResponder())
        let id = harness.client.request("GET", "/once")
        harness.exchange()
        #expect(harness.client[id].status == 200)
        let idleDeadline = harness.transport.deadline
        #expect(idleDeadline == harness.clock.now + 60_000_000_000)
        harness.clock.advance(seconds: 60)
        harness.onQueue { harness.connection.transportDeadlinePassed() }
        harness.exchange()
        #expect(harness.client.goAway?.code == NGHTTP2_NO_ERROR.rawValue)
        #expect(harness.client.goAway?.lastStreamID == id)
        #expect(harness.transport.closeMode == .graceful)
    }

    @Test func gracefulShutdownFinishesTheStreamsItTookAndCloses() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder)
        let first = harness.client.request("GET", "/first")
        harness.exchange()
        harness.onQueue { harness.connection.shutdownGracefully() }
        harness.exchange()
        #expect(harness.client.goAway?.lastStreamID == first)
        #expect(harness.client.goAway?.code == NGHTTP2_NO_ERROR.rawValue)
        #expect(harness.transport.closeMode == nil)
        responder.answer(0, "done")
        harness.exchange()
        #expect(harness.client[first].text == "done")
        #expect(harness.transport.closeMode == .graceful)
    }

    @Test func streamsTheGoAwayRefusesNeverReachTheResponder() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder)
        _ = harness.client.request("GET", "/taken")
        harness.exchange()
        // The next request is already on its way when the GOAWAY is decided.
        let late = harness.client.request("GET", "/late")
        let bytes = harness.client.output()
        harness.onQueue { harness.connection.shutdownGracefully() }
        harness.lane.queue.sync { bytes.withUnsafeBytes { harness.connection.transportReceived($0) } }
        harness.exchange()
        #expect(responder.paths == ["/taken"])
        #expect(harness.client[late].status == nil)
        responder.answer(0, "taken")
        harness.exchange()
        #expect(harness.transport.closeMode == .graceful)
    }

    @Test func aPeerThatHalfClosesGetsItsAnswersThenTheConnectionCloses() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder)
        let id = harness.client.request("GET", "/a")
        harness.exchange()
        harness.onQueue { harness.connection.transportReceivedEnd() }
        #expect(harness.transport.closeMode == nil)
        responder.answer(0, "a")
        harness.exchange()
        #expect(harness.client[id].text == "a")
        #expect(harness.transport.closeMode == .graceful)
    }

    @Test func aRapidResetFloodEndsWithEnhanceYourCalmAndCostsTheResponderNothing() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder, settings: Harness.settings {
            $0.streamResetBurst = 10
            $0.streamResetsPerSecond = 5
        })
        for index in 0..<500 {
            let id = harness.client.request("POST", "/v1/tasks/list.r3")
            harness.client.serialize()
            harness.client.reset(id)
            _ = index
        }
        // The whole flood in one read: each request is reset before its turn to be
        // dispatched comes.
        harness.exchange(readSize: 1 << 20)
        #expect(harness.client.goAway?.code == NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        #expect(responder.count == 0)
        #expect(harness.streamCount == 0)
        #expect(harness.transport.closeMode == .graceful)
    }

    @Test func resetsArrivingAfterDispatchAreCountedAndTheirLateAnswersDropped() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder, settings: Harness.settings {
            $0.streamResetBurst = 10
            $0.streamResetsPerSecond = 5
        })
        for index in 0..<50 where harness.transport.closeMode == nil {
            let id = harness.client.request("GET", "/flood/\(index)")
            harness.exchange()
            harness.client.reset(id)
            harness.exchange()
        }
        #expect(harness.client.goAway?.code == NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        // Ten resets are allowed; the eleventh ends the session.
        #expect(responder.count == 11)
        #expect(harness.streamCount == 0)
        #expect(harness.transport.closeMode == .graceful)
        // The cancelled requests' answers arrive late and go nowhere.
        for index in 0..<responder.count { responder.answer(index, "late") }
        harness.settle()
        #expect(harness.transport.output.isEmpty)
    }

    @Test func requestsBeyondTheInProgressLimitWaitTheirTurn() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder, settings: Harness.settings(maxRequestsInProgress: 2))
        let ids = (0..<5).map { harness.client.request("GET", "/\($0)") }
        harness.exchange()
        #expect(responder.paths == ["/0", "/1"])
        // A waiting request reset before its turn is never dispatched.
        harness.client.reset(ids[2])
        harness.exchange()
        responder.answer(1, "1")
        harness.exchange()
        #expect(responder.paths == ["/0", "/1", "/3"])
        responder.answer(0, "0")
        responder.answer(2, "3")
        harness.exchange()
        #expect(responder.paths == ["/0", "/1", "/3", "/4"])
        responder.answer(3, "4")
        harness.exchange()
        #expect([ids[0], ids[1], ids[3], ids[4]].map { harness.client[$0].text } == ["0", "1", "3", "4"])
        #expect(harness.client[ids[2]].status == nil)
    }

    @Test func resetsWithinTheRateAreFine() {
        let responder = HoldingResponder()
        let harness = Harness(responder: responder, settings: Harness.settings {
            $0.streamResetBurst = 10
            $0.streamResetsPerSecond = 5
        })
        for second in 0..<5 {
            let burst = second == 0 ? 10 : 5
            let ids = (0..<burst).map { harness.client.request("GET", "/\(second)/\($0)") }
            harness.exchange()
            for id in ids { harness.client.reset(id) }
            harness.exchange()
            harness.clock.advance(seconds: 1)
        }
        #expect(harness.client.goAway == nil)
        #expect(responder.count == 30)
        let id = harness.client.request("GET", "/still-fine")
        harness.exchange()
        responder.answer(30, "fine")
        harness.exchange()
        #expect(harness.client[id].text == "fine")
    }

    @Test func aPingFloodFromAPeerThatDoesNotReadStaysBounded() {
        let highWater = 16 << 10
        let harness = Harness(responder: EchoResponder(), settings: Harness.settings(highWater: highWater))
        for _ in 0..<20_000 { harness.client.ping() }
        // Small reads, and the server's output is never taken: it must stop reading.
        harness.exchange(readSize: 1024, drainServer: false)
        #expect(!harness.transport.reading)
        #expect(harness.transport.closeMode == nil)
        #expect(harness.transport.output.count < highWater + 1024 / 17 * 17 + 17)
    }

    @Test func streamsAtAZeroWindowHoldAboutOneAnswerNotOnePerStream() {
        // 200 requests answered at once with 256 KiB each, on streams whose window is 0:
        // nothing can be sent, so every answer dispatched stays in the session.
        let body = [UInt8](repeating: 0x61, count: 256 << 10)
        let responder = CountingResponder(FixedResponder(body: body))
        let harness = Harness(responder: responder, client: .init(initialWindowBytes: 0))
        let ids = (0..<200).map { _ in harness.client.request("POST", "/v1/tasks/list.r3") }
        harness.exchange()
        // Dispatching stops once the answers held reach the 1 MiB mark: four of them. The
        // other streams stay open, waiting; nothing is refused.
        #expect(responder.count == 4)
        #expect(harness.streamCount == 200)
        #expect(harness.transport.reading, "reads on: the WINDOW_UPDATE that frees the answers comes that way")
        #expect(ids.allSatisfy { harness.client[$0].closeCode == nil })
        // The client opens its windows: every request is answered in full.
        harness.client.openWindows(initialWindowBytes: 16 << 20, connectionWindowBytes: 1 << 30)
        harness.exchange()
        #expect(responder.count == 200)
        #expect(ids.allSatisfy { harness.client[$0].body.count == body.count && harness.client[$0].endStream })
        #expect(harness.streamCount == 0)
    }

    @Test func heldBackRequestsGoOnWhenTheOutputDrainsWithinATurn() {
        // Answers are dispatched up to the mark; the kernel takes each round of output
        // inside the flush, so no later write event comes, and the client (windows wide
        // open) sends nothing more. The requests held back must still be answered.
        let body = [UInt8](repeating: 0x62, count: 512 << 10)
        let responder = CountingResponder(FixedResponder(body: body))
        let harness = Harness(responder: responder,
                              client: .init(initialWindowBytes: 16 << 20, connectionWindowBytes: 1 << 30),
                              drainsOnFlush: true)
        let ids = (0..<20).map { _ in harness.client.request("GET", "/big") }
        harness.exchange()
        for _ in 0..<100 where responder.count < 20 { harness.exchange() }
        #expect(responder.count == 20)
        #expect(ids.allSatisfy { harness.client[$0].body.count == body.count })
        #expect(harness.transport.largestPending <= (1 << 20) + 16_393 + 1024)
    }

    @Test func controlFrameFloodsEndWithGoAwayEnhanceYourCalm() {
        for flood in ["PING", "SETTINGS"] {
            let harness = Harness(responder: EchoResponder())
            for _ in 0..<5_000 {
                if flood == "PING" { harness.client.ping() } else { harness.client.emptySettings() }
            }
            harness.exchange()
            #expect(harness.transport.closeMode == .graceful, "\(flood)")
            #expect(harness.client.goAway?.code == NGHTTP2_ENHANCE_YOUR_CALM.rawValue, "\(flood)")
            #expect(harness.client.goAway?.lastStreamID == 0, "\(flood)")
        }
    }

    @Test func aPingFloodInOneReadFailsTheSession() {
        let harness = Harness(responder: EchoResponder())
        for _ in 0..<20_000 { harness.client.ping() }
        harness.exchange(drainServer: false)
        // 64 KiB of PINGs is more than the 1,000 acknowledgements nghttp2 will queue.
        #expect(harness.transport.closeMode == .graceful)
        #expect(harness.transport.output.count < 1000 * 17 + 4096)
    }
}

private func spend(_ budget: inout StreamResetBudget, times: Int, now: UInt64) -> Bool {
    var allowed = true
    for _ in 0..<times { allowed = budget.spend(now: now) && allowed }
    return allowed
}

@Suite struct StreamResetBudgetTests {
    @Test func theBurstIsSpentThenRefilledAtTheRate() {
        var budget = StreamResetBudget(burst: 3, perSecond: 2, now: 0)
        #expect(spend(&budget, times: 3, now: 0))
        #expect(!spend(&budget, times: 1, now: 0))
        #expect(!spend(&budget, times: 1, now: 499_999_999))
        #expect(spend(&budget, times: 1, now: 500_000_000))
        #expect(!spend(&budget, times: 1, now: 500_000_000))
        // A long quiet spell refills to the burst and no further.
        #expect(spend(&budget, times: 3, now: 100_000_000_000))
        #expect(!spend(&budget, times: 1, now: 100_000_000_000))
    }

    @Test func fractionsOfATokenAreKept() {
        var budget = StreamResetBudget(burst: 2, perSecond: 3, now: 0)
        #expect(spend(&budget, times: 2, now: 0))
        #expect(!spend(&budget, times: 1, now: 200_000_000))
        // One token is earned every 333,333,333 ns; the 7 ms beyond the first count
        // towards the second.
        #expect(spend(&budget, times: 1, now: 340_000_000))
        #expect(!spend(&budget, times: 1, now: 600_000_000))
        #expect(spend(&budget, times: 1, now: 670_000_000))
    }
}
