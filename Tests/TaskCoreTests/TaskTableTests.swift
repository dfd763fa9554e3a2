import BBSLog
import BBSModels
import Testing
@testable import TaskCore

private func record(_ guid: String, domain: String = "d", cell: String = "", state: TaskState = .pending,
                    url: String = "") -> TaskRecord {
    TaskRecord(guid: guid, domain: domain,
               definition: StoredDefinition(bytes: Array("def-\(guid)".utf8), completionCallbackURL: url),
               createdAt: 1, updatedAt: 2, state: state, cellId: cell)
}

private func entry(_ guid: String, domain: String = "d", sequence: UInt64 = 0) -> TaskStore.Entry {
    TaskStore.Entry(record: record(guid, domain: domain), sequence: sequence)
}

@Suite("Chunked task table")
struct TaskTableTests {
    @Test func putLookupReplaceRemoveAndSlotReuse() {
        var table = TaskTable()
        let (a, replacedA) = table.put(entry("a"))
        let (b, _) = table.put(entry("b"))
        #expect(replacedA == nil && a != b && table.count == 2)
        #expect(table["a"]?.record.guid == "a" && table[b]?.record.guid == "b")

        let (again, replaced) = table.put(entry("a", sequence: 7))
        #expect(again == a && replaced?.sequence == 0 && table["a"]?.sequence == 7 && table.count == 2)

        table.replace(at: b, with: entry("b", sequence: 9))
        #expect(table["b"]?.sequence == 9)

        let removed = table.remove(guid: "a")
        #expect(removed?.slot == a && table["a"] == nil && table[a] == nil && table.count == 1)
        #expect(table.remove(guid: "a") == nil)
        // The freed slot is handed to the next new task.
        #expect(table.put(entry("c")).slot == a)
    }

    @Test func spansManyChunksInSlotOrder() {
        var table = TaskTable()
        let n = TaskTable.chunkSize * 3 + 5
        table.reserveCapacity(n)
        for i in 0..<n { table.put(entry("g\(i)")) }
        #expect(table.count == n)
        #expect(table.snapshot.map(\.record.guid) == (0..<n).map { "g\($0)" })
        var slots: [TaskTable.Slot] = []
        table.forEachSlot { slot, entry in
            slots.append(slot)
            #expect(entry.record.guid == "g\(slot)")
        }
        #expect(slots == (0..<n).map { TaskTable.Slot($0) })
    }

    /// What compaction relies on: a snapshot keeps what the table held when it was taken,
    /// whatever the table does afterwards, and the table keeps working on its own copy.
    @Test func aSnapshotIsUnaffectedByLaterWrites() {
        var table = TaskTable()
        let n = TaskTable.chunkSize * 2 + 3
        for i in 0..<n { table.put(entry("g\(i)")) }
        let snapshot = table.snapshot
        let before = snapshot.map { "\($0.record.guid)@\($0.sequence)" }

        table.put(entry("g0", sequence: 5))                      // first chunk, in place
        table.remove(guid: "g\(TaskTable.chunkSize + 1)")        // second chunk
        table.put(entry("new"))                                  // reuses the freed slot
        table.put(entry("new2"))                                 // extends the last chunk
        for i in 0..<n where i % 3 == 0 { table.replace(at: TaskTable.Slot(i), with: entry("g\(i)", sequence: 1)) }

        #expect(snapshot.count == n)
        #expect(snapshot.map { "\($0.record.guid)@\($0.sequence)" } == before)
        #expect(snapshot[TaskTable.Slot(TaskTable.chunkSize + 1)]?.record.guid == "g\(TaskTable.chunkSize + 1)")
        #expect(table.count == n + 1)
        #expect(table["g0"]?.sequence == 1 && table["new"] != nil && table["new2"] != nil)
        #expect(table["g\(TaskTable.chunkSize + 1)"] == nil)

        // A second snapshot sees the new state; the first still the old one.
        let later = table.snapshot
        #expect(Set(later.map(\.record.guid)) == Set(table.snapshot.map(\.record.guid)))
        #expect(later.count == n + 1 && snapshot.count == n)
    }

    @Test func anEmptySnapshotIterates() {
        #expect(Array(TaskTable().snapshot).isEmpty)
        #expect(Array(TaskTable.Snapshot()).isEmpty)
    }
}

@Suite("Sharded slot set")
struct SlotSetTests {
    @Test func behavesAsASetAndCopiesAreIndependent() {
        var set = SlotSet()
        #expect(set.isEmpty && Array(set).isEmpty)
        for slot in 0..<1000 { set.insert(TaskTable.Slot(slot * 3)) }
        set.insert(0)                                   // already there
        #expect(set.count == 1000 && Set(set) == Set((0..<1000).map { TaskTable.Slot($0 * 3) }))
        let copy = set
        for slot in 0..<500 { set.remove(TaskTable.Slot(slot * 3)) }
        set.remove(1)                                   // never there
        #expect(set.count == 500 && Set(set) == Set((500..<1000).map { TaskTable.Slot($0 * 3) }))
        #expect(copy.count == 1000 && Array(copy).count == 1000)
        let bulk = SlotSet((0..<5000).map { TaskTable.Slot($0) })
        #expect(bulk.count == 5000 && Set(bulk) == Set((0..<5000).map { TaskTable.Slot($0) }))
    }
}

