import COpenSSL
import Foundation
import Testing

@testable import HTTPServer

// A server TLSEngine and a client engine wired back to back in memory: handshakes,
// records both ways, what the server refuses, and what a server context refuses to load.

private func serverEngine(_ configuration: TLSConfiguration, alpn: [String] = ["h2", "http/1.1"]) throws -> TLSEngine {
    try TLSEngine(context: TLSContext(server: configuration, alpnProtocols: alpn))
}

private func clientEngine(_ context: TLSContext, serverName: String? = "127.0.0.1") throws -> TLSEngine {
    try TLSEngine(context: context, role: .client(serverName: serverName))
}

private func failure(_ result: TLSEngine.OperationResult) -> TLSError? {
    if case .failed(let error) = result { return error }
    return nil
}

@Suite struct TLSEngineTests {
    @Test func mutualTLSHandshakeThenRecordsBothWays() throws {
        let certificates = try TestCertificates.get().first
        let server = try serverEngine(certificates.serverConfiguration)
        let client = try clientEngine(makeGoodClientContext(certificates))
        let result = handshake(client: client, server: server)
        #expect(result.client == .complete)
        #expect(result.server == .complete)
        #expect(server.protocolVersion == "TLSv1.3")
        #expect(server.peerCertificateSubject == "/CN=bbs-client")
        #expect(client.peerCertificateSubject == "/CN=127.0.0.1")

        #expect(write("POST /v1/ping HTTP/1.1\r\n\r\n", to: client) == .complete)
        exchange(client, server)
        let request = readAll(server)
        #expect(String(decoding: request.bytes, as: UTF8.self) == "POST /v1/ping HTTP/1.1\r\n\r\n")
        #expect(request.end == .incomplete)

        let large = String(repeating: "0123456789abcdef", count: 10_000)  // several records
        #expect(write(large, to: server) == .complete)
        #expect(server.pendingOutputBytes > large.utf8.count)
        exchange(client, server)
        #expect(String(decoding: readAll(client).bytes, as: UTF8.self) == large)
    }

    @Test func closeNotifyEndsTheStreamAfterTheDataBeforeIt() throws {
        let certificates = try TestCertificates.get().first
        let server = try serverEngine(certificates.serverConfiguration)
        let client = try clientEngine(makeGoodClientContext(certificates))
        _ = handshake(client: client, server: server)
        #expect(write("last words", to: client) == .complete)
        #expect(client.shutdown() == .incomplete)  // ours sent, theirs not yet
        exchange(client, server)
        let received = readAll(server)
        #expect(String(decoding: received.bytes, as: UTF8.self) == "last words")
        #expect(received.end == .closed)
        #expect(server.shutdown() == .complete)  // both directions closed
    }

    @Test func tls12UsesTheReferenceSuites() throws {
        let certificates = try TestCertificates.get().first
        for suite in ["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"] {
            let server = try serverEngine(certificates.serverConfiguration)
            let client = try clientEngine(makeClientContext(
                trusting: certificates.ca, certificate: certificates.clientCertificate, key: certificates.clientKey,
                versions: TLS1_2_VERSION...TLS1_2_VERSION, tls12Ciphers: suite))
            let result = handshake(client: client, server: server)
            #expect(result.server == .complete)
            #expect(server.protocolVersion == "TLSv1.2")
            #expect(server.cipherSuite == suite)
        }
    }

    @Test func tls12SuitesOutsideTheListAreRefused() throws {
        let certificates = try TestCertificates.get().first
        let server = try serverEngine(certificates.serverConfiguration)
        let client = try clientEngine(makeClientContext(
            trusting: certificates.ca, certificate: certificates.clientCertificate, key: certificates.clientKey,
            versions: TLS1_2_VERSION...TLS1_2_VERSION, tls12Ciphers: "ECDHE-RSA-CHACHA20-POLY1305:AES128-SHA"))
        let result = handshake(client: client, server: server)
        #expect(failure(result.server) == .handshake)
        #expect(failure(result.server)?.detail.contains("no shared cipher") == true)
    }

