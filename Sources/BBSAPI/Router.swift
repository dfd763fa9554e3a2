import HTTPServer

/// A request handler: answers through `respond` exactly once, possibly later.
public typealias RouteHandler = @Sendable (_ request: HTTPRequest, _ respond: @escaping @Sendable (HTTPResponse) -> Void) -> Void

/// Method + exact-path routing, as the reference's rata/pat mux does it: the path must
/// equal a registered path byte for byte (no trailing-slash or case folding, query
/// ignored); a known path with another method is 405 with `Allow`; anything else 404.
/// Built mutable at startup, then used read-only from every connection.
public struct Router: HTTPResponder {
    private var routes: [String: [String: RouteHandler]] = [:]

    public init() {}

    /// Registers `handler` for `method` on `path`. Registering the same pair twice is a
    /// programming error.
    public mutating func add(_ method: String, _ path: String, _ handler: @escaping RouteHandler) {
        precondition(routes[path]?[method] == nil, "route \(method) \(path) registered twice")
        routes[path, default: [:]][method] = handler
    }

    /// The methods registered for `path`, sorted (for `Allow`).
    public func methods(for path: String) -> [String] {
        routes[path].map { $0.keys.sorted() } ?? []
    }

    public func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        guard let byMethod = routes[request.path] else {
            completion(Self.notFound())
            return
        }
        guard let handler = byMethod[request.method] else {
            completion(Self.methodNotAllowed(allow: byMethod.keys.sorted()))
            return
        }
        handler(request, completion)
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
