import BBSLog
import BBSPosix
import Foundation
import Testing
@testable import BBSWAL

/// Damaged logs, as a crash or a bad disk leaves them (etcd's `TestOpenOnTornWrite` style):
/// write records, close, damage the files, reopen.
@Suite struct RecoveryTests {
    /// Writes `range` one durable batch per record and closes; returns where each record is.
    private func writeSeparately(_ directory: String, _ range: ClosedRange<Int>,
                                 _ options: WriteAheadLog.Options = .testing()) async throws -> [WriteAheadLog.Record] {
        let (log, _) = try openLog(directory, options)
        for record in records(range) { try await log.appendDurably(record) }
        log.close()
        return try recordLocations(directory)
    }

    @Test(arguments: [1, 20, 50])
    func aTornLastRecordIsCutOffAndTheLogContinues(cutInto: Int) async throws {
        try await withLogDirectory { directory in
            let locations = try await writeSeparately(directory, 1...10)
            let last = locations[9]
            let path = filePath(directory, last.file)
            try truncateFile(path, to: last.offset + cutInto)

            let (sink, lines) = LogSink.memory()
            let (log, replayed) = try openLog(directory, logger: Logger(sink: sink))
            #expect(replayed == records(1...9))
            #expect(log.durableSequence == 9)
            #expect(lines().contains { $0.contains("truncated-torn-tail") && $0.contains(last.file) })
            let repaired = try WriteAheadLog.inspect(directory: directory)
            #expect(repaired.tornTail == nil)
            #expect(repaired.segments.last?.validBytes == last.offset)

            #expect(try await log.appendDurably(Replayed(type: 3, payload: payload(99))) == 10)
            log.close()
            let after = try recordLocations(directory)
            #expect(after.last?.offset == last.offset)
            #expect(try replay(directory) == records(1...9) + [Replayed(type: 3, payload: payload(99))])
        }
    }

    @Test func aBadChecksumInTheLastRecordIsATornTail() async throws {
        try await withLogDirectory { directory in
            let locations = try await writeSeparately(directory, 1...10)
            try flipByte(filePath(directory, locations[9].file), at: locations[9].offset + 40)
            #expect(try replay(directory) == records(1...9))
        }
    }

    @Test func aBadChecksumFollowedByValidRecordsIsFatal() async throws {
        try await withLogDirectory { directory in
            let locations = try await writeSeparately(directory, 1...10)
            let damaged = locations[4]
            try flipByte(filePath(directory, damaged.file), at: damaged.offset + 37)

            let error = try #require(throws: WALError.corruptLog) { try openLog(directory) }
            #expect(error.description.contains(damaged.file))
            #expect(error.description.contains("offset \(damaged.offset)"))
            #expect(throws: WALError.corruptLog) { try WriteAheadLog.inspect(directory: directory) }
        }
    }

    @Test func zeroesFromInsideTheLastRecordsToTheEndAreATornTail() async throws {
        try await withLogDirectory { directory in
            let locations = try await writeSeparately(directory, 1...10)
            let path = filePath(directory, locations[8].file)
            let start = locations[8].offset + 36
            try overwrite(path, at: start, with: [UInt8](repeating: 0, count: try fileSize(path) - start + 4096))

            let (sink, lines) = LogSink.memory()
            let (log, replayed) = try openLog(directory, logger: Logger(sink: sink))
            #expect(replayed == records(1...8))
            #expect(lines().contains { $0.contains("truncated-torn-tail") })
            log.close()
        }
    }

    @Test func zeroFilledSpaceAfterTheLastRecordIsUnused() async throws {
        try await withLogDirectory { directory in
            let locations = try await writeSeparately(directory, 1...10)
            let path = filePath(directory, locations[9].file)
            try overwrite(path, at: try fileSize(path), with: [UInt8](repeating: 0, count: 65536))

            let (sink, lines) = LogSink.memory()
            let (log, replayed) = try openLog(directory, logger: Logger(sink: sink))
            #expect(replayed == records(1...10))
            #expect(!lines().contains { $0.contains("truncated-torn-tail") })
            #expect(try await log.appendDurably(Replayed(type: 1, payload: payload(11))) == 11)
            log.close()
            #expect(try replay(directory) == records(1...10) + [Replayed(type: 1, payload: payload(11))])
        }
    }

