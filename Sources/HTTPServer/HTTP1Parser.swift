#if canImport(Glibc)
import Glibc
#endif

// An incremental HTTP/1.1 request parser (RFC 9112): bytes in, complete requests out.
// It does no I/O and keeps no clock, so it is tested by feeding it bytes in any split.
//
//                     +-------------+
//          +--------->| requestLine |<------------------------------------+
//          |          +-------------+                                     |
//          |                 | request line                               |
//          |                 v                                            |
//          |          +-------------+  empty line, no body                |
//          |          | headerLines |----------------------> .request ----+
//          |          +-------------+                                     |
//          |   Content-Length |        | Transfer-Encoding: chunked       |
//          |                  v        v                                  |
//          |       +-----------+   +---------------+  size 0  +--------------+
//          |       | fixedBody |   | chunkSizeLine |--------->| trailerLines |
//          |       +-----------+   +---------------+          +--------------+
//          |         | all read      | size > 0   ^                 | empty line
//          +---------+               v            | CRLF            v
//           .request           +-----------+   +--------------+  .request
//                              | chunkData |-->| chunkDataEnd |
//                              +-----------+   +--------------+
//
// Any violation moves to `failed`, which is sticky: the connection answers with the
// error's status and closes, so nothing after a bad request is ever parsed.
//
// `next()` returns `.needMoreBytes` as a normal value whenever the buffered bytes end
// mid-request. The connection keeps calling `next()` until then, which is how pipelined
// requests that arrived in one read come out one by one.
//
// Response mode (`init(responseLimits:)`, for the outbound client) starts in
// `statusLine` instead of `requestLine` and shares the rest: the head, then a fixed,
// chunked or `bodyUntilClose` body (ended by `endOfInput`); interim 1xx responses go back
// to `statusLine`, and `nextResponse()` returns responses where `next()` returns requests.
//
// Bodies are read whole (the responder gets a complete request) but never beyond
// `maxBodyBytes`: a Content-Length above it fails as soon as the head is complete, and a
// chunked body fails as soon as a chunk size would exceed it, so an oversize body is
// refused without being read.

/// Why a request could not be parsed. Each maps to the status the connection answers
/// with before closing.
public enum HTTP1ParseError: Error, Hashable, Sendable {
    case malformedRequestLine
    case requestLineTooLong
    case unsupportedVersion
    case malformedHeader
    /// The head (request line and fields, or the trailer section) is over `maxHeaderBytes`.
    case headersTooLarge
    /// More than `maxHeaderCount` fields (or trailer fields).
    case tooManyHeaders
    /// An HTTP/1.1 request without `Host`.
    case missingHost
    case multipleHosts
    case invalidContentLength
    /// Both Content-Length and Transfer-Encoding, or Content-Length values that differ:
    /// the body's end is ambiguous, the classic request-smuggling setup.
    case conflictingFraming
    /// A transfer coding other than `chunked` (gzip, ...).
    case unsupportedTransferEncoding
    case invalidTransferEncoding
    /// An `Expect` other than `100-continue`.
    case unsupportedExpectation
    case bodyTooLarge
    case malformedChunk
    /// Response mode: not `HTTP/1.x NNN reason`, or a 101 (no protocol is upgraded to).
    case malformedStatusLine
    /// Response mode: the peer closed the connection before the response was complete.
    case truncatedResponse

    /// The response status for this error.
    public var status: Int {
        switch self {
        case .malformedRequestLine, .malformedHeader, .missingHost, .multipleHosts, .invalidContentLength,
             .conflictingFraming, .invalidTransferEncoding, .malformedChunk, .malformedStatusLine,
             .truncatedResponse:
            400
        case .requestLineTooLong: 414
        case .unsupportedVersion: 505
        case .headersTooLarge, .tooManyHeaders: 431
        case .unsupportedTransferEncoding: 501
        case .unsupportedExpectation: 417
        case .bodyTooLarge: 413
        }
    }
}

