import Foundation
import Synchronization

/// Why a request got no response. `isTransient` says whether trying again may help: a
/// timeout or a connection lost mid-exchange may; a name that does not resolve, a
/// refused connection, a TLS failure or a malformed URL will not.
public struct HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalidURL
        case resolution
        /// Refused, unreachable: no connection to any of the host's addresses.
        case connectFailed
        case tls
        /// The deadline (`HTTPClient.Configuration.timeout`) passed.
        case timedOut
        /// The peer closed or reset the connection before the response was complete.
        case connectionClosed
        case malformedResponse
        case tooManyRedirects
    }

    public let kind: Kind
    public let detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var isTransient: Bool { kind == .timedOut || kind == .connectionClosed }

    public var description: String { "\(kind): \(detail)" }
}

/// One request to send; `url` is an absolute http(s) URL.
public struct HTTPClientRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(method: String = "POST", url: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// An HTTP/1.1 client for the server's few outbound calls: one request per connection
/// (`Connection: close`; they are rare enough that reuse is not worth a pool's states),
/// run on at most `maxConcurrentRequests` worker threads of its own (not Dispatch's pool:
/// a worker blocks in `poll` for up to `timeout`, and the server's connections must not
/// wait for a Dispatch thread behind it), each request bounded as a
/// whole by `timeout` (connect, TLS, send, response, redirects). Redirects are followed
/// as Go's `http.Client` does: 301/302/303 turn into a GET without body, 307/308 repeat
/// the request, at most `maxRedirects`. Userinfo in a URL is sent as Basic credentials.
///
///     let client = try HTTPClient(configuration: .init(timeout: .seconds(10)))
///     client.send(HTTPClientRequest(url: "https://cc.internal/cb", body: json)) { result in ... }
public final class HTTPClient: Sendable {
    public struct Configuration: Sendable {
        /// The whole request's deadline, measured from when a worker starts it.
        public var timeout: Duration
        /// Trust and client identity for https URLs (the system trust store is always used).
        public var tls: TLSClientConfiguration
        public var maxConcurrentRequests: Int
        public var maxRedirects = 10
        /// Bounds on the response (its body is kept whole).
        public var responseLimits: HTTP1Parser.Limits

        public init(timeout: Duration, tls: TLSClientConfiguration = TLSClientConfiguration(),
                    maxConcurrentRequests: Int = 32) {
            self.timeout = timeout
            self.tls = tls
            self.maxConcurrentRequests = maxConcurrentRequests
            var limits = HTTP1Parser.Limits()
            limits.maxBodyBytes = 1 << 20
            responseLimits = limits
        }
    }

    public typealias Completion = @Sendable (Result<HTTPClientResponse, HTTPClientError>) -> Void

    public let configuration: Configuration
    /// Replaced whole by `reloadTLS`; a request keeps the context it started with.
    private let tlsContext: Mutex<TLSContext>

    private struct Pool {
        var waiting: [(HTTPClientRequest, Completion)] = []
        var running = 0
    }
    private let pool = Mutex(Pool())

    /// Reads the TLS files now: a missing or mismatched file fails here, not at the first call.
    public init(configuration: Configuration) throws(TLSError) {
        precondition(configuration.maxConcurrentRequests > 0)
        self.configuration = configuration
        tlsContext = Mutex(try TLSContext(client: configuration.tls))
    }

    /// Re-reads the certificate, key and CA files (a rotated client certificate) for
    /// requests started from now on. On any error the previous files stay in use.
    public func reloadTLS() throws(TLSError) {
        let context = try TLSContext(client: configuration.tls)
        tlsContext.withLock { $0 = context }
    }

    /// Sends `request` on a worker; `completion` is called there with the final response
    /// (after redirects) or the error.
    public func send(_ request: HTTPClientRequest, completion: @escaping Completion) {
        let startWorker = pool.withLock { pool in
            pool.waiting.append((request, completion))
            guard pool.running < configuration.maxConcurrentRequests else { return false }
            pool.running += 1
            return true
        }
        if startWorker {
            // A worker lives while requests wait, so a burst starts at most
            // `maxConcurrentRequests` threads and an idle client holds none.
            let thread = Thread { self.work() }
            thread.name = "bbs.http-client"
            thread.start()
        }
    }

    /// Sends `request` on the calling thread (tests, and callers that are workers already).
    public func sendAndWait(_ request: HTTPClientRequest) -> Result<HTTPClientResponse, HTTPClientError> {
        let deadline = ContinuousClock.now.advanced(by: configuration.timeout)
        do {
            return .success(try perform(request, deadline: deadline))
        } catch {
            return .failure(error)
        }
    }

    /// A worker: runs waiting requests until there are none.
    private func work() {
        while true {
            let next: (HTTPClientRequest, Completion)? = pool.withLock { pool in
                guard !pool.waiting.isEmpty else {
                    pool.running -= 1
                    return nil
                }
                return pool.waiting.removeFirst()
            }
            guard let (request, completion) = next else { return }
            completion(sendAndWait(request))
        }
    }

    private func perform(_ request: HTTPClientRequest, deadline: ContinuousClock.Instant)
        throws(HTTPClientError) -> HTTPClientResponse {
        guard var url = HTTPClientURL(string: request.url) else {
            throw HTTPClientError(.invalidURL, "not an absolute http(s) URL: \(request.url)")
        }
        var method = request.method
        var headers = request.headers
        var body: [UInt8]? = request.body
        var redirects = 0
        while true {
            let response = try exchange(method: method, url: url, headers: headers, body: body, deadline: deadline)
            guard [301, 302, 303, 307, 308].contains(response.status), let location = response.headers["Location"]
            else { return response }  // Go too returns a redirect without Location as the response
            guard redirects < configuration.maxRedirects else {
                throw HTTPClientError(.tooManyRedirects, "stopped after \(configuration.maxRedirects) redirects")
            }
            redirects += 1
            guard let next = url.resolving(location) else {
                throw HTTPClientError(.invalidURL, "redirect to an invalid URL: \(location)")
            }
            if response.status <= 303 && method != "GET" && method != "HEAD" {
                method = "GET"
                body = nil
                headers.remove("Content-Type")
            }
            url = next
        }
    }

    private func exchange(method: String, url: HTTPClientURL, headers: HTTPHeaders, body: [UInt8]?,
                          deadline: ContinuousClock.Instant) throws(HTTPClientError) -> HTTPClientResponse {
        var headers = headers
        if let user = url.user, headers["Authorization"] == nil {
            headers.add("Authorization", "Basic " + Base64.encode(Array("\(user):\(url.password ?? "")".utf8)))
        }
        var head: [UInt8] = []
        // A POST always says its length, even 0 (Go does; some servers want 411 otherwise).
        let length: Int? = body.map(\.count) ?? nil
        HTTP1Serializer.appendRequestHead(method: method, target: url.target, host: url.authority,
                                          headers: headers, contentLength: length, into: &head)
        let connection = HTTPClientConnection(url: url, deadline: deadline, tlsContext: tlsContext.withLock { $0 },
                                              limits: configuration.responseLimits)
        return try connection.exchange(head: head, body: body ?? [])
    }
}

/// Standard base64 with padding (RFC 4648 §4), for Basic credentials.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for (offset, byte) in chunk.enumerated() { value |= Int(byte) << (16 - 8 * offset) }
            for position in 0..<4 {
                out.append(position <= chunk.count ? alphabet[(value >> (18 - 6 * position)) & 0x3F] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
