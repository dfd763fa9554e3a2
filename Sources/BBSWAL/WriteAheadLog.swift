import BBSLog
import BBSPosix
import Dispatch
import Foundation
import Synchronization

/// A durable, segmented log of opaque typed records with group commit.
///
/// ```
///  append (caller's lock) ──▶ pending buffer ──▶ writer thread: seal (CRC), one pwrite,
///  whenDurable ──▶ waiters           ▲              one fdatasync, publish durableSequence
///                                    │                          │
///                         swap buffers under `state`            ▼
///                                               completion queue: waiters, in order
/// ```
///
/// * `append` copies the record into the pending buffer under a short lock and wakes the
///   writer only if it is asleep: no I/O, no per-record allocation beyond the buffer's
///   amortized growth. Sequence numbers are 1, 2, 3, ... for the life of the log.
/// * The writer thread takes everything appended since its last pass, writes it with one
///   `pwrite`, syncs it with one `fdatasync` (group commit: every caller that appended
///   meanwhile shares it), then advances `durableSequence` and hands the waiters it
///   satisfied to the completion queue in sequence order.
/// * A failed write or sync stops the log for good (sticky): pending and later waiters get
///   the error and `append` throws, because after a failed fsync the kernel may have
///   dropped the dirty pages and nothing written since can be trusted.
/// * Compaction: `beginSnapshot` (cheap, under the caller's lock) cuts the stream to a new
///   segment; `writeSnapshot` writes the caller's state as a snapshot file and deletes the
///   segments it covers.
///
/// The on-disk format and the recovery rules are in docs/WAL.md.
public final class WriteAheadLog: Sendable {
    public struct Options: Sendable {
        /// Sync every batch (`fdatasync`) before completing its waiters, and sync new and
        /// renamed files and the directory. `false` still writes everything but never
        /// syncs: for throwaway servers, where a machine crash may lose recent records.
        public var fsync = true
        /// A segment is closed and the next one started when a record would take it past
        /// this size (a segment always takes at least one record). Default 64 MiB.
        public var segmentBytes = 64 << 20
        /// Reserve each new segment's blocks up front (`posix_fallocate` of `segmentBytes`),
        /// so appends need no block allocation; the unused zero-filled tail is trimmed when
        /// the segment is closed. Default true.
        public var preallocate = true
        /// The largest payload `append` (or a snapshot) accepts. Default 64 MiB; at most 1 GiB.
        public var maximumRecordBytes = 64 << 20
        /// Called on the writer (or snapshot) thread before each I/O step; throwing makes
        /// that step fail as if the system call had. For tests of failure handling.
        public var faultInjection: (@Sendable (FaultPoint) throws -> Void)?
        /// Called on the writer thread after each batch is durable (and its waiters are
        /// queued), with what the batch held and cost: for metrics. Must return quickly.
        public var batchObserver: (@Sendable (BatchReport) -> Void)?

        public init() {}
    }

    /// One group commit: the records one write and one fdatasync made durable.
    public struct BatchReport: Sendable, Hashable {
        /// Records in the batch (the appends that shared its fdatasync).
        public let records: Int
        /// Bytes written, record framing included.
        public let bytes: Int
        /// Time in `pwrite`.
        public let writeNanoseconds: UInt64
        /// Time in `fdatasync` (0 with `fsync` off).
        public let syncNanoseconds: UInt64
        /// Time from the batch's first append until the batch was durable: the longest any
        /// of its records waited (queueing behind the previous batch, then write and sync).
        public let oldestWaitNanoseconds: UInt64

        public init(records: Int, bytes: Int, writeNanoseconds: UInt64, syncNanoseconds: UInt64,
                    oldestWaitNanoseconds: UInt64) {
            self.records = records
            self.bytes = bytes
            self.writeNanoseconds = writeNanoseconds
            self.syncNanoseconds = syncNanoseconds
            self.oldestWaitNanoseconds = oldestWaitNanoseconds
        }
    }

