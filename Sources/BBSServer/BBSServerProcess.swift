import BBSAPI
import BBSLog
import BBSMetrics
import BBSPosix
import BBSWAL
import Dispatch
import Foundation
import HTTPServer
import TaskCore

/// Everything the running server is made of, wired together (as the reference's
/// `cmd/bbs/main.go`).
final class BBSServerProcess: Sendable {
    let logger: Logger
    let journal: WriteAheadLog
    let store: TaskStore
    let events: TaskEventHub
    let converger: TaskConverger
    let outbound: OutboundClients
    let http: HTTPServer
    // Operations (branch ops) begin
    let logSink: LogSink
    let metrics: ServerMetrics
    let callbacks: CompletionCallbackWorkers
    /// The health listener (`health_address`), if configured.
    let health: HTTPServer?
    let accessLog: AccessLogFile?
    // Operations (branch ops) end
    /// How the descriptor limit is split (logged at start).
    let descriptors: DescriptorBudget
    private let convergeInterval: Duration
    private let signalQueue = DispatchQueue(label: "bbs.signals")
    private let signalSources: SignalSources

    init(configuration: ServerConfiguration) throws {
        let sink = LogSink(level: LogLevel(name: configuration.logLevel) ?? .info)
        let logger = Logger(source: "bbs", sink: sink)
        self.logger = logger
        logSink = sink
        let metrics = ServerMetrics()
        self.metrics = metrics

        try FileManager.default.createDirectory(atPath: configuration.dataDir, withIntermediateDirectories: true)
        let walDirectory = (configuration.dataDir as NSString).appendingPathComponent("wal")
        var options = WriteAheadLog.Options()
        options.fsync = configuration.walFsync
        options.batchObserver = metrics.walBatchObserver
        let started = ContinuousClock.now
        var recovery = TaskStoreRecovery()
        journal = try WriteAheadLog(directory: walDirectory, options: options, logger: logger.session("wal"),
                                    replayBorrowed: { record in
            // Room for the whole snapshot at its first record: the guid index then never
            // rehashes while the snapshot replays.
            if record.snapshotRecords > 0 && recovery.records == 0 {
                recovery.reserveCapacity(record.snapshotRecords)
            }
            try recovery.apply(type: record.type, payload: record.payload)
        })
        logger.info("recovered", [
            "tasks": String(recovery.taskCount),
            "records": String(recovery.records),
            "duration": "\(ContinuousClock.now - started)",
            "wal": walDirectory,
        ])

        store = TaskStore(recovered: recovery, journal: journal,
                          machine: TaskStateMachine(maxTaskRetries: configuration.maxTaskRetries),
                          clock: wallClockNanoseconds, logger: logger.session("task-store"))

        events = TaskEventHub(maxBufferedBytes: configuration.eventSubscriberBufferBytes, logger: logger.session("events"))
        store.observe { [events] commit in events.publish(commit) }

        outbound = try OutboundClients(configuration: configuration)
        callbacks = CompletionCallbackWorkers(
            store: store, transport: HTTPCallbackTransport(http: outbound.callbacks),
            workers: configuration.taskCallbackWorkers, logger: logger.session("task-callback"))
        var auctioneer: AuctioneerClient?
        if !configuration.auctioneerAddress.isEmpty {
            auctioneer = AuctioneerClient(http: outbound.auctioneer, address: configuration.auctioneerAddress,
                                          usesTLS: configuration.auctioneerUsesTLS,
                                          requiresTLS: configuration.auctioneerRequireTLS,
                                          logger: logger.session("auctioneer"))
        }
        let cells = configuration.cellRegistryFile.isEmpty ? nil
            : CellRegistryFile(path: configuration.cellRegistryFile, http: outbound.rep,
                               requiresTLS: configuration.repRequireTLS, logger: logger.session("cells"))
        converger = TaskConverger(store: store, durations: configuration.convergenceDurations, cells: cells,
                                  auctioneer: auctioneer, callbacks: callbacks, clock: wallClockNanoseconds,
                                  logger: logger.session("converger"))
        convergeInterval = configuration.convergeRepeatInterval.duration
        let controller = TaskController(store: store, auctioneer: auctioneer, callbacks: callbacks, cells: cells)

        // Operations (branch ops) begin: access log and request metrics around every route.
        if configuration.accessLogPath.isEmpty {
            accessLog = nil
        } else {
            do {
                accessLog = try AccessLogFile(path: configuration.accessLogPath, logger: logger.session("access-log"))
            } catch {
                throw ConfigurationError("access_log_path: cannot open \(configuration.accessLogPath): \(error)")
            }
        }
        let accessLogger = accessLog.map { file in
            Logger(source: "bbs-access", sink: LogSink(level: .info) { file.append($0) })
        }
        var router = Router(instrumentation: RequestInstrumentation(registry: metrics.registry, accessLog: accessLogger))
        // Operations (branch ops) end
        TaskHandlers(controller: controller, events: events, logger: logger.session("handlers")).register(on: &router)

        // Descriptors: what is open now, plus what the listeners will open (an epoll set
        // and an eventfd per lane, the listening sockets); the rest is split between a
        // reserve for the log and outbound calls, the health listener and the API's
        // connections.
        var httpConfiguration = HTTPServer.Configuration()
        let lanes = httpConfiguration.queueCount
        let budget = DescriptorBudget(limit: DescriptorBudget.raiseSoftLimit(),
                                      inUse: DescriptorBudget.openDescriptors() + 2 * lanes + 1
                                          + (configuration.healthAddress.isEmpty ? 0 : 3),
                                      configured: httpConfiguration.maxConnections,
                                      healthListener: !configuration.healthAddress.isEmpty)
        self.descriptors = budget
        let address = try ListenAddress(parsing: configuration.listenAddress)
        httpConfiguration.host = address.host
        httpConfiguration.port = address.port
        httpConfiguration.maxBodyBytes = configuration.maxRequestBodyBytes
        httpConfiguration.requestTimeout = configuration.requestTimeout.duration
        httpConfiguration.idleTimeout = configuration.idleTimeout.duration
        httpConfiguration.tls = configuration.tls  // TLS (branch tls)
        httpConfiguration.maxConnections = budget.apiConnections
        http = HTTPServer(configuration: httpConfiguration, responder: router, logger: logger.session("http"))
        signalSources = SignalSources(queue: signalQueue)

        // Operations (branch ops) begin: the health listener and what /metrics reads.
        if configuration.healthAddress.isEmpty {
            health = nil
        } else {
            let address = try ListenAddress(parsing: configuration.healthAddress)
            var healthConfiguration = HTTPServer.Configuration()
            healthConfiguration.host = address.host
            healthConfiguration.port = address.port
            healthConfiguration.maxConnections = budget.healthConnections
            healthConfiguration.queueCount = 1
            let admin = AdminResponder(registry: metrics.registry, logSink: sink, store: store,
                                       logger: logger.session("admin")) { [journal] in
                journal.failure.map { "unhealthy: writes are refused until a restart: \($0)" }
            }
            health = HTTPServer(configuration: healthConfiguration, responder: admin, logger: logger.session("health"))
        }
        metrics.collect(store: store, journal: journal, events: events, callbacks: callbacks) { [http, health] in
            [("api", http.openConnectionsByKind)] + (health.map { [("health", $0.openConnectionsByKind)] } ?? [])
        }
        // Operations (branch ops) end
    }

