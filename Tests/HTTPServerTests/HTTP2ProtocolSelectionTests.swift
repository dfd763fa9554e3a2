import BBSLog
import CNghttp2
import Dispatch
import Synchronization
import Testing

@testable import HTTPServer

// Protocol selection on a cleartext connection, in memory: the HTTP/2 preface (whole or
// split across reads) switches to h2, anything else stays HTTP/1.1, and `Upgrade: h2c`
// answers 101 and serves the upgrading request as stream 1.

private final class RecordingTransport: ConnectionTransport {
    var output: [UInt8] = []
    var closeMode: ConnectionCloseMode?
    /// What the handler reported choosing, in order (the server counts connections by it).
    var chosen: [ConnectionProtocol] = []
    func protocolChosen(_ protocol: ConnectionProtocol) { chosen.append(`protocol`) }
    func enqueue(_ write: (inout [UInt8]) -> Void) {
        guard closeMode == nil else { return }
        write(&output)
    }
    func flush() {}
    var pendingOutboundBytes: Int { output.count }
    func setReading(_ enabled: Bool) {}
    func setDeadline(_ uptimeNanoseconds: UInt64?) {}
    func close(_ mode: ConnectionCloseMode) {
        if closeMode == nil { closeMode = mode }
    }
    func take() -> [UInt8] {
        defer { output = [] }
        return output
    }
}

/// Answers `<version> <method> <path> <body length>` at once.
private struct VersionEcho: HTTPResponder {
    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        completion(HTTPResponse(status: 200, body: .bytes(Array(
            "\(request.version) \(request.method) \(request.path) \(request.body.count)".utf8))))
    }
}

private final class Selection {
    let lane = ConnectionQueue(label: "protocol-selection-tests", readBufferBytes: 16)
    let transport = RecordingTransport()
    let handler: CleartextProtocolHandler

    init() {
        var configuration = HTTPServer.Configuration()
        configuration.http2MaxConcurrentStreams = 77
        let server = HTTPServer(configuration: configuration, responder: VersionEcho(), logger: .discarding)
        handler = server.protocols.makeCleartextHandler(lane: lane, remoteAddress: "198.51.100.7:4000")
        handler.transport = transport
        lane.queue.sync { [handler] in handler.transportStarted() }
    }

    func receive(_ bytes: [UInt8]) {
        lane.queue.sync { bytes.withUnsafeBytes { handler.transportReceived($0) } }
        lane.queue.sync {}
    }

    func receive(_ text: String) { receive(Array(text.utf8)) }

    func take() -> [UInt8] { lane.queue.sync { transport.take() } }
    var current: ConnectionProtocol? { lane.queue.sync { handler.currentProtocol } }
    var reported: [ConnectionProtocol] { lane.queue.sync { transport.chosen } }

    /// Moves bytes between `client` and the server until neither has anything to say.
    func exchange(_ client: HTTP2TestClient) {
        for _ in 0..<1000 {
            let toServer = client.output()
            if !toServer.isEmpty { receive(toServer) }
            let toClient = take()
            if !toClient.isEmpty { #expect(client.receive(toClient) >= 0) }
            if toServer.isEmpty && toClient.isEmpty { return }
        }
        Issue.record("the exchange never settled")
    }
}

@Suite struct HTTP2ProtocolSelectionTests {
    @Test func thePrefaceSplitAcrossReadsSelectsHTTP2() {
        let selection = Selection()
        let client = HTTP2TestClient()
        let id = client.request("GET", "/over-h2")
        let bytes = client.output()
        #expect(bytes.starts(with: CleartextProtocolHandler.preface))
        // One byte, then the rest of the preface in two pieces, then the frames.
        selection.receive(Array(bytes[0..<1]))
        #expect(selection.take().isEmpty)
        selection.receive(Array(bytes[1..<10]))
        selection.receive(Array(bytes[10..<24]))
        #expect(selection.current == .http2)
        #expect(selection.reported == [.http2])
        selection.receive(Array(bytes[24...]))
        selection.exchange(client)
        #expect(client.serverSettings[Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue)] == 77)
        #expect(client[id].text == "HTTP/2 GET /over-h2 0")
    }

