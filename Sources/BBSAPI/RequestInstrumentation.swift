import BBSLog
import BBSMetrics
import BBSModels
import Dispatch
import HTTPServer
import Synchronization

/// Request metrics and the access log, wrapped around each route handler when it is
/// registered (`Router(instrumentation:)`):
///
/// * `bbs_requests_total{route, outcome}` — requests answered; `outcome` is `success`,
///   the BBS error type the answer carries (`ResourceNotFound`, `InvalidRequest`, ...), or
///   `http_<status>` for an HTTP-level refusal without one (404 and 405 under
///   `route="unmatched"`, 500 from an event stream while shutting down).
/// * `bbs_request_duration_seconds{route}` — time from dispatch to the answer (for event
///   streams: to the response head; the stream itself is not timed).
/// * `bbs_requests_in_flight` — dispatched and not yet answered.
/// * With an access log: one lager-style line per request (`bbs-access.request.done`),
///   written by the log's sink, which buffers and writes off the request path.
///
/// The counters and histogram of a route are resolved once, at registration; a request
/// pays two clock reads and three atomic adds. Error outcomes are looked up in a small
/// per-route table (errors are the less common path).
public final class RequestInstrumentation: Sendable {
    private let requests: MetricFamily<Counter>
    private let durations: MetricFamily<Histogram>
    private let inFlight: Gauge
    private let accessLog: Logger?
    private let now: @Sendable () -> UInt64
    private let unmatched: RouteMetrics

    /// The `route` label of requests no route matched.
    public static let unmatchedRoute = "unmatched"

    /// - Parameters:
    ///   - accessLog: where access lines go (`Logger(source: "bbs-access", ...)`); nil for none.
    ///   - now: a monotonic clock in nanoseconds (tests pass their own).
    public init(registry: MetricsRegistry, accessLog: Logger? = nil,
                now: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }) {
        requests = registry.counterFamily(
            "bbs_requests_total", help: "Requests answered, by route (path) and outcome (success, the BBS error type, or http_<status>).",
            labelNames: ["route", "outcome"])
        durations = registry.histogramFamily(
            "bbs_request_duration_seconds", help: "Time from dispatch to answer, by route (event streams: until the response head).",
            labelNames: ["route"], upperBounds: Histogram.latencyBounds, scale: 1e9)
        inFlight = registry.gauge("bbs_requests_in_flight", help: "Requests dispatched and not yet answered.")
        self.accessLog = accessLog?.session("request")
        self.now = now
        // No `success` series: an unmatched request never succeeds.
        unmatched = RouteMetrics(route: Self.unmatchedRoute, requests: requests, durations: durations, successSeries: false)
    }

    /// `handler` with metrics and access logging, under the label `route`.
    func instrument(_ handler: @escaping RouteHandler, route: String) -> RouteHandler {
        let metrics = RouteMetrics(route: route, requests: requests, durations: durations, successSeries: true)
        return { [self] request, respond in
            let started = now()
            inFlight.increment()
            handler(request) { [self] response, error in
                inFlight.decrement()
                observe(request, response, error: error, metrics: metrics, elapsed: now() &- started)
                respond(response, error)
            }
        }
    }

    /// Counts and logs a request that no route matched (answered at once).
    func observeUnmatched(_ request: HTTPRequest, _ response: HTTPResponse) {
        observe(request, response, error: nil, metrics: unmatched, elapsed: 0)
    }

    private func observe(_ request: HTTPRequest, _ response: HTTPResponse, error: BBSError.ErrorType?,
                         metrics: RouteMetrics, elapsed: UInt64) {
        metrics.counter(status: response.status, error: error).increment()
        metrics.duration.observe(elapsed)
        guard let accessLog else { return }
        var target = request.path
        if let query = request.query { target += "?" + query }
        var bytes = "-"
        if case .bytes(let body) = response.body { bytes = String(body.count) }
        accessLog.info("done", [
            "method": request.method,
            "request": target,
            "protocol": request.version.description,
            "remote_addr": request.remoteAddress,
            "request_id": request.headers["X-Vcap-Request-Id"] ?? "",
            "status": String(response.status),
            "outcome": Self.outcome(status: response.status, error: error),
            "bytes": bytes,
            "duration": String(elapsed),
        ])
    }

    /// The `outcome` label: `success`, the BBS error type's name, or `http_<status>`.
    static func outcome(status: Int, error: BBSError.ErrorType?) -> String {
        if let error { return error.description }
        return status == 200 ? "success" : "http_\(status)"
    }
}

/// One route's children, resolved when the route is registered.
private final class RouteMetrics: Sendable {
    private enum Outcome: Hashable {
        case error(Int32)
        case status(Int)
    }

    let route: String
    /// Created with the route, so its rate is defined from the start.
    let success: Counter?
    let duration: Histogram
    private let requests: MetricFamily<Counter>
    private let others = Mutex<[Outcome: Counter]>([:])

    init(route: String, requests: MetricFamily<Counter>, durations: MetricFamily<Histogram>, successSeries: Bool) {
        self.route = route
        self.requests = requests
        success = successSeries ? requests.labels(route, "success") : nil
        duration = durations.labels(route)
    }

    func counter(status: Int, error: BBSError.ErrorType?) -> Counter {
        if error == nil && status == 200, let success { return success }
        let key: Outcome = error.map { .error($0.rawValue) } ?? .status(status)
        return others.withLock { others in
            if let counter = others[key] { return counter }
            let counter = requests.labels(route, RequestInstrumentation.outcome(status: status, error: error))
            others[key] = counter
            return counter
        }
    }
}
