import BBSLog
import Foundation
import HTTPServer
import Testing
@testable import BBSServer

// Where the auction request goes under the auctioneer_* keys (lifecycle.md §5): with
// certificates configured, https first and http as the fallback unless TLS is required.

@Suite struct AuctioneerEndpointTests {
    private func client(_ address: String, usesTLS: Bool, requiresTLS: Bool) throws -> AuctioneerClient {
        let http = try HTTPClient(configuration: HTTPClient.Configuration(timeout: .seconds(1)))
        return AuctioneerClient(http: http, address: address, usesTLS: usesTLS, requiresTLS: requiresTLS,
                                logger: .discarding)
    }

    @Test func withoutCertificatesTheAddressIsUsedAsGiven() throws {
        let plain = try client("http://auctioneer:9016/", usesTLS: false, requiresTLS: false)
        #expect(plain.endpoint == "http://auctioneer:9016/v1/tasks")
        #expect(plain.fallbackEndpoint == nil)
        let secure = try client("https://auctioneer:9016", usesTLS: false, requiresTLS: false)
        #expect(secure.endpoint == "https://auctioneer:9016/v1/tasks")
    }

    @Test func certificatesMeanHTTPSWithAnHTTPFallback() throws {
        let fallback = try client("http://auctioneer:9016", usesTLS: true, requiresTLS: false)
        #expect(fallback.endpoint == "https://auctioneer:9016/v1/tasks")
        #expect(fallback.fallbackEndpoint == "http://auctioneer:9016/v1/tasks")
        let required = try client("https://auctioneer:9016", usesTLS: true, requiresTLS: true)
        #expect(required.endpoint == "https://auctioneer:9016/v1/tasks")
        #expect(required.fallbackEndpoint == nil)
    }

    @Test func configurationSaysWhenTLSIsUsed() {
        var configuration = ServerConfiguration()
        #expect(!configuration.auctioneerUsesTLS)
        configuration.auctioneerCACert = "ca.pem"
        #expect(configuration.auctioneerUsesTLS)
        #expect(configuration.auctioneerTLS == TLSClientConfiguration(trustedCAFile: "ca.pem"))
        configuration.certFile = "server.pem"
        configuration.keyFile = "server.key"
        #expect(configuration.callbackTLS == TLSClientConfiguration(
            certificateChainFile: "server.pem", privateKeyFile: "server.key"))
    }
}

// Cancelling a Running task tells its rep, forwarding the cancel request's
// X-Vcap-Request-Id when it had one (lifecycle.md §6, wire.md §10).

final class RecordingRep: HTTPResponder, @unchecked Sendable {
    // Unchecked: `requests` is only touched under `lock`.
    private let lock = NSLock()
    private var requests: [HTTPRequest] = []
    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        lock.withLock { requests.append(request) }
        completion(HTTPResponse(status: 202))
    }
    var received: [HTTPRequest] { lock.withLock { requests } }
}

@Suite struct CellCancelNotificationTests {
    @Test func theRequestIDGoesToTheRepWhenThereIsOne() async throws {
        let rep = RecordingRep()
        var configuration = HTTPServer.Configuration()
        configuration.queueCount = 1
        let server = HTTPServer(configuration: configuration, responder: rep, logger: .discarding)
        try server.start()
        defer { server.shutdown(timeout: .seconds(1)) {} }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cells-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("cells.json").path
        try Data(#"{"cells": [{"cell_id": "cell-1", "rep_url": "http://127.0.0.1:\#(server.localPort)/"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        let http = try HTTPClient(configuration: HTTPClient.Configuration(timeout: .seconds(5)))
        let cells = CellRegistryFile(path: path, http: http, requiresTLS: false, logger: .discarding)

        cells.notifyCancelled(taskGuid: "with-id", cellId: "cell-1", requestID: "3f2a6c1e-1111-2222-3333-444455556666")
        cells.notifyCancelled(taskGuid: "without-id", cellId: "cell-1", requestID: "")
        for _ in 0..<100 where rep.received.count < 2 { try await Task.sleep(for: .milliseconds(50)) }

        let received = rep.received
        #expect(received.count == 2)
        let withID = received.first { $0.path == "/v1/tasks/with-id/cancel" }
        #expect(withID?.method == "POST")
        #expect(withID?.headers["X-Vcap-Request-Id"] == "3f2a6c1e-1111-2222-3333-444455556666")
        let withoutID = received.first { $0.path == "/v1/tasks/without-id/cancel" }
        #expect(withoutID != nil)
        #expect(withoutID?.headers["X-Vcap-Request-Id"] == nil)
    }
}
