import BBSLog
import BBSPosix
import Foundation
import Synchronization
import Testing
@testable import BBSWAL

@Suite struct BatchStatisticsTests {
    @Test func everyDurableRecordIsReportedInExactlyOneBatch() async throws {
        try await withLogDirectory { directory in
            let reports = Mutex<[WriteAheadLog.BatchReport]>([])
            var options = WriteAheadLog.Options.testing(segmentBytes: 4096)
            options.batchObserver = { report in reports.withLock { $0.append(report) } }
            let (log, _) = try openLog(directory, options)
            // One record alone, then 40 appended together (a few batches, with segment cuts).
            try await log.appendDurably(Replayed(type: 1, payload: payload(0)))
            var last: UInt64 = 0
            for record in records(1...40, count: 100) { last = try log.append(type: record.type, payload: record.payload) }
            try await log.durable(last).get()
            log.close()

            let seen = reports.withLock { $0 }
            #expect(seen.first?.records == 1)
            #expect(seen.first?.bytes == RecordHeader.recordSize(payload: 40))
            #expect(seen.reduce(0) { $0 + $1.records } == 41)
            #expect(seen.reduce(0) { $0 + $1.bytes }
                    == RecordHeader.recordSize(payload: 40) + 40 * RecordHeader.recordSize(payload: 100))
            #expect(seen.allSatisfy { $0.records > 0 })
            // A record waits at least as long as its batch's write and sync took.
            #expect(seen.allSatisfy { $0.oldestWaitNanoseconds >= $0.writeNanoseconds + $0.syncNanoseconds })
        }
    }

    /// A snapshot that begins once every record is already written makes the writer cut
    /// to a new segment with no record to write: not a batch, and no trap.
    @Test func aCutWithoutRecordsIsNotReportedAsABatch() async throws {
        try await withLogDirectory { directory in
            let reports = Mutex<[WriteAheadLog.BatchReport]>([])
            var options = WriteAheadLog.Options.testing()
            options.batchObserver = { report in reports.withLock { $0.append(report) } }
            let (log, _) = try openLog(directory, options)
            try await log.appendDurably(Replayed(type: 1, payload: payload(0)))
            let point = try log.beginSnapshot()
            // Returns once the writer has created the new segment, i.e. has handled the cut.
            try log.writeSnapshot(at: point) { emit in try emit(1, payload(0)) }
            try await log.appendDurably(Replayed(type: 1, payload: payload(1)))
            log.close()
            #expect(reports.withLock { $0.map(\.records) } == [1, 1])
        }
    }

    @Test func withoutFsyncNoSyncTimeIsReported() async throws {
        try await withLogDirectory { directory in
            let reports = Mutex<[WriteAheadLog.BatchReport]>([])
            var options = WriteAheadLog.Options.testing()
            options.fsync = false
            options.batchObserver = { report in reports.withLock { $0.append(report) } }
            let (log, _) = try openLog(directory, options)
            try await log.appendDurably(Replayed(type: 1, payload: payload(0)))
            log.close()
            #expect(reports.withLock { $0.map(\.records) } == [1])
            #expect(reports.withLock { $0.map(\.syncNanoseconds) } == [0])
        }
    }

    @Test func theFailureIsVisibleOnceTheLogHasStopped() async throws {
        try await withLogDirectory { directory in
            let gate = FaultGate()
            var options = WriteAheadLog.Options.testing()
            options.faultInjection = gate.injection
            let (log, _) = try openLog(directory, options)
            try await log.appendDurably(Replayed(type: 1, payload: payload(0)))
            #expect(log.failure == nil)
            gate.fail(at: .synchronize)
            let doomed = try log.append(type: 1, payload: payload(1))
            _ = await log.durable(doomed)
            #expect(log.failure == .writeFailed)
            log.close()
        }
    }
}

@Suite struct SnapshotFileTests {
    private let state = [Replayed(type: 1, payload: payload(7)), Replayed(type: 4, payload: []),
                         Replayed(type: 1, payload: payload(8, count: 3000))]

    private func backupFile(_ directory: String, lastSequence: UInt64, chunked: Bool = false) throws -> String {
        var encoder = SnapshotFileEncoder(nextSegment: 1, lastSequence: lastSequence)
        var bytes: [UInt8] = []
        for record in state {
            try encoder.append(type: record.type, payload: record.payload)
            if chunked { bytes += encoder.take() }
        }
        encoder.finish()
        bytes += encoder.take()
        let path = directory + ".backup"
        try writeFile(path, bytes)
        return path
    }