public struct HTTP1Parser: Sendable {
    public struct Limits: Sendable, Hashable {
        /// The longest request line, CRLF included (414 beyond it).
        public var maxRequestLineBytes = 8 << 10
        /// The longest head, request line and field lines included; also the bound on a
        /// chunked body's trailer section (431 beyond it).
        public var maxHeaderBytes = 64 << 10
        /// The most fields in a head, and the most in a trailer section (431 beyond it).
        public var maxHeaderCount = 100
        /// The largest body, whatever its framing (413 beyond it).
        public var maxBodyBytes = 16 << 20
        /// The longest chunk-size line, extensions included.
        public var maxChunkLineBytes = 4 << 10

        public init() {}
    }

    public enum Event: Equatable, Sendable {
        /// The buffered bytes end inside a request: append more.
        case needMoreBytes
        /// A request with `Expect: 100-continue` has a complete head and its body has not
        /// started to arrive: the client may be waiting for `100 Continue`. Returned at
        /// most once per request; the next call resumes reading the body.
        case continueExpected
        /// A complete request. `keepAlive` says whether the connection may carry another
        /// request after this one (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
        /// `Connection: keep-alive`).
        case request(HTTPRequest, keepAlive: Bool)
        /// The request is invalid. Every later call returns the same error.
        case error(HTTP1ParseError)
    }

    /// A response (response mode): the head and whole body.
    public enum ResponseEvent: Equatable, Sendable {
        case needMoreBytes
        /// A complete final response; `keepAlive` as for requests.
        case response(HTTPClientResponse, keepAlive: Bool)
        case error(HTTP1ParseError)
    }

    /// What a parse step produced, before it is shaped as a request or a response.
    private enum Step {
        case needMoreBytes
        case continueExpected
        case complete
        case error(HTTP1ParseError)
    }

    private enum State: Sendable {
        case requestLine
        /// Response mode's first state.
        case statusLine
        /// A response framed by neither Content-Length nor chunked: the body is all the
        /// peer sends until it closes (RFC 9112 §6.3 item 8).
        case bodyUntilClose
        case headerLines
        case fixedBody(remaining: Int)
        case chunkSizeLine
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailerLines
        case failed(HTTP1ParseError)
    }

    /// What is known so far about the request being parsed. Kept outside `state` so the
    /// body grows in place: as an associated value it would be copied on every append.
    private struct RequestInProgress: Sendable {
        var method = ""
        var path = ""
        var status = 0
        var reason = ""
        var query: String?
        var version = HTTPVersion.http1_1
        var headers = HTTPHeaders()
        var body: [UInt8] = []
        /// Bytes of the head (or of the trailer section) so far, line terminators included.
        var sectionBytes = 0
        /// Fields in the head (or in the trailer section) so far.
        var sectionFields = 0
        var contentLength: Int?
        var chunkedCodings = 0
        var otherCodings = 0
        var hostCount = 0
        var connectionClose = false
        var connectionKeepAlive = false
        var expectsContinue = false
        var keepAlive = true
    }

    public let limits: Limits
    /// Parses responses (a client's view) instead of requests.
    public let parsesResponses: Bool
    private var state: State
    private var current = RequestInProgress()
    /// The message `complete` finished, until `next` or `nextResponse` shapes it.
    private var finished = RequestInProgress()
    /// Received bytes; those before `readIndex` are consumed.
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// Where the search for the next line feed resumes, so a line arriving byte by byte
    /// is scanned once, not once per byte.
    private var scanIndex = 0
    /// Set when a head with `Expect: 100-continue` ends exactly where the received bytes
    /// end; cleared once `.continueExpected` has been returned.
    private var continuePending = false

    public init(limits: Limits = Limits()) {
        self.limits = limits
        parsesResponses = false
        state = .requestLine
    }

    /// A parser of responses, for a client: status line instead of request line, no
    /// `Host` rule, 1xx interim responses skipped, and bodies framed by Content-Length,
    /// chunked, or the end of the connection (`endOfInput`). Responses to HEAD are not
    /// supported (the client never sends HEAD).
    public init(responseLimits limits: Limits) {
        self.limits = limits
        parsesResponses = true
        state = .statusLine
    }

