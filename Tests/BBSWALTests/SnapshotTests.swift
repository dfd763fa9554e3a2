import BBSLog
import BBSPosix
import Foundation
import Testing
@testable import BBSWAL

@Suite struct SnapshotTests {
    private let options = WriteAheadLog.Options.testing(segmentBytes: 4096)
    /// What a store would emit as its whole state.
    private let state = [Replayed(type: 100, payload: payload(1000)), Replayed(type: 101, payload: []),
                         Replayed(type: 100, payload: payload(1001, count: 3000))]

    private func emitState(_ emit: (UInt8, [UInt8]) throws -> Void) throws {
        for record in state { try emit(record.type, record.payload) }
    }

    private func append(_ log: WriteAheadLog, _ range: ClosedRange<Int>) throws {
        for record in records(range, count: 300) { _ = try log.append(type: record.type, payload: record.payload) }
    }

    @Test func aSnapshotReplacesTheSegmentsItCovers() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory, options)
            try append(log, 1...50)
            let point = try log.beginSnapshot()
            #expect(point.lastSequence == 50)
            try append(log, 51...60)
            let before = log.bytesSinceSnapshot

            try log.writeSnapshot(at: point, emitState)
            #expect(log.bytesSinceSnapshot == 10 * RecordHeader.recordSize(payload: 300))
            #expect(log.bytesSinceSnapshot < before)
            let names = try directoryNames(directory)
            #expect(names.contains(LogFileName.snapshot(point.nextSegment)))
            #expect(!names.contains { $0.hasSuffix(".tmp") })
            for name in names {
                if case .segment(let number) = LogFileName.kind(of: name) { #expect(number >= point.nextSegment) }
            }
            log.close()

            let (reopened, replayed) = try openLog(directory, options)
            #expect(replayed == state + records(51...60, count: 300))
            #expect(reopened.durableSequence == 60)
            #expect(reopened.bytesSinceSnapshot == 10 * RecordHeader.recordSize(payload: 300))
            #expect(try reopened.append(type: 1, payload: []) == 61)
            reopened.close()
        }
    }

    @Test func aSnapshotWithNothingAfterItIsTheWholeLog() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory, options)
            try append(log, 1...30)
            try log.writeSnapshot(at: try log.beginSnapshot(), emitState)
            log.close()

            let inspection = try WriteAheadLog.inspect(directory: directory)
            #expect(inspection.snapshot?.lastSequence == 30)
            #expect(inspection.snapshot?.records == 3)
            #expect(inspection.segments.map(\.records) == [0])
            let (reopened, replayed) = try openLog(directory, options)
            #expect(replayed == state)
            #expect(try reopened.append(type: 1, payload: payload(31)) == 31)
            reopened.close()
            #expect(try replay(directory, options) == state + [Replayed(type: 1, payload: payload(31))])
        }
    }

    @Test func aNewerSnapshotReplacesTheOlderOne() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory, options)
            try append(log, 1...20)
            let first = try log.beginSnapshot()
            try log.writeSnapshot(at: first) { emit in try emit(1, [1]) }
            try append(log, 21...40)
            let second = try log.beginSnapshot()
            try log.writeSnapshot(at: second, emitState)
            try append(log, 41...45)
            log.close()

            let names = try directoryNames(directory)
            #expect(!names.contains(LogFileName.snapshot(first.nextSegment)))
            #expect(names.contains(LogFileName.snapshot(second.nextSegment)))
            #expect(try replay(directory, options) == state + records(41...45, count: 300))
        }
    }

    /// A crash after the temporary file was written but before the rename: the previous
    /// state is what the log replays, and the leftover is removed.
    @Test func aLeftoverTemporarySnapshotIsIgnoredAndRemoved() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory, options)
            try append(log, 1...20)
            let point = try log.beginSnapshot()
            try log.writeSnapshot(at: point, emitState)
            try append(log, 21...25)
            log.close()
            let leftover = LogFileName.snapshot(point.nextSegment + 1) + ".tmp"
            #expect(FileManager.default.createFile(atPath: filePath(directory, leftover),
                                                   contents: Data(payload(7, count: 100))))
            #expect(try WriteAheadLog.inspect(directory: directory).leftoverFiles == [leftover])

            #expect(try replay(directory, options) == state + records(21...25, count: 300))
            #expect(!(try directoryNames(directory)).contains(leftover))
        }
    }

    /// A crash after the rename but before the covered segments were deleted: they are
    /// not replayed again, and the next open removes them.
    @Test func coveredSegmentsLeftByACrashAreNotReplayed() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory, options)
            try append(log, 1...30)
            let point = try log.beginSnapshot()
            try append(log, 31...33)
            // Every segment before the cut, as it will be once the writer has moved on.
            try await log.durable(33).get()
            let covered = try directoryNames(directory).filter {
                if case .segment(let number) = LogFileName.kind(of: $0) { return number < point.nextSegment }
                return false
            }
            let saved = try covered.map { try readFile(filePath(directory, $0)) }
            #expect(covered.count >= 2)
            try log.writeSnapshot(at: point, emitState)
            log.close()
            for (name, bytes) in zip(covered, saved) {
                #expect(FileManager.default.createFile(atPath: filePath(directory, name), contents: Data(bytes)))
            }

            #expect(try replay(directory, options) == state + records(31...33, count: 300))
            #expect(Set(try directoryNames(directory)).isDisjoint(with: covered))
        }
    }

    @Test func aFailedSnapshotLeavesTheLogAsItWas() async throws {
        try await withLogDirectory { directory in
            let gate = FaultGate()
            var options = self.options
            options.faultInjection = gate.injection
            let (log, _) = try openLog(directory, options)
            try append(log, 1...20)
            let point = try log.beginSnapshot()

            gate.fail(at: .synchronizeSnapshot)
            #expect(throws: WALError.snapshotFailed) { try log.writeSnapshot(at: point, emitState) }
            gate.fail(at: nil)
            #expect(!(try directoryNames(directory)).contains { $0.hasPrefix("snapshot-") })

            // The log keeps working, and a later snapshot succeeds.
            try append(log, 21...22)
            try log.writeSnapshot(at: try log.beginSnapshot(), emitState)
            try append(log, 23...23)
            log.close()
            #expect(try replay(directory, options) == state + records(23...23, count: 300))
        }
    }

    @Test func aProducerErrorIsRethrownAndNothingChanges() async throws {
        try await withLogDirectory { directory in
            struct ProducerFailed: Error, Equatable {}
            let (log, _) = try openLog(directory, options)
            try append(log, 1...20)
            let point = try log.beginSnapshot()
            #expect(throws: ProducerFailed()) {
                try log.writeSnapshot(at: point) { emit in
                    try emit(1, [1])
                    throw ProducerFailed()
                }
            }
            #expect(!(try directoryNames(directory)).contains { $0.hasPrefix("snapshot-") })
            log.close()
            #expect(try replay(directory, options) == records(1...20, count: 300))
        }
    }

    @Test func snapshotsWithoutRecordsInBetweenReplaceEachOther() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory, options)
            try log.writeSnapshot(at: try log.beginSnapshot()) { emit in try emit(1, [1]) }
            try append(log, 1...5)
            let point = try log.beginSnapshot()
            try log.writeSnapshot(at: point) { emit in try emit(2, [2]) }
            let again = try log.beginSnapshot()
            #expect(again == point)
            try log.writeSnapshot(at: again, emitState)
            log.close()
            #expect(try directoryNames(directory).filter { $0.hasPrefix("snapshot-") } == [LogFileName.snapshot(point.nextSegment)])
            #expect(try replay(directory, options) == state)
        }
    }

    @Test func onlyPointsFromBeginSnapshotAreAccepted() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory, options)
            try append(log, 1...20)
            let made = JournalSnapshotPoint(lastSequence: 20, nextSegment: 99)
            #expect(throws: WALError.invalidSnapshotPoint) { try log.writeSnapshot(at: made, emitState) }
            let point = try log.beginSnapshot()
            try log.writeSnapshot(at: point, emitState)
            #expect(throws: WALError.invalidSnapshotPoint) { try log.writeSnapshot(at: point, emitState) }
            log.close()
        }
    }

    @Test func aDamagedSnapshotIsFatal() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory, options)
            try append(log, 1...20)
            let point = try log.beginSnapshot()
            try log.writeSnapshot(at: point, emitState)
            log.close()
            let name = LogFileName.snapshot(point.nextSegment)
            try flipByte(filePath(directory, name), at: 32 + 32 + 5)

            let error = try #require(throws: WALError.corruptLog) { try openLog(directory, options) }
            #expect(error.description.contains(name))
        }
    }

    @Test func aTruncatedSnapshotIsFatal() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory, options)
            try append(log, 1...20)
            let point = try log.beginSnapshot()
            try log.writeSnapshot(at: point, emitState)
            log.close()
            let path = filePath(directory, LogFileName.snapshot(point.nextSegment))
            try truncateFile(path, to: try fileSize(path) - 8)
            #expect(throws: WALError.corruptLog) { try openLog(directory, options) }
        }
    }
}