    /// The I/O steps `Options.faultInjection` can fail.
    public enum FaultPoint: Sendable, Hashable {
        /// Writing a batch of records to the current segment.
        case write
        /// Syncing the current segment after a batch.
        case synchronize
        /// Creating the next segment.
        case createSegment
        /// Writing part of a snapshot file.
        case writeSnapshot
        /// Syncing a snapshot file before it is renamed into place.
        case synchronizeSnapshot
    }

    let core: LogCore

    /// Opens (creating if needed) the log in `directory`, replays every record through
    /// `replay` (the snapshot's records, then every later one, in order), repairs a torn
    /// tail of the last segment (logged), and starts the writer. Throws `WALError` if the
    /// log is damaged anywhere else, naming the file and offset; nothing is silently
    /// dropped. Errors thrown by `replay` abort the open (`WALError.replayFailed`).
    public init(directory: String, options: Options, logger: Logger,
                replay: (_ type: UInt8, _ payload: [UInt8]) throws -> Void) throws {
        core = try LogCore(directory: directory, options: options, logger: logger) { record in
            try replay(record.type, Array(record.payload))
        }
    }

    /// A record as replayed by `init(directory:options:logger:replayBorrowed:)`.
    public struct ReplayedRecord {
        public let type: UInt8
        /// The payload, borrowed from the read buffer: valid only during the call.
        public let payload: UnsafeRawBufferPointer
        /// While the snapshot is replayed, how many records it holds in all (so the
        /// receiver can reserve room once); 0 for the records of segments.
        public let snapshotRecords: Int
    }

    /// As `init(directory:options:logger:replay:)`, but each payload is lent from the read
    /// buffer instead of copied into an array of its own (a restart replays a million).
    public init(directory: String, options: Options, logger: Logger,
                replayBorrowed replay: (ReplayedRecord) throws -> Void) throws {
        core = try LogCore(directory: directory, options: options, logger: logger, replay: replay)
    }

    deinit { core.close() }

    /// Queues one record and returns its sequence number. Never blocks on I/O. Throws
    /// once the log has failed or been closed, or if the payload is too large.
    public func append(type: UInt8, payload: [UInt8]) throws -> UInt64 {
        try core.append(type: type, payload: payload)
    }

    /// Calls `completion` on the completion queue once every record up to `sequence` is
    /// durable, or with the error that stopped the log. Completions registered in sequence
    /// order run in sequence order; one for an already durable sequence is queued at once.
    /// Cheap and non-blocking: it may be called under the caller's lock (which is how a
    /// caller makes registration order follow append order).
    public func whenDurable(_ sequence: UInt64, _ completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        core.whenDurable(sequence, completion)
    }

    /// The highest sequence number known durable (lock-free).
    public var durableSequence: UInt64 { core.durable.load(ordering: .acquiring) }

    /// The error that stopped the log (sticky; see `WALError.writeFailed`), nil while it
    /// accepts writes.
    public var failure: WALError? { core.state.withLock { $0.failure } }

    /// Bytes appended (records with their framing) since the point of the last completed
    /// snapshot, or since the log began (lock-free).
    public var bytesSinceSnapshot: Int {
        core.appendedBytes.load(ordering: .relaxed) - core.snapshotBaseline.load(ordering: .relaxed)
    }

    /// Compaction, step 1 (cheap, no I/O; call under the same lock as `append`): every
    /// record appended before this call will be covered by the snapshot, every later one
    /// goes to a new segment.
    public func beginSnapshot() throws -> JournalSnapshotPoint {
        try core.beginSnapshot()
    }

    /// Compaction, step 2 (blocking; call from a background thread): writes the records
    /// `produce` emits as the snapshot for `point` (temporary file, sync, rename, directory
    /// sync), then deletes the segments and the older snapshot it covers. On failure the
    /// log's previous state is intact and the error is thrown; the log keeps running.
    public func writeSnapshot(
        at point: JournalSnapshotPoint,
        _ produce: (_ emit: (_ type: UInt8, _ payload: [UInt8]) throws -> Void) throws -> Void
    ) throws {
        try core.writeSnapshot(at: point, produce)
    }