    @Test(arguments: [0, 16])
    func aZeroedBlockFollowedByValidRecordsIsFatal(startingInto: Int) async throws {
        try await withLogDirectory { directory in
            let locations = try await writeSeparately(directory, 1...20)
            let damaged = locations[4]
            try overwrite(filePath(directory, damaged.file), at: damaged.offset + startingInto,
                          with: [UInt8](repeating: 0, count: 512))

            let error = try #require(throws: WALError.corruptLog) { try openLog(directory) }
            #expect(error.description.contains("offset \(damaged.offset)"))
        }
    }

    /// Damage inside the last batch, before anything after it was synced, may be pages of
    /// one write that reached the disk out of order: records after it in the same batch
    /// were never acknowledged, so it is a torn tail. Damage to a record that a later batch
    /// saw durable is not.
    @Test func damageIsATornTailUnlessALaterRecordSawItDurable() async throws {
        try await withLogDirectory { directory in
            let gate = FaultGate()
            var options = WriteAheadLog.Options.testing()
            options.faultInjection = gate.injection
            let (log, _) = try openLog(directory, options)
            for record in records(1...6) { try await log.appendDurably(record) }
            gate.hold(at: .synchronize)
            _ = try log.append(type: records(7...7)[0].type, payload: records(7...7)[0].payload)
            gate.waitUntilHeld()
            for record in records(8...12) { _ = try log.append(type: record.type, payload: record.payload) }
            gate.release()
            try await log.durable(12).get()
            log.close()
            // Batches: [1] ... [6], [7], [8 ... 12].

            let locations = try recordLocations(directory)
            let path = filePath(directory, locations[0].file)
            let original = try readFile(path)

            try flipByte(path, at: locations[8].offset + 40) // record 9
            let torn = try WriteAheadLog.inspect(directory: directory)
            #expect(torn.lastSequence == 8)
            #expect(torn.tornTail?.offset == locations[8].offset)
            #expect(torn.tornTail?.discardedRecords == 3)
            #expect(try readFile(path).count == original.count) // inspect changes nothing

            try overwrite(path, at: 0, with: original)
            try flipByte(path, at: locations[6].offset + 40) // record 7, which record 8 saw durable
            #expect(throws: WALError.corruptLog) { try WriteAheadLog.inspect(directory: directory) }
            #expect(throws: WALError.corruptLog) { try openLog(directory) }
        }
    }

    @Test func segmentsRotateAtTheConfiguredSize() async throws {
        try await withLogDirectory { directory in
            let options = WriteAheadLog.Options.testing(segmentBytes: 4096)
            let (log, _) = try openLog(directory, options)
            var written = records(1...100, count: 300)
            written.insert(Replayed(type: 9, payload: payload(0, count: 10_000)), at: 50)
            for record in written { _ = try log.append(type: record.type, payload: record.payload) }
            log.close()

            let inspection = try WriteAheadLog.inspect(directory: directory)
            #expect(inspection.segments.count >= 9)
            #expect(inspection.segments.map(\.number) == Array(1...UInt64(inspection.segments.count)))
            var next: UInt64 = 1
            for segment in inspection.segments {
                #expect(segment.firstSequence == next)
                #expect(segment.validBytes <= 4096 || segment.records == 1)
                #expect(segment.fileBytes == segment.validBytes) // preallocation trimmed
                next += UInt64(segment.records)
            }
            #expect(next == 102)
            #expect(try replay(directory, options) == written)
        }
    }