    /// True between requests with nothing of the next one received: the connection is idle.
    public var isAtRequestBoundary: Bool {
        switch state {
        case .requestLine, .statusLine: return readIndex == buffer.count
        default: return false
        }
    }

    /// Received bytes not yet consumed.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Removes and returns the bytes received after the last complete request, for a
    /// protocol that takes the connection over (h2c upgrade, branch h2).
    public mutating func takeUnparsedBytes() -> [UInt8] {
        defer {
            buffer = []
            readIndex = 0
            scanIndex = 0
        }
        return Array(buffer[readIndex...])
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Parses as far as the buffered bytes allow.
    public mutating func next() -> Event {
        precondition(!parsesResponses, "next() parses requests; use nextResponse()")
        switch advance() {
        case .needMoreBytes: return .needMoreBytes
        case .continueExpected: return .continueExpected
        case .error(let error): return .error(error)
        case .complete:
            let request = HTTPRequest(
                method: finished.method, path: finished.path, query: finished.query, version: finished.version,
                headers: finished.headers, body: finished.body)
            let keepAlive = finished.keepAlive
            finished = RequestInProgress()
            return .request(request, keepAlive: keepAlive)
        }
    }

    /// Response mode: parses as far as the buffered bytes allow.
    public mutating func nextResponse() -> ResponseEvent {
        precondition(parsesResponses, "nextResponse() parses responses; use next()")
        switch advance() {
        case .needMoreBytes, .continueExpected: return .needMoreBytes
        case .error(let error): return .error(error)
        case .complete: return takeFinishedResponse()
        }
    }

    /// Response mode: the peer closed the connection. Completes a response whose body
    /// runs to the close; anything else still in progress is `.truncatedResponse`
    /// (`.needMoreBytes` if nothing of a response had arrived).
    public mutating func endOfInput() -> ResponseEvent {
        precondition(parsesResponses, "endOfInput() is for responses")
        switch state {
        case .bodyUntilClose:
            _ = complete()
            return takeFinishedResponse()
        case .failed(let error):
            return .error(error)
        case .statusLine where readIndex == buffer.count:
            return .needMoreBytes
        default:
            state = .failed(.truncatedResponse)
            return .error(.truncatedResponse)
        }
    }

    private mutating func takeFinishedResponse() -> ResponseEvent {
        let response = HTTPClientResponse(
            status: finished.status, reason: finished.reason, version: finished.version,
            headers: finished.headers, body: finished.body)
        let keepAlive = finished.keepAlive
        finished = RequestInProgress()
        return .response(response, keepAlive: keepAlive)
    }

    private mutating func advance() -> Step {
        while true {
            switch state {
            case .failed(let error):
                return .error(error)

            case .statusLine:
                switch takeLine(limit: limits.maxRequestLineBytes) {
                case .incomplete: return .needMoreBytes
                case .tooLong: return fail(.malformedStatusLine)
                case .complete(let start, let end, let length):
                    current = RequestInProgress()
                    current.sectionBytes = length
                    let parsed = buffer.withUnsafeBufferPointer { Self.parseStatusLine($0[start..<end]) }
                    guard let parsed else { return fail(.malformedStatusLine) }
                    current.status = parsed.status
                    current.reason = parsed.reason
                    current.version = parsed.version
                    state = .headerLines
                }

            case .bodyUntilClose:
                let available = buffer.count - readIndex
                if available > limits.maxBodyBytes - current.body.count { return fail(.bodyTooLarge) }
                current.body.append(contentsOf: buffer[readIndex...])
                readIndex = buffer.count
                return .needMoreBytes

            case .requestLine:
                switch takeLine(limit: limits.maxRequestLineBytes) {
                case .incomplete: return .needMoreBytes
                case .tooLong: return fail(.requestLineTooLong)
                case .complete(let start, let end, let length):
                    // RFC 9112 §2.2: ignore empty lines before a request line (some
                    // clients send CRLF after a body).
                    if start == end { continue }
                    current = RequestInProgress()
                    current.sectionBytes = length
                    let parsed = buffer.withUnsafeBufferPointer { Self.parseRequestLine($0[start..<end]) }
                    switch parsed {
                    case .failure(let error): return fail(error)
                    case .success(let line):
                        current.method = line.method
                        current.path = line.path
                        current.query = line.query
                        current.version = line.version
                        state = .headerLines
                    }
                }

            case .headerLines:
                switch takeLine(limit: limits.maxHeaderBytes - current.sectionBytes) {
                case .incomplete: return .needMoreBytes
                case .tooLong: return fail(.headersTooLarge)
                case .complete(let start, let end, let length):
                    current.sectionBytes += length
                    if start == end {
                        if let event = endOfHead() { return event }
                        continue
                    }
                    current.sectionFields += 1
                    if current.sectionFields > limits.maxHeaderCount { return fail(.tooManyHeaders) }
                    let parsed = buffer.withUnsafeBufferPointer { Self.parseField($0[start..<end]) }
                    switch parsed {
                    case .failure(let error): return fail(error)
                    case .success(let field):
                        if let error = record(field) { return fail(error) }
                    }
                }

            case .fixedBody(let remaining):
                let take = min(remaining, buffer.count - readIndex)
                if take > 0 {
                    current.body.append(contentsOf: buffer[readIndex..<readIndex + take])
                    readIndex += take
                }
                if take == remaining { return complete() }
                state = .fixedBody(remaining: remaining - take)
                return waitForBody()

            case .chunkSizeLine:
                switch takeLine(limit: limits.maxChunkLineBytes) {
                case .incomplete: return waitForBody()
                case .tooLong: return fail(.malformedChunk)
                case .complete(let start, let end, _):
                    let size = buffer.withUnsafeBufferPointer { Self.parseChunkSize($0[start..<end]) }
                    guard let size else { return fail(.malformedChunk) }
                    if size > limits.maxBodyBytes - current.body.count { return fail(.bodyTooLarge) }
                    if size == 0 {
                        current.sectionBytes = 0
                        current.sectionFields = 0
                        state = .trailerLines
                    } else {
                        state = .chunkData(remaining: size)
                    }
                }

            case .chunkData(let remaining):
                let take = min(remaining, buffer.count - readIndex)
                if take > 0 {
                    current.body.append(contentsOf: buffer[readIndex..<readIndex + take])
                    readIndex += take
                }
                if take < remaining {
                    state = .chunkData(remaining: remaining - take)
                    return waitForBody()
                }
                state = .chunkDataEnd

            case .chunkDataEnd:
                let available = buffer.count - readIndex
                guard available > 0 else { return waitForBody() }
                if buffer[readIndex] == ASCII.lf {
                    readIndex += 1
                } else if buffer[readIndex] == ASCII.cr {
                    guard available > 1 else { return waitForBody() }
                    guard buffer[readIndex + 1] == ASCII.lf else { return fail(.malformedChunk) }
                    readIndex += 2
                } else {
                    return fail(.malformedChunk)
                }
                state = .chunkSizeLine

            case .trailerLines:
                // Trailer fields are checked and counted like header fields, then
                // dropped: nothing we serve uses them, and RFC 9110 §6.5.1 forbids
                // merging them into the header section unless a field's definition allows it.
                switch takeLine(limit: limits.maxHeaderBytes - current.sectionBytes) {
                case .incomplete: return .needMoreBytes
                case .tooLong: return fail(.headersTooLarge)
                case .complete(let start, let end, let length):
                    current.sectionBytes += length
                    if start == end { return complete() }
                    current.sectionFields += 1
                    if current.sectionFields > limits.maxHeaderCount { return fail(.tooManyHeaders) }
                    let parsed = buffer.withUnsafeBufferPointer { Self.parseField($0[start..<end]) }
                    if case .failure(let error) = parsed { return fail(error) }
                }
            }
        }
    }

    // MARK: - Transitions

    private mutating func fail(_ error: HTTP1ParseError) -> Step {
        state = .failed(error)
        return .error(error)
    }

    /// Out of bytes inside a body.
    private mutating func waitForBody() -> Step {
        guard continuePending else { return .needMoreBytes }
        continuePending = false
        return .continueExpected
    }

    /// The head is complete: decide the framing and keep-alive. Returns the event to
    /// return now, or nil to go on parsing the body.
    private mutating func endOfHead() -> Step? {
        if parsesResponses { return endOfResponseHead() }
        let isHTTP11 = current.version.minor >= 1
        if isHTTP11 && current.hostCount == 0 { return fail(.missingHost) }
        if current.hostCount > 1 { return fail(.multipleHosts) }
        // RFC 9110 §10.1.1: an HTTP/1.0 client cannot expect 100 Continue.
        let expectsContinue = current.expectsContinue && isHTTP11
        current.keepAlive = isHTTP11
            ? !current.connectionClose
            : current.connectionKeepAlive && !current.connectionClose

        let nextState: State
        if current.chunkedCodings + current.otherCodings > 0 {
            if current.otherCodings > 0 { return fail(.unsupportedTransferEncoding) }
            if current.chunkedCodings > 1 { return fail(.invalidTransferEncoding) }
            if current.contentLength != nil { return fail(.conflictingFraming) }
            // RFC 9112 §6.1: chunked framing in HTTP/1.0 may have come through an
            // intermediary that does not understand it; do not reuse the connection.
            if !isHTTP11 { current.keepAlive = false }
            nextState = .chunkSizeLine
        } else if let length = current.contentLength, length > 0 {
            if length > limits.maxBodyBytes { return fail(.bodyTooLarge) }
            current.body.reserveCapacity(min(length, 1 << 20))
            nextState = .fixedBody(remaining: length)
        } else {
            return complete()
        }
        state = nextState
        continuePending = expectsContinue && readIndex == buffer.count
        return nil
    }

    /// Response mode's `endOfHead` (RFC 9112 §6.3): interim 1xx responses are dropped,
    /// 204 and 304 have no body, and a body framed by neither Content-Length nor chunked
    /// runs to the end of the connection.
    private mutating func endOfResponseHead() -> Step? {
        let isHTTP11 = current.version.minor >= 1
        current.keepAlive = isHTTP11
            ? !current.connectionClose
            : current.connectionKeepAlive && !current.connectionClose
        if current.status == 101 { return fail(.malformedStatusLine) }
        if current.status < 200 {
            current = RequestInProgress()
            state = .statusLine
            return nil
        }
        if current.status == 204 || current.status == 304 { return complete() }
        if current.chunkedCodings + current.otherCodings > 0 {
            if current.otherCodings > 0 { return fail(.unsupportedTransferEncoding) }
            if current.chunkedCodings > 1 { return fail(.invalidTransferEncoding) }
            if current.contentLength != nil { return fail(.conflictingFraming) }
            if !isHTTP11 { current.keepAlive = false }
            state = .chunkSizeLine
        } else if let length = current.contentLength {
            if length == 0 { return complete() }
            if length > limits.maxBodyBytes { return fail(.bodyTooLarge) }
            current.body.reserveCapacity(min(length, 1 << 20))
            state = .fixedBody(remaining: length)
        } else {
            current.keepAlive = false
            state = .bodyUntilClose
        }
        return nil
    }

    private mutating func complete() -> Step {
        finished = current
        current = RequestInProgress()
        state = parsesResponses ? .statusLine : .requestLine
        continuePending = false
        if readIndex == buffer.count && buffer.capacity > 16 << 10 {
            // A buffer grown by a large request is given back, so idle connections hold
            // little memory.
            buffer = []
            readIndex = 0
            scanIndex = 0
        }
        return .complete
    }

    /// Stores a field and notes what the framing and connection rules need from it.
    private mutating func record(_ field: Field) -> HTTP1ParseError? {
        current.headers.add(field.name, field.value)
        switch field.meaning {
        case .other:
            break
        case .contentLength(let length):
            if let previous = current.contentLength, previous != length { return .conflictingFraming }
            current.contentLength = length
        case .transferEncoding(let chunked, let other):
            current.chunkedCodings += chunked
            current.otherCodings += other
        case .host:
            current.hostCount += 1
        case .connection(let close, let keepAlive):
            current.connectionClose = current.connectionClose || close
            current.connectionKeepAlive = current.connectionKeepAlive || keepAlive
        case .expectContinue:
            current.expectsContinue = true
        }
        return nil
    }

    // MARK: - Buffer

    private enum Line {
        /// The line's content is `start..<end` (without CR LF); `length` counts the
        /// terminator too.
        case complete(start: Int, end: Int, length: Int)
        case incomplete
        case tooLong
    }

    /// Takes the next line if it is complete. Lines end with LF, optionally preceded by
    /// CR (RFC 9112 §2.2 lets a recipient accept a bare LF).
    private mutating func takeLine(limit: Int) -> Line {
        let from = max(scanIndex, readIndex)
        let lineFeed: Int? = buffer.withUnsafeBytes { raw in
            guard from < raw.count, let base = raw.baseAddress,
                  let found = memchr(base + from, Int32(ASCII.lf), raw.count - from) else { return nil }
            return base.distance(to: UnsafeRawPointer(found))
        }
        guard let lineFeed else {
            scanIndex = buffer.count
            return buffer.count - readIndex > limit ? .tooLong : .incomplete
        }
        let length = lineFeed + 1 - readIndex
        guard length <= limit else { return .tooLong }
        let start = readIndex
        var end = lineFeed
        if end > start && buffer[end - 1] == ASCII.cr { end -= 1 }
        readIndex = lineFeed + 1
        scanIndex = readIndex
        return .complete(start: start, end: end, length: length)
    }

    /// Drops consumed bytes before more are appended (rarely moving any: between requests
    /// the buffer is usually empty).
    private mutating func compact() {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
            scanIndex = 0
        } else if readIndex >= 4096 && readIndex >= buffer.count / 2 {
            buffer.removeSubrange(0..<readIndex)
            scanIndex -= readIndex
            readIndex = 0
        }
    }
}