    @Test func alpnPrefersTheServersOrder() throws {
        let certificates = try TestCertificates.get().first
        let cases: [(client: [String], server: [String], expected: String?)] = [
            (["http/1.1", "h2"], ["h2", "http/1.1"], "h2"),
            (["http/1.1"], ["h2", "http/1.1"], "http/1.1"),
            (["h2"], ["http/1.1"], nil),  // nothing in common: no ALPN, not a failure
            ([], ["h2", "http/1.1"], nil),
        ]
        for (offered, supported, expected) in cases {
            let server = try serverEngine(certificates.serverConfiguration, alpn: supported)
            let client = try clientEngine(makeGoodClientContext(certificates, alpn: offered))
            let result = handshake(client: client, server: server)
            #expect(result.server == .complete, "client \(offered), server \(supported)")
            #expect(server.negotiatedProtocol == expected, "client \(offered), server \(supported)")
            #expect(client.negotiatedProtocol == expected)
        }
    }

    @Test func aClientWithoutACertificateIsRefused() throws {
        let certificates = try TestCertificates.get().first
        let server = try serverEngine(certificates.serverConfiguration)
        let client = try clientEngine(makeClientContext(trusting: certificates.ca))
        let result = handshake(client: client, server: server)
        // TLS 1.3: the client is done before the server has judged its (missing)
        // certificate; the server's alert reaches it on its first read.
        #expect(result.client == .complete)
        #expect(failure(result.server) == .handshake)
        #expect(failure(result.server)?.detail.contains("peer did not return a certificate") == true)
        exchange(client, server)
        guard case .failed(let error) = readAll(client).end else {
            Issue.record("the client could read after the server refused it")
            return
        }
        #expect(error.detail.contains("certificate required"))
    }

    @Test func aClientCertificateFromAnotherCAIsRefused() throws {
        let certificates = try TestCertificates.get().first
        let server = try serverEngine(certificates.serverConfiguration)
        let client = try clientEngine(makeClientContext(
            trusting: certificates.ca, certificate: certificates.otherClientCertificate,
            key: certificates.otherClientKey))
        let result = handshake(client: client, server: server)
        #expect(failure(result.server) == .handshake)
        #expect(failure(result.server)?.detail.contains("certificate verify failed") == true)
        #expect(failure(result.server)?.detail.contains("unable to get local issuer certificate") == true)
    }

    @Test func aTLS11ClientIsRefused() throws {
        let certificates = try TestCertificates.get().first
        let server = try serverEngine(certificates.serverConfiguration)
        let client = try clientEngine(makeClientContext(
            trusting: certificates.ca, certificate: certificates.clientCertificate, key: certificates.clientKey,
            versions: TLS1_VERSION...TLS1_1_VERSION))
        // The client does offer TLS 1.1 (it is not refusing itself).
        #expect(client.handshake() == .incomplete)
        #expect(client.pendingOutputBytes > 0)
        let result = handshake(client: client, server: server)
        #expect(failure(result.server) == .handshake)
        #expect(failure(result.server)?.detail.contains("unsupported protocol") == true)
        #expect(failure(result.client)?.detail.contains("protocol version") == true)
    }

    @Test func withoutACAFileNoClientCertificateIsAskedFor() throws {
        let certificates = try TestCertificates.get().first
        var configuration = certificates.serverConfiguration
        configuration.clientCAFile = nil
        let server = try serverEngine(configuration)
        let client = try clientEngine(makeClientContext(trusting: certificates.ca))
        let result = handshake(client: client, server: server)
        #expect(result.server == .complete)
        #expect(server.peerCertificateSubject == nil)
    }

    @Test func theClientChecksTheServersName() throws {
        let certificates = try TestCertificates.get().first
        let good = try clientEngine(makeGoodClientContext(certificates), serverName: "localhost")
        #expect(handshake(client: good, server: try serverEngine(certificates.serverConfiguration)).client == .complete)
        let wrong = try clientEngine(makeGoodClientContext(certificates), serverName: "bbs.example.com")
        let result = handshake(client: wrong, server: try serverEngine(certificates.serverConfiguration))
        #expect(failure(result.client)?.detail.contains("hostname mismatch") == true)
    }

