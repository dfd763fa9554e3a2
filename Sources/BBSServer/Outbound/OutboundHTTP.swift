import BBSLog
import BBSModels
import HTTPServer
import TaskCore

/// The server's outbound HTTP clients (wire.md §9), each with the TLS identity and trust
/// its peer expects, all bounded by `communication_timeout`:
/// * completion callbacks present the server's own certificate (`cert_file`/`key_file`)
///   and trust the system store plus `ca_file` — Cloud Controller's callback endpoint
///   asks for a client certificate (lifecycle.md §7);
/// * the auctioneer client uses the `auctioneer_*` certificates (lifecycle.md §5);
/// * the rep client uses the `rep_*` certificates (lifecycle.md §6).
struct OutboundClients: Sendable {
    /// Requests on the wire at once per client. Callbacks are queued by
    /// `task_callback_workers` first; more sockets than this would not make a slow
    /// receiver faster, and each costs a blocked thread.
    static let maxCallbacksInFlight = 64
    static let maxControlRequestsInFlight = 8

    let callbacks: HTTPClient
    let auctioneer: HTTPClient
    let rep: HTTPClient

    /// Reads every certificate file now, so a bad one stops the start, naming its keys.
    init(configuration: ServerConfiguration) throws {
        let timeout = configuration.communicationTimeout.duration
        func client(_ tls: TLSClientConfiguration, keys: String, inFlight: Int) throws -> HTTPClient {
            do {
                return try HTTPClient(configuration: HTTPClient.Configuration(
                    timeout: timeout, tls: tls, maxConcurrentRequests: inFlight))
            } catch {
                throw ConfigurationError("\(keys): \(error)")
            }
        }
        callbacks = try client(configuration.callbackTLS, keys: "cert_file/key_file/ca_file (callback client)",
                               inFlight: min(configuration.taskCallbackWorkers, Self.maxCallbacksInFlight))
        auctioneer = try client(configuration.auctioneerTLS, keys: "auctioneer_ca_cert/client_cert/client_key",
                                inFlight: Self.maxControlRequestsInFlight)
        rep = try client(configuration.repTLS, keys: "rep_ca_cert/client_cert/client_key",
                         inFlight: Self.maxControlRequestsInFlight)
    }

    /// Re-reads every client's certificate files (SIGHUP, with the listener's); a client
    /// whose files fail to load keeps its previous ones. Returns the failures by client.
    func reloadTLS() -> [String: String] {
        var failures: [String: String] = [:]
        for (name, client) in [("callbacks", callbacks), ("auctioneer", auctioneer), ("rep", rep)] {
            do {
                try client.reloadTLS()
            } catch {
                failures[name] = error.description
            }
        }
        return failures
    }
}

extension HTTPClient {
    /// POSTs `body` to `url`; `completion` gets the final status (redirects followed).
    func post(_ url: String, body: [UInt8], headers: HTTPHeaders = HTTPHeaders(),
              completion: @escaping @Sendable (Result<Int, HTTPClientError>) -> Void) {
        send(HTTPClientRequest(method: "POST", url: url, headers: headers, body: body)) { result in
            completion(result.map(\.status))
        }
    }
}

/// Completion callbacks over `HTTPClient` (lifecycle.md §7): a timeout or a connection
/// lost mid-way is worth another attempt; any other transport failure (DNS, refused,
/// TLS, malformed URL) is not.
struct HTTPCallbackTransport: CompletionCallbackTransport {
    let http: HTTPClient

    func post(url: String, jsonBody: [UInt8], completion: @escaping @Sendable (CallbackAttemptOutcome) -> Void) {
        guard HTTPClientURL(string: url) != nil else {
            completion(.permanentFailure("malformed callback URL \(url)"))
            return
        }
        http.post(url, body: jsonBody, headers: ["Content-Type": "application/json"]) { result in
            switch result {
            case .success(let status):
                completion(.answered(status: status))
            case .failure(let error) where error.isTransient:
                completion(.transientFailure(error.description))
            case .failure(let error):
                completion(.permanentFailure(error.description))
            }
        }
    }
}

/// Task auction requests (lifecycle.md §5): one POST of a JSON array of task start
/// requests to `<auctioneer_address>/v1/tasks`, expecting 202. Failures are logged only.
///
/// With auctioneer certificates (or `auctioneer_require_tls`) configured the request goes
/// to `https://` whatever scheme `auctioneer_address` names, as the reference's secure
/// client does; if that fails without a response and TLS is not required, it is sent
/// again to `http://` (the reference's fallback while a deployment migrates to TLS).
struct AuctioneerClient: TaskAuctioneer {
    let http: HTTPClient
    /// Where the request goes first.
    let endpoint: String
    /// Where it goes if `endpoint` gives no response.
    let fallbackEndpoint: String?
    let logger: Logger

    init(http: HTTPClient, address: String, usesTLS: Bool, requiresTLS: Bool, logger: Logger) {
        self.http = http
        var base = address
        while base.hasSuffix("/") { base.removeLast() }
        let path = base + "/v1/tasks"
        if usesTLS || requiresTLS {
            let authorityAndPath = path.range(of: "://").map { String(path[$0.upperBound...]) } ?? path
            endpoint = "https://" + authorityAndPath
            fallbackEndpoint = requiresTLS ? nil : "http://" + authorityAndPath
        } else {
            endpoint = path
            fallbackEndpoint = nil
        }
        self.logger = logger
    }

    func requestAuctions(for tasks: [TaskRecord]) {
        guard !tasks.isEmpty else { return }
        let body = Self.body(tasks)
        let count = String(tasks.count)
        let headers: HTTPHeaders = ["Content-Type": "application/json", "X-Vcap-Request-Id": ""]
        http.post(endpoint, body: body, headers: headers) { [http, logger, fallbackEndpoint] result in
            if case .failure(let error) = result, let fallbackEndpoint {
                logger.info("auctioneer-tls-failed-falling-back-to-http", ["error": error.description])
                http.post(fallbackEndpoint, body: body, headers: headers) { Self.log($0, tasks: count, logger: logger) }
            } else {
                Self.log(result, tasks: count, logger: logger)
            }
        }
    }

    private static func log(_ result: Result<Int, HTTPClientError>, tasks: String, logger: Logger) {
        switch result {
        case .success(202):
            logger.debug("requested-task-auctions", ["tasks": tasks])
        case .success(let status):
            logger.error("failed-to-request-task-auctions", ["status": String(status), "tasks": tasks])
        case .failure(let error):
            logger.error("failed-to-request-task-auctions", ["error": error.description, "tasks": tasks])
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
