import BBSLog
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