// MARK: - Line grammar

extension HTTP1Parser {
    typealias Bytes = Slice<UnsafeBufferPointer<UInt8>>

    struct RequestLine {
        var method: String
        var path: String
        var query: String?
        var version: HTTPVersion
    }

    /// `method SP request-target SP HTTP-version` (RFC 9112 §3), single spaces.
    static func parseRequestLine(_ line: Bytes) -> Result<RequestLine, HTTP1ParseError> {
        guard let firstSpace = line.firstIndex(of: ASCII.space) else { return .failure(.malformedRequestLine) }
        let method = line[line.startIndex..<firstSpace]
        guard !method.isEmpty, method.allSatisfy(ASCII.isTokenCharacter) else {
            return .failure(.malformedRequestLine)
        }
        let afterMethod = line[(firstSpace + 1)...]
        guard let secondSpace = afterMethod.firstIndex(of: ASCII.space) else { return .failure(.malformedRequestLine) }
        let target = line[afterMethod.startIndex..<secondSpace]
        let versionBytes = line[(secondSpace + 1)...]

        guard versionBytes.count == 8, versionBytes.starts(with: "HTTP/".utf8),
              let major = ASCII.digitValue(versionBytes[versionBytes.startIndex + 5]),
              versionBytes[versionBytes.startIndex + 6] == UInt8(ascii: "."),
              let minor = ASCII.digitValue(versionBytes[versionBytes.startIndex + 7])
        else { return .failure(.malformedRequestLine) }
        // RFC 9110 §6.2: a higher 1.x minor version is answered as 1.1. HTTP/2 comes in
        // through its own connection preface (`PRI * HTTP/2.0`), never as 1.x text.
        guard major == 1 else { return .failure(.unsupportedVersion) }

        guard !target.isEmpty, target.allSatisfy(ASCII.isTargetCharacter) else {
            return .failure(.malformedRequestLine)
        }
        guard let (path, query) = splitTarget(target) else { return .failure(.malformedRequestLine) }
        return .success(RequestLine(
            method: String(decoding: method, as: UTF8.self), path: path, query: query,
            version: HTTPVersion(major: 1, minor: minor)))
    }

