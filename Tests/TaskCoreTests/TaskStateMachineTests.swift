import BBSModels
import Testing
@testable import TaskCore

// The task state machine as a table: every stored state × every command, with the
// outcome the reference gives (lifecycle.md §3–§4, §10). Times are plain numbers: the
// machine takes `now` and reads no clock.

private let now: Int64 = 2_000_000_000_000_000_000
private let earlier: Int64 = 1_000_000_000_000_000_000
private let definition = StoredDefinition(bytes: [0x0a, 0x01, 0x78], completionCallbackURL: "")
private let cellA = "cell-a"
private let cellB = "cell-b"
private let guid = "task-1"

/// A task as stored in each state, created and last updated `earlier`.
private func stored(_ state: TaskState, rejections: Int32 = 0) -> TaskRecord {
    var task = TaskRecord(guid: guid, domain: "d", definition: definition,
                          createdAt: earlier, updatedAt: earlier, state: state, rejectionCount: rejections)
    switch state {
    case .running:
        task.cellId = cellA
    case .completed, .resolving:
        task.firstCompletedAt = earlier
        task.failed = true
        task.failureReason = "boom"
        task.result = "r"
    default:
        break
    }
    return task
}

private enum StoredState: String, CaseIterable, CustomTestStringConvertible {
    case absent, pending, running, completed, resolving
    var record: TaskRecord? {
        switch self {
        case .absent: return nil
        case .pending: return stored(.pending)
        case .running: return stored(.running)
        case .completed: return stored(.completed)
        case .resolving: return stored(.resolving)
        }
    }
    var testDescription: String { rawValue }
}

/// What the table expects.
private enum Expect: Equatable {
    case created
    case changed(to: TaskState)
    case removed
    case unchanged
    case error(BBSError)
}

private let machine = TaskStateMachine(maxTaskRetries: 3)

private func outcome(_ command: TaskCommand, on state: StoredState) -> Expect {
    switch machine.apply(command, guid: guid, to: state.record, now: now) {
    case .success(.created): return .created
    case .success(.changed(_, let after)): return .changed(to: after.state)
    case .success(.removed): return .removed
    case .success(.unchanged): return .unchanged
    case .failure(let error): return .error(error)
    }
}

private func transition(_ from: TaskState, _ to: TaskState) -> Expect { .error(.invalidTransition(from: from, to: to)) }
private let notFound = Expect.error(.resourceNotFound)
private let conflict = Expect.error(.conditionNoLongerHolds)

private struct Row: CustomTestStringConvertible, Sendable {
    let name: String
    let command: TaskCommand
    /// Expected outcome for absent, pending, running (on cell A), completed, resolving.
    let expected: [Expect]
    var testDescription: String { name }
}

extension Expect: @unchecked Sendable {}