    /// Writes and syncs whatever is queued, completes its waiters (and, unless called on
    /// the completion queue, waits until they have run), trims and closes the files and
    /// releases the directory. Later appends throw `WALError.closed`. Idempotent.
    public func close() {
        core.close()
    }
}

/// Where a snapshot cuts the log: the last sequence it covers and the first segment it
/// does not.
public struct JournalSnapshotPoint: Sendable, Hashable {
    public let lastSequence: UInt64
    public let nextSegment: UInt64

    public init(lastSequence: UInt64, nextSegment: UInt64) {
        self.lastSequence = lastSequence
        self.nextSegment = nextSegment
    }
}

/// The log's shared state and its writer thread. Separate from `WriteAheadLog` so the
/// writer thread does not keep the public object alive: dropping the last reference to
/// the log closes it.
final class LogCore: Sendable {
    struct Waiter {
        let sequence: UInt64
        let completion: @Sendable (Result<Void, any Error>) -> Void
    }

    /// Everything `state` protects.
    struct State {
        /// Unsealed records not yet taken by the writer.
        var pending: [UInt8] = []
        /// When the first record now in `pending` was appended (monotonic ns; statistics,
        /// read only with a `batchObserver`).
        var pendingSince: UInt64 = 0
        /// Segment changes inside `pending`.
        var cuts: [SegmentCut] = []
        var nextSequence: UInt64
        /// The segment the next record goes to, and what it holds so far (header included).
        var segment: UInt64
        var segmentBytes: Int
        var segmentRecords: Int
        /// The writer is (about to be) waiting on `wakeWriter`; whoever clears this signals.
        var writerWaiting = false
        var closing = false
        /// The writer thread has exited.
        var writerExited = false
        var failure: WALError?
        var durable: UInt64
        /// The newest segment the writer has created (and synced everything before).
        var openedSegment: UInt64
        /// Sorted by sequence; equal sequences in registration order.
        var waiters: [Waiter] = []
        var segmentWaiters: [(segment: UInt64, wake: @Sendable (WALError?) -> Void)] = []
        /// `beginSnapshot` results not yet written: next segment -> (last sequence, bytes
        /// appended before it).
        var snapshotPoints: [UInt64: (lastSequence: UInt64, baseline: Int)] = [:]
        /// Segments below this are covered by the newest snapshot (1 if there is none).
        var snapshotSegment: UInt64
        var snapshotInProgress = false

        mutating func cut() {
            segment += 1
            cuts.append(SegmentCut(offset: pending.count, segment: segment, firstSequence: nextSequence))
            segmentBytes = FileHeader.size
            segmentRecords = 0
        }

        mutating func addWaiter(_ waiter: Waiter) {
            guard let last = waiters.last, last.sequence > waiter.sequence else {
                waiters.append(waiter)
                return
            }
            var low = 0, high = waiters.count
            while low < high {
                let middle = (low + high) / 2
                if waiters[middle].sequence <= waiter.sequence { low = middle + 1 } else { high = middle }
            }
            waiters.insert(waiter, at: low)
        }

        /// Removes and returns the waiters satisfied by `durable`.
        mutating func takeWaiters(upTo durable: UInt64) -> [Waiter] {
            var count = 0
            while count < waiters.count && waiters[count].sequence <= durable { count += 1 }
            guard count > 0 else { return [] }
            let ready = Array(waiters[..<count])
            waiters.removeFirst(count)
            return ready
        }

        /// Clears `writerWaiting`; true if the caller must signal the writer.
        mutating func claimWakeUp() -> Bool {
            defer { writerWaiting = false }
            return writerWaiting
        }
    }

