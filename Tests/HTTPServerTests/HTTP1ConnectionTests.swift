import BBSLog
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import HTTPServer

// The HTTP/1.1 connection handler over an in-memory transport: bytes in, the bytes it
// queues and what it asks of the transport out. Everything runs on the handler's queue
// through `queue.sync`, and a completion from the test thread is followed by a
// `queue.sync {}` so the turn it scheduled has run: no sockets, no timing.

/// Records what the handler asks of its transport.
private final class MemoryTransport: ConnectionTransport {
    var output: [UInt8] = []
    var reading = true
    var deadline: UInt64?
    var closeMode: ConnectionCloseMode?
    /// Output counts as unsent until the test takes it (a peer that does not read);
    /// otherwise the kernel is taken to have it all at once.
    var holdsOutput = false
    /// With `holdsOutput`: each flush hands everything to the kernel at once and reports
    /// it, as a socket does (from inside the flush, that is within the handler's turn).
    var drainsOnFlush: (handler: HTTP1Connection, sent: [UInt8])?
    /// The most bytes ever waiting at once.
    var largestPending = 0

    func enqueue(_ write: (inout [UInt8]) -> Void) {
        guard closeMode == nil else { return }
        write(&output)
        largestPending = max(largestPending, pendingOutboundBytes)
    }
    func flush() {
        guard let drain = drainsOnFlush, !output.isEmpty else { return }
        let count = output.count
        drainsOnFlush!.sent += output
        output = []
        drain.handler.transportWrote(byteCount: count)
    }
    var pendingOutboundBytes: Int { holdsOutput ? output.count : 0 }
    func setReading(_ enabled: Bool) { reading = enabled }
    func setDeadline(_ uptimeNanoseconds: UInt64?) { deadline = uptimeNanoseconds }
    func protocolChosen(_ protocol: ConnectionProtocol) {}
    func close(_ mode: ConnectionCloseMode) {
        if closeMode == nil { closeMode = mode }
    }

    /// The output so far without `Date` fields, emptied.
    func take() -> String {
        defer { output = [] }
        return String(decoding: output, as: UTF8.self)
            .replacingOccurrences(of: "Date: [^\r]*\r\n", with: "", options: .regularExpression)
    }
}

/// Keeps every request and its completion for the test to answer, or answers at once
/// with `answerAtOnce`'s response.
private final class HoldingResponder: HTTPResponder, @unchecked Sendable {
    let held = Mutex<[(request: HTTPRequest, completion: @Sendable (HTTPResponse) -> Void)]>([])
    /// Set before the first request, never changed after.
    var answerAtOnce: HTTPResponse?

    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        held.withLock { $0.append((request, completion)) }
        if let answerAtOnce { completion(answerAtOnce) }
    }

    var paths: [String] { held.withLock { $0.map(\.request.path) } }

    func answer(_ index: Int, _ text: String, headers: HTTPHeaders = [:]) {
        let completion = held.withLock { $0[index].completion }
        completion(HTTPResponse(status: 200, headers: headers, body: .bytes(Array(text.utf8))))
    }

    func answer(_ index: Int, _ response: HTTPResponse) {
        held.withLock { $0[index].completion }(response)
    }
}

private struct Harness {
    let lane = ConnectionQueue(label: "http1-connection-tests", readBufferBytes: 16)
    let transport = MemoryTransport()
    let responder = HoldingResponder()
    let connection: HTTP1Connection

    init(maxPipelinedRequests: Int = 16, answerAtOnce: HTTPResponse? = nil, holdsOutput: Bool = false,
         drainsOnFlush: Bool = false) {
        let settings = HTTP1Connection.Settings(
            parserLimits: HTTP1Parser.Limits(), requestTimeoutNanoseconds: 1_000_000_000,
            idleTimeoutNanoseconds: 5_000_000_000, maxPipelinedRequests: maxPipelinedRequests,
            outboundHighWaterBytes: 1 << 20)
        responder.answerAtOnce = answerAtOnce
        transport.holdsOutput = holdsOutput
        connection = HTTP1Connection(lane: lane, responder: responder, settings: settings,
                                     remoteAddress: "192.0.2.1:1234", logger: .discarding)
        connection.transport = transport
        if drainsOnFlush { transport.drainsOnFlush = (connection, []) }
        lane.queue.sync { [connection] in connection.transportStarted() }
    }

    func receive(_ text: String) {
        lane.queue.sync {
            Array(text.utf8).withUnsafeBytes { connection.transportReceived($0) }
        }
    }

