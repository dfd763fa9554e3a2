import BBSLog
import BBSModels
import BBSWAL
import Foundation
import Synchronization
import Testing
@testable import TaskCore

private let definition = StoredDefinition(bytes: [0x0a, 0x04, 0x61, 0x3a, 0x2f, 0x2f], completionCallbackURL: "")

private func makeStore(_ journal: any TaskJournal, recovered: TaskStoreRecovery = TaskStoreRecovery()) -> TaskStore {
    TaskStore(recovered: recovered, journal: journal, machine: TaskStateMachine(maxTaskRetries: 3),
              clock: ManualClock().function, logger: .discarding)
}

/// A fresh directory for one test, removed afterwards.
private func withDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = NSTemporaryDirectory() + "bbs-ops-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

private func openJournal(_ directory: String) throws -> (WriteAheadLog, TaskStoreRecovery) {
    var recovery = TaskStoreRecovery()
    var options = WriteAheadLog.Options()
    options.segmentBytes = 1 << 20
    let log = try WriteAheadLog(directory: directory, options: options, logger: .discarding) { type, payload in
        try recovery.apply(type: type, payload: payload)
    }
    return (log, recovery)
}

extension TaskStore {
    func backup() async throws -> TaskStoreBackup {
        try await withCheckedContinuation { continuation in backup { continuation.resume(returning: $0) } }.get()
    }
}

@Suite("Task counts")
struct TaskCountsTests {
    @Test func countsFollowEveryChangeWithoutAScan() async throws {
        let store = makeStore(InMemoryJournal())
        func expectCounts(_ expected: [String: [TaskState: Int]], _ comment: Comment) {
            var table: [TaskCounts.Key: Int] = [:]
            for (domain, states) in expected {
                for (state, count) in states { table[TaskCounts.Key(domain: domain, state: state)] = count }
            }
            #expect(store.counts.byDomainAndState == table, comment)
            // The maintained table is what a scan would count.
            #expect(store.counts == TaskCounts(store.snapshotOfTasks()), comment)
        }
        try await store.desire("a", domain: "d1")
        try await store.desire("b", domain: "d1")
        try await store.desire("c", domain: "d2")
        expectCounts(["d1": [.pending: 2], "d2": [.pending: 1]], "desired")
        _ = try await store.apply(.start(cellId: "cell"), "a").get()
        expectCounts(["d1": [.pending: 1, .running: 1], "d2": [.pending: 1]], "started")
        _ = try await store.apply(.start(cellId: "cell"), "a").get()  // unchanged
        _ = await store.apply(.start(cellId: "cell"), "missing")     // refused
        expectCounts(["d1": [.pending: 1, .running: 1], "d2": [.pending: 1]], "no-ops")
        _ = try await store.apply(.complete(cellId: "cell", failed: false, failureReason: "", result: "r"), "a").get()
        _ = try await store.apply(.cancel, "c").get()
        expectCounts(["d1": [.pending: 1, .completed: 1], "d2": [.completed: 1]], "completed and cancelled")
        _ = try await store.apply(.resolving, "c").get()
        expectCounts(["d1": [.pending: 1, .completed: 1], "d2": [.resolving: 1]], "resolving")
        _ = try await store.apply(.delete, "c").get()
        expectCounts(["d1": [.pending: 1, .completed: 1]], "deleted")
        #expect(store.counts.total == 2)
        #expect(store.counts.domains == ["d1"])
        #expect(store.counts["d1", .pending] == 1 && store.counts["d2", .pending] == 0)
    }

    @Test func aRecoveredStoreCountsWhatItRecovered() async throws {
        let journal = InMemoryJournal()
        let store = makeStore(journal)
        try await store.desire("a", domain: "x")
        try await store.desire("b", domain: "y")
        _ = try await store.apply(.start(cellId: "c"), "b").get()
        let restarted = makeStore(InMemoryJournal(), recovered: try journal.recover())
        #expect(restarted.counts == store.counts)
        #expect(restarted.counts["y", .running] == 1)
    }
}

