import Dispatch
import Foundation
import Synchronization
import Testing

@testable import HTTPServer

#if canImport(Glibc)
import Glibc
#endif

// The outbound client against our own server on 127.0.0.1 (plain and mutual TLS), and
// against sockets that refuse or never answer, for the error classes the callback rules
// depend on.

private struct ScriptedResponder: HTTPResponder {
    let handler: @Sendable (HTTPRequest) -> HTTPResponse
    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        completion(handler(request))
    }
}

private func startServer(tls: TLSConfiguration? = nil,
                         _ handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws -> HTTPServer {
    var configuration = HTTPServer.Configuration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.tls = tls
    let server = HTTPServer(configuration: configuration, responder: ScriptedResponder(handler: handler),
                            logger: .discarding)
    try server.start()
    return server
}

private func stop(_ server: HTTPServer) {
    let done = DispatchSemaphore(value: 0)
    server.shutdown(timeout: .seconds(5)) { done.signal() }
    _ = done.wait(timeout: .now() + 20)
}

/// `method path body-length authorization` of what the server received.
private let describeRequest: @Sendable (HTTPRequest) -> HTTPResponse = { request in
    let text = "\(request.method) \(request.path) \(request.body.count) \(request.headers["Authorization"] ?? "-")"
    return HTTPResponse(status: 200, body: .bytes(Array(text.utf8)))
}

private func client(timeout: Duration = .seconds(10), tls: TLSClientConfiguration = TLSClientConfiguration())
    throws -> HTTPClient {
    try HTTPClient(configuration: HTTPClient.Configuration(timeout: timeout, tls: tls))
}

private func text(_ result: Result<HTTPClientResponse, HTTPClientError>) -> String? {
    guard case .success(let response) = result else { return nil }
    return String(decoding: response.body, as: UTF8.self)
}

private func failure(_ result: Result<HTTPClientResponse, HTTPClientError>) -> HTTPClientError? {
    guard case .failure(let error) = result else { return nil }
    return error
}

@Suite(.serialized) struct HTTPClientTests {
    @Test func postsAndReadsTheResponse() throws {
        let server = try startServer(describeRequest)
        defer { stop(server) }
        let result = try client().sendAndWait(HTTPClientRequest(
            url: "http://127.0.0.1:\(server.localPort)/cb?x=1", headers: ["Content-Type": "application/json"],
            body: Array("{}".utf8)))
        #expect(text(result) == "POST /cb 2 -")
    }

    @Test func userinfoIsBasicAuthorization() throws {
        let server = try startServer(describeRequest)
        defer { stop(server) }
        let result = try client().sendAndWait(HTTPClientRequest(url: "http://us%40er:pa:ss@127.0.0.1:\(server.localPort)/a"))
        // base64("us@er:pa:ss")
        #expect(text(result) == "POST /a 0 Basic dXNAZXI6cGE6c3M=")
    }

    @Test func redirectsFollowGo() throws {
        let server = try startServer { request in
            switch request.path {
            case "/303": HTTPResponse(status: 303, headers: ["Location": "/final"])
            case "/307": HTTPResponse(status: 307, headers: ["Location": "final"])
            case "/loop": HTTPResponse(status: 302, headers: ["Location": "/loop"])
            default: describeRequest(request)
            }
        }
        defer { stop(server) }
        let http = try client()
        let base = "http://127.0.0.1:\(server.localPort)"
        #expect(text(http.sendAndWait(HTTPClientRequest(url: base + "/303", body: [1, 2, 3]))) == "GET /final 0 -")
        #expect(text(http.sendAndWait(HTTPClientRequest(url: base + "/307", body: [1, 2, 3]))) == "POST /final 3 -")
        #expect(failure(http.sendAndWait(HTTPClientRequest(url: base + "/loop")))?.kind == .tooManyRedirects)
    }

    @Test func asynchronousSendsComplete() throws {
        let server = try startServer(describeRequest)
        defer { stop(server) }
        let http = try HTTPClient(configuration: HTTPClient.Configuration(timeout: .seconds(10), maxConcurrentRequests: 3))
        let answers = Mutex(0)
        let group = DispatchGroup()
        for index in 0..<20 {
            group.enter()
            http.send(HTTPClientRequest(url: "http://127.0.0.1:\(server.localPort)/\(index)")) { result in
                if text(result) == "POST /\(index) 0 -" { answers.withLock { $0 += 1 } }
                group.leave()
            }
        }
        #expect(group.wait(timeout: .now() + 30) == .success)
        #expect(answers.withLock { $0 } == 20)
    }

    @Test func errorsAreClassified() throws {
        let http = try client(timeout: .milliseconds(500))
        // Nothing listens on a port just released: refused, permanent.
        let listener = try SocketDescriptorForTests.listening()
        let freePort = listener.port
        listener.close()
        let refused = failure(http.sendAndWait(HTTPClientRequest(url: "http://127.0.0.1:\(freePort)/")))
        #expect(refused?.kind == .connectFailed)
        #expect(refused?.isTransient == false)
        #expect(failure(http.sendAndWait(HTTPClientRequest(url: "ftp://x/")))?.kind == .invalidURL)
        #expect(failure(http.sendAndWait(HTTPClientRequest(url: "http://no such host/")))?.kind == .invalidURL)
        let unresolvable = failure(http.sendAndWait(HTTPClientRequest(url: "http://host.invalid/")))
        #expect(unresolvable?.kind == .resolution)

        // Accepts (the kernel does) but never answers: timed out, transient.
        let silent = try SocketDescriptorForTests.listening()
        defer { silent.close() }
        let timedOut = failure(http.sendAndWait(HTTPClientRequest(url: "http://127.0.0.1:\(silent.port)/")))
        #expect(timedOut?.kind == .timedOut)
        #expect(timedOut?.isTransient == true)
    }

    @Test func closedMidResponseIsTransient() throws {
        let listener = try SocketDescriptorForTests.listening()
        defer { listener.close() }
        let port = listener.port
        let thread = Thread {
            let connection = accept(listener.descriptor, nil, nil)
            var buffer = [UInt8](repeating: 0, count: 4096)
            _ = read(connection, &buffer, buffer.count)
            let partial = Array("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly some".utf8)
            _ = write(connection, partial, partial.count)
            close(connection)
        }
        thread.start()
        let error = failure(try client().sendAndWait(HTTPClientRequest(url: "http://127.0.0.1:\(port)/")))
        #expect(error?.kind == .connectionClosed)
        #expect(error?.isTransient == true)
    }

    @Test func mutualTLS() throws {
        let certificates = try TestCertificates.get()
        let first = certificates.first
        let server = try startServer(tls: first.serverConfiguration, describeRequest)
        defer { stop(server) }
        let url = "https://127.0.0.1:\(server.localPort)/secure"

        let good = try client(tls: TLSClientConfiguration(
            trustedCAFile: first.ca, certificateChainFile: first.clientCertificate, privateKeyFile: first.clientKey))
        #expect(text(good.sendAndWait(HTTPClientRequest(url: url, body: [1]))) == "POST /secure 1 -")

        // The server's certificate is not from a trusted CA: refused by the client.
        let untrusting = try client(tls: TLSClientConfiguration(
            trustedCAFile: certificates.second.ca, certificateChainFile: first.clientCertificate,
            privateKeyFile: first.clientKey))
        let refused = failure(untrusting.sendAndWait(HTTPClientRequest(url: url)))
        #expect(refused?.kind == .tls)
        #expect(refused?.isTransient == false)

        // No client certificate: the server refuses; never a response.
        let anonymous = try client(tls: TLSClientConfiguration(trustedCAFile: first.ca))
        #expect(text(anonymous.sendAndWait(HTTPClientRequest(url: url))) == nil)

        // A mismatched pair is refused when the client is built.
        #expect(throws: TLSError.self) {
            _ = try HTTPClient(configuration: HTTPClient.Configuration(timeout: .seconds(1), tls: TLSClientConfiguration(
                certificateChainFile: first.clientCertificate, privateKeyFile: certificates.second.clientKey)))
        }
    }

    @Test func urls() {
        let url = HTTPClientURL(string: "HTTPS://u:p%21@[::1]:8443/a/b?q=1#frag")
        #expect(url?.scheme == "https")
        #expect(url?.host == "::1")
        #expect(url?.port == 8443)
        #expect(url?.target == "/a/b?q=1")
        #expect(url?.password == "p!")
        #expect(url?.authority == "[::1]:8443")
        #expect(HTTPClientURL(string: "http://h")?.target == "/")
        #expect(HTTPClientURL(string: "http://h?x")?.target == "/?x")
        #expect(HTTPClientURL(string: "http://h:0/") == nil)
        #expect(HTTPClientURL(string: "http://:80/") == nil)
        #expect(HTTPClientURL(string: "/relative") == nil)
        let base = HTTPClientURL(string: "http://u:p@h:81/dir/file?q")!
        #expect(base.resolving("/x")?.description == "http://h:81/x")
        #expect(base.resolving("/x")?.user == nil)
        #expect(base.resolving("y")?.description == "http://h:81/dir/y")
        #expect(base.resolving("?z")?.description == "http://h:81/dir/file?z")
        #expect(base.resolving("//other/p")?.description == "http://other/p")
        #expect(base.resolving("https://s/p")?.description == "https://s/p")
        #expect(Base64.encode(Array("ab".utf8)) == "YWI=")
        #expect(Base64.encode(Array("abc".utf8)) == "YWJj")
        #expect(Base64.encode(Array("a".utf8)) == "YQ==")
    }
}

/// A listening socket on 127.0.0.1 whose connections nobody accepts (the kernel
/// completes the handshake; nothing is ever sent).
private struct SocketDescriptorForTests {
    let descriptor: Int32
    let port: Int

    static func listening() throws -> SocketDescriptorForTests {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else { throw TestTLSFailure("cannot listen") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return SocketDescriptorForTests(descriptor: descriptor, port: Int(UInt16(bigEndian: address.sin_port)))
    }

    func close() { _ = Glibc.close(descriptor) }
}