    /// Runs `body` on the queue, then lets any turn it scheduled finish.
    func onQueue<T>(_ body: () -> T) -> T {
        let result = lane.queue.sync(execute: body)
        lane.queue.sync {}
        return result
    }

    /// Waits for turns scheduled from other threads.
    func settle() {
        lane.queue.sync {}
    }
}

private func get(_ path: String, _ extra: String = "") -> String {
    "GET \(path) HTTP/1.1\r\nHost: h\r\n\(extra)\r\n"
}

/// A 256 KiB answer: four of them reach the harness's 1 MiB high-water mark.
private let quarterMegabyte = HTTPResponse(status: 200, body: .bytes([UInt8](repeating: 0x61, count: 256 << 10)))

/// How many complete `200` responses of `quarterMegabyte` `bytes` holds.
private func quarterMegabyteAnswers(in bytes: [UInt8]) -> Int {
    // Each with its `Date` field, which `ok` leaves out.
    let one = Array(ok(String(repeating: "a", count: 256 << 10)).utf8).count
        + "Date: Fri, 04 Dec 2026 10:00:00 GMT\r\n".utf8.count
    #expect(bytes.count % one == 0)
    return bytes.count / one
}

private func ok(_ body: String, close: Bool = false) -> String {
    "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n" + body
}

@Suite struct HTTP1ConnectionTests {
    @Test func requestsCarryTheRemoteAddressAndAnswersFollowRequestOrder() {
        let harness = Harness()
        harness.receive(get("/a") + get("/b") + get("/c"))
        #expect(harness.responder.paths == ["/a", "/b", "/c"])
        #expect(harness.responder.held.withLock { $0[0].request.remoteAddress } == "192.0.2.1:1234")
        harness.responder.answer(2, "c")
        harness.responder.answer(1, "b")
        harness.settle()
        #expect(harness.transport.take() == "")
        harness.responder.answer(0, "a")
        harness.settle()
        #expect(harness.transport.take() == ok("a") + ok("b") + ok("c"))
        #expect(harness.transport.closeMode == nil)
    }

    @Test func aSecondAnswerToOneRequestIsIgnored() {
        let harness = Harness()
        harness.receive(get("/a") + get("/b"))
        harness.responder.answer(0, "first")
        harness.responder.answer(0, "second")
        harness.responder.answer(1, "b")
        harness.settle()
        #expect(harness.transport.take() == ok("first") + ok("b"))
    }

    @Test func readingPausesAtTheInFlightLimitAndResumes() {
        let harness = Harness(maxPipelinedRequests: 2)
        harness.receive(get("/1") + get("/2") + get("/3"))
        #expect(harness.responder.paths == ["/1", "/2"])
        #expect(!harness.transport.reading)
        harness.responder.answer(0, "1")
        harness.settle()
        // The third request was already buffered: it goes out as soon as there is room.
        #expect(harness.responder.paths == ["/1", "/2", "/3"])
        harness.responder.answer(1, "2")
        harness.responder.answer(2, "3")
        harness.settle()
        #expect(harness.transport.reading)
        #expect(harness.transport.take() == ok("1") + ok("2") + ok("3"))
    }

    @Test func pipelinedRequestsWaitWhileThePeerDoesNotReadItsAnswers() {
        // 500 pipelined requests in one read, each answered at once with 256 KiB, and a
        // peer that reads nothing: the connection must not build 125 MB of answers.
        let harness = Harness(answerAtOnce: quarterMegabyte, holdsOutput: true)
        harness.receive(String(repeating: get("/list"), count: 500))
        // Dispatching stops once the unsent answers reach the 1 MiB mark: four of them.
        #expect(harness.responder.paths.count == 4)
        #expect(harness.transport.pendingOutboundBytes < (1 << 20) + (256 << 10) + 1024)
        #expect(!harness.transport.reading, "reading pauses too")
        #expect(harness.transport.deadline == nil, "requests waiting, read already, are not timed out")
        // The peer reads what is there: the next answers go out, about 1 MiB at a time,
        // and in the end every request is answered, in order, with no more ever waiting.
        var answered = 0
        for _ in 0..<200 where answered < 500 {
            let bytes = harness.onQueue { () -> [UInt8] in
                let bytes = harness.transport.output
                harness.transport.output = []
                harness.connection.transportWrote(byteCount: bytes.count)
                return bytes
            }
            answered += quarterMegabyteAnswers(in: bytes)
        }
        #expect(answered == 500)
        #expect(harness.responder.paths.count == 500)
        #expect(harness.transport.largestPending < (1 << 20) + (256 << 10) + 1024)
        #expect(harness.transport.reading)
        #expect(harness.transport.closeMode == nil)
    }

