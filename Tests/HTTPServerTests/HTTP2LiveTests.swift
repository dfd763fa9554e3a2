import BBSLog
import Dispatch
import Foundation
import HTTPServer
import Synchronization
import Testing

// h2 against the server on 127.0.0.1, port 0, with curl (built with nghttp2) as the
// client: prior knowledge, `Upgrade: h2c`, many streams multiplexed on one connection,
// a large body, and a graceful shutdown with a stream in flight. Skipped where curl
// lacks HTTP/2. Waits have generous timeouts only so a broken server fails instead of
// hanging; nothing asserted depends on timing.

private let curlPath = "/usr/bin/curl"

private let curlSpeaksHTTP2: Bool = {
    guard FileManager.default.isExecutableFile(atPath: curlPath),
          let output = try? runCurl(["--version"]).output else { return false }
    return output.contains("HTTP2")
}()

private struct CurlResult {
    var status: Int32
    var output: String
}

private func runCurl(_ arguments: [String]) throws -> CurlResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: curlPath)
    process.arguments = ["--silent", "--show-error", "--max-time", "30"] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    // --silent still lets --parallel draw its progress meter there.
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CurlResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

private struct TestResponder: HTTPResponder {
    let handler: @Sendable (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> Void
    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        handler(request, completion)
    }
}

private func startServer(
    handler: @escaping @Sendable (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> Void
) throws -> HTTPServer {
    var configuration = HTTPServer.Configuration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
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

private let echo: @Sendable (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> Void = { request, completion in
    completion(HTTPResponse(
        status: 200, headers: ["Content-Type": "text/plain"],
        body: .bytes(Array("\(request.version) \(request.method) \(request.path) \(request.body.count)".utf8))))
}

@Suite(.serialized, .enabled(if: curlSpeaksHTTP2)) struct HTTP2LiveTests {
    @Test func curlWithPriorKnowledge() throws {
        let server = try startServer(handler: echo)
        defer { stop(server) }
        let result = try runCurl(["--http2-prior-knowledge", "--include", "--data-binary", "12345",
                                  "http://127.0.0.1:\(server.localPort)/v1/ping?q=1"])
        #expect(result.status == 0)
        #expect(result.output.hasPrefix("HTTP/2 200"))
        #expect(result.output.contains("content-length: 22"))
        #expect(result.output.hasSuffix("HTTP/2 POST /v1/ping 5"))
    }

    @Test func curlUpgradingFromHTTP1() throws {
        let server = try startServer(handler: echo)
        defer { stop(server) }
        let url = "http://127.0.0.1:\(server.localPort)/up"
        let result = try runCurl(["--http2", "--include", url, url])
        #expect(result.status == 0)
        #expect(result.output.hasPrefix("HTTP/1.1 101 Switching Protocols"))
        // The upgrading request is answered on stream 1, the next one on stream 3 of the
        // same connection.
        #expect(result.output.contains("HTTP/1.1 GET /up 0"))
        #expect(result.output.hasSuffix("HTTP/2 GET /up 0"))
    }

    @Test func parallelRequestsShareOneConnectionAndFinishInAnyOrder() throws {
        let count = 8
        let held = Mutex<[(path: String, peer: String, completion: @Sendable (HTTPResponse) -> Void)]>([])
        let server = try startServer { request, completion in
            // The first is answered at once (curl may wait for it before multiplexing);
            // the others are held until all have arrived, then answered last first.
            let all = held.withLock { held -> [(path: String, peer: String, completion: @Sendable (HTTPResponse) -> Void)] in
                held.append((request.path, request.remoteAddress, completion))
                if request.path == "/p0" { return [held.removeLast()] }
                return held.count == count - 1 ? held : []
            }
            for entry in all.reversed() {
                entry.completion(HTTPResponse(status: 200, body: .bytes(Array("\(entry.path)\n".utf8))))
            }
        }
        defer { stop(server) }
        let urls = (0..<count).map { "http://127.0.0.1:\(server.localPort)/p\($0)" }
        // curl upgrades with the first request, then multiplexes the others on that
        // connection. (Debian 12's curl 7.88.1 fails to reuse a prior-knowledge connection
        // for parallel transfers, curl/curl#10634, so prior knowledge is not used here.)
        let result = try runCurl(["--http2", "--parallel", "--parallel-max", String(count)] + urls)
        #expect(result.status == 0)
        #expect(Set(result.output.split(separator: "\n").map(String.init)) == Set((0..<count).map { "/p\($0)" }))
        #expect(held.withLock { $0.count } == count - 1)
        #expect(Set(held.withLock { $0.map(\.peer) }).count == 1, "one connection")
    }

    @Test func aLargeBodyCrossesTheFlowControlWindows() throws {
        let body = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let server = try startServer { _, completion in completion(HTTPResponse(status: 200, body: .bytes(body))) }
        defer { stop(server) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("h2-live-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try runCurl(["--http2-prior-knowledge", "--output", file.path,
                                  "http://127.0.0.1:\(server.localPort)/big"])
        #expect(result.status == 0)
        #expect(try Data(contentsOf: file) == Data(body))
    }

    @Test func gracefulShutdownLetsTheStreamInFlightFinish() throws {
        let arrived = DispatchSemaphore(value: 0)
        let completion = Mutex<(@Sendable (HTTPResponse) -> Void)?>(nil)
        let server = try startServer { _, respond in
            completion.withLock { $0 = respond }
            arrived.signal()
        }
        let curlDone = DispatchSemaphore(value: 0)
        let outcome = Mutex<CurlResult?>(nil)
        let port = server.localPort
        DispatchQueue.global().async {
            let result = try? runCurl(["--http2-prior-knowledge", "http://127.0.0.1:\(port)/slow"])
            outcome.withLock { $0 = result }
            curlDone.signal()
        }
        #expect(arrived.wait(timeout: .now() + 20) == .success)
        let stopped = DispatchSemaphore(value: 0)
        server.shutdown(timeout: .seconds(20)) { stopped.signal() }
        completion.withLock { $0 }?(HTTPResponse(status: 200, body: .bytes(Array("finished".utf8))))
        #expect(curlDone.wait(timeout: .now() + 20) == .success)
        #expect(outcome.withLock { $0 }?.output == "finished")
        #expect(stopped.wait(timeout: .now() + 20) == .success)
    }
}