@Suite("Backups and the journal inspector")
struct BackupTests {
    @Test func aBackupWaitsUntilEverythingInItIsDurable() async throws {
        let journal = InMemoryJournal(autoDurable: false)
        let store = makeStore(journal)
        store.apply(.desire(domain: "d", definition: definition), guid: "g") { _ in }
        let backups = Recorder<UInt64>()
        store.backup { backups.add((try? $0.get())?.lastSequence ?? 0) }
        journal.settle()
        #expect(backups.all.isEmpty)
        journal.makeDurable()
        #expect(backups.all == [1])
    }

    @Test func aBackupOfAFailedJournalFails() async throws {
        struct DiskGone: Error {}
        let journal = InMemoryJournal(autoDurable: false)
        let store = makeStore(journal)
        store.apply(.desire(domain: "d", definition: definition), guid: "g") { _ in }
        let failures = Recorder<Bool>()
        store.backup { failures.add((try? $0.get()) == nil) }
        journal.fail(DiskGone())
        #expect(failures.all == [true])
    }

    @Test func aRestoredBackupStartsAServerWithTheSameState() async throws {
        try await withDirectory { root in
            let (log, _) = try openJournal(root + "/live")
            let store = makeStore(log)
            try await store.desire("a", domain: "d1")
            try await store.desire("b", domain: "d2")
            _ = try await store.apply(.start(cellId: "cell-1"), "b").get()
            await withCheckedContinuation { c in store.upsertDomain("d1", ttl: 0) { _ in c.resume() } }
            let backup = try await store.backup()
            #expect(backup.taskCount == 2 && backup.lastSequence == 4)
            #expect(backup.counts == store.counts)
            let file = root + "/backup.snap"
            try Data(try backup.fileBytes()).write(to: URL(fileURLWithPath: file))

            let recovery = try TaskStoreBackup.restore(from: file, intoJournalDirectory: root + "/restored")
            #expect(recovery.tasks.count == 2)
            let (restoredLog, replayed) = try openJournal(root + "/restored")
            let restored = makeStore(restoredLog, recovered: replayed)
            let live = try await store.list().sorted { $0.guid < $1.guid }
            #expect(try await restored.list().sorted { $0.guid < $1.guid } == live)
            #expect(replayed.domains == ["d1": Int64.max])
            // The restored log continues after the backup's last sequence.
            try await restored.desire("c", domain: "d1")
            #expect(restoredLog.durableSequence == 5)
            restoredLog.close()
            log.close()
        }
    }

    @Test func chunksConcatenateToTheWholeFile() async throws {
        let store = makeStore(InMemoryJournal())
        for index in 0..<50 { try await store.desire("task-\(index)", domain: "d\(index % 3)") }
        let backup = try await store.backup()
        var chunks: [[UInt8]] = []
        try backup.write(chunkBytes: 256) { chunks.append($0) }
        #expect(chunks.count > 5)
        #expect(Array(chunks.joined()) == (try backup.fileBytes()))
    }