    @Test func heldBackRequestsGoOnWhenAFlushDrainsTheOutput() {
        // The kernel takes everything at each flush: no later write event will come, and
        // the peer, waiting for its answers, sends nothing more. The held-back requests
        // must still be answered.
        let harness = Harness(answerAtOnce: quarterMegabyte, holdsOutput: true, drainsOnFlush: true)
        harness.receive(String(repeating: get("/list"), count: 40))
        for _ in 0..<100 where harness.responder.paths.count < 40 { harness.settle() }
        #expect(harness.responder.paths.count == 40)
        let sent = harness.onQueue { harness.transport.drainsOnFlush?.sent ?? [] }
        #expect(quarterMegabyteAnswers(in: sent) == 40)
        #expect(harness.transport.largestPending < (1 << 20) + (256 << 10) + 1024)
    }

    @Test func answersWaitingBehindAnEarlierOneCountAgainstTheMark() {
        let harness = Harness()
        harness.receive(get("/slow") + get("/big"))
        harness.responder.answer(1, HTTPResponse(status: 200, body: .bytes([UInt8](repeating: 0x62, count: 2 << 20))))
        harness.settle()
        // 2 MiB wait behind /slow: nothing more is dispatched, nor read.
        harness.receive(get("/next"))
        #expect(harness.responder.paths == ["/slow", "/big"])
        #expect(!harness.transport.reading)
        harness.responder.answer(0, "slow")
        harness.settle()
        #expect(harness.responder.paths == ["/slow", "/big", "/next"])
        #expect(harness.transport.reading)
    }

    @Test func continueWaitsForTheResponsesAhead() {
        let harness = Harness()
        harness.receive(get("/first") + "PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        #expect(harness.transport.take() == "")
        harness.responder.answer(0, "first")
        harness.settle()
        #expect(harness.transport.take() == ok("first") + "HTTP/1.1 100 Continue\r\n\r\n")
        harness.receive("ok")
        #expect(harness.responder.held.withLock { $0[1].request.body } == Array("ok".utf8))
    }

    @Test func connectionCloseRequestIsTheLastOne() {
        let harness = Harness()
        harness.receive(get("/a", "Connection: close\r\n") + get("/never"))
        #expect(harness.responder.paths == ["/a"])
        #expect(!harness.transport.reading)
        harness.responder.answer(0, "a")
        harness.settle()
        #expect(harness.transport.take() == ok("a", close: true))
        #expect(harness.transport.closeMode == .graceful)
    }

    @Test func responderCanAskToClose() {
        let harness = Harness()
        harness.receive(get("/a") + get("/b"))
        harness.responder.answer(1, "b")
        harness.responder.answer(0, "a", headers: ["Connection": "close"])
        harness.settle()
        #expect(harness.transport.take() == ok("a", close: true))
        #expect(harness.transport.closeMode == .graceful)
    }

    @Test func halfClosedPeerGetsItsAnswersThenTheConnectionCloses() {
        let harness = Harness()
        harness.receive(get("/a") + get("/b"))
        harness.onQueue { harness.connection.transportReceivedEnd() }
        #expect(harness.transport.closeMode == nil)
        harness.responder.answer(0, "a")
        harness.responder.answer(1, "b")
        harness.settle()
        #expect(harness.transport.take() == ok("a") + ok("b", close: true))
        #expect(harness.transport.closeMode == .graceful)
    }

    @Test func malformedRequestIsAnsweredAfterThoseAheadOfIt() {
        let harness = Harness()
        harness.receive(get("/a") + "BROKEN\r\n\r\n" + get("/never"))
        #expect(harness.responder.paths == ["/a"])
        harness.responder.answer(0, "a")
        harness.settle()
        #expect(harness.transport.take() == ok("a")
            + "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 15\r\n"
            + "Connection: close\r\n\r\n400 Bad Request")
        #expect(harness.transport.closeMode == .graceful)
    }