    @Test func aRequestStartingLikeThePrefaceStaysHTTP1() {
        let selection = Selection()
        selection.receive("P")
        #expect(selection.take().isEmpty)
        selection.receive("OST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
        #expect(selection.current == .http1)
        #expect(selection.reported.isEmpty)
        #expect(String(decoding: selection.take(), as: UTF8.self).hasSuffix("\r\n\r\nHTTP/1.1 POST /x 2"))
    }

    @Test func http1RequestsAreServedAsBefore() {
        let selection = Selection()
        selection.receive("GET /plain HTTP/1.1\r\nHost: h\r\n\r\n")
        let text = String(decoding: selection.take(), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.hasSuffix("HTTP/1.1 GET /plain 0"))
        #expect(selection.current == .http1)
        #expect(selection.reported.isEmpty)
    }

    @Test func aPrefaceThatGoesWrongIsHTTP1() {
        let selection = Selection()
        selection.receive("PRI * HTTP/2.0\r\n\r\nXX")
        #expect(selection.current == .http1)
        #expect(selection.reported.isEmpty)
        // Not HTTP/1.1 either: the HTTP/1.1 handler refuses the version and closes.
        #expect(String(decoding: selection.take(), as: UTF8.self).hasPrefix("HTTP/1.1 505 "))
        #expect(selection.transport.closeMode == .graceful)
    }

    @Test func upgradeH2cAnswers101AndServesTheRequestAsStreamOne() {
        let selection = Selection()
        let client = HTTP2TestClient(.init(upgrade: true))
        let request = "POST /upgraded HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
            + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \(client.upgradeSettings)\r\n\r\nabc"
        // The client sends its preface right behind the request, as curl does.
        selection.receive(Array(request.utf8) + client.output())
        let output = selection.take()
        let switching = H2CUpgrade.switchingProtocols
        #expect(output.starts(with: switching))
        #expect(selection.current == .http2)
        #expect(selection.reported == [.http2])
        #expect(client.receive(Array(output[switching.count...])) >= 0)
        selection.exchange(client)
        #expect(client[1].status == 200)
        // The request itself came as HTTP/1.1; its answer goes out on h2 stream 1.
        #expect(client[1].text == "HTTP/1.1 POST /upgraded 3")
        let next = client.request("GET", "/second")
        selection.exchange(client)
        #expect(next == 3)
        #expect(client[next].text == "HTTP/2 GET /second 0")
    }

    @Test func anUpgradeWithoutValidSettingsIsServedOverHTTP1() {
        let selection = Selection()
        selection.receive("GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            + "HTTP2-Settings: !!\r\n\r\n")
        #expect(String(decoding: selection.take(), as: UTF8.self).hasSuffix("HTTP/1.1 GET /a 0"))
        #expect(selection.current == .http1)
        #expect(selection.reported.isEmpty)
    }

    @Test func upgradeSettingsAreRecognisedOnlyWhenAskedForProperly() {
        func request(_ headers: HTTPHeaders, version: HTTPVersion = .http1_1) -> HTTPRequest {
            HTTPRequest(method: "GET", path: "/", version: version, headers: headers)
        }
        let settings = HTTP2TestClient.base64url([0, 3, 0, 0, 0, 100])
        let good: HTTPHeaders = ["Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings", "HTTP2-Settings": settings]
        #expect(H2CUpgrade.settingsPayload(of: request(good)) == [0, 3, 0, 0, 0, 100])
        #expect(H2CUpgrade.settingsPayload(of: request(["Upgrade": "websocket, h2c", "Connection": "http2-settings,upgrade",
                                                        "HTTP2-Settings": ""])) == [])
        #expect(H2CUpgrade.settingsPayload(of: request(good, version: .http1_0)) == nil)
        #expect(H2CUpgrade.settingsPayload(of: request(["Upgrade": "h2", "Connection": "Upgrade, HTTP2-Settings",
                                                        "HTTP2-Settings": settings])) == nil)
        #expect(H2CUpgrade.settingsPayload(of: request(["Upgrade": "h2c", "Connection": "Upgrade",
                                                        "HTTP2-Settings": settings])) == nil)
        var twice = good
        twice.add("HTTP2-Settings", settings)
        #expect(H2CUpgrade.settingsPayload(of: request(twice)) == nil)
        // Five bytes are not a whole SETTINGS entry.
        #expect(H2CUpgrade.settingsPayload(of: request(["Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings",
                                                        "HTTP2-Settings": "AAMAAAA"])) == nil)
    }

    @Test func alpnNamesMapToProtocols() {
        #expect(ConnectionProtocol(alpn: "h2") == .http2)
        #expect(ConnectionProtocol(alpn: "http/1.1") == .http1)
        #expect(ConnectionProtocol(alpn: nil) == .http1)
        #expect(ConnectionProtocol.alpnIdentifiers == ["h2", "http/1.1"])
    }

    @Test func theFactoryMakesAnHTTP2HandlerForALPNh2() {
        let lane = ConnectionQueue(label: "alpn-tests", readBufferBytes: 16)
        let transport = RecordingTransport()
        let server = HTTPServer(configuration: HTTPServer.Configuration(), responder: VersionEcho(), logger: .discarding)
        let handler = server.protocols.makeHandler(for: .http2, transport: transport, lane: lane, remoteAddress: "x")
        #expect(handler is HTTP2Connection)
        lane.queue.sync { handler.transportStarted() }
        let client = HTTP2TestClient()
        let id = client.request("GET", "/alpn")
        lane.queue.sync { client.output().withUnsafeBytes { handler.transportReceived($0) } }
        lane.queue.sync {}
        #expect(client.receive(lane.queue.sync { transport.take() }) >= 0)
        #expect(client[id].text == "HTTP/2 GET /alpn 0")
        #expect(server.protocols.makeHandler(for: .http1, transport: transport, lane: lane, remoteAddress: "x")
            is HTTP1Connection)
    }
}
