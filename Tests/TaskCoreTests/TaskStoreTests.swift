import BBSLog
import BBSModels
import Synchronization
import Testing
@testable import TaskCore

/// A clock the test moves by hand (Unix nanoseconds).
final class ManualClock: Sendable {
    private let value: Mutex<Int64>
    init(_ start: Int64 = 1_700_000_000_000_000_000) { value = Mutex(start) }
    var now: Int64 { value.withLock { $0 } }
    func advance(seconds: Int64) { value.withLock { $0 += seconds * 1_000_000_000 } }
    var function: @Sendable () -> Int64 { { self.now } }
}

private let definition = StoredDefinition(bytes: [0x0a, 0x04, 0x61, 0x3a, 0x2f, 0x2f], completionCallbackURL: "http://cb")

private func makeStore(_ journal: InMemoryJournal, clock: ManualClock = ManualClock(), retries: Int = 3,
                       recovered: TaskStoreRecovery = TaskStoreRecovery(), compactionThreshold: Int = 64 << 20) -> TaskStore {
    TaskStore(recovered: recovered, journal: journal, machine: TaskStateMachine(maxTaskRetries: retries),
              clock: clock.function, logger: .discarding, compactionThreshold: compactionThreshold)
}

extension TaskStore {
    func apply(_ command: TaskCommand, _ guid: String) async -> Result<TaskTransition, BBSError> {
        await withCheckedContinuation { continuation in apply(command, guid: guid) { continuation.resume(returning: $0) } }
    }
    func task(_ guid: String) async throws -> TaskRecord? {
        try await withCheckedContinuation { continuation in task(guid: guid) { continuation.resume(returning: $0) } }.get()
    }
    func list(domain: String = "", cellId: String = "") async throws -> [TaskRecord] {
        try await withCheckedContinuation { continuation in
            tasks(domain: domain, cellId: cellId) { continuation.resume(returning: $0) }
        }.get()
    }
    func desire(_ guid: String, domain: String = "d") async throws {
        _ = try await apply(.desire(domain: domain, definition: definition), guid).get()
    }
}

/// Records what arrives, for tests of things that must not have happened yet.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    func add(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
}

@Suite("Task store")
struct TaskStoreTests {
    @Test func aDesiredTaskCanBeReadBack() async throws {
        let store = makeStore(InMemoryJournal())
        try await store.desire("g1", domain: "dom")
        let task = try #require(try await store.task("g1"))
        #expect(task.guid == "g1" && task.domain == "dom" && task.state == .pending && task.definition == definition)
        #expect(try await store.task("missing") == nil)
    }

    @Test func theAnswerWaitsUntilTheRecordIsDurable() async throws {
        let journal = InMemoryJournal(autoDurable: false)
        let store = makeStore(journal)
        let answers = Recorder<Bool>()
        store.apply(.desire(domain: "d", definition: definition), guid: "g") { answers.add((try? $0.get()) != nil) }
        #expect(answers.all.isEmpty)
        #expect(journal.records.count == 1)
        journal.makeDurable()
        #expect(answers.all == [true])
    }

    @Test func readsOfAChangeStillInFlightWaitForIt() async throws {
        let journal = InMemoryJournal(autoDurable: false)
        let store = makeStore(journal)
        store.apply(.desire(domain: "d", definition: definition), guid: "g") { _ in }
        let reads = Recorder<String>()
        store.task(guid: "g") { reads.add((try? $0.get())??.guid ?? "none") }
        store.tasks(domain: "d") { reads.add("list:\((try? $0.get())?.count ?? -1)") }
        #expect(reads.all.isEmpty)
        journal.makeDurable()
        #expect(reads.all == ["g", "list:1"])
        // Settled data is answered at once.
        store.task(guid: "g") { reads.add((try? $0.get())??.guid ?? "none") }
        #expect(reads.all.count == 3)
    }

    @Test func aRemovalInFlightIsNotReportedAsNotFoundEarly() async throws {
        let journal = InMemoryJournal(autoDurable: false)
        let store = makeStore(journal)
        for command in [TaskCommand.desire(domain: "d", definition: definition), .cancel, .resolving] {
            store.apply(command, guid: "g") { _ in }
        }
        journal.makeDurable()
        store.apply(.delete, guid: "g") { _ in }
        let reads = Recorder<String>()
        store.task(guid: "g") { reads.add((try? $0.get())??.guid ?? "none") }
        #expect(reads.all.isEmpty)
        journal.makeDurable()
        #expect(reads.all == ["none"])
    }

    @Test func errorsAreTheStateMachines() async throws {
        let store = makeStore(InMemoryJournal())
        try await store.desire("g")
        #expect(await store.apply(.desire(domain: "d", definition: definition), "g") == .failure(.resourceExists))
        #expect(await store.apply(.delete, "g") == .failure(.invalidTransition(from: .pending, to: .resolving)))
        #expect(await store.apply(.cancel, "nope") == .failure(.resourceNotFound))
    }

