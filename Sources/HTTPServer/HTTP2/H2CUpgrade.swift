import Foundation

/// An HTTP/1.1 connection handing itself over to HTTP/2 (RFC 7540 §3.2, "h2c"): the
/// request that asked, which becomes stream 1, the client's SETTINGS from its
/// `HTTP2-Settings` field, and the bytes read after the request (the client may already
/// have sent its connection preface behind it).
struct H2CUpgrade: Sendable {
    var request: HTTPRequest
    /// The SETTINGS frame payload, decoded from base64url.
    var settingsPayload: [UInt8]
    var bufferedBytes: [UInt8]

    /// What HTTP/1.1 answers before the first HTTP/2 frame.
    static let switchingProtocols = Array("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".utf8)

    /// The decoded `HTTP2-Settings` of a request that validly asks to upgrade to h2c:
    /// HTTP/1.1, `Upgrade` listing `h2c`, `Connection` listing `HTTP2-Settings`, and
    /// exactly one `HTTP2-Settings` field holding whole SETTINGS entries in base64url.
    /// Nil otherwise: the request is then served over HTTP/1.1 as if it had not asked.
    static func settingsPayload(of request: HTTPRequest) -> [UInt8]? {
        guard request.version == .http1_1,
              let upgrade = request.headers["Upgrade"], listContains(upgrade, "h2c"),
              let connection = request.headers["Connection"], listContains(connection, "http2-settings")
        else { return nil }
        let fields = request.headers.values("HTTP2-Settings")
        guard fields.count == 1 else { return nil }
        // base64url (RFC 4648 §5) without padding, as RFC 7540 §3.2.1 asks.
        var base64 = fields[0].trimmingCharacters(in: .whitespaces)
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        guard let payload = Data(base64Encoded: base64), payload.count % 6 == 0 else { return nil }
        return Array(payload)
    }

    private static func listContains(_ list: String, _ lowercaseToken: String) -> Bool {
        list.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == lowercaseToken }
    }
}
