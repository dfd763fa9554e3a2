import BBSModels
import BBSWAL
import Foundation
import TaskCore

/// `bbs-server inspect` and `bbs-server restore`: the offline tools an operator uses
/// around an upgrade. Both work on `<data_dir>/wal`, the directory the server keeps its
/// log in.
enum OperatorCommands {
    static func journalDirectory(dataDir: String) -> String {
        (dataDir as NSString).appendingPathComponent("wal")
    }

    // MARK: - inspect

    /// Describes the log in `dataDir` without changing anything. Reading a log a server is
    /// writing is safe but shows a moment of it, and records being written may appear as
    /// a torn tail: say so rather than refuse, since looking at a live server is useful.
    static func inspect(dataDir: String) -> (output: String, status: Int32) {
        let directory = journalDirectory(dataDir: dataDir)
        guard FileManager.default.fileExists(atPath: directory) else {
            return ("no write-ahead log at \(directory)\n", 1)
        }
        do {
            let inUse = try WriteAheadLog.isInUse(directory: directory)
            let inspection = try TaskJournalInspection.inspect(directory: directory)
            return (render(inspection, directory: directory, inUse: inUse), inspection.replayError == nil ? 0 : 1)
        } catch {
            return ("\(directory): \(error)\nthe server would refuse to start on this log\n", 1)
        }
    }

    static func render(_ report: TaskJournalInspection, directory: String, inUse: Bool) -> String {
        let log = report.log
        var out = "write-ahead log: \(directory)\n"
        if inUse {
            out += "warning: a server has this log open; this is a snapshot of a moving log, and records being written may show as a torn tail\n"
        }
        if let snapshot = log.snapshot {
            out += "snapshot: \(snapshot.file)  records=\(snapshot.records)  last_sequence=\(snapshot.lastSequence)\n"
        } else {
            out += "snapshot: none\n"
        }
        out += "segments: \(log.segments.count)\n"
        for segment in log.segments {
            out += "  \(segment.file)  first_sequence=\(segment.firstSequence)  records=\(segment.records)"
            out += "  valid_bytes=\(segment.validBytes)  file_bytes=\(segment.fileBytes)\n"
        }
        if let torn = log.tornTail {
            out += "torn tail: \(torn.file) at offset \(torn.offset): \(torn.reason) (\(torn.discardedBytes) bytes, "
            out += "\(torn.discardedRecords) whole records would be cut off when the server opens the log)\n"
        } else {
            out += "torn tail: none\n"
        }
        if !log.leftoverFiles.isEmpty {
            out += "leftover files (removed when the server opens the log): \(log.leftoverFiles.joined(separator: " "))\n"
        }
        out += "last sequence: \(log.lastSequence)\n"
        out += "records: \(report.recordsByType.values.reduce(0, +)) (\(report.snapshotRecords) in the snapshot)\n"
        for type in report.recordsByType.keys.sorted() {
            out += "  \(type): \(report.recordsByType[type]!)\n"
        }
        if let error = report.replayError {
            out += "replay error: \(error)\nthe server would refuse to start on this log; the counts below stop there\n"
        }
        let counts = report.counts
        out += "tasks: \(counts.total)\n"
        if !counts.domains.isEmpty {
            let states = TaskCounts.states
            let width = max(6, counts.domains.map(\.count).max() ?? 0)
            func pad(_ text: String, _ count: Int) -> String { text + String(repeating: " ", count: max(0, count - text.count)) }
            func row(_ first: String, _ cells: [String]) -> String {
                let line = "  " + pad(first, width) + cells.map { "  " + pad($0, 9) }.joined()
                return String(line.reversed().drop { $0 == " " }.reversed()) + "\n"
            }
            out += row("domain", states.map(\.description))
            for domain in counts.domains {
                out += row(domain, states.map { String(counts[domain, $0]) })
            }
        }
        out += "domains: \(report.domains.count)\n"
        for domain in report.domains.keys.sorted() {
            let expiry = report.domains[domain]!
            let until = expiry == Int64.max ? "never expires"
                : "fresh until " + ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(expiry) / 1e9))
            out += "  \(domain): \(until)\n"
        }
        return out
    }

    // MARK: - restore

    /// Installs the backup `file` (from `GET /backup` on the health listener) as the log of
    /// `dataDir`, which must not have one yet. The server must not be running on it.
    static func restore(backup file: String, dataDir: String) -> (output: String, status: Int32) {
        let directory = journalDirectory(dataDir: dataDir)
        if (try? WriteAheadLog.isInUse(directory: directory)) == true {
            return ("\(directory) is in use by a running server; stop it and restore into an empty data_dir\n", 1)
        }
        do {
            let recovery = try TaskStoreBackup.restore(from: file, intoJournalDirectory: directory)
            let counts = recovery.counts
            return ("restored \(file) into \(directory): \(counts.total) tasks in \(counts.domains.count) domains, "
                    + "\(recovery.domains.count) upserted domains\n", 0)
        } catch {
            return ("restore refused: \(error)\n\(directory) was left as it was\n", 1)
        }
    }
}
