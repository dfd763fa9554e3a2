// Transport-free HTTP values shared by HTTP/1.1 and h2. Handlers see only these types,
// so the same responder serves every protocol.

/// Header fields in arrival order; lookup is case-insensitive.
public struct HTTPHeaders: Sendable, Sequence, Equatable, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(_ fields: [(String, String)]) { self.fields = fields.map { (name: $0.0, value: $0.1) } }
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    public mutating func reserveCapacity(_ count: Int) { fields.reserveCapacity(count) }

    /// Equal when the same fields appear in the same order (names compared exactly).
    public static func == (a: HTTPHeaders, b: HTTPHeaders) -> Bool {
        a.fields.elementsEqual(b.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    /// Replaces every field called `name` by one with `value`.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append((name, value))
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { Self.equalNames($0.name, name) }
    }

    /// The first value of `name`, if any.
    public subscript(_ name: String) -> String? {
        fields.first { Self.equalNames($0.name, name) }?.value
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { Self.equalNames($0.name, name) }.map(\.value)
    }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    static func equalNames(_ a: String, _ b: String) -> Bool {
        let x = a.utf8, y = b.utf8
        guard x.count == y.count else { return false }
        for (p, q) in zip(x, y) where p != q {
            // ASCII case folding only: header names are tokens.
            if (p | 0x20) != (q | 0x20) || !((p | 0x20) >= 0x61 && (p | 0x20) <= 0x7a) { return false }
        }
        return true
    }
}

public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    public static let http2 = HTTPVersion(major: 2, minor: 0)
    public var description: String { major == 2 ? "HTTP/2" : "HTTP/\(major).\(minor)" }
}

/// A complete request: head and whole body (bodies are read fully before dispatch).
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    /// The path without the query string, still percent-escaped as sent.
    public var path: String
    /// The query string without `?`, if any.
    public var query: String?
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The peer's address, for logs.
    public var remoteAddress: String

    public init(method: String, path: String, query: String? = nil, version: HTTPVersion = .http1_1,
                headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [], remoteAddress: String = "") {
        self.method = method
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }
}

/// Writes a streamed response body (server-sent events). All methods are thread-safe.
public protocol HTTPBodyStreamWriter: AnyObject, Sendable {
    /// Queues one chunk (HTTP/1.1: one chunk of chunked encoding; h2: one DATA frame or
    /// more). Returns false when the stream is already closed.
    @discardableResult func write(_ chunk: [UInt8]) -> Bool
    /// Ends the body cleanly (HTTP/1.1: the terminal `0\r\n\r\n`, then the connection
    /// closes; h2: END_STREAM).
    func finish()
    /// Ends the stream abruptly (HTTP/1.1: closes the socket; h2: RST_STREAM).
    func abort()
    /// Bytes queued but not yet written to the socket (for slow-consumer checks). Writes
    /// never block: a slow reader shows up here instead.
    var bufferedBytes: Int { get }
    /// Called once when the stream ends for any reason (peer gone, finish, abort, server
    /// stopping), on the connection's queue; a handler added after the end runs at once,
    /// on the caller's thread. Handlers may call the writer (its calls are no-ops then).
    func onClose(_ handler: @escaping @Sendable () -> Void)
}

public enum HTTPResponseBody: Sendable {
    case bytes([UInt8])
    /// A body of unknown length. The server sends the head, then calls `start` with a
    /// writer, on the connection's queue; the closure must return quickly (keep the
    /// writer, write later). Over HTTP/1.1 the body is chunked (one chunk per write) and
    /// the connection closes after it; a HEAD request gets the head only, and `start`
    /// gets a writer that is already closed.
    case stream(@Sendable (any HTTPBodyStreamWriter) -> Void)
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: HTTPResponseBody

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: HTTPResponseBody = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The reason phrase for the status line.
    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 411: return "Length Required"
        case 413: return "Request Entity Too Large"
        case 414: return "Request URI Too Long"
        case 417: return "Expectation Failed"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}

/// Answers requests. `respond` is called on a connection's queue and must not block:
/// it calls `completion` exactly once, from any thread, possibly later (after a
/// write-ahead log fsync, say). Responses to pipelined requests are sent in order.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void)
}

/// A complete response as a client receives it: head and whole body.
public struct HTTPClientResponse: Sendable, Equatable {
    public var status: Int
    public var reason: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, reason: String = "", version: HTTPVersion = .http1_1,
                headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.body = body
    }
}
