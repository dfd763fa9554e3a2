import BBSLog
import Dispatch
import Synchronization
import Testing
@testable import BBSWAL

@Suite struct WriteAheadLogTests {
    @Test func appendedRecordsReplayInOrder() async throws {
        try await withLogDirectory { directory in
            let (log, initial) = try openLog(directory)
            #expect(initial.isEmpty)
            #expect(log.durableSequence == 0)
            // Payload sizes around the 8-byte alignment, empty, and larger than a read window.
            let written = [0, 1, 7, 8, 9, 300, 5000, 5 << 20].enumerated().map { index, count in
                Replayed(type: UInt8(index * 30), payload: payload(index, count: count))
            }
            var last: UInt64 = 0
            for record in written { last = try log.append(type: record.type, payload: record.payload) }
            try await log.durable(last).get()
            #expect(log.durableSequence == UInt64(written.count))
            log.close()

            let (reopened, replayed) = try openLog(directory)
            #expect(replayed == written)
            #expect(reopened.durableSequence == UInt64(written.count))
            reopened.close()
        }
    }

    @Test func sequenceNumbersIncreaseByOneAcrossReopens() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory)
            let first = try (1...5).map { try log.append(type: 1, payload: payload($0)) }
            #expect(first == [1, 2, 3, 4, 5])
            log.close()

            let (reopened, replayed) = try openLog(directory)
            #expect(replayed.count == 5)
            let next = try (6...8).map { try reopened.append(type: 1, payload: payload($0)) }
            #expect(next == [6, 7, 8])
            reopened.close()
            #expect(try replay(directory).count == 8)
        }
    }

    /// 64 writers append under one lock (as the task store does) and register for
    /// durability under it; every completion runs exactly once, in sequence order.
    @Test func concurrentAppendersCompleteOnceInSequenceOrder() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory)
            let writers = 64, perWriter = 40
            let storeLock = Mutex(())
            let completed = Mutex<[UInt64]>([])
            let group = DispatchGroup()
            DispatchQueue.concurrentPerform(iterations: writers) { writer in
                for index in 0..<perWriter {
                    group.enter()
                    storeLock.withLock { _ in
                        let sequence = try! log.append(type: UInt8(writer), payload: payload(writer * 1000 + index, count: 300))
                        log.whenDurable(sequence) { result in
                            if case .success = result { completed.withLock { $0.append(sequence) } }
                            group.leave()
                        }
                    }
                }
            }
            group.wait()
            let order = completed.withLock { $0 }
            #expect(order == Array(1...UInt64(writers * perWriter)))
            log.close()
            #expect(try replay(directory).count == writers * perWriter)
        }
    }

    /// While the writer is inside one fdatasync, everything appended meanwhile is written
    /// and synced as one batch: one write and one sync for a hundred records.
    @Test func recordsAppendedDuringASyncShareTheNextOne() async throws {
        try await withLogDirectory { directory in
            let gate = FaultGate()
            var options = WriteAheadLog.Options.testing()
            options.faultInjection = gate.injection
            let (log, _) = try openLog(directory, options)

            gate.hold(at: .synchronize)
            let first = try log.append(type: 1, payload: payload(0))
            gate.waitUntilHeld()
            let completed = Mutex<[UInt64]>([])
            let group = DispatchGroup()
            for index in 1...100 {
                let sequence = try log.append(type: 1, payload: payload(index))
                group.enter()
                log.whenDurable(sequence) { result in
                    if case .success = result { completed.withLock { $0.append(sequence) } }
                    group.leave()
                }
            }
            #expect(log.durableSequence == 0)
            gate.release()
            try await log.durable(first).get()
            group.wait()

            #expect(completed.withLock { $0 } == Array(2...101))
            #expect(gate.count(.write) == 2)
            #expect(gate.count(.synchronize) == 2)
            log.close()
        }
    }

    @Test func waitingForAnAlreadyDurableSequenceCompletes() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory)
            let sequence = try await log.appendDurably(Replayed(type: 1, payload: payload(1)))
            try await log.durable(sequence).get()
            try await log.durable(0).get()
            log.close()
        }
    }

    @Test(arguments: [WriteAheadLog.FaultPoint.write, .synchronize])
    func aFailedWriteOrSyncStopsTheLog(at point: WriteAheadLog.FaultPoint) async throws {
        try await withLogDirectory { directory in
            let gate = FaultGate()
            var options = WriteAheadLog.Options.testing()
            options.faultInjection = gate.injection
            let (log, _) = try openLog(directory, options)
            let written = records(1...3)
            for record in written { try await log.appendDurably(record) }

            gate.fail(at: point)
            let doomed = try log.append(type: 9, payload: payload(4))
            let result = await log.durable(doomed)
            #expect(throws: WALError.writeFailed) { try result.get() }

            // Sticky: later appends throw, later waiters get the error, even with the
            // injected fault gone; records that were durable stay so.
            gate.fail(at: nil)
            #expect(throws: WALError.writeFailed) { try log.append(type: 1, payload: payload(5)) }
            #expect(throws: WALError.writeFailed) { try log.beginSnapshot() }
            await #expect(throws: WALError.writeFailed) { try await log.durable(doomed).get() }
            try await log.durable(3).get()
            #expect(log.durableSequence == 3)
            log.close()

            // The failed record was never acknowledged; it may or may not have reached the file.
            let replayed = try replay(directory)
            #expect(Array(replayed.prefix(3)) == written)
            #expect(replayed.count <= 4)
        }
    }

    @Test func waitersPendingAtAFailureGetTheError() async throws {
        try await withLogDirectory { directory in
            let gate = FaultGate()
            var options = WriteAheadLog.Options.testing()
            options.faultInjection = gate.injection
            let (log, _) = try openLog(directory, options)

            gate.hold(at: .synchronize)
            gate.fail(at: .synchronize)
            let first = try log.append(type: 1, payload: payload(1))
            gate.waitUntilHeld()
            let outcomes = Mutex<[Bool]>([])
            let group = DispatchGroup()
            for sequence in [first] + (try (2...10).map { try log.append(type: 1, payload: payload($0)) }) {
                group.enter()
                log.whenDurable(sequence) { result in
                    outcomes.withLock { $0.append((try? result.get()) != nil) }
                    group.leave()
                }
            }
            gate.release()
            group.wait()
            #expect(outcomes.withLock { $0 } == Array(repeating: false, count: 10))
            log.close()
        }
    }

    @Test func closeWritesPendingRecordsAndRunsTheirCompletions() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory)
            let completed = Mutex(0)
            for index in 1...200 {
                let sequence = try log.append(type: 2, payload: payload(index))
                log.whenDurable(sequence) { result in
                    if case .success = result { completed.withLock { $0 += 1 } }
                }
            }
            log.close()
            #expect(completed.withLock { $0 } == 200)
            #expect(log.durableSequence == 200)

            #expect(throws: WALError.closed) { try log.append(type: 1, payload: []) }
            #expect(throws: WALError.closed) { try log.beginSnapshot() }
            try await log.durable(200).get()
            await #expect(throws: WALError.closed) { try await log.durable(201).get() }
            log.close()
            #expect(try replay(directory) == (1...200).map { Replayed(type: 2, payload: payload($0)) })
        }
    }

    @Test func aSecondOpenOfTheSameDirectoryIsRefused() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory)
            #expect(throws: WALError.directoryInUse) { try openLog(directory) }
            log.close()
            let (again, _) = try openLog(directory)
            again.close()
        }
    }

    @Test func oversizedRecordsAreRefused() async throws {
        try await withLogDirectory { directory in
            var options = WriteAheadLog.Options.testing()
            options.maximumRecordBytes = 1000
            let (log, _) = try openLog(directory, options)
            #expect(throws: WALError.recordTooLarge) { try log.append(type: 1, payload: payload(1, count: 1001)) }
            #expect(try log.append(type: 1, payload: payload(1, count: 1000)) == 1)
            log.close()
        }
    }

    @Test func withoutFsyncRecordsAreStillWritten() async throws {
        try await withLogDirectory { directory in
            let gate = FaultGate()
            var options = WriteAheadLog.Options.testing()
            options.fsync = false
            options.faultInjection = gate.injection
            let (log, _) = try openLog(directory, options)
            for record in records(1...20) { try await log.appendDurably(record) }
            log.close()
            #expect(gate.count(.write) == 20)
            #expect(gate.count(.synchronize) == 0)
            #expect(try replay(directory, options) == records(1...20))
        }
    }

    @Test func aThrowingReplayAbortsTheOpenAndReleasesTheDirectory() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory)
            for record in records(1...3) { _ = try log.append(type: record.type, payload: record.payload) }
            log.close()

            struct Refused: Error {}
            var seen = 0
            #expect(throws: WALError.replayFailed) {
                _ = try WriteAheadLog(directory: directory, options: .testing(), logger: .discarding) { _, _ in
                    seen += 1
                    if seen == 2 { throw Refused() }
                }
            }
            #expect(try replay(directory) == records(1...3))
        }
    }

    @Test func recordsAreAlignedAndFramedAsDocumented() async throws {
        try await withLogDirectory { directory in
            let (log, _) = try openLog(directory)
            _ = try log.append(type: 0xAB, payload: [1, 2, 3])
            _ = try log.append(type: 0xCD, payload: [])
            log.close()
            let bytes = try readFile(filePath(directory, LogFileName.segment(1)))
            // Segment header, then a 40-byte record (32 + 3, padded) and a 32-byte one.
            #expect(bytes.count == 32 + 40 + 32)
            #expect(Array(bytes[0..<8]) == Array("BBSWSEG1".utf8))
            let record = Array(bytes[32..<72])
            #expect(Array(record[4..<8]) == [3, 0, 0, 0])           // length
            #expect(Array(record[8..<16]) == [1, 0, 0, 0, 0, 0, 0, 0]) // sequence
            #expect(Array(record[16..<24]) == [0, 0, 0, 0, 0, 0, 0, 0]) // committed
            #expect(record[24] == 0xAB)
            #expect(Array(record[32..<35]) == [1, 2, 3])
            #expect(Array(record[35..<40]) == [0, 0, 0, 0, 0])
            let checksum = UInt32(record[0]) | UInt32(record[1]) << 8 | UInt32(record[2]) << 16 | UInt32(record[3]) << 24
            #expect(checksum == CRC32C.checksum(Array(record[4..<35])))
        }
    }
}