    /// `HTTP-version SP 3DIGIT SP [reason-phrase]` (RFC 9112 §4); a missing space after
    /// the code is tolerated, as most clients do. Nil when malformed or not HTTP/1.x.
    static func parseStatusLine(_ line: Bytes) -> (version: HTTPVersion, status: Int, reason: String)? {
        guard line.count >= 12, line.starts(with: "HTTP/1.".utf8),
              let minor = ASCII.digitValue(line[line.startIndex + 7]),
              line[line.startIndex + 8] == ASCII.space
        else { return nil }
        var status = 0
        for offset in 9..<12 {
            guard let digit = ASCII.digitValue(line[line.startIndex + offset]) else { return nil }
            status = status * 10 + digit
        }
        guard status >= 100 else { return nil }
        let rest = line[(line.startIndex + 12)...]
        if let first = rest.first, first != ASCII.space { return nil }
        let reason = rest.dropFirst()
        guard reason.allSatisfy(ASCII.isFieldValueCharacter) else { return nil }
        return (HTTPVersion(major: 1, minor: minor), status, String(decoding: reason, as: UTF8.self))
    }

    /// Origin form (`/path?query`), asterisk form (`*`), or absolute form
    /// (`http://host/path?query`, RFC 9112 §3.2.2: servers must accept it; the path and
    /// query are what is kept).
    static func splitTarget(_ target: Bytes) -> (path: String, query: String?)? {
        var pathStart = target.startIndex
        if target.first != UInt8(ascii: "/") {
            if target.count == 1 && target.first == UInt8(ascii: "*") { return ("*", nil) }
            guard let schemeEnd = target.firstIndex(of: UInt8(ascii: ":")),
                  ASCII.equalsIgnoringCase(target[target.startIndex..<schemeEnd], "http")
                    || ASCII.equalsIgnoringCase(target[target.startIndex..<schemeEnd], "https"),
                  target[schemeEnd...].starts(with: "://".utf8)
            else { return nil }
            let authorityStart = schemeEnd + 3
            pathStart = target[authorityStart...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }
                ?? target.endIndex
            guard pathStart > authorityStart else { return nil }
        }
        let questionMark = target[pathStart...].firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex
        var path = String(decoding: target[pathStart..<questionMark], as: UTF8.self)
        if path.isEmpty { path = "/" }
        let query = questionMark < target.endIndex
            ? String(decoding: target[(questionMark + 1)...], as: UTF8.self)
            : nil
        return (path, query)
    }

