import COpenSSL
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import HTTPServer

// The server with TLS on 127.0.0.1, port 0, against blocking TLS clients. Waits have
// generous timeouts only so a broken server fails a test instead of hanging it; what is
// asserted is the outcome, never how long it took.

private final class CountingResponder: HTTPResponder {
    let paths = Mutex<[String]>([])

    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        paths.withLock { $0.append(request.path) }
        let body: [UInt8]
        if request.path == "/big" {
            body = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        } else {
            body = Array("\(request.method) \(request.path) \(request.body.count)".utf8)
        }
        completion(HTTPResponse(status: 200, headers: ["Content-Type": "text/plain"], body: .bytes(body)))
    }
}

private final class LiveServer {
    let server: HTTPServer
    let responder = CountingResponder()

    init(tls: TLSConfiguration, configuring configure: (inout HTTPServer.Configuration) -> Void = { _ in }) throws {
        var configuration = HTTPServer.Configuration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.tls = tls
        configure(&configuration)
        server = HTTPServer(configuration: configuration, responder: responder, logger: .discarding)
        try server.start()
    }

    var port: Int { server.localPort }
    var requestPaths: [String] { responder.paths.withLock { $0 } }

    func stop() {
        let done = DispatchSemaphore(value: 0)
        server.shutdown(timeout: .seconds(5)) { done.signal() }
        #expect(done.wait(timeout: .now() + 20) == .success, "shutdown completed")
    }
}

/// The TLS alert text a refused client sees on its first read, or nil if it got an answer.
private func refusal(_ client: TLSTestClient) -> String? {
    do {
        try client.handshake()
        _ = try client.exchange("POST", "/refused")
        return nil
    } catch let error as TLSError {
        return error.detail
    } catch {
        return "\(error)"
    }
}

@Suite(.serialized) struct TLSLiveTests {
    @Test func mutualTLSServesRequestsOnOneConnection() throws {
        let certificates = try TestCertificates.get().first
        let live = try LiveServer(tls: certificates.serverConfiguration)
        defer { live.stop() }
        let client = try TLSTestClient(port: live.port, context: makeGoodClientContext(certificates))
        try client.handshake()
        #expect(client.engine.protocolVersion == "TLSv1.3")
        #expect(client.engine.negotiatedProtocol == nil)
        for index in 0..<10 {
            let response = try client.exchange("POST", "/r\(index)", body: String(repeating: "b", count: index))
            #expect(response.status == 200)
            #expect(response.text == "POST /r\(index) \(index)")
        }
        // A response larger than the socket buffers: written in pieces as the client reads.
        let big = try client.exchange("GET", "/big")
        #expect(big.body == (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        #expect(try client.exchange("GET", "/after").text == "GET /after 0")
    }

    @Test func alpnPicksH2WhenOfferedAndHTTP1Otherwise() throws {
        let certificates = try TestCertificates.get().first
        let live = try LiveServer(tls: certificates.serverConfiguration)
        defer { live.stop() }
        let h2 = try TLSTestClient(
            port: live.port, context: makeGoodClientContext(certificates, alpn: ["h2", "http/1.1"]))
        try h2.handshake()
        #expect(h2.engine.negotiatedProtocol == "h2")
        let http1 = try TLSTestClient(port: live.port, context: makeGoodClientContext(certificates, alpn: ["http/1.1"]))
        try http1.handshake()
        #expect(http1.engine.negotiatedProtocol == "http/1.1")
        #expect(try http1.exchange("GET", "/alpn").text == "GET /alpn 0")
    }

    @Test func tls12WithTheReferenceSuites() throws {
        let certificates = try TestCertificates.get().first
        let live = try LiveServer(tls: certificates.serverConfiguration)
        defer { live.stop() }
        let client = try TLSTestClient(port: live.port, context: makeClientContext(
            trusting: certificates.ca, certificate: certificates.clientCertificate, key: certificates.clientKey,
            versions: TLS1_2_VERSION...TLS1_2_VERSION,
            tls12Ciphers: "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"))
        try client.handshake()
        #expect(client.engine.protocolVersion == "TLSv1.2")
        #expect(try client.exchange("GET", "/tls12").text == "GET /tls12 0")
    }

    @Test func refusedClientsAreCutAndOthersKeepBeingServed() throws {
        let certificates = try TestCertificates.get().first
        // One queue: every connection shares it, so a refusal cannot hide behind another core.
        let live = try LiveServer(tls: certificates.serverConfiguration) { $0.queueCount = 1 }
        defer { live.stop() }
        let good = try TLSTestClient(port: live.port, context: makeGoodClientContext(certificates))
        try good.handshake()
        #expect(try good.exchange("GET", "/before").status == 200)

        let noCertificate = try TLSTestClient(port: live.port, context: makeClientContext(trusting: certificates.ca))
        #expect(refusal(noCertificate)?.contains("certificate required") == true)

        let otherCA = try TLSTestClient(port: live.port, context: makeClientContext(
            trusting: certificates.ca, certificate: certificates.otherClientCertificate,
            key: certificates.otherClientKey))
        #expect(refusal(otherCA)?.contains("unknown ca") == true)

        let tls11 = try TLSTestClient(port: live.port, context: makeClientContext(
            trusting: certificates.ca, certificate: certificates.clientCertificate, key: certificates.clientKey,
            versions: TLS1_VERSION...TLS1_1_VERSION))
        #expect(refusal(tls11)?.contains("protocol version") == true)

        // Cleartext HTTP to the TLS port gets no HTTP answer.
        let cleartext = try TestClient(port: live.port)
        try cleartext.send(TestClient.request("GET", "/cleartext"))
        #expect(cleartext.waitForClose())

        #expect(try good.exchange("GET", "/during").text == "GET /during 0")
        let another = try TLSTestClient(port: live.port, context: makeGoodClientContext(certificates))
        try another.handshake()
        #expect(try another.exchange("GET", "/after").text == "GET /after 0")
        // Only the accepted clients' requests reached the responder.
        #expect(live.requestPaths == ["/before", "/during", "/after"])
    }