    func start() throws {
        // Signals are handled from the first moment the port is open, but only once the
        // start is complete: their queue is held until then, so a SIGTERM that arrives
        // while, say, owed callbacks are being resumed still drains and exits 0.
        signalQueue.suspend()
        defer { signalQueue.resume() }
        signalSources.install([SIGTERM, SIGINT]) { [self] signal in
            logger.info("signalled", ["signal": String(signal)])
            shutdown()
        }
        // Operations (branch ops): errors say which listener; the health listener starts
        // after the API's, so a healthy answer means the API is up.
        // TLS files that do not load, or an address that does not resolve, are
        // configuration errors (exit 2); a port in use or refused is not (exit 1: a
        // restart may succeed).
        do {
            try http.start()
        } catch let error as TLSError {
            throw ConfigurationError("API listener (listen_address): \(ConfigurationCheck.serverTLSKey(error)): \(error)")
        } catch let error as AddressResolutionError {
            throw ConfigurationError("API listener (listen_address): \(error)")
        } catch {
            throw StartupError("API listener (listen_address): \(error)")
        }
        do {
            try health?.start()
        } catch let error as AddressResolutionError {
            throw ConfigurationError("health listener (health_address): \(error)")
        } catch {
            throw StartupError("health listener (health_address): \(error)")
        }
        converger.resumeOwedCallbacks()
        converger.start(every: convergeInterval)
        var started = ["listen_address": http.localAddress]
        if let health { started["health_address"] = health.localAddress }
        logger.info("started", started)
        logger.info("connection-limits", [
            "descriptor_limit": String(descriptors.limit),
            "descriptors_in_use": String(descriptors.inUse),
            "descriptors_reserved": String(descriptors.reserve),
            "max_connections": String(descriptors.apiConnections),
            "max_health_connections": String(descriptors.healthConnections),
        ])
        // TLS (branch tls) begin
        if let tls = http.configuration.tls {
            logger.info("tls-enabled", [
                "cert_file": tls.certificateChainFile,
                "client_certificates": tls.clientCAFile == nil ? "not requested" : "required",
            ])
        }
        // TLS (branch tls) end
        // SIGHUP re-reads the certificates (rotation without a restart) and reopens the
        // access log (rotation by rename). Handled even without either, where it would
        // otherwise kill the process.
        signalSources.install([SIGHUP]) { [self] _ in
            reloadCertificates()
            accessLog?.reopen()  // Operations (branch ops)
        }
    }

