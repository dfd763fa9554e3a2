import BBSModels
import HTTPServer
import ProtoWire

/// A message that travels both as protobuf (the reference's form) and as Go-style JSON
/// (our extension for people with curl).
public typealias BBSMessage = ProtoMessage & GoJSONCodable

/// A response message with the `error` field (field 1) that every RPC answer has.
public protocol BBSResponseMessage: BBSMessage {
    var error: BBSError? { get set }
}

extension TaskLifecycleResponse: BBSResponseMessage {}
extension StartTaskResponse: BBSResponseMessage {}
extension TasksResponse: BBSResponseMessage {}
extension TaskResponse: BBSResponseMessage {}
extension UpsertDomainResponse: BBSResponseMessage {}
extension DomainsResponse: BBSResponseMessage {}

/// One RPC request and its answer, with the reference's conventions (wire.md §3–§4) in
/// one place: the body is decoded as the route's message; an undecodable body is
/// `InvalidRequest` "the request received is invalid"; every answer, error or not, is
/// `200 OK` with an exact `Content-Length` and the error (if any) in field 1 of the
/// response message.
///
/// The reference reads only protobuf and never looks at `Content-Type`. Our extension:
/// a body whose `Content-Type` is `application/json` is read as JSON, and the answer is
/// JSON when the body was or when `Accept` asks for `application/json`; otherwise
/// everything stays protobuf, so the reference's clients see exactly its behaviour.
struct RPCExchange: Sendable {
    enum Format: Sendable { case protobuf, json }

    static let protobufContentType = "application/x-protobuf"
    static let jsonContentType = "application/json"

    let request: HTTPRequest
    let input: Format
    let output: Format
    private let respond: RouteResponder

    init(_ request: HTTPRequest, _ respond: @escaping RouteResponder) {
        self.request = request
        self.respond = respond
        input = Self.isJSON(mediaType: request.headers["Content-Type"]) ? .json : .protobuf
        let acceptsJSON = request.headers.values("Accept").contains { $0.lowercased().contains(Self.jsonContentType) }
        output = input == .json || acceptsJSON ? .json : .protobuf
    }

    /// `application/json`, parameters (`; charset=utf-8`) allowed, case-insensitive.
    /// Compared byte by byte: it runs on every request, and Foundation's trimming and
    /// lowercasing were 3–5% of a desire's CPU in a profile.
    static func isJSON(mediaType: String?) -> Bool {
        guard let mediaType else { return false }
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var type = mediaType.utf8.prefix { $0 != UInt8(ascii: ";") }[...]
        while let first = type.first, isSpace(first) { type.removeFirst() }
        while let last = type.last, isSpace(last) { type.removeLast() }
        let expected = jsonContentType.utf8
        guard type.count == expected.count else { return false }
        // ASCII case folding; the expected type is lowercase.
        return zip(type, expected).allSatisfy { byte, want in
            (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte) == want
        }
    }

    /// Decodes the body as `Request`, or answers `Response` carrying the reference's
    /// decode error and returns nil.
    func decode<Request: BBSMessage, Response: BBSResponseMessage>(
        _: Request.Type, answering _: Response.Type
    ) -> Request? {
        do {
            switch input {
            case .protobuf: return try Request(protobuf: request.body)
            case .json: return try Request(goJSON: request.body)
            }
        } catch {
            fail(Response.self, .badRequest)
            return nil
        }
    }

    /// Decodes and validates; on failure answers the error and returns nil.
    func decodeValid<Request: BBSMessage & ValidatableRequest, Response: BBSResponseMessage>(
        _: Request.Type, answering _: Response.Type
    ) -> Request? {
        guard let message = decode(Request.self, answering: Response.self) else { return nil }
        do {
            try message.validate()
        } catch {
            fail(Response.self, error)
            return nil
        }
        return message
    }

    /// Answers `message` in the output format.
    func answer(_ message: some BBSMessage) {
        deliver(message, error: nil)
    }

    /// Answers with protobuf bytes built by the caller (the fast paths that copy stored
    /// bytes); only valid when `output` is `.protobuf`.
    func answer(protobufBytes: [UInt8]) {
        precondition(output == .protobuf, "protobuf bytes answered to a JSON request")
        send(protobufBytes, contentType: Self.protobufContentType, error: nil)
    }

    func fail<Response: BBSResponseMessage>(_: Response.Type, _ error: BBSError) {
        var message = Response()
        message.error = error
        deliver(message, error: error.type)
    }

    /// `message` in the output format; `error` is the type of the error it carries.
    private func deliver(_ message: some BBSMessage, error: BBSError.ErrorType?) {
        switch output {
        case .protobuf: send(message.protobufBytes(), contentType: Self.protobufContentType, error: error)
        case .json: send(message.goJSONBytes(), contentType: Self.jsonContentType, error: error)
        }
    }

    /// An empty response message, or one carrying `error`.
    func outcome<Response: BBSResponseMessage>(_: Response.Type, _ error: BBSError?) {
        guard let error else {
            answer(Response())
            return
        }
        fail(Response.self, error)
    }

    /// Hands a prepared response to the transport (event streams).
    func send(_ response: HTTPResponse) { respond(response, nil) }

    private func send(_ body: [UInt8], contentType: String, error: BBSError.ErrorType?) {
        respond(HTTPResponse(status: 200, headers: ["Content-Type": contentType], body: .bytes(body)), error)
    }
}

/// The requests with the reference's `Validate()` (TaskCore/Validation).
protocol ValidatableRequest {
    func validate() throws(BBSError)
}

extension DesireTaskRequest: ValidatableRequest {}
extension StartTaskRequest: ValidatableRequest {}
extension CompleteTaskRequest: ValidatableRequest {}
extension FailTaskRequest: ValidatableRequest {}
extension RejectTaskRequest: ValidatableRequest {}
extension TaskGuidRequest: ValidatableRequest {}
extension TaskByGuidRequest: ValidatableRequest {}
extension TasksRequest: ValidatableRequest {}
extension UpsertDomainRequest: ValidatableRequest {}
