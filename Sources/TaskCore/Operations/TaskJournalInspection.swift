import BBSModels
import BBSWAL

/// What an operator wants to know about a task journal before touching it (an upgrade, a
/// restore): its files, whether it ends in a torn tail, how many records of each kind it
/// holds, and the tasks it replays to. Read without changing anything.
public struct TaskJournalInspection: Sendable {
    /// The log's layout: snapshot, segments, torn tail, leftover files, last sequence.
    public let log: WriteAheadLog.Inspection
    /// Records by kind (`put-task`, `update-task`, `remove-task`, `put-domain`, or
    /// `unknown-<n>`), snapshot and segments together.
    public let recordsByType: [String: Int]
    /// Records inside the snapshot.
    public let snapshotRecords: Int
    /// The tasks the records replay to.
    public let counts: TaskCounts
    /// Domains and their expiry (Unix ns; `Int64.max` = never).
    public let domains: [String: Int64]
    /// The first record that does not replay (the server would refuse to start), if any;
    /// counts above stop at it.
    public let replayError: String?

    /// Reads the journal in `directory`. Throws `WALError` where opening the log would
    /// fail (damage other than a torn tail, missing data); a record the store cannot apply
    /// is reported in `replayError` instead, so the layout is still shown.
    public static func inspect(directory: String) throws -> TaskJournalInspection {
        var recovery = TaskStoreRecovery()
        var byType: [String: Int] = [:]
        var snapshotRecords = 0
        var replayError: String?
        let log = try WriteAheadLog.inspect(directory: directory) { record in
            byType[recordTypeName(record.type), default: 0] += 1
            if record.isSnapshot { snapshotRecords += 1 }
            guard replayError == nil else { return }
            do {
                try recovery.apply(type: record.type, payload: record.payload)
            } catch {
                replayError = "\(record.file) at offset \(record.offset) (sequence \(record.sequence)): \(error)"
            }
        }
        return TaskJournalInspection(log: log, recordsByType: byType, snapshotRecords: snapshotRecords,
                                     counts: recovery.counts, domains: recovery.domains,
                                     replayError: replayError)
    }

    /// The name of a journal record type, as the inspector prints it.
    public static func recordTypeName(_ type: UInt8) -> String {
        switch TaskStore.RecordType(rawValue: type) {
        case .putTask?: return "put-task"
        case .updateTask?: return "update-task"
        case .removeTask?: return "remove-task"
        case .putDomain?: return "put-domain"
        case nil: return "unknown-\(type)"
        }
    }
}