    // TLS (branch tls) begin
    /// New connections use the re-read certificate, key and CA; open ones keep theirs. A
    /// file that does not load leaves the previous ones in use.
    private func reloadCertificates() {
        // The outbound clients' certificates (the callback client presents cert_file)
        // rotate with the listener's.
        for (client, error) in outbound.reloadTLS() {
            logger.error("outbound-tls-reload-failed", ["client": client, "error": error])
        }
        guard http.configuration.tls != nil else {
            logger.info("tls-reload-skipped", ["reason": "require_ssl is false"])
            return
        }
        do {
            try http.reloadTLS()
            logger.info("tls-reloaded")
        } catch {
            logger.error("tls-reload-failed", ["error": error.description])
        }
    }
    // TLS (branch tls) end

    /// Stops accepting, lets in-flight requests finish, closes the log, exits 0.
    private func shutdown() {
        converger.stop()
        events.close()
        health?.shutdown(timeout: .seconds(1)) {}  // Operations (branch ops)
        http.shutdown(timeout: .seconds(10)) { [self] in
            journal.close()
            accessLog?.close()  // Operations (branch ops)
            logger.info("exited")
            exit(0)
        }
    }
}

/// A start-up failure that is not the configuration's (a port in use): exit 1.
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Dispatch signal sources (the signals themselves are ignored so only the sources see
/// them). Kept alive for the life of the process.
final class SignalSources: @unchecked Sendable {
    // Invariant: `sources` is only touched under `lock`. (Not on `queue`: `start` holds
    // that queue suspended while it installs handlers.)
    private let queue: DispatchQueue
    private let lock = NSLock()
    private var sources: [any DispatchSourceSignal] = []

    init(queue: DispatchQueue) { self.queue = queue }

    func install(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        lock.withLock {
            for number in signals {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { handler(number) }
                source.resume()
                sources.append(source)
            }
        }
    }
}

/// Unix time in nanoseconds, the reference's `clock.Now().UnixNano()`.
@Sendable func wallClockNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}
