import BBSLog
import BBSModels
import Testing
@testable import BBSAPI
@testable import TaskCore

@Suite("List encoding straight from the store")
struct ListEncodingTests {
    /// Records with every field at its default and at awkward values (negative int32s take
    /// 10 bytes, strings past 127 bytes take a 2-byte length, an empty definition).
    private func records() -> [TaskRecord] {
        var out: [TaskRecord] = []
        for i in 0..<300 {
            var record = TaskRecord(
                guid: "guid-\(i)" + String(repeating: "g", count: i % 3 == 0 ? 150 : 0),
                domain: i % 4 == 0 ? "other" : "d",
                definition: StoredDefinition(bytes: i % 7 == 0 ? [] : Array(repeating: UInt8(i & 0xFF), count: i),
                                             completionCallbackURL: i % 2 == 0 ? "http://cb" : ""),
                createdAt: i % 5 == 0 ? 0 : Int64(i) * 1_000_000_007, updatedAt: -Int64(i),
                firstCompletedAt: i % 3 == 0 ? Int64.max : 0,
                state: TaskState(rawValue: Int32(i % 5) - 1), cellId: i % 2 == 0 ? "cell-\(i % 3)" : "",
                result: String(repeating: "r", count: i % 200), failed: i % 2 == 1,
                failureReason: i % 3 == 1 ? "why" : "", rejectionCount: Int32(i % 4) - 2,
                rejectionReason: i % 6 == 0 ? "é" : "")
            if i == 299 { record.rejectionCount = Int32.min }
            out.append(record)
        }
        return out
    }

    @Test func equalsTheGeneralEncoder() async throws {
        var recovery = TaskStoreRecovery()
        for record in records() {
            try recovery.apply(type: TaskStore.RecordType.putTask.rawValue,
                               payload: record.encodedRecord(includingDefinition: true))
        }
        let store = TaskStore(recovered: recovery, journal: MemoryJournal(), machine: TaskStateMachine(maxTaskRetries: 3),
                              clock: { 1_700_000_000_000_000_000 }, logger: .discarding)
        for (domain, cell) in [("", ""), ("d", ""), ("other", ""), ("", "cell-1"), ("d", "cell-2"), ("none", "")] {
            let selection = try await withCheckedContinuation { c in
                store.selectTasks(domain: domain, cellId: cell) { c.resume(returning: $0) }
            }.get()
            let copies = Array(selection)
            #expect(copies.allSatisfy { (domain.isEmpty || $0.domain == domain) && (cell.isEmpty || $0.cellId == cell) })
            #expect(TaskHandlers.encodeTasksResponse(selection) == TaskHandlers.encodeTasksResponse(copies, format: .v3))
            for record in copies {
                #expect(record.taskFieldSize == TaskHandlers.encodeTasksResponse([record], format: .v3).count)
            }
        }
    }
}