    /// What a field means to the parser beyond being stored.
    enum FieldMeaning: Equatable {
        case other
        case contentLength(Int)
        case transferEncoding(chunked: Int, other: Int)
        case host
        case connection(close: Bool, keepAlive: Bool)
        case expectContinue
    }

    struct Field {
        var name: String
        var value: String
        var meaning: FieldMeaning
    }

    /// `field-name ":" OWS field-value OWS` (RFC 9112 §5). Whitespace before the colon
    /// and obsolete line folding are rejected, as RFC 9112 §5.1–5.2 require.
    static func parseField(_ line: Bytes) -> Result<Field, HTTP1ParseError> {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return .failure(.malformedHeader) }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(ASCII.isTokenCharacter) else { return .failure(.malformedHeader) }
        var value = line[(colon + 1)...]
        while let first = value.first, ASCII.isWhitespace(first) { value = value.dropFirst() }
        while let last = value.last, ASCII.isWhitespace(last) { value = value.dropLast() }
        guard value.allSatisfy(ASCII.isFieldValueCharacter) else { return .failure(.malformedHeader) }

        let meaning: FieldMeaning
        if ASCII.equalsIgnoringCase(name, "content-length") {
            guard let length = parseContentLength(value) else { return .failure(.invalidContentLength) }
            meaning = .contentLength(length)
        } else if ASCII.equalsIgnoringCase(name, "transfer-encoding") {
            var chunked = 0, other = 0
            ASCII.forEachListElement(value) { coding in
                if ASCII.equalsIgnoringCase(coding, "chunked") { chunked += 1 } else { other += 1 }
            }
            guard chunked + other > 0 else { return .failure(.invalidTransferEncoding) }
            meaning = .transferEncoding(chunked: chunked, other: other)
        } else if ASCII.equalsIgnoringCase(name, "host") {
            meaning = .host
        } else if ASCII.equalsIgnoringCase(name, "connection") {
            var close = false, keepAlive = false
            ASCII.forEachListElement(value) { option in
                if ASCII.equalsIgnoringCase(option, "close") { close = true }
                if ASCII.equalsIgnoringCase(option, "keep-alive") { keepAlive = true }
            }
            meaning = .connection(close: close, keepAlive: keepAlive)
        } else if ASCII.equalsIgnoringCase(name, "expect") {
            guard ASCII.equalsIgnoringCase(value, "100-continue") else { return .failure(.unsupportedExpectation) }
            meaning = .expectContinue
        } else {
            meaning = .other
        }
        return .success(Field(
            name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self),
            meaning: meaning))
    }

    /// Digits only; a list of identical values (`5, 5`, RFC 9110 §8.6) counts as one.
    /// Lengths past any sane body saturate at `Int.max` (refused as too large later).
    static func parseContentLength(_ value: Bytes) -> Int? {
        var result: Int?
        var valid = true
        ASCII.forEachListElement(value, keepingEmpty: true) { element in
            guard valid else { return }
            guard !element.isEmpty, element.allSatisfy({ ASCII.digitValue($0) != nil }) else {
                valid = false
                return
            }
            var length = 0
            for digit in element {
                let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
                length = overflow1 || overflow2 ? Int.max : sum
            }
            if let result, result != length { valid = false }
            result = length
        }
        return valid ? result : nil
    }

    /// `chunk-size [ BWS ";" chunk-ext ]`: the size, or nil if malformed. Sizes past
    /// 15 hex digits saturate at `Int.max` (refused as too large).
    static func parseChunkSize(_ line: Bytes) -> Int? {
        var index = line.startIndex
        var size = 0
        var digits = 0
        while index < line.endIndex, let value = ASCII.hexValue(line[index]) {
            size = digits >= 15 ? Int.max : size << 4 | value
            digits += 1
            index += 1
        }
        guard digits > 0 else { return nil }
        while index < line.endIndex, ASCII.isWhitespace(line[index]) { index += 1 }
        guard index == line.endIndex || line[index] == UInt8(ascii: ";") else { return nil }
        guard line[index...].allSatisfy(ASCII.isFieldValueCharacter) else { return nil }
        return size
    }
}