    let directory: String
    let options: WriteAheadLog.Options
    let logger: Logger
    let state: Mutex<State>
    /// Mirrors `State.durable` for lock-free reads.
    let durable: Atomic<UInt64>
    /// Record bytes appended since the log began (recovered segments included).
    let appendedBytes: Atomic<Int>
    /// `appendedBytes` at the point of the newest completed snapshot.
    let snapshotBaseline: Atomic<Int>
    let wakeWriter = DispatchSemaphore(value: 0)
    let writerDone = DispatchGroup()
    let completionQueue: DispatchQueue
    private static let completionQueueKey = DispatchSpecificKey<ObjectIdentifier>()
    /// Buffers above this size are not kept for reuse after a burst.
    static let retainedBufferBytes = 16 << 20

    init(directory: String, options: WriteAheadLog.Options, logger: Logger,
         replay: (WriteAheadLog.ReplayedRecord) throws -> Void) throws {
        precondition(options.segmentBytes >= FileHeader.size + RecordHeader.size, "segmentBytes too small")
        precondition(options.maximumRecordBytes <= 1 << 30, "maximumRecordBytes above 1 GiB")
        self.directory = directory
        self.options = options
        self.logger = logger
        let recovery = try Recovery.open(directory: directory, options: options, logger: logger, replay: replay)
        var state = State(nextSequence: recovery.lastSequence + 1, segment: recovery.segment,
                          segmentBytes: recovery.segmentBytes, segmentRecords: recovery.segmentRecords,
                          durable: recovery.lastSequence, openedSegment: recovery.segment,
                          snapshotSegment: recovery.snapshotSegment)
        state.pending.reserveCapacity(1 << 20)
        self.state = Mutex(state)
        durable = Atomic(recovery.lastSequence)
        appendedBytes = Atomic(recovery.recordBytes)
        snapshotBaseline = Atomic(0)
        completionQueue = DispatchQueue(label: "bbs.wal.completions")
        completionQueue.setSpecific(key: Self.completionQueueKey, value: ObjectIdentifier(self))

        writerDone.enter()
        let writer = recovery.writer
        let thread = Thread { [self] in runWriter(writer) }
        thread.name = "bbs.wal.writer"
        thread.start()
    }

    // MARK: - Appending

    func append(type: UInt8, payload: [UInt8]) throws -> UInt64 {
        guard payload.count <= options.maximumRecordBytes else {
            throw WALError.tooLarge(payload.count, limit: options.maximumRecordBytes)
        }
        let size = RecordHeader.recordSize(payload: payload.count)
        let (sequence, wake) = try state.withLock { state throws(WALError) -> (UInt64, Bool) in
            if let failure = state.failure { throw failure }
            if state.closing { throw WALError.closed("append after close") }
            if state.segmentRecords > 0 && state.segmentBytes + size > options.segmentBytes { state.cut() }
            let sequence = state.nextSequence
            state.nextSequence += 1
            if state.pending.isEmpty && options.batchObserver != nil {
                state.pendingSince = DispatchTime.now().uptimeNanoseconds
            }
            RecordHeader.appendUnsealed(to: &state.pending, sequence: sequence, type: type, payload: payload)
            state.segmentBytes += size
            state.segmentRecords += 1
            appendedBytes.add(size, ordering: .relaxed)
            return (sequence, state.claimWakeUp())
        }
        if wake { wakeWriter.signal() }
        return sequence
    }

    func whenDurable(_ sequence: UInt64, _ completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        state.withLock { state in
            // Queued under the lock, so a completion for an already durable sequence cannot
            // overtake the writer's batch for earlier ones.
            if sequence <= state.durable {
                completionQueue.async { completion(.success(())) }
            } else if let failure = state.failure {
                completionQueue.async { completion(.failure(failure)) }
            } else if state.writerExited {
                completionQueue.async { completion(.failure(WALError.closed("sequence \(sequence) was never appended"))) }
            } else {
                state.addWaiter(Waiter(sequence: sequence, completion: completion))
            }
        }
    }

    // MARK: - The writer thread

