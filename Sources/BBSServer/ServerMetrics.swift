import BBSAPI
import BBSMetrics
import BBSWAL
import Foundation
import HTTPServer
import TaskCore

/// Every metric the server exposes on `/metrics` (README "Metrics and health"), and where
/// each value comes from. Request metrics are registered by `RequestInstrumentation`.
///
/// Most values are read at scrape time from counts their owners keep anyway (task counts
/// maintained by the store under its lock, subscriber and callback counts, open
/// connections), so serving requests pays nothing for them. The log's statistics arrive
/// once per group commit through `WriteAheadLog.Options.batchObserver`.
final class ServerMetrics: Sendable {
    let registry = MetricsRegistry()

    private let walRecords: Counter
    private let walBatches: Counter
    private let walBytes: Counter
    private let walBatchRecords: Histogram
    private let walWrite: Histogram
    private let walSync: Histogram
    private let walWait: Histogram

    /// Batch-size buckets: 1 record to 4096.
    static let batchBounds: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]

    init() {
        walRecords = registry.counter("bbs_wal_records_total", help: "Records made durable in the write-ahead log.")
        walBatches = registry.counter(
            "bbs_wal_batches_total", help: "Group commits: batches written with one write and one fdatasync.")
        walBytes = registry.counter("bbs_wal_bytes_total", help: "Bytes written to the write-ahead log, framing included.")
        walBatchRecords = registry.histogram(
            "bbs_wal_batch_records", help: "Records per group commit (appends that shared one fdatasync).",
            upperBounds: Self.batchBounds)
        walWrite = registry.histogram(
            "bbs_wal_write_duration_seconds", help: "Time each batch spent in pwrite.",
            upperBounds: Histogram.latencyBounds, scale: 1e9)
        walSync = registry.histogram(
            "bbs_wal_fsync_duration_seconds", help: "Time each batch spent in fdatasync (nothing when wal_fsync is off).",
            upperBounds: Histogram.latencyBounds, scale: 1e9)
        walWait = registry.histogram(
            "bbs_wal_append_to_durable_seconds",
            help: "For each batch, how long its oldest record waited from append until durable (the longest a write waited for the log).",
            upperBounds: Histogram.latencyBounds, scale: 1e9)
    }

    /// For `WriteAheadLog.Options.batchObserver` (runs on the log's writer thread).
    var walBatchObserver: @Sendable (WriteAheadLog.BatchReport) -> Void {
        { [self] report in
            guard report.records > 0 else { return }  // a segment change with no records
            walRecords.increment(by: UInt64(report.records))
            walBatches.increment()
            walBytes.increment(by: UInt64(report.bytes))
            walBatchRecords.observe(UInt64(report.records))
            walWrite.observe(report.writeNanoseconds)
            if report.syncNanoseconds > 0 { walSync.observe(report.syncNanoseconds) }
            walWait.observe(report.oldestWaitNanoseconds)
        }
    }

    typealias ConnectionCounts = [(kind: OpenConnectionKind, count: Int)]

    /// Registers the values read at scrape time.
    func collect(store: TaskStore, journal: WriteAheadLog, events: TaskEventHub,
                 callbacks: CompletionCallbackWorkers, openConnections: @escaping @Sendable () -> [(listener: String, connections: ConnectionCounts)]) {
        registry.collect("bbs_tasks", help: "Tasks by domain and state (every state of each domain that has tasks).",
                         type: .gauge, labelNames: ["domain", "state"]) {
            let counts = store.counts
            return counts.domains.flatMap { domain in
                TaskCounts.states.map { state in
                    CollectedSample([domain, state.description], Double(counts[domain, state]))
                }
            }
        }
        registry.collect("bbs_wal_durable_sequence", help: "Sequence number of the last durable log record.",
                         type: .gauge) { [CollectedSample(Double(journal.durableSequence))] }
        registry.collect("bbs_wal_bytes_since_snapshot",
                         help: "Log bytes appended since the last compaction snapshot.", type: .gauge) {
            [CollectedSample(Double(journal.bytesSinceSnapshot))]
        }
        registry.collect("bbs_wal_failed",
                         help: "1 once a log write or fdatasync has failed: writes are refused until a restart.",
                         type: .gauge) { [CollectedSample(journal.failure == nil ? 0 : 1)] }
        registry.collect("bbs_open_connections",
                         help: "Open client connections, by listener and protocol (tls-handshake, http/1.1, h2).",
                         type: .gauge, labelNames: ["listener", "protocol"]) {
            openConnections().flatMap { listener in
                listener.connections.map { CollectedSample([listener.listener, $0.kind.rawValue], Double($0.count)) }
            }
        }
        registry.collect("bbs_event_subscribers", help: "Open task event streams.", type: .gauge) {
            [CollectedSample(Double(events.subscriberCount))]
        }
        registry.collect("bbs_task_callbacks_total",
                         help: "Completion callbacks by outcome: delivered (answered, task deleted) or failed (given up, task left Resolving).",
                         type: .counter, labelNames: ["outcome"]) {
            let counts = callbacks.counts
            return [CollectedSample(["delivered"], Double(counts.delivered)), CollectedSample(["failed"], Double(counts.failed))]
        }
        registry.collect("bbs_task_callbacks_pending", help: "Completion callbacks being delivered or queued.",
                         type: .gauge) { [CollectedSample(Double(callbacks.backlog))] }
        let started = Date().timeIntervalSince1970
        registry.collect("process_start_time_seconds", help: "Start time of the process, Unix seconds.",
                         type: .gauge) { [CollectedSample(started.rounded())] }
        registry.collect("process_open_fds", help: "Open file descriptors.", type: .gauge) {
            let count = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
            return [CollectedSample(Double(count))]
        }
    }
}
