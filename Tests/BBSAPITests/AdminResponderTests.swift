import BBSLog
import BBSMetrics
import BBSModels
import Foundation
import HTTPServer
import Testing
@testable import BBSAPI
@testable import TaskCore

private func makeAdmin(store: TaskStore = makeStore(), registry: MetricsRegistry = MetricsRegistry(),
                       sink: LogSink = LogSink(level: .info) { _ in }) -> AdminResponder {
    AdminResponder(registry: registry, logSink: sink, store: store, logger: .discarding)
}

private func post(_ path: String, _ body: String) -> HTTPRequest {
    HTTPRequest(method: "POST", path: path, body: Array(body.utf8))
}

@Suite("Health listener")
struct AdminResponderTests {
    @Test func anyOtherRequestIsAHealthyEmpty200() async {
        let admin = makeAdmin()
        for request in [HTTPRequest(method: "GET", path: "/"), HTTPRequest(method: "POST", path: "/health"),
                        HTTPRequest(method: "DELETE", path: "/anything/at/all")] {
            let response = await admin.answer(request)
            #expect(response.status == 200 && response.bodyBytes.isEmpty, "\(request.method) \(request.path)")
        }
    }

    @Test func theHealthCheckIs503WithTheReasonOnceWritesAreRefused() async {
        let admin = AdminResponder(registry: MetricsRegistry(), logSink: LogSink(level: .info) { _ in },
                                   store: makeStore(), logger: .discarding) { "unhealthy: the write-ahead log failed" }
        let response = await admin.answer(HTTPRequest(method: "GET", path: "/"))
        #expect(response.status == 503)
        #expect(response.bodyText == "unhealthy: the write-ahead log failed\n")
        // Metrics are still served, so the cause can be read.
        #expect(await admin.answer(HTTPRequest(method: "GET", path: "/metrics")).status == 200)
    }

    @Test func metricsAreTheRegistrysExposition() async {
        let registry = MetricsRegistry()
        registry.counter("bbs_example_total", help: "An example.").increment(by: 5)
        let admin = makeAdmin(registry: registry)
        let response = await admin.answer(HTTPRequest(method: "GET", path: "/metrics"))
        #expect(response.status == 200)
        #expect(response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.bodyText == registry.exposition())
        #expect(response.bodyText.contains("bbs_example_total 5\n"))
        let refused = await admin.answer(HTTPRequest(method: "POST", path: "/metrics"))
        #expect(refused.status == 405 && refused.headers["Allow"] == "GET, HEAD")
    }

    @Test func theLogLevelChangesAsTheDebugserverChangesIt() async {
        let sink = LogSink(level: .info) { _ in }
        let admin = makeAdmin(sink: sink)
        var response = await admin.answer(post("/log-level", "debug"))
        #expect(response.status == 200 && response.bodyText == "/log-level was invoked with Level: debug\n")
        #expect(sink.level == .debug)
        response = await admin.answer(post("/log-level", " E\n"))
        #expect(response.bodyText == "/log-level was invoked with Level: error\n" && sink.level == .error)
        response = await admin.answer(post("/log-level", "1"))
        #expect(response.bodyText == "/log-level was invoked with Level: info\n" && sink.level == .info)
        // lager has no warn level: warn keeps errors and worse.
        response = await admin.answer(post("/log-level", "warn"))
        #expect(response.bodyText == "/log-level was invoked with Level: warn\n" && sink.level == .error)
        response = await admin.answer(post("/log-level", "FATAL"))
        #expect(response.status == 200 && sink.level == .fatal)
        #expect(await admin.answer(HTTPRequest(method: "GET", path: "/log-level")).bodyText == "fatal\n")
    }

    @Test func badLogLevelRequestsAreRefusedWithTheReason() async {
        let sink = LogSink(level: .info) { _ in }
        let admin = makeAdmin(sink: sink)
        var response = await admin.answer(post("/log-level", ""))
        #expect(response.status == 400 && response.bodyText == "log level cannot be empty\n")
        response = await admin.answer(post("/log-level", "loud"))
        #expect(response.status == 400 && response.bodyText == "invalid log level: loud\n")
        response = await admin.answer(HTTPRequest(method: "PUT", path: "/log-level", body: Array("debug".utf8)))
        #expect(response.status == 400 && response.bodyText == "method not allowed, use POST\n")
        #expect(sink.level == .info)
    }

    @Test func aBackupStreamsTheStoreAsASnapshotFileThatRestores() async throws {
        let store = makeStore()
        let controller = TaskController(store: store)
        for (guid, domain) in [("a", "d1"), ("b", "d1"), ("c", "d2")] {
            let definition = StoredDefinition(bytes: [0x0a, 0x01, 0x78], completionCallbackURL: "")
            _ = await withCheckedContinuation { c in
                controller.apply(.desire(domain: domain, definition: definition), guid: guid) { c.resume(returning: $0) }
            }
        }
        let admin = makeAdmin(store: store)
        let response = await admin.answer(HTTPRequest(method: "GET", path: "/backup"))
        #expect(response.status == 200)
        #expect(response.headers["Content-Type"] == "application/octet-stream")
        #expect(response.headers["X-Bbs-Backup-Tasks"] == "3")
        #expect(response.headers["X-Bbs-Backup-Last-Sequence"] == "3")
        guard case .stream(let start) = response.body else {
            Issue.record("a backup is streamed")
            return
        }
        var writer: RecordingStreamWriter?
        let ending = await withCheckedContinuation { continuation in
            writer = RecordingStreamWriter { continuation.resume(returning: $0) }
            start(writer!)
        }
        #expect(ending == "finished")

        let directory = NSTemporaryDirectory() + "bbs-admin-backup-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(Array(try #require(writer).chunks.joined())).write(to: URL(fileURLWithPath: directory + "/backup.snap"))
        let recovered = try TaskStoreBackup.restore(from: directory + "/backup.snap", intoJournalDirectory: directory + "/wal")
        #expect(recovered.tasks.keys.sorted() == ["a", "b", "c"])
        #expect(recovered.tasks["c"]?.domain == "d2")
    }

    @Test func aBackupToAReaderThatWentAwayStops() async throws {
        let store = makeStore()
        let admin = makeAdmin(store: store)
        let response = await admin.answer(HTTPRequest(method: "GET", path: "/backup"))
        guard case .stream(let start) = response.body else {
            Issue.record("a backup is streamed")
            return
        }
        // A reader that stopped reading and then disconnected: nothing may wait for it forever.
        let ending = await withCheckedContinuation { continuation in
            start(RecordingStreamWriter(closed: true, bufferedBytes: 1 << 30) { continuation.resume(returning: $0) })
        }
        #expect(ending == "aborted")
        #expect(await admin.answer(HTTPRequest(method: "POST", path: "/backup")).status == 405)
    }
}