    @Test func observersSeeEveryCommitInOrderOnceDurable() async throws {
        let journal = InMemoryJournal(autoDurable: false)
        let store = makeStore(journal)
        let seen = Recorder<String>()
        store.observe { commit in
            switch commit.transition {
            case .created(let t): seen.add("created \(t.guid)")
            case .changed(let b, let a): seen.add("changed \(b.state)->\(a.state)")
            case .removed(let t): seen.add("removed \(t.guid)")
            case .unchanged: seen.add("unchanged")
            }
        }
        let commands: [TaskCommand] = [.desire(domain: "d", definition: definition), .start(cellId: "c"),
                                       .start(cellId: "c"), .complete(cellId: "c", failed: false, failureReason: "", result: ""),
                                       .resolving, .delete, .delete]
        for command in commands { store.apply(command, guid: "g") { _ in } }
        #expect(seen.all.isEmpty)
        journal.makeDurable()
        // No event for the no-op start nor for the refused second delete.
        #expect(seen.all == ["created g", "changed Pending->Running", "changed Running->Completed",
                             "changed Completed->Resolving", "removed g"])
    }

    @Test func listsFilterByDomainCellOrBoth() async throws {
        let store = makeStore(InMemoryJournal())
        try await store.desire("a", domain: "d1")
        try await store.desire("b", domain: "d1")
        try await store.desire("c", domain: "d2")
        _ = try await store.apply(.start(cellId: "cell-1"), "a").get()
        _ = try await store.apply(.start(cellId: "cell-1"), "c").get()
        func guids(_ records: [TaskRecord]) -> [String] { records.map(\.guid).sorted() }
        #expect(guids(try await store.list()) == ["a", "b", "c"])
        #expect(guids(try await store.list(domain: "d1")) == ["a", "b"])
        #expect(guids(try await store.list(cellId: "cell-1")) == ["a", "c"])
        #expect(guids(try await store.list(domain: "d1", cellId: "cell-1")) == ["a"])
        #expect(guids(try await store.list(domain: "none")) == [])
        // Completing clears the cell, so the cell index forgets the task.
        _ = try await store.apply(.complete(cellId: "cell-1", failed: false, failureReason: "", result: ""), "a").get()
        #expect(guids(try await store.list(cellId: "cell-1")) == ["c"])
        _ = try await store.apply(.resolving, "a").get()
        _ = try await store.apply(.delete, "a").get()
        #expect(guids(try await store.list(domain: "d1")) == ["b"])
    }

    @Test func replayingTheJournalRebuildsTheSameState() async throws {
        let journal = InMemoryJournal()
        let store = makeStore(journal)
        try await store.desire("a")
        try await store.desire("b", domain: "other")
        try await store.desire("c")
        _ = try await store.apply(.start(cellId: "x"), "a").get()
        _ = try await store.apply(.reject(rejectionReason: "full"), "b").get()
        _ = try await store.apply(.cancel, "c").get()
        _ = try await store.apply(.resolving, "c").get()
        _ = try await store.apply(.delete, "c").get()

        let restarted = makeStore(InMemoryJournal(), recovered: try journal.recover())
        let before = try await store.list().sorted { $0.guid < $1.guid }
        let after = try await restarted.list().sorted { $0.guid < $1.guid }
        #expect(before == after)
        #expect(after.map(\.guid) == ["a", "b"])
        #expect(try await restarted.list(cellId: "x").map(\.guid) == ["a"])
    }

    @Test func aFailedJournalFailsTheWriteAndLaterWrites() async throws {
        struct DiskGone: Error {}
        let journal = InMemoryJournal(autoDurable: false)
        let store = makeStore(journal)
        let answers = Recorder<BBSError?>()
        store.apply(.desire(domain: "d", definition: definition), guid: "g") { answers.add($0.failureValue) }
        journal.fail(DiskGone())
        store.apply(.desire(domain: "d", definition: definition), guid: "h") { answers.add($0.failureValue) }
        #expect(answers.all.count == 2)
        #expect(answers.all.allSatisfy { $0?.type == .unknownError })
    }

    @Test func domainsExpireAfterTheirTTL() async throws {
        let clock = ManualClock()
        let store = makeStore(InMemoryJournal(), clock: clock)
        func upsert(_ domain: String, _ ttl: UInt32) async {
            await withCheckedContinuation { c in store.upsertDomain(domain, ttl: ttl) { _ in c.resume() } }
        }
        func fresh() async -> [String] {
            await withCheckedContinuation { c in store.freshDomains { c.resume(returning: (try? $0.get()) ?? []) } }
        }
        await upsert("short", 10)
        await upsert("forever", 0)
        #expect(await fresh() == ["forever", "short"])
        clock.advance(seconds: 11)
        #expect(await fresh() == ["forever"])
        await upsert("short", 10)
        #expect(await fresh() == ["forever", "short"])
    }

    @Test func aCompactionSnapshotReplaysToTheSameState() async throws {
        let journal = InMemoryJournal()
        let store = makeStore(journal)
        try await store.desire("a")
        _ = try await store.apply(.start(cellId: "x"), "a").get()
        try await store.desire("b")
        let count = try await withCheckedContinuation { c in store.compact { c.resume(returning: $0) } }.get()
        #expect(count == 2)
        var recovered = TaskStoreRecovery()
        for record in try #require(journal.snapshotRecords()) {
            try recovered.apply(type: record.type, payload: record.payload)
        }
        #expect(recovered.tasks["a"]?.state == .running && recovered.tasks["a"]?.cellId == "x")
        #expect(recovered.tasks["b"]?.definition == definition)
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
