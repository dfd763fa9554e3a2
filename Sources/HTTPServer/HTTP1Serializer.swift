#if canImport(Glibc)
import Glibc
#endif

// HTTP/1.1 response bytes (RFC 9112): status line, fields, body framing, chunks.
// Pure functions appending to a caller's buffer, so many pipelined responses end up in
// one buffer and leave in one write.

/// How a response body is delimited on the wire.
enum HTTP1BodyFraming: Equatable {
    /// No body and no length field (1xx, 204, 304).
    case none
    case contentLength(Int)
    /// `Transfer-Encoding: chunked`: each write one chunk, `0\r\n\r\n` at the end.
    case chunked
    /// Raw bytes ended by closing the connection (a streamed body to an HTTP/1.0 client,
    /// which cannot read chunked encoding).
    case untilClose
}

enum HTTP1Serializer {
    static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    static let lastChunk = Array("0\r\n\r\n".utf8)

    /// Whether a response with `status` may carry a body (RFC 9110 §6.4.1).
    static func statusAllowsBody(_ status: Int) -> Bool {
        !(100..<200).contains(status) && status != 204 && status != 304
    }

    /// Appends the status line and fields. The server owns framing: the responder's
    /// `Content-Length` and `Transfer-Encoding` are replaced by ones matching `framing`.
    /// `connection`, when given, replaces the responder's `Connection` field. `Date` is
    /// added unless the responder set one. CR and LF inside names or values become spaces
    /// so no value can start a new field.
    static func appendHead(
        status: Int, headers: HTTPHeaders, framing: HTTP1BodyFraming, connection: String?,
        date: [UInt8], into out: inout [UInt8]
    ) {
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(status, into: &out)
        out.append(ASCII.space)
        out.append(contentsOf: HTTPResponse.reason(status).utf8)
        appendCRLF(into: &out)

        var hasDate = false
        for field in headers {
            if HTTPHeaders.equalNames(field.name, "Content-Length")
                || HTTPHeaders.equalNames(field.name, "Transfer-Encoding") {
                continue
            }
            if connection != nil && HTTPHeaders.equalNames(field.name, "Connection") { continue }
            if HTTPHeaders.equalNames(field.name, "Date") { hasDate = true }
            appendSanitized(field.name, into: &out)
            out.append(contentsOf: ": ".utf8)
            appendSanitized(field.value, into: &out)
            appendCRLF(into: &out)
        }
        switch framing {
        case .none, .untilClose:
            break
        case .contentLength(let length):
            out.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(length, into: &out)
            appendCRLF(into: &out)
        case .chunked:
            out.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        }
        if let connection {
            out.append(contentsOf: "Connection: ".utf8)
            out.append(contentsOf: connection.utf8)
            appendCRLF(into: &out)
        }
        if !hasDate {
            out.append(contentsOf: "Date: ".utf8)
            out.append(contentsOf: date)
            appendCRLF(into: &out)
        }
        appendCRLF(into: &out)
    }

    /// Appends a client's request line and fields (the client's side of `appendHead`):
    /// `Host` first, then `headers` (their own `Host`, `Content-Length`, `Transfer-Encoding`
    /// and `Connection` dropped), `Content-Length` when `contentLength` is given, and
    /// `Connection: close` (one request per connection). Sanitized like a response head.
    static func appendRequestHead(
        method: String, target: String, host: String, headers: HTTPHeaders, contentLength: Int?,
        into out: inout [UInt8]
    ) {
        appendSanitized(method, into: &out)
        out.append(ASCII.space)
        for byte in target.utf8 where byte > 0x20 && byte != 0x7F { out.append(byte) }
        out.append(contentsOf: " HTTP/1.1\r\nHost: ".utf8)
        appendSanitized(host, into: &out)
        appendCRLF(into: &out)
        for field in headers {
            if HTTPHeaders.equalNames(field.name, "Host") || HTTPHeaders.equalNames(field.name, "Content-Length")
                || HTTPHeaders.equalNames(field.name, "Transfer-Encoding")
                || HTTPHeaders.equalNames(field.name, "Connection") {
                continue
            }
            appendSanitized(field.name, into: &out)
            out.append(contentsOf: ": ".utf8)
            appendSanitized(field.value, into: &out)
            appendCRLF(into: &out)
        }
        if let contentLength {
            out.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(contentLength, into: &out)
            appendCRLF(into: &out)
        }
        out.append(contentsOf: "Connection: close\r\n\r\n".utf8)
    }

    /// One chunk of a chunked body: `<hex size>\r\n<data>\r\n`. `data` must not be empty
    /// (an empty chunk is the end of the body).
    static func appendChunk(_ data: [UInt8], into out: inout [UInt8]) {
        appendHex(data.count, into: &out)
        appendCRLF(into: &out)
        out.append(contentsOf: data)
        appendCRLF(into: &out)
    }

    /// The bytes `appendChunk` produces for `dataCount` bytes of data.
    static func chunkSize(dataCount: Int) -> Int {
        var digits = 1
        var rest = dataCount >> 4
        while rest > 0 {
            digits += 1
            rest >>= 4
        }
        return digits + 2 + dataCount + 2
    }

    static func appendCRLF(into out: inout [UInt8]) {
        out.append(ASCII.cr)
        out.append(ASCII.lf)
    }

    static func appendDecimal(_ value: Int, into out: inout [UInt8]) {
        precondition(value >= 0, "negative length \(value)")
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    static func appendHex(_ value: Int, into out: inout [UInt8]) {
        let digits: StaticString = "0123456789abcdef"
        var shift = 0
        while value >> shift >= 16 { shift += 4 }
        digits.withUTF8Buffer { table in
            while shift >= 0 {
                out.append(table[(value >> shift) & 0xF])
                shift -= 4
            }
        }
    }

    private static func appendSanitized(_ text: String, into out: inout [UInt8]) {
        for byte in text.utf8 {
            out.append(byte == ASCII.cr || byte == ASCII.lf || byte == 0 ? ASCII.space : byte)
        }
    }
}

/// The `Date` field value (RFC 9110 §5.6.7, IMF-fixdate), formatted at most once a second.
struct HTTPDateCache {
    private var second = -1
    private var value: [UInt8] = []

    mutating func current() -> [UInt8] {
        let now = Int(time(nil))
        if now != second {
            second = now
            value = Self.format(now)
        }
        return value
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT`
    static func format(_ secondsSinceEpoch: Int) -> [UInt8] {
        var seconds = time_t(secondsSinceEpoch)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var out: [UInt8] = []
        out.reserveCapacity(29)
        func two(_ value: Int32) {
            out.append(UInt8(ascii: "0") + UInt8(value / 10))
            out.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        out.append(contentsOf: days[Int(parts.tm_wday)].utf8)
        out.append(contentsOf: ", ".utf8)
        two(parts.tm_mday)
        out.append(ASCII.space)
        out.append(contentsOf: months[Int(parts.tm_mon)].utf8)
        out.append(ASCII.space)
        HTTP1Serializer.appendDecimal(Int(parts.tm_year) + 1900, into: &out)
        out.append(ASCII.space)
        two(parts.tm_hour)
        out.append(UInt8(ascii: ":"))
        two(parts.tm_min)
        out.append(UInt8(ascii: ":"))
        two(parts.tm_sec)
        out.append(contentsOf: " GMT".utf8)
        return out
    }
}