    private enum WriterStep {
        case write(lastSequence: UInt64, since: UInt64)
        case sleep
        case finish
        case stop
    }

    private func runWriter(_ initial: SegmentWriter) {
        var writer = initial
        var batch: [UInt8] = []
        batch.reserveCapacity(1 << 20)
        var cuts: [SegmentCut] = []
        loop: while true {
            let step: WriterStep = state.withLock { state in
                if state.failure != nil { return .stop }
                if state.pending.isEmpty && state.cuts.isEmpty {
                    if state.closing { return .finish }
                    state.writerWaiting = true
                    return .sleep
                }
                swap(&state.pending, &batch)
                swap(&state.cuts, &cuts)
                defer { state.pendingSince = 0 }
                return .write(lastSequence: state.nextSequence - 1, since: state.pendingSince)
            }
            switch step {
            case .sleep:
                wakeWriter.wait()
            case .stop:
                writer.abandon()
                break loop
            case .finish:
                if let error = writer.finish() {
                    logger.error("close-failed", ["error": error.description])
                }
                finish()
                break loop
            case .write(let lastSequence, let since):
                let firstSequence = writer.committed + 1
                let timing: SegmentWriter.BatchTiming
                do {
                    timing = try writer.write(&batch, cuts: cuts, lastSequence: lastSequence)
                } catch {
                    fail(error)
                    writer.abandon()
                    break loop
                }
                publish(durable: lastSequence, openedSegment: writer.number)
                // A pass may carry no record at all: only the cut to a new segment that a
                // snapshot asked for (`lastSequence` is then `firstSequence - 1`).
                if let observer = options.batchObserver, lastSequence >= firstSequence {
                    let now = DispatchTime.now().uptimeNanoseconds
                    let records = Int(lastSequence - firstSequence + 1)
                    observer(WriteAheadLog.BatchReport(
                        records: records, bytes: batch.count,
                        writeNanoseconds: timing.writeNanoseconds, syncNanoseconds: timing.syncNanoseconds,
                        oldestWaitNanoseconds: records > 0 && since > 0 && since <= now ? now - since : 0))
                }
                if batch.capacity > Self.retainedBufferBytes {
                    batch = []
                    batch.reserveCapacity(1 << 20)
                } else {
                    batch.removeAll(keepingCapacity: true)
                }
                cuts.removeAll(keepingCapacity: true)
            }
        }
        writerDone.leave()
    }

    private func publish(durable sequence: UInt64, openedSegment: UInt64) {
        let segmentWaiters = state.withLock { state in
            state.durable = sequence
            durable.store(sequence, ordering: .releasing)
            state.openedSegment = openedSegment
            let ready = state.takeWaiters(upTo: sequence)
            if !ready.isEmpty {
                completionQueue.async { for waiter in ready { waiter.completion(.success(())) } }
            }
            let opened = state.segmentWaiters.filter { $0.segment <= openedSegment }
            state.segmentWaiters.removeAll { $0.segment <= openedSegment }
            return opened
        }
        for waiter in segmentWaiters { waiter.wake(nil) }
    }

    /// Sticky failure: nothing more is written; every waiter gets `error`.
    private func fail(_ error: WALError) {
        logger.error("write-failed", ["error": error.description])
        let segmentWaiters = state.withLock { state in
            state.failure = error
            state.writerExited = true
            state.pending = []
            state.cuts = []
            let waiters = state.waiters
            state.waiters = []
            if !waiters.isEmpty {
                completionQueue.async { for waiter in waiters { waiter.completion(.failure(error)) } }
            }
            defer { state.segmentWaiters = [] }
            return state.segmentWaiters
        }
        for waiter in segmentWaiters { waiter.wake(error) }
    }