/// Byte classes and comparisons of the HTTP grammar (RFC 9110 §5.6).
enum ASCII {
    static let lf = UInt8(ascii: "\n")
    static let cr = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")

    /// `tchar`: what methods, field names and list tokens are made of.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// Visible characters and obs-text; no spaces or controls.
    static func isTargetCharacter(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte != 0x7F
    }

    /// Visible characters, spaces, tabs and obs-text; no other controls (a stray CR or
    /// NUL in a value is how header injection starts).
    static func isFieldValueCharacter(_ byte: UInt8) -> Bool {
        byte >= 0x20 ? byte != 0x7F : byte == tab
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == tab
    }

    static func digitValue(_ byte: UInt8) -> Int? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
    }

    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// Compares with a lowercase ASCII literal, ignoring the case of letters.
    static func equalsIgnoringCase(_ bytes: some Collection<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { byte, wanted in
                byte == wanted || (wanted >= UInt8(ascii: "a") && wanted <= UInt8(ascii: "z") && byte | 0x20 == wanted)
            }
        }
    }

    /// Calls `body` with each element of a comma-separated list (RFC 9110 §5.6.1),
    /// trimmed of whitespace; empty elements are skipped unless `keepingEmpty`.
    static func forEachListElement(_ value: HTTP1Parser.Bytes, keepingEmpty: Bool = false,
                                   _ body: (HTTP1Parser.Bytes) -> Void) {
        var rest = value[...]
        while true {
            let comma = rest.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
            var element = rest[rest.startIndex..<comma]
            while let first = element.first, isWhitespace(first) { element = element.dropFirst() }
            while let last = element.last, isWhitespace(last) { element = element.dropLast() }
            if !element.isEmpty || keepingEmpty { body(element) }
            guard comma < rest.endIndex else { return }
            rest = rest[(comma + 1)...]
        }
    }
}
