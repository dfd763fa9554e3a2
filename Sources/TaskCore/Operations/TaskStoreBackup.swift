import BBSModels
import BBSWAL

/// A consistent copy of the whole store (`TaskStore.backup`), written as a write-ahead log
/// snapshot file: the same records a compaction writes (every domain, then every task
/// whole), framed and checksummed as docs/WAL.md describes, with the store's last journal
/// sequence in its header. Restoring it (`restore(from:intoJournalDirectory:)`) makes it the
/// whole content of a new log; a server opened on that log has exactly the state of the
/// moment the copy was taken.
public struct TaskStoreBackup: Sendable {
    /// The journal sequence of the last change the copy contains.
    public let lastSequence: UInt64
    let tasks: TaskTable.Snapshot
    let domains: [String: Int64]

    init(lastSequence: UInt64, tasks: TaskTable.Snapshot, domains: [String: Int64]) {
        self.lastSequence = lastSequence
        self.tasks = tasks
        self.domains = domains
    }

    public var taskCount: Int { tasks.count }

    /// Tasks by domain and state in the copy.
    public var counts: TaskCounts { TaskCounts(tasks.lazy.map(\.record)) }

    /// Encodes the snapshot file and hands it to `write` in chunks of about `chunkBytes`
    /// (the last one ends with the footer). Errors `write` throws stop the encoding and are
    /// rethrown.
    public func write(chunkBytes: Int = 1 << 20, to write: ([UInt8]) throws -> Void) throws {
        var encoder = SnapshotFileEncoder(nextSegment: 1, lastSequence: lastSequence,
                                          reservingCapacity: chunkBytes + (64 << 10))
        _ = try TaskStore.emitState(tasks: tasks, domains: domains) { type, payload in
            try encoder.append(type: type, payload: payload)
            if encoder.bytes.count >= chunkBytes { try write(encoder.take()) }
        }
        encoder.finish()
        try write(encoder.take())
    }

    /// The whole snapshot file in memory (tests, small stores).
    public func fileBytes() throws -> [UInt8] {
        var bytes: [UInt8] = []
        try write { bytes += $0 }
        return bytes
    }

    /// Installs the backup `file` as the journal in `directory` (which must not exist or be
    /// empty; see `WriteAheadLog.restore`). Every record is checked and replayed into a
    /// `TaskStoreRecovery` first, so a backup the server could not start from is refused
    /// and nothing is put in place. Returns the recovered state.
    public static func restore(from file: String, intoJournalDirectory directory: String,
                               fsync: Bool = true) throws -> TaskStoreRecovery {
        var recovery = TaskStoreRecovery()
        try WriteAheadLog.restore(snapshotFile: file, into: directory, fsync: fsync) { record in
            try recovery.apply(type: record.type, payload: record.payload)
        }
        return recovery
    }
}