    @Test func garbageFromThePeerFailsTheHandshake() throws {
        let certificates = try TestCertificates.get().first
        let server = try serverEngine(certificates.serverConfiguration)
        Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8).withUnsafeBytes { server.receive($0) }
        let result = server.handshake()
        #expect(failure(result) == .handshake)
        // OpenSSL recognises plain HTTP sent to a TLS port.
        #expect(failure(result)?.detail.contains("http request") == true)
    }

    @Test func aPartialClientHelloWaits() throws {
        let certificates = try TestCertificates.get().first
        let server = try serverEngine(certificates.serverConfiguration)
        let client = try clientEngine(makeGoodClientContext(certificates))
        #expect(client.handshake() == .incomplete)
        var hello: [UInt8] = []
        client.takeOutput(appendingTo: &hello)
        // Byte by byte: never a failure before the whole hello is in.
        for index in 0..<(hello.count - 1) {
            hello[index...index].withUnsafeBytes { server.receive($0) }
            #expect(server.handshake() == .incomplete)
            #expect(server.pendingOutputBytes == 0)
        }
        hello[(hello.count - 1)...].withUnsafeBytes { server.receive($0) }
        #expect(server.handshake() == .incomplete)  // waiting for the client's certificate
        #expect(server.pendingOutputBytes > 0)      // ServerHello...
        var flight: [UInt8] = []
        server.takeOutput(appendingTo: &flight)
        flight.withUnsafeBytes { client.receive($0) }
        let result = handshake(client: client, server: server)
        #expect(result.client == .complete)
        #expect(result.server == .complete)
    }
}

@Suite struct TLSContextLoadingTests {
    @Test func missingOrBadFilesAreReportedByKind() throws {
        let certificates = try TestCertificates.get().first
        let good = certificates.serverConfiguration
        let scratch = try TestCertificates.get().scratchDirectory("context")
        let garbage = scratch + "/garbage.pem"
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: garbage))

        var missingCertificate = good
        missingCertificate.certificateChainFile = scratch + "/missing.pem"
        #expect(throws: TLSError.certificate) {
            try TLSContext(server: missingCertificate, alpnProtocols: ["http/1.1"])
        }
        var garbageCertificate = good
        garbageCertificate.certificateChainFile = garbage
        #expect(throws: TLSError.certificate) {
            try TLSContext(server: garbageCertificate, alpnProtocols: ["http/1.1"])
        }
        var garbageKey = good
        garbageKey.privateKeyFile = garbage
        #expect(throws: TLSError.privateKey) {
            try TLSContext(server: garbageKey, alpnProtocols: ["http/1.1"])
        }
        var mismatchedKey = good
        mismatchedKey.privateKeyFile = certificates.clientKey
        let mismatch = #expect(throws: TLSError.privateKey) {
            try TLSContext(server: mismatchedKey, alpnProtocols: ["http/1.1"])
        }
        #expect(mismatch?.description.contains("does not match") == true)
        var missingCA = good
        missingCA.clientCAFile = scratch + "/missing-ca.pem"
        #expect(throws: TLSError.trustedCertificates) {
            try TLSContext(server: missingCA, alpnProtocols: ["http/1.1"])
        }
        var garbageCA = good
        garbageCA.clientCAFile = garbage
        #expect(throws: TLSError.trustedCertificates) {
            try TLSContext(server: garbageCA, alpnProtocols: ["http/1.1"])
        }
        #expect(throws: Never.self) { try TLSContext(server: good, alpnProtocols: ["http/1.1"]) }
    }

    @Test func anEncryptedKeyFailsInsteadOfPrompting() throws {
        let certificates = try TestCertificates.get().first
        let scratch = try TestCertificates.get().scratchDirectory("encrypted")
        let encrypted = scratch + "/server-encrypted.key"
        try TestCertificates.run("/usr/bin/openssl", [
            "pkey", "-in", certificates.serverKey, "-out", encrypted, "-aes256", "-passout", "pass:secret",
        ])
        var configuration = certificates.serverConfiguration
        configuration.privateKeyFile = encrypted
        let error = #expect(throws: TLSError.privateKey) {
            try TLSContext(server: configuration, alpnProtocols: ["http/1.1"])
        }
        #expect(error?.description.contains("secret") == false)
    }

    @Test func alpnWireFormatIsLengthPrefixed() {
        #expect(TLSContext.alpnWireFormat(["h2", "http/1.1"])
            == [2] + Array("h2".utf8) + [8] + Array("http/1.1".utf8))
        #expect(TLSContext.alpnWireFormat([]) == [])
    }
}
