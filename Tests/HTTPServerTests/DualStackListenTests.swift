import BBSLog
import Dispatch
import HTTPServer
import Testing

// An empty host is Go's ":port": every address of both families (`::` with IPV6_V6ONLY
// off), so IPv4 and IPv6 clients both reach it.

private struct Pong: HTTPResponder {
    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        completion(HTTPResponse(status: 200, body: .bytes(Array("pong".utf8))))
    }
}

@Suite struct DualStackListenTests {
    @Test func anEmptyHostAnswersIPv4AndIPv6() throws {
        var configuration = HTTPServer.Configuration()
        configuration.host = ""
        configuration.queueCount = 1
        let server = HTTPServer(configuration: configuration, responder: Pong(), logger: .discarding)
        try server.start()
        defer {
            let done = DispatchSemaphore(value: 0)
            server.shutdown(timeout: .seconds(2)) { done.signal() }
            _ = done.wait(timeout: .now() + 10)
        }
        // IPv4 always works: on `::` dual stack, or on the 0.0.0.0 fallback.
        let v4 = try TestClient(host: "127.0.0.1", port: server.localPort)
        try v4.send(TestClient.request("GET", "/"))
        #expect(try v4.readResponse().status == 200)
        guard server.localAddress.hasPrefix("[::]") else {
            // No IPv6 on this host: the fallback was used.
            #expect(server.localAddress.hasPrefix("0.0.0.0:"))
            return
        }
        let v6 = try TestClient(host: "::1", port: server.localPort)
        try v6.send(TestClient.request("GET", "/"))
        #expect(try v6.readResponse().status == 200)
    }
}