    @Test func anEncodedFileIsTheSnapshotCompactionWrites() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory)
            for record in records(1...5) { try await log.appendDurably(record) }
            let point = try log.beginSnapshot()
            try log.writeSnapshot(at: point) { emit in for record in state { try emit(record.type, record.payload) } }
            log.close()

            var encoder = SnapshotFileEncoder(nextSegment: point.nextSegment, lastSequence: point.lastSequence)
            for record in state { try encoder.append(type: record.type, payload: record.payload) }
            encoder.finish()
            #expect(encoder.take() == (try readFile(filePath(directory, LogFileName.snapshot(point.nextSegment)))))
        }
    }

    @Test(arguments: [false, true])
    func aRestoredBackupOpensAsALogThatContinuesItsSequence(chunked: Bool) async throws {
        try await withLogDirectory { directory in
            let backup = try backupFile(directory, lastSequence: 41, chunked: chunked)
            defer { try? FileManager.default.removeItem(atPath: backup) }
            var visited: [Replayed] = []
            let inspection = try WriteAheadLog.restore(snapshotFile: backup, into: directory) { record in
                visited.append(Replayed(type: record.type, payload: record.payload))
            }
            #expect(visited == state)
            #expect(inspection.snapshot?.lastSequence == 41)
            #expect(try directoryNames(directory) == [LogFileName.snapshot(1)])
            #expect(!FileManager.default.fileExists(atPath: directory + ".restoring"))

            let (log, replayed) = try openLog(directory)
            #expect(replayed == state)
            #expect(try log.append(type: 9, payload: []) == 42)
            log.close()
        }
    }

    @Test func restoreRefusesADirectoryThatIsNotEmpty() async throws {
        try await withLogDirectory { directory in
            let backup = try backupFile(directory, lastSequence: 3)
            defer { try? FileManager.default.removeItem(atPath: backup) }
            let (log, _) = try openLog(directory)
            try await log.appendDurably(Replayed(type: 1, payload: payload(1)))
            log.close()
            let before = try directoryNames(directory)
            #expect(throws: WALError.restoreRefused) { try WriteAheadLog.restore(snapshotFile: backup, into: directory) }
            #expect(try directoryNames(directory) == before)
        }
    }

    @Test func restoreIntoAnEmptyExistingDirectoryWorks() async throws {
        try await withLogDirectory { directory in
            let backup = try backupFile(directory, lastSequence: 3)
            defer { try? FileManager.default.removeItem(atPath: backup) }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try WriteAheadLog.restore(snapshotFile: backup, into: directory)
            #expect(try replay(directory) == state)
        }
    }

    @Test func aDamagedBackupIsRefusedAndNothingIsLeftBehind() async throws {
        try await withLogDirectory { directory in
            let backup = try backupFile(directory, lastSequence: 3)
            defer { try? FileManager.default.removeItem(atPath: backup) }
            try flipByte(backup, at: FileHeader.size + RecordHeader.size + 3)  // inside the first payload
            #expect(throws: WALError.corruptLog) { try WriteAheadLog.restore(snapshotFile: backup, into: directory) }
            #expect(!FileManager.default.fileExists(atPath: directory))
            #expect(!FileManager.default.fileExists(atPath: directory + ".restoring"))

            // A truncated one (a backup download cut short) has no valid footer.
            let whole = try readFile(backup)
            try writeFile(backup, Array(whole.prefix(whole.count - 8)))
            #expect(throws: WALError.corruptLog) { try WriteAheadLog.restore(snapshotFile: backup, into: directory) }
            #expect(!FileManager.default.fileExists(atPath: directory))
        }
    }

    @Test func aVisitorThatThrowsRefusesTheContent() async throws {
        struct Unwanted: Error {}
        try await withLogDirectory { directory in
            let backup = try backupFile(directory, lastSequence: 3)
            defer { try? FileManager.default.removeItem(atPath: backup) }
            #expect(throws: Unwanted.self) {
                try WriteAheadLog.restore(snapshotFile: backup, into: directory) { _ in throw Unwanted() }
            }
            #expect(!FileManager.default.fileExists(atPath: directory))
        }
    }

    @Test func aFileThatIsNotASnapshotIsRefused() async throws {
        try await withLogDirectory { directory in
            let bogus = directory + ".bogus"
            try writeFile(bogus, Array(repeating: 7, count: 100))
            defer { try? FileManager.default.removeItem(atPath: bogus) }
            #expect(throws: WALError.corruptLog) { try WriteAheadLog.restore(snapshotFile: bogus, into: directory) }
            #expect(!FileManager.default.fileExists(atPath: directory))
        }
    }
}

@Suite struct DirectoryInUseTests {
    @Test func theLockIsSeenWhileALogIsOpenAndNotAfter() async throws {
        try await withLogDirectory { directory in
            #expect(try WriteAheadLog.isInUse(directory: directory) == false)  // no directory yet
            let (log, _) = try openLog(directory)
            #expect(try WriteAheadLog.isInUse(directory: directory))
            // Probing did not take the lock away from the open log.
            try await log.appendDurably(Replayed(type: 1, payload: payload(1)))
            #expect(throws: WALError.directoryInUse) { try openLog(directory) }
            log.close()
            #expect(try WriteAheadLog.isInUse(directory: directory) == false)
        }
    }
}
