import BBSModels
import HTTPServer

/// A request handler: answers through `respond` exactly once, possibly later.
public typealias RouteHandler = @Sendable (_ request: HTTPRequest, _ respond: @escaping RouteResponder) -> Void

/// Takes a route's answer: the response, and the type of the BBS error its body carries
/// (nil for none), by which request metrics and the access log tell outcomes apart
/// without decoding the body again.
public typealias RouteResponder = @Sendable (_ response: HTTPResponse, _ error: BBSError.ErrorType?) -> Void

/// Method + exact-path routing, as the reference's rata/pat mux does it: the path must
/// equal a registered path byte for byte (no trailing-slash or case folding, query
/// ignored); a known path with another method is 405 with `Allow`; anything else 404.
/// Built mutable at startup, then used read-only from every connection.
///
/// With `instrumentation`, every handler is wrapped at registration (request metrics
/// labelled by the route's path, the access log), so serving a request looks nothing up.
public struct Router: HTTPResponder {
    private var routes: [String: [String: RouteHandler]] = [:]
    private let instrumentation: RequestInstrumentation?

    public init(instrumentation: RequestInstrumentation? = nil) {
        self.instrumentation = instrumentation
    }

    /// Registers `handler` for `method` on `path`. Registering the same pair twice is a
    /// programming error.
    public mutating func add(_ method: String, _ path: String, _ handler: @escaping RouteHandler) {
        precondition(routes[path]?[method] == nil, "route \(method) \(path) registered twice")
        routes[path, default: [:]][method] = instrumentation?.instrument(handler, route: path) ?? handler
    }

    /// The methods registered for `path`, sorted (for `Allow`).
    public func methods(for path: String) -> [String] {
        routes[path].map { $0.keys.sorted() } ?? []
    }

    public func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        guard let byMethod = routes[request.path] else {
            answerUnmatched(request, Self.notFound(), completion)
            return
        }
        guard let handler = byMethod[request.method] else {
            answerUnmatched(request, Self.methodNotAllowed(allow: byMethod.keys.sorted()), completion)
            return
        }
        handler(request) { response, _ in completion(response) }
    }

    private func answerUnmatched(_ request: HTTPRequest, _ response: HTTPResponse,
                                 _ completion: @escaping @Sendable (HTTPResponse) -> Void) {
        instrumentation?.observeUnmatched(request, response)
        completion(response)
    }

    /// Go's `http.NotFound`.
    public static func notFound() -> HTTPResponse {
        HTTPResponse(status: 404, headers: plainTextHeaders, body: .bytes(Array("404 page not found\n".utf8)))
    }

    /// pat's 405: `Allow` lists the methods registered for the path.
    public static func methodNotAllowed(allow: [String]) -> HTTPResponse {
        var headers = plainTextHeaders
        headers.add("Allow", allow.joined(separator: ", "))
        return HTTPResponse(status: 405, headers: headers, body: .bytes(Array("Method Not Allowed\n".utf8)))
    }

    private static let plainTextHeaders: HTTPHeaders = [
        "Content-Type": "text/plain; charset=utf-8",
        "X-Content-Type-Options": "nosniff",
    ]
}