    /// Writers keep changing tasks while backups are taken; each backup, restored, must be
    /// exactly the state after the commits up to its sequence: nothing later, nothing
    /// missing, no change half in.
    @Test func aBackupTakenUnderConcurrentWritesRestoresToOneConsistentState() async throws {
        try await withDirectory { root in
            let (log, _) = try openJournal(root + "/live")
            let store = makeStore(log)
            let commits = Recorder<TaskStore.Commit>()
            store.observe { commits.add($0) }

            // Backup n is taken once 100 n changes have committed; writers pause at their
            // 40th task until the first backup exists, so it is certainly taken mid-way.
            let taken = Recorder<UInt64>()
            let backups = try await withThrowingTaskGroup(of: [TaskStoreBackup].self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for index in 0..<60 {
                            if index == 40 {
                                while taken.all.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
                            }
                            let guid = "w\(worker)-\(index)"
                            try await store.desire(guid, domain: "d\(worker % 3)")
                            if index % 2 == 0 { _ = try await store.apply(.start(cellId: "cell-\(worker)"), guid).get() }
                            if index % 4 == 0 {
                                _ = try await store.apply(.complete(cellId: "cell-\(worker)", failed: false,
                                                                    failureReason: "", result: "ok"), guid).get()
                                _ = try await store.apply(.resolving, guid).get()
                                _ = try await store.apply(.delete, guid).get()
                            }
                        }
                        return []
                    }
                }
                group.addTask {
                    var backups: [TaskStoreBackup] = []
                    for round in 1...6 {
                        while commits.all.count < 100 * round { try await Task.sleep(for: .milliseconds(1)) }
                        let backup = try await store.backup()
                        backups.append(backup)
                        taken.add(backup.lastSequence)
                    }
                    return backups
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            log.close()
            #expect(backups.count == 6)

            // The state after every commit up to a sequence, from the commits themselves.
            let ordered = commits.all.sorted { $0.sequence < $1.sequence }
            func state(upTo sequence: UInt64) -> [String: TaskRecord] {
                var tasks: [String: TaskRecord] = [:]
                for commit in ordered where commit.sequence <= sequence {
                    switch commit.transition {
                    case .created(let task), .changed(_, let task): tasks[task.guid] = task
                    case .removed(let task): tasks[task.guid] = nil
                    case .unchanged: break
                    }
                }
                return tasks
            }
            for (index, backup) in backups.enumerated() {
                let file = root + "/backup-\(index).snap"
                try Data(try backup.fileBytes()).write(to: URL(fileURLWithPath: file))
                let recovery = try TaskStoreBackup.restore(from: file, intoJournalDirectory: root + "/restored-\(index)")
                #expect(recovery.tasks == state(upTo: backup.lastSequence), "backup \(index) at \(backup.lastSequence)")
            }
            // The first backup was taken with writers still going.
            #expect(backups[0].lastSequence >= 100 && backups[0].lastSequence < ordered.last?.sequence ?? 0)
        }
    }

    @Test func theInspectorReportsRecordsAndTheTasksTheyReplayTo() async throws {
        try await withDirectory { root in
            let directory = root + "/wal"
            let (log, _) = try openJournal(directory)
            let store = makeStore(log)
            try await store.desire("a", domain: "d1")
            try await store.desire("b", domain: "d1")
            try await store.desire("c", domain: "d2")
            _ = try await store.apply(.start(cellId: "cell"), "a").get()
            _ = try await store.apply(.cancel, "c").get()
            _ = try await store.apply(.resolving, "c").get()
            _ = try await store.apply(.delete, "c").get()
            await withCheckedContinuation { c in store.upsertDomain("d1", ttl: 0) { _ in c.resume() } }
            #expect(try WriteAheadLog.isInUse(directory: directory))
            let live = try TaskJournalInspection.inspect(directory: directory)  // safe while open
            #expect(live.counts == store.counts)
            log.close()

            let report = try TaskJournalInspection.inspect(directory: directory)
            #expect(report.recordsByType == ["put-task": 3, "update-task": 3, "remove-task": 1, "put-domain": 1])
            #expect(report.snapshotRecords == 0)
            #expect(report.counts == store.counts)
            #expect(report.counts["d1", .running] == 1 && report.counts["d1", .pending] == 1)
            #expect(report.domains == ["d1": Int64.max])
            #expect(report.replayError == nil)
            #expect(report.log.lastSequence == 8)
            #expect(report.log.tornTail == nil)
        }
    }

    @Test func theInspectorReportsARecordTheStoreCannotReplay() async throws {
        try await withDirectory { root in
            let directory = root + "/wal"
            let (log, _) = try openJournal(directory)
            let store = makeStore(log)
            try await store.desire("a", domain: "d1")
            let sequence = try log.append(type: 77, payload: [1, 2, 3])
            _ = await withCheckedContinuation { c in log.whenDurable(sequence) { c.resume(returning: $0) } }
            log.close()

            let report = try TaskJournalInspection.inspect(directory: directory)
            #expect(report.recordsByType == ["put-task": 1, "unknown-77": 1])
            #expect(report.replayError?.contains("unknown record type 77") == true)
            #expect(report.counts.total == 1)
            #expect(report.log.lastSequence == 2)
        }
    }
}
