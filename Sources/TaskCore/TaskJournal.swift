/// What the task store needs from a durable log. `WriteAheadLog` is the real one;
/// tests use an in-memory journal.
///
/// Contract: `append` calls are ordered (the store calls it under its own lock, in the
/// order it applied the changes); each completion runs once the record is durable
/// (fsync'd), in append order, possibly batched with others behind one fsync. After a
/// failed write or fsync every later append fails too (sticky failure).
public protocol TaskJournal: AnyObject, Sendable {
    func append(_ record: [UInt8], completion: @escaping @Sendable (Result<Void, any Error>) -> Void)

    /// Starts a compaction. Every record appended before this call must be reflected in
    /// the snapshot, which `writeSnapshot` produces (on a background queue) by calling
    /// `emit` once per snapshot record; the journal then drops what the snapshot covers.
    /// Call it under the same lock as `append` so the boundary is exact.
    func compact(writeSnapshot: @escaping @Sendable (_ emit: ([UInt8]) throws -> Void) throws -> Void)

    /// Bytes appended since the last completed snapshot (the store uses it to decide when
    /// to compact).
    var bytesSinceSnapshot: Int { get }
}