private let table: [Row] = [
    Row(name: "desire", command: .desire(domain: "d", definition: definition),
        expected: [.created, .error(.resourceExists), .error(.resourceExists), .error(.resourceExists), .error(.resourceExists)]),
    Row(name: "start on the running cell", command: .start(cellId: cellA),
        expected: [notFound, .changed(to: .running), .unchanged, transition(.completed, .running), transition(.resolving, .running)]),
    Row(name: "start on another cell", command: .start(cellId: cellB),
        expected: [notFound, .changed(to: .running), transition(.running, .running), transition(.completed, .running), transition(.resolving, .running)]),
    Row(name: "complete on the running cell", command: .complete(cellId: cellA, failed: false, failureReason: "", result: "ok"),
        expected: [notFound, transition(.pending, .completed), .changed(to: .completed), transition(.completed, .completed), transition(.resolving, .completed)]),
    Row(name: "complete on another cell", command: .complete(cellId: cellB, failed: false, failureReason: "", result: "ok"),
        expected: [notFound, transition(.pending, .completed), .error(.runningOnDifferentCell(actual: cellA, requested: cellB)), transition(.completed, .completed), transition(.resolving, .completed)]),
    Row(name: "fail", command: .fail(failureReason: "x"),
        expected: [notFound, .changed(to: .completed), .changed(to: .completed), transition(.completed, .completed), transition(.resolving, .completed)]),
    Row(name: "cancel", command: .cancel,
        expected: [notFound, .changed(to: .completed), .changed(to: .completed), transition(.completed, .completed), transition(.resolving, .completed)]),
    Row(name: "reject", command: .reject(rejectionReason: "full"),
        expected: [notFound, .changed(to: .pending), .changed(to: .pending), .error(.badRequest), .error(.badRequest)]),
    Row(name: "resolving", command: .resolving,
        expected: [notFound, transition(.pending, .resolving), transition(.running, .resolving), .changed(to: .resolving), transition(.resolving, .resolving)]),
    Row(name: "delete", command: .delete,
        expected: [notFound, transition(.pending, .resolving), transition(.running, .resolving), transition(.completed, .resolving), .removed]),
    Row(name: "expire pending (old enough)", command: .expirePending(createdBefore: now),
        expected: [notFound, .changed(to: .completed), transition(.running, .completed), transition(.completed, .completed), transition(.resolving, .completed)]),
    Row(name: "expire pending (too young)", command: .expirePending(createdBefore: earlier),
        expected: [notFound, conflict, transition(.running, .completed), transition(.completed, .completed), transition(.resolving, .completed)]),
    Row(name: "cell disappeared (its cell)", command: .cellDisappeared(cellId: cellA),
        expected: [notFound, transition(.pending, .completed), .changed(to: .completed), transition(.completed, .completed), transition(.resolving, .completed)]),
    Row(name: "cell disappeared (another cell)", command: .cellDisappeared(cellId: cellB),
        expected: [notFound, transition(.pending, .completed), conflict, transition(.completed, .completed), transition(.resolving, .completed)]),
    Row(name: "demote resolving (stale)", command: .demoteResolving(updatedBefore: now),
        expected: [notFound, transition(.pending, .completed), transition(.running, .completed), transition(.completed, .completed), .changed(to: .completed)]),
    Row(name: "demote resolving (fresh)", command: .demoteResolving(updatedBefore: earlier),
        expected: [notFound, transition(.pending, .completed), transition(.running, .completed), transition(.completed, .completed), conflict]),
    Row(name: "expire completed (old)", command: .expireCompleted(firstCompletedBefore: now),
        expected: [notFound, transition(.pending, .completed), transition(.running, .completed), .removed, transition(.resolving, .completed)]),
    Row(name: "expire completed (recent)", command: .expireCompleted(firstCompletedBefore: earlier),
        expected: [notFound, transition(.pending, .completed), transition(.running, .completed), conflict, transition(.resolving, .completed)]),
]

@Suite("Task state machine: every state × every command")
struct TaskStateMachineTableTests {
    @Test(arguments: table)
    fileprivate func row(_ row: Row) {
        for (state, expected) in zip(StoredState.allCases, row.expected) {
            #expect(outcome(row.command, on: state) == expected, "\(row.name) on \(state)")
        }
    }

    @Test func everyRowCoversEveryState() {
        for row in table { #expect(row.expected.count == StoredState.allCases.count, "\(row.name)") }
    }

    @Test func errorTextsNameStatesAsTheReferenceDoes() {
        #expect(BBSError.invalidTransition(from: .running, to: .completed).message == "Cannot transition from Running to Completed")
        #expect(BBSError.runningOnDifferentCell(actual: "a", requested: "b").message == "Running on cell a not b")
    }

    @Test func aDamagedStateRefusesEveryCommand() {
        var task = stored(.pending)
        task.state = TaskState(rawValue: 9)
        let result = machine.apply(.cancel, guid: guid, to: task, now: now)
        guard case .failure(let error) = result else { Issue.record("expected failure"); return }
        #expect(error.type == .invalidRecord)
    }
}

@Suite("Task state machine: the fields each transition writes")
struct TaskStateMachineFieldTests {
    private func after(_ command: TaskCommand, on task: TaskRecord?, machine: TaskStateMachine = machine) throws -> TaskRecord {
        let transition = try machine.apply(command, guid: guid, to: task, now: now).get()
        return try #require(transition.after)
    }