    /// Clean exit after `close`: waiters still registered are for records never appended.
    private func finish() {
        let segmentWaiters = state.withLock { state in
            state.writerExited = true
            let waiters = state.waiters
            state.waiters = []
            if !waiters.isEmpty {
                completionQueue.async {
                    for waiter in waiters {
                        waiter.completion(.failure(WALError.closed("sequence \(waiter.sequence) was never appended")))
                    }
                }
            }
            defer { state.segmentWaiters = [] }
            return state.segmentWaiters
        }
        for waiter in segmentWaiters { waiter.wake(WALError.closed("closed before the snapshot's segment was created")) }
    }

    func close() {
        let wake = state.withLock { state in
            state.closing = true
            return state.claimWakeUp()
        }
        if wake { wakeWriter.signal() }
        writerDone.wait()
        if DispatchQueue.getSpecific(key: Self.completionQueueKey) != ObjectIdentifier(self) {
            completionQueue.sync {}
        }
    }

    // MARK: - Compaction

    func beginSnapshot() throws -> JournalSnapshotPoint {
        let (point, wake) = try state.withLock { state throws(WALError) -> (JournalSnapshotPoint, Bool) in
            if let failure = state.failure { throw failure }
            if state.closing { throw WALError.closed("snapshot after close") }
            var wake = false
            if state.segmentRecords > 0 {
                state.cut()
                wake = state.claimWakeUp()
            }
            let point = JournalSnapshotPoint(lastSequence: state.nextSequence - 1, nextSegment: state.segment)
            state.snapshotPoints[point.nextSegment] = (point.lastSequence, appendedBytes.load(ordering: .relaxed))
            return (point, wake)
        }
        if wake { wakeWriter.signal() }
        return point
    }

    func writeSnapshot(at point: JournalSnapshotPoint,
                       _ produce: (_ emit: (UInt8, [UInt8]) throws -> Void) throws -> Void) throws {
        let baseline = try state.withLock { state throws(WALError) -> Int in
            if state.snapshotInProgress { throw WALError.busy() }
            guard let begun = state.snapshotPoints[point.nextSegment], begun.lastSequence == point.lastSequence else {
                throw WALError.invalidPoint("\(point) was not returned by beginSnapshot")
            }
            // Equal is fine: nothing was appended since that snapshot, and the new file
            // replaces it under the same name.
            guard point.nextSegment >= state.snapshotSegment else {
                throw WALError.invalidPoint("\(point) is older than the snapshot ending before segment \(state.snapshotSegment)")
            }
            state.snapshotInProgress = true
            return begun.baseline
        }
        defer { state.withLock { $0.snapshotInProgress = false } }

        try waitForSegment(point.nextSegment)
        let snapshot = SnapshotWriter(directory: directory, options: options, point: point)
        let stats = try snapshot.write(produce)
        state.withLock { state in
            state.snapshotSegment = point.nextSegment
            state.snapshotPoints = state.snapshotPoints.filter { $0.key > point.nextSegment }
        }
        snapshotBaseline.store(baseline, ordering: .relaxed)
        let removed = snapshot.removeCovered(logger: logger)
        logger.info("snapshot-written", [
            "file": LogFileName.snapshot(point.nextSegment),
            "records": String(stats.records),
            "bytes": String(stats.bytes),
            "last_sequence": String(point.lastSequence),
            "removed_files": String(removed),
        ])
    }

    /// Blocks until the writer has created `segment`: then every record before it is
    /// durable in the segments the snapshot replaces.
    private func waitForSegment(_ segment: UInt64) throws {
        let semaphore = DispatchSemaphore(value: 0)
        let outcome = Mutex<WALError?>(nil)
        let immediate = state.withLock { state -> Swift.Result<Bool, WALError> in
            if state.openedSegment >= segment { return .success(true) }
            if let failure = state.failure { return .failure(failure) }
            if state.writerExited { return .failure(WALError.closed("closed before the snapshot's segment was created")) }
            state.segmentWaiters.append((segment, { error in
                outcome.withLock { $0 = error }
                semaphore.signal()
            }))
            return .success(false)
        }
        if try immediate.get() { return }
        semaphore.wait()
        if let error = outcome.withLock({ $0 }) { throw error }
    }
}
