import BBSLog
import BBSMetrics
import BBSModels
import Foundation
import HTTPServer
import Synchronization
import Testing
@testable import BBSAPI
@testable import TaskCore

/// A clock that moves 1 ms on every reading.
private final class SteppingClock: Sendable {
    private let nanoseconds = Mutex<UInt64>(0)
    var now: @Sendable () -> UInt64 { { self.nanoseconds.withLock { $0 += 1_000_000; return $0 } } }
}

private let desireBody = """
    {"task_guid": "t-1", "domain": "d", "task_definition": {"rootfs": "docker:///busybox",
     "action": {"run": {"path": "/bin/true", "user": "vcap"}}}}
    """

@Suite("Request metrics and the access log")
struct RequestInstrumentationTests {
    @Test func everyAnswerCountsUnderItsRouteAndOutcome() async {
        let registry = MetricsRegistry()
        var router = Router(instrumentation: RequestInstrumentation(registry: registry, now: SteppingClock().now))
        router.add("POST", "/ok") { _, respond in respond(HTTPResponse(status: 200), nil) }
        router.add("POST", "/missing") { _, respond in respond(HTTPResponse(status: 200), .resourceNotFound) }
        router.add("POST", "/gone") { _, respond in respond(HTTPResponse(status: 500), nil) }

        #expect(sample(registry.exposition(), "bbs_requests_total", #"route="/ok",outcome="success""#) == 0)
        for path in ["/ok", "/ok", "/missing", "/gone"] {
            _ = await router.answer(HTTPRequest(method: "POST", path: path))
        }
        let exposition = registry.exposition()
        #expect(sample(exposition, "bbs_requests_total", #"route="/ok",outcome="success""#) == 2)
        #expect(sample(exposition, "bbs_requests_total", #"route="/missing",outcome="ResourceNotFound""#) == 1)
        #expect(sample(exposition, "bbs_requests_total", #"route="/gone",outcome="http_500""#) == 1)
        // Each request took exactly one step of the clock: 1 ms.
        #expect(sample(exposition, "bbs_request_duration_seconds_count", #"route="/ok""#) == 2)
        #expect(sample(exposition, "bbs_request_duration_seconds_sum", #"route="/ok""#) == 0.002)
        #expect(sample(exposition, "bbs_request_duration_seconds_bucket", #"route="/ok",le="0.0005""#) == 0)
        #expect(sample(exposition, "bbs_request_duration_seconds_bucket", #"route="/ok",le="0.001""#) == 2)
        #expect(sample(exposition, "bbs_requests_in_flight") == 0)
    }

    @Test func unmatchedRequestsCountAsHTTPRefusals() async {
        let registry = MetricsRegistry()
        var router = Router(instrumentation: RequestInstrumentation(registry: registry))
        router.add("POST", "/v1/ping") { _, respond in respond(HTTPResponse(status: 200), nil) }
        #expect(await router.answer(HTTPRequest(method: "GET", path: "/v1/ping")).status == 405)
        #expect(await router.answer(HTTPRequest(method: "POST", path: "/nowhere")).status == 404)
        #expect(await router.answer(HTTPRequest(method: "POST", path: "/nowhere")).status == 404)
        let exposition = registry.exposition()
        #expect(sample(exposition, "bbs_requests_total", #"route="unmatched",outcome="http_404""#) == 2)
        #expect(sample(exposition, "bbs_requests_total", #"route="unmatched",outcome="http_405""#) == 1)
        #expect(sample(exposition, "bbs_requests_total", #"route="/v1/ping",outcome="success""#) == 0)
        #expect(sample(exposition, "bbs_requests_total", #"route="unmatched",outcome="success""#) == nil)
    }

    @Test func requestsInFlightAreThoseNotYetAnswered() async {
        let registry = MetricsRegistry()
        var router = Router(instrumentation: RequestInstrumentation(registry: registry))
        let held = Mutex<[RouteResponder]>([])
        router.add("POST", "/slow") { _, respond in held.withLock { $0.append(respond) } }
        let answered = Mutex(0)
        for _ in 0..<3 { router.respond(to: HTTPRequest(method: "POST", path: "/slow")) { _ in answered.withLock { $0 += 1 } } }
        #expect(sample(registry.exposition(), "bbs_requests_in_flight") == 3)
        let first = held.withLock { $0.removeFirst() }
        first(HTTPResponse(status: 200), nil)
        #expect(sample(registry.exposition(), "bbs_requests_in_flight") == 2)
        #expect(answered.withLock { $0 } == 1)
        for respond in held.withLock({ $0 }) { respond(HTTPResponse(status: 200), nil) }
        #expect(sample(registry.exposition(), "bbs_requests_in_flight") == 0)
    }

