import Testing

@testable import HTTPServer

// The parser in response mode (the client's side), fed whole, byte by byte and in
// seeded random splits; the end of the connection is given with `endOfInput`.

typealias ResponseEvent = HTTP1Parser.ResponseEvent

/// Feeds `pieces`, then (if `close`) the end of the stream; every event but `.needMoreBytes`.
private func parseResponses(_ pieces: [[UInt8]], close: Bool = true,
                            limits: HTTP1Parser.Limits = HTTP1Parser.Limits()) -> [ResponseEvent] {
    var parser = HTTP1Parser(responseLimits: limits)
    var events: [ResponseEvent] = []
    for piece in pieces {
        parser.append(piece)
        while true {
            let event = parser.nextResponse()
            if event == .needMoreBytes { break }
            events.append(event)
            if case .error = event { return events }
        }
    }
    if close {
        let event = parser.endOfInput()
        if event != .needMoreBytes { events.append(event) }
    }
    return events
}

private func parseResponses(_ text: String, close: Bool = true,
                            limits: HTTP1Parser.Limits = HTTP1Parser.Limits()) -> [ResponseEvent] {
    parseResponses([Array(text.utf8)], close: close, limits: limits)
}

private func response(_ status: Int, _ reason: String, version: HTTPVersion = .http1_1,
                      headers: [(String, String)], body: String = "", keepAlive: Bool = true) -> ResponseEvent {
    .response(HTTPClientResponse(status: status, reason: reason, version: version,
                                 headers: HTTPHeaders(headers), body: Array(body.utf8)),
              keepAlive: keepAlive)
}

private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private let lengthResponse = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
private let chunkedResponse = "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
    + "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
private let closeDelimitedResponse = "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the end"
private let interimThenFinal = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    + "HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n"
private let noReason = "HTTP/1.1 503\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

private let expectations: [(String, [ResponseEvent])] = [
    (lengthResponse, [response(200, "OK", headers: [("Content-Length", "5"), ("Content-Type", "text/plain")],
                               body: "hello")]),
    (chunkedResponse, [response(202, "Accepted", headers: [("Transfer-Encoding", "chunked")],
                                body: "abc0123456789")]),
    (closeDelimitedResponse, [response(200, "OK", version: .http1_0, headers: [("Server", "old")],
                                       body: "until the end", keepAlive: false)]),
    (interimThenFinal, [response(204, "No Content", headers: [("X-A", "b")])]),
    (noReason, [response(503, "", headers: [("Content-Length", "0"), ("Connection", "close")], keepAlive: false)]),
]

@Suite struct HTTP1ResponseParserTests {
    @Test(arguments: 0..<expectations.count)
    func whole(index: Int) {
        let (text, expected) = expectations[index]
        #expect(parseResponses(text) == expected)
    }

    @Test(arguments: 0..<expectations.count)
    func byteByByte(index: Int) {
        let (text, expected) = expectations[index]
        #expect(parseResponses(Array(text.utf8).map { [$0] }) == expected)
    }

    @Test(arguments: 0..<expectations.count)
    func randomSplits(index: Int) {
        let (text, expected) = expectations[index]
        let bytes = Array(text.utf8)
        var random = SeededGenerator(state: UInt64(index) + 7)
        for _ in 0..<200 {
            var pieces: [[UInt8]] = []
            var offset = 0
            while offset < bytes.count {
                let length = Int.random(in: 1...max(1, bytes.count / 3), using: &random)
                pieces.append(Array(bytes[offset..<min(offset + length, bytes.count)]))
                offset += length
            }
            #expect(parseResponses(pieces) == expected)
        }
    }

    @Test func lengthFramedResponseCompletesWithoutTheClose() {
        #expect(parseResponses(lengthResponse, close: false).count == 1)
        #expect(parseResponses(chunkedResponse, close: false).count == 1)
        // A body that runs to the close is not complete until the close.
        #expect(parseResponses(closeDelimitedResponse, close: false).isEmpty)
    }

    @Test func closeBeforeTheEndIsTruncated() {
        for cut in ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "HTTP/1.1 200 OK\r\nContent-Le",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "HTTP/1."] {
            #expect(parseResponses(cut) == [.error(.truncatedResponse)], "\(cut)")
        }
        // Nothing at all before the close is not a response.
        #expect(parseResponses("").isEmpty)
    }

    @Test func badInput() {
        let cases: [(String, HTTP1ParseError)] = [
            ("HTTP/2 200 OK\r\n\r\n", .malformedStatusLine),
            ("HTTP/1.1 20 OK\r\n\r\n", .malformedStatusLine),
            ("HTTP/1.1 2000 OK\r\n\r\n", .malformedStatusLine),
            ("HTTP/1.1 099 Low\r\n\r\n", .malformedStatusLine),
            ("SSH-2.0-OpenSSH\r\n\r\n", .malformedStatusLine),
            ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", .malformedStatusLine),
            ("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", .malformedHeader),
            ("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", .invalidContentLength),
            ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", .conflictingFraming),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", .unsupportedTransferEncoding),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", .malformedChunk),
        ]
        for (text, error) in cases {
            #expect(parseResponses(text, close: false) == [.error(error)], "\(text)")
        }
    }

    @Test func sizesAreBounded() {
        var limits = HTTP1Parser.Limits()
        limits.maxBodyBytes = 8
        limits.maxHeaderBytes = 64
        #expect(parseResponses("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", close: false, limits: limits)
            == [.error(.bodyTooLarge)])
        #expect(parseResponses("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n", close: false, limits: limits)
            == [.error(.bodyTooLarge)])
        #expect(parseResponses("HTTP/1.1 200 OK\r\n\r\n123456789", close: false, limits: limits)
            == [.error(.bodyTooLarge)])
        let longHeader = "HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 100) + "\r\n\r\n"
        #expect(parseResponses(longHeader, close: false, limits: limits) == [.error(.headersTooLarge)])
    }

    @Test func statusLine() {
        let parsed = Array("HTTP/1.1 404 Not Found".utf8).withUnsafeBufferPointer { HTTP1Parser.parseStatusLine($0[...]) }
        #expect(parsed?.status == 404)
        #expect(parsed?.reason == "Not Found")
    }
}