    @Test func desireStoresAPendingTaskStampedNow() throws {
        let task = try after(.desire(domain: "dom", definition: definition), on: nil)
        #expect(task == TaskRecord(guid: guid, domain: "dom", definition: definition,
                                   createdAt: now, updatedAt: now, state: .pending))
    }

    @Test func startRecordsTheCell() throws {
        let task = try after(.start(cellId: cellB), on: stored(.pending))
        #expect(task.state == .running && task.cellId == cellB && task.updatedAt == now && task.createdAt == earlier)
    }

    @Test func completeKeepsReasonAndResultAndClearsTheCell() throws {
        let task = try after(.complete(cellId: cellA, failed: false, failureReason: "kept", result: "out"), on: stored(.running))
        #expect(task.state == .completed)
        #expect(!task.failed && task.failureReason == "kept" && task.result == "out")
        #expect(task.cellId == "" && task.updatedAt == now && task.firstCompletedAt == now)
    }

    @Test func failSetsFailedClearsResultAndCell() throws {
        let task = try after(.fail(failureReason: "broke"), on: stored(.running))
        #expect(task.failed && task.failureReason == "broke" && task.result == "" && task.cellId == "")
    }

    @Test func cancelUsesTheReferenceReason() throws {
        let task = try after(.cancel, on: stored(.pending))
        #expect(task.failed && task.failureReason == "task was cancelled" && task.firstCompletedAt == now)
    }

    @Test func rejectBelowTheLimitReturnsToPendingAndKeepsTheCell() throws {
        let task = try after(.reject(rejectionReason: "no room"), on: stored(.running, rejections: 2))
        #expect(task.state == .pending && task.cellId == cellA)
        #expect(task.rejectionCount == 3 && task.rejectionReason == "no room" && task.updatedAt == now)
        #expect(!task.failed)
    }

    @Test func rejectAtTheLimitFailsWithTheRejectionReason() throws {
        let transition = try machine.apply(.reject(rejectionReason: "last"), guid: guid,
                                           to: stored(.running, rejections: 3), now: now).get()
        guard case .changed(let before, let after) = transition else { Issue.record("\(transition)"); return }
        // The event's `before` is the rejected Pending task, as the reference emits it.
        #expect(before.state == .pending && before.rejectionCount == 4 && before.cellId == cellA)
        #expect(after.state == .completed && after.failed && after.failureReason == "last")
        #expect(after.rejectionCount == 4 && after.rejectionReason == "last" && after.cellId == "")
    }

    @Test func maxTaskRetriesZeroFailsOnTheFirstRejection() throws {
        let task = try after(.reject(rejectionReason: "r"), on: stored(.pending), machine: TaskStateMachine(maxTaskRetries: 0))
        #expect(task.state == .completed && task.rejectionCount == 1)
    }

    @Test func resolvingKeepsFirstCompletedAt() throws {
        let task = try after(.resolving, on: stored(.completed))
        #expect(task.state == .resolving && task.updatedAt == now && task.firstCompletedAt == earlier)
    }

    @Test func convergenceFailuresKeepTheCellAndUseTheReferenceReasons() throws {
        let expired = try after(.expirePending(createdBefore: now), on: stored(.pending))
        #expect(expired.failed && expired.failureReason == "not started within time limit" && expired.firstCompletedAt == now)
        let orphaned = try after(.cellDisappeared(cellId: cellA), on: stored(.running))
        #expect(orphaned.failed && orphaned.failureReason == "cell disappeared before completion" && orphaned.cellId == cellA)
    }

    @Test func demotingAResolvingTaskChangesNoTimestamp() throws {
        let before = stored(.resolving)
        let task = try after(.demoteResolving(updatedBefore: now), on: before)
        #expect(task.state == .completed && task.updatedAt == before.updatedAt && task.firstCompletedAt == before.firstCompletedAt)
    }
}

@Suite("Reason truncation (1024 bytes)")
struct ReasonTruncationTests {
    @Test func shorterThanTheLimitIsKept() {
        let reason = String(repeating: "y", count: 1023)
        #expect(TaskStateMachine.truncatedReason(reason) == reason)
    }

    @Test func exactlyTheLimitIsCut() {
        let cut = TaskStateMachine.truncatedReason(String(repeating: "z", count: 1024))
        #expect(cut == String(repeating: "z", count: 1013) + "(truncated)")
        #expect(cut.utf8.count == 1024)
    }

    @Test func neverSplitsAUTF8Sequence() {
        // 1012 ASCII bytes then two-byte "é"s: byte 1013 falls inside an "é".
        let reason = String(repeating: "a", count: 1012) + String(repeating: "é", count: 100)
        let cut = TaskStateMachine.truncatedReason(reason)
        #expect(cut == String(repeating: "a", count: 1012) + "(truncated)")
    }

    @Test func failureReasonsAreTruncatedOnWrite() throws {
        let transition = try machine.apply(.fail(failureReason: String(repeating: "x", count: 5000)),
                                           guid: guid, to: stored(.pending), now: now).get()
        #expect(transition.after?.failureReason == String(repeating: "x", count: 1013) + "(truncated)")
    }
}
