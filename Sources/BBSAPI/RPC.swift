import BBSModels
import HTTPServer
import ProtoWire

/// A response message with the `error` field (field 1) that every RPC answer has.
public protocol BBSResponseMessage: ProtoMessage {
    var error: BBSError? { get set }
}

extension TaskLifecycleResponse: BBSResponseMessage {}
extension StartTaskResponse: BBSResponseMessage {}
extension TasksResponse: BBSResponseMessage {}
extension TaskResponse: BBSResponseMessage {}
extension UpsertDomainResponse: BBSResponseMessage {}
extension DomainsResponse: BBSResponseMessage {}

/// The reference's request and response conventions (wire.md §3–§4), in one place:
/// the body is decoded as the route's protobuf message whatever its `Content-Type`; an
/// undecodable body is `InvalidRequest` "the request received is invalid"; every answer,
/// error or not, is `200 OK` with `Content-Type: application/x-protobuf`, an exact
/// `Content-Length`, and the error (if any) in field 1 of the response message.
enum RPC {
    static let protobufContentType = "application/x-protobuf"
    typealias Respond = @Sendable (HTTPResponse) -> Void

    /// Decodes the body as `Request`, or answers `Response` carrying the reference's
    /// decode error and returns nil.
    static func decode<Request: ProtoMessage, Response: BBSResponseMessage>(
        _ request: HTTPRequest, as _: Request.Type, answering _: Response.Type, _ respond: Respond
    ) -> Request? {
        do {
            return try Request(protobuf: request.body)
        } catch {
            respond(failure(Response.self, .badRequest))
            return nil
        }
    }

    /// Decodes and validates; on failure answers the error and returns nil.
    static func decodeValid<Request: ProtoMessage & ValidatableRequest, Response: BBSResponseMessage>(
        _ request: HTTPRequest, as _: Request.Type, answering _: Response.Type, _ respond: Respond
    ) -> Request? {
        guard let message = decode(request, as: Request.self, answering: Response.self, respond) else { return nil }
        do {
            try message.validate()
        } catch {
            respond(failure(Response.self, error))
            return nil
        }
        return message
    }

    static func response(_ message: some ProtoMessage) -> HTTPResponse {
        response(bytes: message.protobufBytes())
    }

    static func response(bytes: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: 200, headers: ["Content-Type": protobufContentType], body: .bytes(bytes))
    }

    static func failure<Response: BBSResponseMessage>(_: Response.Type, _ error: BBSError) -> HTTPResponse {
        var message = Response()
        message.error = error
        return response(message)
    }

    /// An empty response message, or one carrying `error`.
    static func outcome<Response: BBSResponseMessage>(_: Response.Type, _ error: BBSError?) -> HTTPResponse {
        guard let error else { return response(bytes: []) }
        return failure(Response.self, error)
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
