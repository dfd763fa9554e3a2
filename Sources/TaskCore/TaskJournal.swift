import BBSWAL

/// What the task store needs from a durable log. `WriteAheadLog` is the real one; the
/// store's unit tests use an in-memory journal.
///
/// Contract:
/// * `append` never blocks on I/O. The store calls it under its own lock, so sequence
///   numbers (1, 2, 3, ... strictly increasing for the life of the log) follow commit order.
/// * `whenDurable(n)` runs its completion once every record up to `n` is on disk
///   (written and fsync'd), possibly batched with others behind one fsync (group
///   commit). Completions run on the journal's own completion queue, in sequence order,
///   **never inline** (the store registers them under its lock, which is what keeps
///   observers in commit order); a sequence that is already durable completes promptly
///   on that queue, after any earlier completion.
/// * After a failed write or fsync every pending and later completion gets the error and
///   every later `append` throws (sticky failure): the log never pretends.
public protocol TaskJournal: AnyObject, Sendable {
    /// Queues one record and returns its sequence number.
    func append(type: UInt8, payload: [UInt8]) throws -> UInt64

    /// Calls `completion` once every record up to `sequence` is durable, or with the error
    /// that stopped the log.
    func whenDurable(_ sequence: UInt64, _ completion: @escaping @Sendable (Result<Void, any Error>) -> Void)

    /// The highest sequence number known to be durable.
    var durableSequence: UInt64 { get }

    /// Bytes appended since the last completed snapshot (the store decides when to compact).
    var bytesSinceSnapshot: Int { get }

    /// Compaction, step 1, called under the store's lock: every record appended before
    /// this call will be covered by the snapshot; later records go to a new segment.
    func beginSnapshot() throws -> JournalSnapshotPoint

    /// Compaction, step 2, from a background thread: writes a snapshot made of the
    /// records that `produce` emits (temp file, fsync, rename, directory fsync), then
    /// drops the segments it covers. Replay afterwards = snapshot records, then every
    /// record appended after `point`.
    func writeSnapshot(
        at point: JournalSnapshotPoint,
        _ produce: (_ emit: (_ type: UInt8, _ payload: [UInt8]) throws -> Void) throws -> Void
    ) throws

    /// Writes and fsyncs whatever is queued, completes its waiters, then closes the files.
    /// Later appends throw.
    func close()
}

/// The write-ahead log is the store's journal (`JournalSnapshotPoint` comes from BBSWAL).
extension WriteAheadLog: TaskJournal {}
