import BBSLog
import BBSMetrics
import BBSModels
import Dispatch
import Foundation
import HTTPServer
import Synchronization
import TaskCore

/// The health listener (`health_address`): the reference's health check, plus what an
/// operator needs at run time. Keep it on loopback or a management network: it changes
/// the log level and hands out the whole store.
///
/// | request                | answer |
/// |------------------------|--------|
/// | `GET /metrics`         | every metric, Prometheus text format 0.0.4 |
/// | `POST /log-level`      | body `debug`, `info`, `warn`, `error` or `fatal` (or `d`/`0`, ...), as the reference's debugserver: 200 `/log-level was invoked with Level: <level>`; 400 with the reason otherwise |
/// | `GET /log-level`       | the current level (our extension) |
/// | `GET /backup`          | a consistent copy of the store as a WAL snapshot file (see `TaskStoreBackup`), streamed |
/// | anything else          | the health check: `200` with an empty body (the reference answers every request so); `503` with the reason once `unhealthy` reports one (the write-ahead log failed: writes are refused until a restart) |
public struct AdminResponder: HTTPResponder {
    public static let metricsPath = "/metrics"
    public static let logLevelPath = "/log-level"
    public static let backupPath = "/backup"

    private let registry: MetricsRegistry
    private let logSink: LogSink
    private let store: TaskStore
    private let logger: Logger
    private let backupQueue = DispatchQueue(label: "bbs.admin.backup", qos: .utility)
    /// A backup stream pauses while more than this is queued for a slow reader.
    private let backupHighWaterBytes: Int
    /// Why the server cannot serve writes, or nil when it can: the health check answers
    /// 503 with it.
    private let unhealthy: @Sendable () -> String?

    public init(registry: MetricsRegistry, logSink: LogSink, store: TaskStore, logger: Logger,
                backupHighWaterBytes: Int = 8 << 20, unhealthy: @escaping @Sendable () -> String? = { nil }) {
        self.unhealthy = unhealthy
        self.registry = registry
        self.logSink = logSink
        self.store = store
        self.logger = logger
        self.backupHighWaterBytes = backupHighWaterBytes
    }

    public func respond(to request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        switch (request.path, request.method) {
        case (Self.metricsPath, "GET"), (Self.metricsPath, "HEAD"):
            completion(HTTPResponse(status: 200, headers: ["Content-Type": PrometheusText.contentType],
                                    body: .bytes(Array(registry.exposition().utf8))))
        case (Self.metricsPath, _):
            completion(Router.methodNotAllowed(allow: ["GET", "HEAD"]))
        case (Self.backupPath, "GET"):
            backup(completion)
        case (Self.backupPath, _):
            completion(Router.methodNotAllowed(allow: ["GET"]))
        case (Self.logLevelPath, "GET"):
            completion(Self.text(200, logSink.level.name + "\n"))
        case (Self.logLevelPath, _):
            completion(changeLogLevel(request))
        default:
            if let reason = unhealthy() {
                completion(Self.text(503, reason + "\n"))
            } else {
                completion(HTTPResponse(status: 200))
            }
        }
    }

    // MARK: - Log level

    /// The reference debugserver's `/log-level`: POST, the level in the body.
    private func changeLogLevel(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "POST" else { return Self.text(400, "method not allowed, use POST\n") }
        let body = String(decoding: request.body, as: UTF8.self)
        guard !body.isEmpty else { return Self.text(400, "log level cannot be empty\n") }
        guard let (name, level) = Self.logLevel(named: body) else {
            return Self.text(400, "invalid log level: \(body)\n")
        }
        // Logged before the change, so lowering the level to error still leaves a trace.
        logger.info("log-level-changed", ["from": logSink.level.name, "to": name])
        logSink.level = level
        return Self.text(200, "/log-level was invoked with Level: \(name)\n")
    }

    /// The debugserver's spellings (`0`/`d`/`debug`, `1`/`i`/`info`, `2`/`w`/`warn`,
    /// `3`/`e`/`error`, `4`/`f`/`fatal`, any case, surrounding space ignored) and the level
    /// they set. lager has no warn level; `warn` keeps errors and worse, as `error` does.
    static func logLevel(named text: String) -> (name: String, level: LogLevel)? {
        switch text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() {
        case "0", "d", "debug": return ("debug", .debug)
        case "1", "i", "info": return ("info", .info)
        case "2", "w", "warn": return ("warn", .error)
        case "3", "e", "error": return ("error", .error)
        case "4", "f", "fatal": return ("fatal", .fatal)
        default: return nil
        }
    }

    // MARK: - Backup

    private func backup(_ completion: @escaping @Sendable (HTTPResponse) -> Void) {
        store.backup { [backupQueue, backupHighWaterBytes, logger] result in
            let backup: TaskStoreBackup
            switch result {
            case .success(let copy):
                backup = copy
            case .failure(let error):
                logger.error("backup-failed", ["error": error.description])
                completion(Self.text(500, "backup failed: \(error.message)\n"))
                return
            }
            logger.info("backup-started", ["tasks": String(backup.taskCount), "last_sequence": String(backup.lastSequence)])
            let headers: HTTPHeaders = [
                "Content-Type": "application/octet-stream",
                "Content-Disposition": "attachment; filename=\"bbs-backup-\(backup.lastSequence).snap\"",
                "X-Bbs-Backup-Last-Sequence": String(backup.lastSequence),
                "X-Bbs-Backup-Tasks": String(backup.taskCount),
            ]
            completion(HTTPResponse(status: 200, headers: headers, body: .stream { writer in
                // The stream writer never blocks; this queue does the waiting, so a slow
                // reader holds back the encoding instead of filling memory.
                backupQueue.async {
                    Self.stream(backup, to: writer, highWaterBytes: backupHighWaterBytes, logger: logger)
                }
            }))
        }
    }

    private struct StreamClosed: Error, CustomStringConvertible {
        var description: String { "the client closed the stream" }
    }

    private final class ClosedFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private static func stream(_ backup: TaskStoreBackup, to writer: any HTTPBodyStreamWriter,
                               highWaterBytes: Int, logger: Logger) {
        let closed = ClosedFlag()
        writer.onClose { closed.value.store(true, ordering: .relaxed) }
        do {
            try backup.write { chunk in
                while writer.bufferedBytes > highWaterBytes && !closed.value.load(ordering: .relaxed) {
                    Thread.sleep(forTimeInterval: 0.002)
                }
                guard writer.write(chunk) else { throw StreamClosed() }
            }
            writer.finish()
            logger.info("backup-sent", ["tasks": String(backup.taskCount), "last_sequence": String(backup.lastSequence)])
        } catch {
            // An incomplete file has no footer: a restore refuses it.
            writer.abort()
            logger.error("backup-aborted", ["error": "\(error)"])
        }
    }

    private static func text(_ status: Int, _ body: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"],
                     body: .bytes(Array(body.utf8)))
    }
}
