import BBSLog
import BBSModels
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TaskCore

/// The server's outbound HTTP calls (wire.md §9): completion callbacks and auction
/// requests, through Foundation's URLSession (plain HTTP and HTTPS verified against the
/// system trust store), each bounded by `communication_timeout`.
final class OutboundHTTP: Sendable {
    private let session: URLSession

    init(timeout: Duration) {
        let configuration = URLSessionConfiguration.ephemeral
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        configuration.timeoutIntervalForRequest = seconds
        configuration.timeoutIntervalForResource = seconds
        configuration.httpMaximumConnectionsPerHost = 64
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        session = URLSession(configuration: configuration)
    }

    /// POSTs `body` as JSON; `completion` gets the final status (redirects followed) or the
    /// transport error.
    func postJSON(_ url: URL, body: [UInt8], headers: [String: String] = [:],
                  completion: @escaping @Sendable (Result<Int, URLError>) -> Void) {
        post(url, body: body, headers: headers.merging(["Content-Type": "application/json"]) { given, _ in given },
             completion: completion)
    }

    /// POSTs `body` (possibly empty) with `headers`.
    func post(_ url: URL, body: [UInt8], headers: [String: String] = [:],
              completion: @escaping @Sendable (Result<Int, URLError>) -> Void) {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = Data(body)
        session.dataTask(with: request) { _, response, error in
            if let status = (response as? HTTPURLResponse)?.statusCode {
                completion(.success(status))
            } else {
                completion(.failure(error as? URLError ?? URLError(.unknown)))
            }
        }.resume()
    }

    func invalidate() { session.invalidateAndCancel() }
}

/// Completion callbacks over `OutboundHTTP` (lifecycle.md §7): a timeout or a connection
/// lost mid-way is worth another attempt; any other transport failure is not.
struct URLSessionCallbackTransport: CompletionCallbackTransport {
    let http: OutboundHTTP

    func post(url: String, jsonBody: [UInt8], completion: @escaping @Sendable (CallbackAttemptOutcome) -> Void) {
        guard let target = URL(string: url), target.scheme == "http" || target.scheme == "https", target.host != nil
        else {
            completion(.permanentFailure("malformed callback URL \(url)"))
            return
        }
        http.postJSON(target, body: jsonBody) { result in
            switch result {
            case .success(let status):
                completion(.answered(status: status))
            case .failure(let error) where error.code == .timedOut || error.code == .networkConnectionLost:
                completion(.transientFailure(error.localizedDescription))
            case .failure(let error):
                completion(.permanentFailure(error.localizedDescription))
            }
        }
    }
}

/// Task auction requests (lifecycle.md §5): one POST of a JSON array of task start
/// requests to `<auctioneer_address>/v1/tasks`, expecting 202. Failures are logged only.
struct AuctioneerClient: TaskAuctioneer {
    let http: OutboundHTTP
    let endpoint: URL
    let logger: Logger

    init(http: OutboundHTTP, address: URL, logger: Logger) {
        self.http = http
        self.endpoint = address.appendingPathComponent("v1").appendingPathComponent("tasks")
        self.logger = logger
    }

    func requestAuctions(for tasks: [TaskRecord]) {
        guard !tasks.isEmpty else { return }
        let body = Self.body(tasks)
        let count = tasks.count
        http.postJSON(endpoint, body: body, headers: ["X-Vcap-Request-Id": ""]) { [logger] result in
            switch result {
            case .success(202):
                logger.debug("requested-task-auctions", ["tasks": String(count)])
            case .success(let status):
                logger.error("failed-to-request-task-auctions", ["status": String(status), "tasks": String(count)])
            case .failure(let error):
                logger.error("failed-to-request-task-auctions", ["error": error.localizedDescription,
                                                                 "tasks": String(count)])
            }
        }
    }

    /// The auctioneer's `TaskStartRequest` JSON, as Go marshals it: `PlacementTags` is null
    /// when empty, `VolumeDrivers` never is, `state` is always "Invalid" and `failed` false.
    static func body(_ tasks: [TaskRecord]) -> [UInt8] {
        var json = GoJSONWriter()
        json.beginArray()
        for task in tasks {
            let definition = (try? TaskDefinition(protobuf: task.definition.bytes)) ?? TaskDefinition()
            json.beginObject()
            json.key("TaskGuid"); json.string(task.guid)
            json.key("Domain"); json.string(task.domain)
            json.key("PlacementTags")
            if definition.placementTags.isEmpty {
                json.null()
            } else {
                json.beginArray(); definition.placementTags.forEach { json.string($0) }; json.endArray()
            }
            json.key("VolumeDrivers")
            json.beginArray(); definition.volumeMounts.forEach { json.string($0.driver) }; json.endArray()
            json.key("RootFs"); json.string(definition.rootFs)
            json.key("MemoryMB"); json.number(definition.memoryMb)
            json.key("DiskMB"); json.number(definition.diskMb)
            json.key("MaxPids"); json.number(definition.maxPids)
            json.key("state"); json.string("Invalid")
            json.key("failed"); json.bool(false)
            json.endObject()
        }
        json.endArray()
        return json.bytes
    }
}
