import BBSLog
import Dispatch
import Foundation
import HTTPServer
import Synchronization
import Testing

// The server on 127.0.0.1, port 0, driven by the raw-socket TestClient. Waits on
// semaphores have generous timeouts only so a broken server fails a test instead of
// hanging it; what is asserted is the outcome, never how long it took.

private struct TestResponder: HTTPResponder {
    let handler: @Sendable (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> Void
    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        handler(request, completion)
    }
}

/// Answers `<method> <path> <body length>` as text.
private let echo: @Sendable (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> Void = { request, completion in
    completion(HTTPResponse(
        status: 200, headers: ["Content-Type": "text/plain"],
        body: .bytes(Array("\(request.method) \(request.path) \(request.body.count)".utf8))))
}

private func startServer(
    configuring configure: (inout HTTPServer.Configuration) -> Void = { _ in },
    handler: @escaping @Sendable (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> Void = echo
) throws -> HTTPServer {
    var configuration = HTTPServer.Configuration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configure(&configuration)
    let server = HTTPServer(configuration: configuration, responder: TestResponder(handler: handler),
                            logger: .discarding)
    try server.start()
    return server
}

private func stop(_ server: HTTPServer) {
    let done = DispatchSemaphore(value: 0)
    server.shutdown(timeout: .seconds(5)) { done.signal() }
    #expect(done.wait(timeout: .now() + 20) == .success, "shutdown completed")
}

private func signalled(_ semaphore: DispatchSemaphore) -> Bool {
    semaphore.wait(timeout: .now() + 20) == .success
}

@Suite(.serialized) struct HTTPServerLiveTests {
    @Test func keepAliveServesManyRequestsOnOneConnection() throws {
        let server = try startServer()
        defer { stop(server) }
        #expect(server.localPort > 0)
        let client = try TestClient(port: server.localPort)
        for index in 0..<20 {
            try client.send(TestClient.request("POST", "/r\(index)", body: String(repeating: "b", count: index)))
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.text == "POST /r\(index) \(index)")
            #expect(response.header("Content-Length") == String(response.body.count))
            #expect(response.header("Connection") == nil)
            #expect(response.header("Date") != nil)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let server = try startServer()
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send(TestClient.request("POST", "/one", body: "abc")
            + TestClient.request("GET", "/two")
            + TestClient.request("POST", "/three", body: "x", headers: ["Transfer-Encoding: chunked"])
                .replacingOccurrences(of: "\r\n\r\nx", with: "\r\n\r\n1\r\nx\r\n0\r\n\r\n"))
        #expect(try client.readResponse().text == "POST /one 3")
        #expect(try client.readResponse().text == "GET /two 0")
        #expect(try client.readResponse().text == "POST /three 1")
    }

    @Test func responsesCompletedOutOfOrderGoOutInRequestOrder() throws {
        let count = 8
        let held = Mutex<[(Int, @Sendable (HTTPResponse) -> Void)]>([])
        let server = try startServer(handler: { request, completion in
            let index = Int(request.path.dropFirst())!
            let all = held.withLock { held -> [(Int, @Sendable (HTTPResponse) -> Void)]? in
                held.append((index, completion))
                return held.count == count ? held : nil
            }
            // Once every request is in, answer them last to first, from other threads.
            guard let all else { return }
            for (index, completion) in all.sorted(by: { $0.0 > $1.0 }) {
                DispatchQueue.global().async {
                    completion(HTTPResponse(status: 200, body: .bytes(Array("answer \(index)".utf8))))
                }
            }
        })
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send((0..<count).map { TestClient.request("GET", "/\($0)") }.joined())
        for index in 0..<count {
            #expect(try client.readResponse().text == "answer \(index)")
        }
    }

    @Test func manyPipelinedRequestsBeyondTheInFlightLimit() throws {
        let server = try startServer(configuring: { $0.maxPipelinedRequests = 4 })
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send((0..<100).map { TestClient.request("GET", "/p\($0)") }.joined())
        for index in 0..<100 {
            #expect(try client.readResponse().text == "GET /p\(index) 0")
        }
    }

    @Test func connectionCloseIsHonoured() throws {
        let server = try startServer()
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send(TestClient.request("GET", "/bye", headers: ["Connection: close"])
            + TestClient.request("GET", "/never"))
        let response = try client.readResponse()
        #expect(response.text == "GET /bye 0")
        #expect(response.header("Connection") == "close")
        #expect(client.waitForClose())
    }

    @Test func http10IsAnsweredAndClosedUnlessKeepAliveIsAsked() throws {
        let server = try startServer()
        defer { stop(server) }
        let plain = try TestClient(port: server.localPort)
        try plain.send("GET /old HTTP/1.0\r\n\r\n")
        #expect(try plain.readResponse().text == "GET /old 0")
        #expect(plain.waitForClose())

        let keptAlive = try TestClient(port: server.localPort)
        for _ in 0..<2 {
            try keptAlive.send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let response = try keptAlive.readResponse()
            #expect(response.text == "GET /old 0")
            #expect(response.header("Connection") == "keep-alive")
        }
    }

    @Test func expectContinueGetsAnInterimResponse() throws {
        let server = try startServer()
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send("PUT /up HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        #expect(try client.readResponse().status == 100)
        try client.send("hello")
        #expect(try client.readResponse().text == "PUT /up 5")
    }

    @Test func chunkedRequestBodies() throws {
        let server = try startServer()
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n")
        #expect(try client.readResponse().text == "POST /c 5")
        try client.send("POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        #expect(try client.readResponse().text == "POST /e 0")
    }

    @Test func headResponseHasNoBody() throws {
        let server = try startServer()
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send(TestClient.request("HEAD", "/h") + TestClient.request("GET", "/after"))
        let head = try client.readResponse(toHead: true)
        #expect(head.header("Content-Length") == String("HEAD /h 0".utf8.count))
        // Had the body been sent, this would read it as a status line.
        #expect(try client.readResponse().text == "GET /after 0")
    }

    @Test func malformedRequestGets400AndCloseWhileOthersAreServed() throws {
        let server = try startServer()
        defer { stop(server) }
        let bad = try TestClient(port: server.localPort)
        try bad.send("GET /x HTTP/1.1\r\nHost: t\r\nBad Header: v\r\n\r\n")
        let response = try bad.readResponse()
        #expect(response.status == 400)
        #expect(response.header("Connection") == "close")
        #expect(bad.waitForClose())

        let missingHost = try TestClient(port: server.localPort)
        try missingHost.send("GET /x HTTP/1.1\r\n\r\n")
        #expect(try missingHost.readResponse().status == 400)

        let good = try TestClient(port: server.localPort)
        try good.send(TestClient.request("GET", "/ok"))
        #expect(try good.readResponse().text == "GET /ok 0")
    }

    @Test func tenThousandHeadersGet431() throws {
        let server = try startServer()
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        let fields = String(repeating: "X-Many: value\r\n", count: 10_000)
        try client.send("GET / HTTP/1.1\r\nHost: t\r\n" + fields + "\r\n")
        #expect(try client.readResponse().status == 431)
        #expect(client.waitForClose())
    }

    @Test func oversizeBodyGets413WithoutBeingReadAndTheServerGoesOn() throws {
        let server = try startServer(configuring: { $0.maxBodyBytes = 1000 })
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 50000000\r\n\r\n")
        try client.send([UInt8](repeating: 0xFF, count: 256 << 10))
        let response = try client.readResponse()
        #expect(response.status == 413)
        #expect(response.header("Connection") == "close")
        #expect(client.waitForClose())

        let next = try TestClient(port: server.localPort)
        try next.send(TestClient.request("POST", "/small", body: String(repeating: "s", count: 1000)))
        #expect(try next.readResponse().text == "POST /small 1000")
    }

    @Test func largeBodyWithinTheLimit() throws {
        let server = try startServer()
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        let body = String(repeating: "0123456789abcdef", count: 1 << 16)
        try client.send(TestClient.request("POST", "/mb", body: body))
        #expect(try client.readResponse().text == "POST /mb \(1 << 20)")
    }

    @Test func stalledHalfRequestTimesOut() throws {
        let server = try startServer(configuring: { $0.requestTimeout = .milliseconds(200) })
        defer { stop(server) }
        let halfBody = try TestClient(port: server.localPort)
        try halfBody.send("POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        let halfHead = try TestClient(port: server.localPort)
        try halfHead.send("POST /slow HTTP/1.1\r\nHost:")
        for client in [halfBody, halfHead] {
            let response = try client.readResponse()
            #expect(response.status == 408)
            #expect(client.waitForClose())
        }
        let fresh = try TestClient(port: server.localPort)
        try fresh.send(TestClient.request("GET", "/fine"))
        #expect(try fresh.readResponse().text == "GET /fine 0")
    }

    @Test func idleConnectionIsClosedAfterTheIdleTimeout() throws {
        let server = try startServer(configuring: { $0.idleTimeout = .milliseconds(200) })
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send(TestClient.request("GET", "/once"))
        #expect(try client.readResponse().status == 200)
        #expect(client.waitForClose())
        #expect(try client.readToEnd().isEmpty)
    }

    @Test func clientDisconnectingMidRequestIsHarmless() throws {
        let server = try startServer()
        defer { stop(server) }
        for _ in 0..<10 {
            let client = try TestClient(port: server.localPort)
            try client.send("POST /d HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\npartial")
            client.close()
            let other = try TestClient(port: server.localPort)
            try other.send("POST /v1/pi")
            other.close()
        }
        let client = try TestClient(port: server.localPort)
        try client.send(TestClient.request("GET", "/alive"))
        #expect(try client.readResponse().text == "GET /alive 0")
    }

    @Test func twoHundredConcurrentConnections() throws {
        let server = try startServer()
        defer { stop(server) }
        let clients = try (0..<200).map { _ in try TestClient(port: server.localPort) }
        for (index, client) in clients.enumerated() {
            try client.send(TestClient.request("GET", "/c\(index)"))
        }
        for (index, client) in clients.enumerated() {
            #expect(try client.readResponse().text == "GET /c\(index) 0")
        }
        // And again on the same connections, in reverse.
        for (index, client) in clients.enumerated().reversed() {
            try client.send(TestClient.request("GET", "/again\(index)"))
            #expect(try client.readResponse().text == "GET /again\(index) 0")
        }
    }

    @Test func streamedBodyIsChunkedOneChunkPerWriteThenClosed() throws {
        let closed = DispatchSemaphore(value: 0)
        let server = try startServer(handler: { _, completion in
            completion(HTTPResponse(
                status: 200,
                headers: ["Content-Type": "text/event-stream; charset=utf-8", "Connection": "keep-alive"],
                body: .stream { writer in
                    writer.onClose { closed.signal() }
                    writer.write(Array("first".utf8))
                    writer.write([])
                    writer.write(Array(repeating: UInt8(ascii: "x"), count: 26))
                    writer.finish()
                    #expect(!writer.write(Array("late".utf8)))
                }))
        })
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send(TestClient.request("POST", "/v1/events/tasks.r1"))
        let (status, headers) = try client.readHead()
        #expect(status == 200)
        let names = headers.map { $0.name.lowercased() }
        #expect(names.contains("transfer-encoding"))
        #expect(!names.contains("content-length"))
        #expect(headers.first { $0.name == "Connection" }?.value == "keep-alive")
        let body = String(decoding: try client.readToEnd(), as: UTF8.self)
        #expect(body == "5\r\nfirst\r\n1a\r\n" + String(repeating: "x", count: 26) + "\r\n0\r\n\r\n")
        #expect(signalled(closed))
    }

    @Test func peerClosingAStreamIsReportedByOnClose() throws {
        let started = DispatchSemaphore(value: 0)
        let closed = DispatchSemaphore(value: 0)
        let kept = Mutex<(any HTTPBodyStreamWriter)?>(nil)
        let server = try startServer(handler: { _, completion in
            completion(HTTPResponse(status: 200, body: .stream { writer in
                writer.onClose { closed.signal() }
                writer.write(Array("hello".utf8))
                kept.withLock { $0 = writer }
                started.signal()
            }))
        })
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send(TestClient.request("POST", "/stream"))
        #expect(try client.readHead().status == 200)
        #expect(try client.readChunk() == Array("hello".utf8))
        #expect(signalled(started))
        client.close()
        #expect(signalled(closed))
        let writer = kept.withLock { $0 }
        #expect(writer?.write(Array("gone".utf8)) == false)
        // A handler added after the end runs at once.
        let late = DispatchSemaphore(value: 0)
        writer?.onClose { late.signal() }
        #expect(late.wait(timeout: .now()) == .success)
    }

    @Test func slowReaderAccumulatesBufferedBytesThatDrain() throws {
        let chunk = [UInt8](repeating: 0x61, count: 64 << 10)
        let chunks = 64
        let kept = Mutex<(any HTTPBodyStreamWriter)?>(nil)
        let bufferedAfterWrites = Mutex<Int>(-1)
        let server = try startServer(handler: { _, completion in
            completion(HTTPResponse(status: 200, body: .stream { writer in
                let before = writer.bufferedBytes
                for _ in 0..<chunks { writer.write(chunk) }
                // Nothing is sent while this closure runs on the connection's queue, so
                // every byte written is still buffered: writes never block.
                bufferedAfterWrites.withLock { $0 = writer.bufferedBytes - before }
                writer.finish()
                kept.withLock { $0 = writer }
            }))
        })
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send(TestClient.request("POST", "/stream"))
        _ = try client.readHead()
        var received = 0
        while let data = try client.readChunk() { received += data.count }
        #expect(received == chunk.count * chunks)
        #expect(client.waitForClose())
        let framed = chunks * (String(chunk.count, radix: 16).count + 4 + chunk.count)
        #expect(bufferedAfterWrites.withLock { $0 } == framed)
        // The server shuts its side only after the kernel took every byte.
        #expect(kept.withLock { $0 }?.bufferedBytes == 0)
    }

    @Test func headOnAStreamRouteSendsNoBody() throws {
        let closed = DispatchSemaphore(value: 0)
        let server = try startServer(handler: { request, completion in
            guard request.method == "HEAD" else { return echo(request, completion) }
            completion(HTTPResponse(status: 200, body: .stream { writer in
                writer.onClose { closed.signal() }
                #expect(!writer.write(Array("x".utf8)))
            }))
        })
        defer { stop(server) }
        let client = try TestClient(port: server.localPort)
        try client.send(TestClient.request("HEAD", "/s") + TestClient.request("GET", "/next"))
        #expect(try client.readResponse(toHead: true).status == 200)
        #expect(try client.readResponse().text == "GET /next 0")
        #expect(signalled(closed))
    }

    @Test func gracefulShutdownFinishesInFlightRequestsAndClosesIdleOnes() throws {
        let received = DispatchSemaphore(value: 0)
        let held = Mutex<(@Sendable (HTTPResponse) -> Void)?>(nil)
        let server = try startServer(handler: { request, completion in
            guard request.path == "/slow" else { return echo(request, completion) }
            held.withLock { $0 = completion }
            received.signal()
        })
        let idle = try TestClient(port: server.localPort)
        try idle.send(TestClient.request("GET", "/first"))
        #expect(try idle.readResponse().status == 200)
        let busy = try TestClient(port: server.localPort)
        try busy.send(TestClient.request("GET", "/slow"))
        #expect(signalled(received))

        let done = DispatchSemaphore(value: 0)
        server.shutdown(timeout: .seconds(30)) { done.signal() }
        #expect(idle.waitForClose())
        held.withLock { $0 }?(HTTPResponse(status: 200, body: .bytes(Array("late".utf8))))
        // The in-flight response arrives, then the connection closes. (Whether the response
        // itself says `Connection: close` depends on whether the connection's queue took
        // the shutdown before the completion; HTTP1ConnectionTests pins that down.)
        #expect(try busy.readResponse().text == "late")
        #expect(busy.waitForClose())
        #expect(signalled(done))
    }

    @Test func shutdownTimeoutCutsWhatIsLeft() throws {
        let received = DispatchSemaphore(value: 0)
        let server = try startServer(handler: { _, _ in received.signal() })
        let client = try TestClient(port: server.localPort)
        try client.send(TestClient.request("GET", "/never-answered"))
        #expect(signalled(received))
        let done = DispatchSemaphore(value: 0)
        server.shutdown(timeout: .milliseconds(100)) { done.signal() }
        #expect(signalled(done))
        #expect(client.waitForClose())
    }

    @Test func ipv6Loopback() throws {
        let server = try startServer(configuring: { $0.host = "::1" })
        defer { stop(server) }
        let client = try TestClient(host: "::1", port: server.localPort)
        try client.send(TestClient.request("GET", "/six"))
        #expect(try client.readResponse().text == "GET /six 0")
    }
}