    @Test func aMissingSegmentIsFatal() async throws {
        try await withLogDirectory { directory in
            let options = WriteAheadLog.Options.testing(segmentBytes: 4096)
            let (log, _) = try openLog(directory, options)
            for record in records(1...60, count: 300) { _ = try log.append(type: record.type, payload: record.payload) }
            log.close()
            let copy = try readFile(filePath(directory, LogFileName.segment(3)))

            try FileSystem.removeFile(filePath(directory, LogFileName.segment(3)))
            let middle = try #require(throws: WALError.missingData) { try openLog(directory, options) }
            #expect(middle.description.contains(LogFileName.segment(3)))

            try writeFile(filePath(directory, LogFileName.segment(3)), copy)
            try FileSystem.removeFile(filePath(directory, LogFileName.segment(1)))
            let first = try #require(throws: WALError.missingData) { try openLog(directory, options) }
            #expect(first.description.contains(LogFileName.segment(1)))
        }
    }

    @Test func recordsMissingFromTheEndOfAnEarlierSegmentAreFatal() async throws {
        try await withLogDirectory { directory in
            let options = WriteAheadLog.Options.testing(segmentBytes: 4096)
            let (log, _) = try openLog(directory, options)
            for record in records(1...60, count: 300) { _ = try log.append(type: record.type, payload: record.payload) }
            log.close()
            let locations = try recordLocations(directory).filter { $0.file == LogFileName.segment(2) }
            let path = filePath(directory, LogFileName.segment(2))

            // At a record boundary the segment looks complete; the next header exposes the gap.
            try truncateFile(path, to: locations.last!.offset)
            #expect(throws: WALError.missingData) { try openLog(directory, options) }
            // Inside a record it is damage, and not in the last segment.
            try truncateFile(path, to: locations[locations.count - 2].offset + 100)
            #expect(throws: WALError.corruptLog) { try openLog(directory, options) }
        }
    }

    /// A segment whose creation was cut short (possible without fsync) holds nothing: its
    /// header is rewritten and appends continue in it.
    @Test func anEmptyLastSegmentFileIsRebuilt() async throws {
        try await withLogDirectory { directory in
            let options = WriteAheadLog.Options.testing(segmentBytes: 4096)
            let (log, _) = try openLog(directory, options)
            for record in records(1...20, count: 300) { _ = try log.append(type: record.type, payload: record.payload) }
            log.close()
            let segments = try WriteAheadLog.inspect(directory: directory).segments
            let next = LogFileName.segment(segments.last!.number + 1)
            #expect(FileManager.default.createFile(atPath: filePath(directory, next), contents: nil))

            let (reopened, replayed) = try openLog(directory, options)
            #expect(replayed == records(1...20, count: 300))
            #expect(try await reopened.appendDurably(Replayed(type: 1, payload: payload(21))) == 21)
            reopened.close()
            let inspection = try WriteAheadLog.inspect(directory: directory)
            #expect(inspection.segments.last?.file == next)
            #expect(inspection.segments.last?.firstSequence == 21)
        }
    }

    @Test func inspectionReportsRecordsAndATornTailWithoutRepairingIt() async throws {
        try await withLogDirectory { directory in
            let locations = try await writeSeparately(directory, 1...5)
            let path = filePath(directory, locations[4].file)
            try truncateFile(path, to: locations[4].offset + 10)
            let size = try fileSize(path)

            var seen: [Replayed] = []
            let inspection = try WriteAheadLog.inspect(directory: directory) { record in
                #expect(!record.isSnapshot)
                #expect(record.sequence == UInt64(seen.count + 1))
                seen.append(Replayed(type: record.type, payload: record.payload))
            }
            #expect(seen == records(1...4))
            #expect(inspection.lastSequence == 4)
            #expect(inspection.snapshot == nil)
            #expect(inspection.tornTail?.file == locations[4].file)
            #expect(inspection.tornTail?.offset == locations[4].offset)
            #expect(try fileSize(path) == size)
        }
    }
}