    @Test func theTaskRoutesLabelOutcomesByTheBBSErrorTheyAnswer() async throws {
        let registry = MetricsRegistry()
        var router = Router(instrumentation: RequestInstrumentation(registry: registry))
        let store = makeStore()
        TaskHandlers(controller: TaskController(store: store), events: TaskEventHub(logger: .discarding),
                     logger: .discarding).register(on: &router)

        let desired = await router.answer(jsonRequest(BBSRoutes.desireTask, desireBody))
        #expect(desired.bodyText == "{}")
        let again = await router.answer(jsonRequest(BBSRoutes.desireTask, desireBody))
        #expect(again.bodyText.contains("ResourceExists"))
        _ = await router.answer(jsonRequest(BBSRoutes.taskByGuid, #"{"task_guid": "nope"}"#))
        _ = await router.answer(jsonRequest(BBSRoutes.deleteTask, #"{"task_guid": "t-1"}"#))
        _ = await router.answer(jsonRequest(BBSRoutes.startTask, #"{"task_guid": "t-1"}"#))
        // Protobuf answers are labelled the same way.
        _ = await router.answer(HTTPRequest(method: "POST", path: BBSRoutes.taskByGuid, body: [0x0a, 0x01, 0x78]))

        let exposition = registry.exposition()
        func count(_ route: String, _ outcome: String) -> Double? {
            sample(exposition, "bbs_requests_total", "route=\"\(route)\",outcome=\"\(outcome)\"")
        }
        #expect(count(BBSRoutes.desireTask, "success") == 1)
        #expect(count(BBSRoutes.desireTask, "ResourceExists") == 1)
        #expect(count(BBSRoutes.taskByGuid, "ResourceNotFound") == 2)
        #expect(count(BBSRoutes.deleteTask, "InvalidStateTransition") == 1)
        #expect(count(BBSRoutes.startTask, "InvalidRequest") == 1)
        // Every route has its success series from the start, so rates never start from nothing.
        #expect(count(BBSRoutes.completeTask, "success") == 0)
    }

    @Test func theAccessLogHasOneLinePerRequest() async throws {
        let (sink, lines) = LogSink.memory()
        let registry = MetricsRegistry()
        let accessLog = Logger(source: "bbs-access", sink: sink)
        var router = Router(instrumentation: RequestInstrumentation(registry: registry, accessLog: accessLog,
                                                                    now: SteppingClock().now))
        router.add("POST", "/missing") { _, respond in
            respond(HTTPResponse(status: 200, body: .bytes([1, 2, 3])), .resourceNotFound)
        }
        var request = jsonRequest("/missing", "{}", headers: [("X-Vcap-Request-Id", "req-42")])
        request.query = "a=b"
        _ = await router.answer(request)
        _ = await router.answer(HTTPRequest(method: "GET", path: "/nowhere", remoteAddress: "[::1]:4000"))

        let logged = lines()
        #expect(logged.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(logged[0].utf8)) as? [String: Any])
        #expect(first["source"] as? String == "bbs-access")
        #expect(first["message"] as? String == "bbs-access.request.done")
        #expect(first["log_level"] as? Int == 1)
        #expect(first["data"] as? [String: String] == [
            "method": "POST", "request": "/missing?a=b", "protocol": "HTTP/1.1", "remote_addr": "127.0.0.1:50000",
            "request_id": "req-42", "status": "200", "outcome": "ResourceNotFound", "bytes": "3",
            "duration": "1000000",
        ])
        let second = try #require(try JSONSerialization.jsonObject(with: Data(logged[1].utf8)) as? [String: Any])
        let data = try #require(second["data"] as? [String: String])
        #expect(data["status"] == "404" && data["outcome"] == "http_404" && data["remote_addr"] == "[::1]:4000")
        #expect(data["request_id"] == "" && data["bytes"] == "19")
    }

    @Test func withoutInstrumentationTheRouterAnswersTheSame() async {
        var router = Router()
        router.add("POST", "/x") { _, respond in respond(HTTPResponse(status: 200, body: .bytes([7])), .resourceNotFound) }
        #expect(await router.answer(HTTPRequest(method: "POST", path: "/x")).bodyBytes == [7])
        #expect(await router.answer(HTTPRequest(method: "POST", path: "/y")).status == 404)
    }
}