    @Test func aStalledHandshakeTimesOutWithoutBlockingOthers() throws {
        let certificates = try TestCertificates.get().first
        var tls = certificates.serverConfiguration
        tls.handshakeTimeout = .milliseconds(300)
        let live = try LiveServer(tls: tls) { $0.queueCount = 1 }
        defer { live.stop() }
        // One says nothing; one sends half a ClientHello and stops.
        let silent = try TestClient(port: live.port)
        let partial = try TestClient(port: live.port)
        let helloSource = try TLSEngine(context: makeGoodClientContext(certificates), role: .client(serverName: nil))
        _ = helloSource.handshake()
        var hello: [UInt8] = []
        helloSource.takeOutput(appendingTo: &hello)
        try partial.send(Array(hello[..<(hello.count / 2)]))

        // Meanwhile, on the same queue, a full handshake and a request go through.
        let good = try TLSTestClient(port: live.port, context: makeGoodClientContext(certificates))
        try good.handshake()
        #expect(try good.exchange("GET", "/meanwhile").status == 200)

        #expect(silent.waitForClose())
        #expect(partial.waitForClose())
        // The timeout is the handshake's only: an established idle connection stays.
        #expect(try good.exchange("GET", "/still-open").status == 200)
    }

    @Test func reloadUsesNewCertificatesForNewConnections() throws {
        let all = try TestCertificates.get()
        let (first, second) = (all.first, all.second)
        let directory = try all.scratchDirectory("reload")
        let files = TLSConfiguration(certificateChainFile: directory + "/server.pem",
                                     privateKeyFile: directory + "/server.key", clientCAFile: directory + "/ca.pem")
        func install(_ set: TestCertificates.CertificateSet) throws {
            for (from, to) in [(set.serverCertificate, files.certificateChainFile),
                               (set.serverKey, files.privateKeyFile), (set.ca, files.clientCAFile!)] {
                try? FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
        }
        try install(first)
        let live = try LiveServer(tls: files)
        defer { live.stop() }
        let open = try TLSTestClient(port: live.port, context: makeGoodClientContext(first))
        try open.handshake()
        #expect(try open.exchange("GET", "/first").status == 200)

        try install(second)
        try live.server.reloadTLS()
        // New connections get the second server certificate and need a second client's.
        let renewed = try TLSTestClient(port: live.port, context: makeGoodClientContext(second))
        try renewed.handshake()
        #expect(try renewed.exchange("GET", "/second").status == 200)
        let stale = try TLSTestClient(port: live.port, context: makeGoodClientContext(first))
        #expect(throws: TLSError.handshake) { try stale.handshake() }  // the client distrusts the new certificate
        // The connection opened before the reload keeps its session.
        #expect(try open.exchange("GET", "/still-first").status == 200)

        // A file that does not load leaves the second certificates in use.
        try Data("garbage\n".utf8).write(to: URL(fileURLWithPath: files.privateKeyFile))
        #expect(throws: TLSError.privateKey) { try live.server.reloadTLS() }
        let afterFailure = try TLSTestClient(port: live.port, context: makeGoodClientContext(second))
        try afterFailure.handshake()
        #expect(try afterFailure.exchange("GET", "/kept").status == 200)
    }

    @Test func startFailsOnABadCertificateAndReloadNeedsTLS() throws {
        let certificates = try TestCertificates.get().first
        var tls = certificates.serverConfiguration
        tls.certificateChainFile = certificates.path("missing.pem")
        var configuration = HTTPServer.Configuration()
        configuration.tls = tls
        let server = HTTPServer(configuration: configuration, responder: CountingResponder(), logger: .discarding)
        #expect(throws: TLSError.certificate) { try server.start() }

        let cleartext = HTTPServer(configuration: HTTPServer.Configuration(), responder: CountingResponder(),
                                   logger: .discarding)
        #expect(throws: TLSError.notConfigured) { try cleartext.reloadTLS() }
    }

    @Test func closingSendsCloseNotify() throws {
        let certificates = try TestCertificates.get().first
        let live = try LiveServer(tls: certificates.serverConfiguration)
        let client = try TLSTestClient(port: live.port, context: makeGoodClientContext(certificates))
        try client.handshake()
        try client.send(TestClient.request("GET", "/last", headers: ["Connection: close"]))
        let response = try client.readResponse()
        #expect(response.header("Connection") == "close")
        #expect(client.waitForClose())
        #expect(client.receivedCloseNotify)

        // And an idle connection when the server stops.
        let idle = try TLSTestClient(port: live.port, context: makeGoodClientContext(certificates))
        try idle.handshake()
        #expect(try idle.exchange("GET", "/idle").status == 200)
        live.stop()
        #expect(idle.waitForClose())
        #expect(idle.receivedCloseNotify)
    }
}