@Suite("Restart replay")
struct RestartReplayTests {
    /// The borrowed-bytes decoder of a restart and the general one agree, field by field,
    /// for whole records, updates (which take the definition from the previous record),
    /// unknown fields, and damaged input (same error).
    @Test func borrowedDecodingEqualsTheGeneralDecoder() throws {
        var full = record("guid-1", domain: "domain", cell: "cell-7", state: .completed, url: "http://cb/x")
        full.result = "ok"
        full.failed = true
        full.failureReason = "because"
        full.rejectionCount = -3
        full.rejectionReason = "full"
        full.firstCompletedAt = -1
        let put = full.encodedRecord(includingDefinition: true)
        let update = full.encodedRecord(includingDefinition: false)
        let general = try TaskRecord(record: put, previous: nil)
        let borrowed = try put.withUnsafeBytes { try TaskRecord(record: $0, previous: nil) }
        #expect(general == full && borrowed == full)
        let previous = record("guid-1", url: "http://cb/x")
        #expect(try update.withUnsafeBytes { try TaskRecord(record: $0, previous: previous) }
                == TaskRecord(record: update, previous: previous))
        #expect(try update.withUnsafeBytes { try TaskRecord.guid(ofRecord: $0) } == "guid-1")

        // Unknown fields of every wire type, a group among them (the general reader's path).
        var extended = put
        extended += [0xA8, 0x06, 0x01]                                // field 101, varint
        extended += [0xB1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]              // field 102, fixed64
        extended += [0xBD, 0x06, 1, 2, 3, 4]                          // field 103, fixed32
        extended += [0xC3, 0x06, 0x08, 0x01, 0xC4, 0x06]              // field 104, group
        #expect(try extended.withUnsafeBytes { try TaskRecord(record: $0, previous: nil) } == full)

        let truncated = Array(put.dropLast(3))
        var generalError = "", borrowedError = ""
        do { _ = try TaskRecord(record: truncated, previous: nil) } catch { generalError = "\(error)" }
        do { _ = try truncated.withUnsafeBytes { try TaskRecord(record: $0, previous: nil) } } catch { borrowedError = "\(error)" }
        #expect(!generalError.isEmpty && generalError == borrowedError)
    }

    /// A store restarted from the records of a store replays to the same tasks, indexes
    /// and counts (the store takes the recovery's table and rebuilds its indexes in bulk).
    @Test func aRestartedStoreEqualsTheOriginal() async throws {
        let journal = InMemoryJournal()
        let store = TaskStore(recovered: TaskStoreRecovery(), journal: journal, machine: TaskStateMachine(maxTaskRetries: 3),
                              clock: { 1_700_000_000_000_000_000 }, logger: .discarding)
        let definition = StoredDefinition(bytes: [0x0a, 0x04, 0x61, 0x3a, 0x2f, 0x2f], completionCallbackURL: "http://cb")
        func run(_ command: TaskCommand, _ guid: String) async {
            _ = await withCheckedContinuation { c in store.apply(command, guid: guid) { c.resume(returning: $0) } }
        }
        for i in 0..<3000 {
            await run(.desire(domain: "d\(i % 3)", definition: definition), "t\(i)")
        }
        for i in stride(from: 0, to: 3000, by: 7) { await run(.start(cellId: "cell\(i % 5)"), "t\(i)") }
        for i in stride(from: 0, to: 3000, by: 14) {
            await run(.complete(cellId: "cell\(i % 5)", failed: false, failureReason: "", result: "r"), "t\(i)")
        }
        for i in stride(from: 0, to: 3000, by: 28) { await run(.resolving, "t\(i)") }
        for i in stride(from: 0, to: 3000, by: 56) { await run(.delete, "t\(i)") }
        for i in 3000..<3100 { await run(.desire(domain: "d9", definition: definition), "t\(i)") }

        var recovery = TaskStoreRecovery()
        recovery.reserveCapacity(10)
        for record in journal.records { try recovery.apply(type: record.type, payload: record.payload) }
        let restarted = TaskStore(recovered: recovery, journal: InMemoryJournal(), machine: TaskStateMachine(maxTaskRetries: 3),
                                  clock: { 1_700_000_000_000_000_000 }, logger: .discarding)

        func listed(_ store: TaskStore, domain: String = "", cell: String = "") async throws -> [TaskRecord] {
            try await withCheckedContinuation { c in store.tasks(domain: domain, cellId: cell) { c.resume(returning: $0) } }
                .get().sorted { $0.guid < $1.guid }
        }
        #expect(recovery.taskCount == store.count && restarted.count == store.count)
        #expect(try await listed(restarted) == listed(store))
        for domain in ["d0", "d1", "d2", "d9", "none"] {
            #expect(try await listed(restarted, domain: domain) == listed(store, domain: domain))
        }
        for cell in (0..<5).map({ "cell\($0)" }) {
            #expect(try await listed(restarted, cell: cell) == listed(store, cell: cell))
            #expect(try await listed(restarted, domain: "d1", cell: cell) == listed(store, domain: "d1", cell: cell))
        }
        #expect(restarted.counts == store.counts && recovery.counts == store.counts)
        #expect(Set(restarted.guidsOfTasks { $0.state == .completed }) == Set(store.guidsOfTasks { $0.state == .completed }))
    }
}