    @Test func timeoutsDependOnWhatTheConnectionWaitsFor() {
        let idle = Harness()
        #expect(idle.transport.deadline != nil)
        idle.onQueue { idle.connection.transportDeadlinePassed() }
        #expect(idle.transport.take() == "")
        #expect(idle.transport.closeMode == .graceful)

        let partial = Harness()
        partial.receive("GET /slow HTTP/1.1\r\nHo")
        #expect(partial.transport.deadline != nil)
        partial.onQueue { partial.connection.transportDeadlinePassed() }
        #expect(partial.transport.take().hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(partial.transport.closeMode == .graceful)

        let busy = Harness()
        busy.receive(get("/a"))
        // Waiting for the responder has no deadline.
        #expect(busy.transport.deadline == nil)
    }

    @Test func gracefulShutdownAnswersWhatIsInFlightWithConnectionClose() {
        let harness = Harness()
        harness.receive(get("/a"))
        harness.onQueue { harness.connection.shutdownGracefully() }
        #expect(harness.transport.closeMode == nil)
        harness.responder.answer(0, "a")
        harness.settle()
        #expect(harness.transport.take() == ok("a", close: true))
        #expect(harness.transport.closeMode == .graceful)

        let idle = Harness()
        idle.onQueue { idle.connection.shutdownGracefully() }
        #expect(idle.transport.closeMode == .graceful)
    }

    @Test func streamWritesChunksAndFinishesWithTheTerminalChunk() {
        let harness = Harness()
        let closed = Mutex(0)
        harness.receive(get("/events") + get("/behind-the-stream"))
        harness.responder.answer(0, HTTPResponse(status: 200, body: .stream { writer in
            writer.onClose { closed.withLock { $0 += 1 } }
            writer.write(Array("one".utf8))
            writer.write(Array("two!".utf8))
        }))
        harness.settle()
        #expect(harness.transport.take()
            == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n4\r\ntwo!\r\n")
        #expect(harness.transport.reading, "reads on, to notice the peer leaving")
        #expect(harness.transport.deadline == nil)
        // The request behind the stream is never answered.
        #expect(harness.responder.paths == ["/events", "/behind-the-stream"])
        harness.responder.answer(1, "behind")
        harness.settle()
        #expect(harness.transport.take() == "")
        #expect(closed.withLock { $0 } == 0)
    }

    @Test func streamFinishAndAbort() {
        for abort in [false, true] {
            let harness = Harness()
            let closed = Mutex(0)
            let kept = Mutex<(any HTTPBodyStreamWriter)?>(nil)
            harness.receive(get("/events"))
            harness.responder.answer(0, HTTPResponse(status: 200, body: .stream { writer in
                writer.onClose { closed.withLock { $0 += 1 } }
                kept.withLock { $0 = writer }
            }))
            harness.settle()
            _ = harness.transport.take()
            let writer = kept.withLock { $0 }
            writer?.write(Array("x".utf8))
            if abort { writer?.abort() } else { writer?.finish() }
            #expect(writer?.write(Array("late".utf8)) == false)
            harness.settle()
            #expect(harness.transport.take() == (abort ? "1\r\nx\r\n" : "1\r\nx\r\n0\r\n\r\n"))
            #expect(harness.transport.closeMode == (abort ? .immediate : .graceful))
            #expect(closed.withLock { $0 } == 1)
            // The transport reports the close; handlers do not run twice.
            harness.onQueue { harness.connection.transportClosed() }
            #expect(closed.withLock { $0 } == 1)
        }
    }

    @Test func peerLeavingEndsTheStream() {
        let harness = Harness()
        let closed = Mutex(0)
        harness.receive(get("/events"))
        harness.responder.answer(0, HTTPResponse(status: 200, body: .stream { writer in
            writer.onClose { closed.withLock { $0 += 1 } }
        }))
        harness.settle()
        harness.onQueue { harness.connection.transportReceivedEnd() }
        #expect(harness.transport.closeMode == .immediate)
        #expect(closed.withLock { $0 } == 1)
    }

    @Test func http10GetsTheStreamRawAndClosed() {
        let harness = Harness()
        let kept = Mutex<(any HTTPBodyStreamWriter)?>(nil)
        harness.receive("GET /events HTTP/1.0\r\n\r\n")
        harness.responder.answer(0, HTTPResponse(status: 200, body: .stream { writer in
            writer.write(Array("raw".utf8))
            kept.withLock { $0 = writer }
        }))
        harness.settle()
        kept.withLock { $0 }?.finish()
        harness.settle()
        #expect(harness.transport.take() == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nraw")
        #expect(harness.transport.closeMode == .graceful)
    }
}
