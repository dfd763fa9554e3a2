import BBSModels

// The task state machine (lifecycle.md §1–§4, §10) as one pure function:
//
//             desire
//               │
//               ▼
//         ┌──────────┐   start           ┌──────────┐
//         │ Pending  │ ────────────────► │ Running  │ ── start, same cell: unchanged
//         │   (1)    │ ◄──────────────── │   (2)    │
//         └──────────┘   reject          └──────────┘
//            │   cancel / fail / reject past       │  complete (same cell) / cancel /
//            │   max_task_retries / expirePending  │  fail / reject past max / cellDisappeared
//            ▼                                     ▼
//                     ┌─────────────┐
//                     │  Completed  │ ◄── demoteResolving
//                     │     (3)     │ ── expireCompleted ──► removed
//                     └─────────────┘
//                        │ resolving
//                        ▼
//                     ┌─────────────┐   delete
//                     │  Resolving  │ ─────────► removed
//                     │     (4)     │
//                     └─────────────┘
//
// `apply` takes the stored task (or nil), a command and the time, and returns what the
// store must commit (and what events follow from it) or the exact error the reference
// answers. It does no I/O and reads no clock, so every (state, command) pair is tested
// as a table (TaskStateMachineTests). Every pair is spelled out below, without
// `default:`, so a new command or phase makes the compiler point at each decision.

/// Something that happens to a task: an API call, or a convergence rule.
public enum TaskCommand: Sendable, Hashable {
    case desire(domain: String, definition: StoredDefinition)
    case start(cellId: String)
    case complete(cellId: String, failed: Bool, failureReason: String, result: String)
    /// The deprecated `/v1/tasks/fail`.
    case fail(failureReason: String)
    case cancel
    case reject(rejectionReason: String)
    case resolving
    case delete
    /// Convergence §10 step 1: a Pending task created before `createdBefore` fails.
    case expirePending(createdBefore: Int64)
    /// Convergence §10 step 3: a Running task whose cell is gone fails (cell id kept).
    case cellDisappeared(cellId: String)
    /// Convergence §10 step 4: a Resolving task not updated since `updatedBefore` goes
    /// back to Completed (no timestamp changes) so its callback is retried.
    case demoteResolving(updatedBefore: Int64)
    /// Convergence §10 step 5: a Completed task first completed before
    /// `firstCompletedBefore` is deleted.
    case expireCompleted(firstCompletedBefore: Int64)
}

/// What a successful command does to the store.
public enum TaskTransition: Sendable, Hashable {
    /// A new task (desire). Event: `task_created`.
    case created(TaskRecord)
    /// The task changed. Event: `task_changed` with these two values.
    case changed(before: TaskRecord, after: TaskRecord)
    /// The task is gone. Event: `task_removed` with the task as it was.
    case removed(TaskRecord)
    /// Nothing to write, no event (start on the cell it already runs on).
    case unchanged(TaskRecord)

    /// The task as it is after the transition (nil when removed).
    public var after: TaskRecord? {
        switch self {
        case .created(let task), .unchanged(let task): return task
        case .changed(_, let after): return after
        case .removed: return nil
        }
    }
}

public struct TaskStateMachine: Sendable {
    /// `max_task_retries`: how many rejections return a task to Pending before the next
    /// one fails it.
    public var maxTaskRetries: Int

    public init(maxTaskRetries: Int) {
        self.maxTaskRetries = maxTaskRetries
    }

    /// Failure and rejection reasons are stored in 1024 bytes (lifecycle.md §2).
    public static let reasonLimit = 1024
    public static let cancelledReason = "task was cancelled"
    public static let expiredPendingReason = "not started within time limit"
    public static let cellDisappearedReason = "cell disappeared before completion"

    /// Applies `command` to the task stored under `guid` (`current`, nil when there is
    /// none) at time `now` (Unix nanoseconds).
    public func apply(_ command: TaskCommand, guid: String, to current: TaskRecord?, now: Int64)
        -> Result<TaskTransition, BBSError>
    {
        guard let current else {
            guard case .desire(let domain, let definition) = command else {
                return .failure(.resourceNotFound)
            }
            return .success(.created(TaskRecord(
                guid: guid, domain: domain, definition: definition,
                createdAt: now, updatedAt: now, state: .pending)))
        }
        guard let phase = Phase(current) else {
            // A state outside 1–4 can only come from a damaged record; nothing may move it.
            return .failure(BBSError(type: .invalidRecord, message: "task \(guid) has unknown state \(current.state)"))
        }

        switch (phase, command) {
        // desire: the guid is taken, whatever the state.
        case (_, .desire):
            return .failure(.resourceExists)

        // start: Pending -> Running; Running on the same cell is an idempotent no-op.
        case (.pending, .start(let cellId)):
            var after = current
            after.state = .running
            after.cellId = cellId
            after.updatedAt = now
            return .success(.changed(before: current, after: after))
        case (.running(let runningOn), .start(let cellId)):
            if runningOn == cellId { return .success(.unchanged(current)) }
            return .failure(.invalidTransition(from: .running, to: .running))
        case (.completed, .start), (.resolving, .start):
            return .failure(.invalidTransition(from: current.state, to: .running))

        // complete: only the cell it runs on may complete it.
        case (.running(let runningOn), .complete(let cellId, let failed, let reason, let result)):
            if runningOn != cellId {
                return .failure(.runningOnDifferentCell(actual: runningOn, requested: cellId))
            }
            return .success(.changed(before: current, after: completed(
                current, failed: failed, failureReason: reason, result: result, now: now)))
        case (.pending, .complete), (.completed, .complete), (.resolving, .complete):
            return .failure(.invalidTransition(from: current.state, to: .completed))

        // fail and cancel: from Pending or Running, on any cell.
        case (.pending, .fail(let reason)), (.running, .fail(let reason)):
            return .success(.changed(before: current, after: completed(
                current, failed: true, failureReason: reason, result: "", now: now)))
        case (.pending, .cancel), (.running, .cancel):
            return .success(.changed(before: current, after: completed(
                current, failed: true, failureReason: Self.cancelledReason, result: "", now: now)))
        case (.completed, .fail), (.resolving, .fail), (.completed, .cancel), (.resolving, .cancel):
            return .failure(.invalidTransition(from: current.state, to: .completed))

        // reject: back to Pending (cell id kept), or failed once the count before this
        // rejection has reached max_task_retries. Refused after completion with
        // InvalidRequest (lifecycle.md §4.7 Recommendation: no event, one error type).
        case (.pending, .reject(let reason)), (.running, .reject(let reason)):
            var rejected = current
            rejected.rejectionCount += 1
            rejected.rejectionReason = Self.truncatedReason(reason)
            rejected.state = .pending
            rejected.updatedAt = now
            if Int(current.rejectionCount) >= maxTaskRetries {
                // The reference runs `fail` on the rejected task: its event's `before` is
                // the rejected Pending task.
                return .success(.changed(before: rejected, after: completed(
                    rejected, failed: true, failureReason: reason, result: "", now: now)))
            }
            return .success(.changed(before: current, after: rejected))
        case (.completed, .reject), (.resolving, .reject):
            return .failure(.badRequest)

        // resolving: the claim on a Completed task.
        case (.completed, .resolving):
            var after = current
            after.state = .resolving
            after.updatedAt = now
            return .success(.changed(before: current, after: after))
        case (.pending, .resolving), (.running, .resolving), (.resolving, .resolving):
            return .failure(.invalidTransition(from: current.state, to: .resolving))

        // delete: only a Resolving task; the reference's error names Resolving as target.
        case (.resolving, .delete):
            return .success(.removed(current))
        case (.pending, .delete), (.running, .delete), (.completed, .delete):
            return .failure(.invalidTransition(from: current.state, to: .resolving))

        // Convergence. Each rule re-checks its condition, because a client may have moved
        // the task between the converger's scan and this command.
        case (.pending, .expirePending(let createdBefore)):
            guard current.createdAt < createdBefore else { return .failure(.conditionNoLongerHolds) }
            return .success(.changed(before: current, after: completed(
                current, failed: true, failureReason: Self.expiredPendingReason, result: "", now: now,
                keepCell: true)))
        case (.running, .expirePending), (.completed, .expirePending), (.resolving, .expirePending):
            return .failure(.invalidTransition(from: current.state, to: .completed))

        case (.running(let runningOn), .cellDisappeared(let cellId)):
            guard runningOn == cellId else { return .failure(.conditionNoLongerHolds) }
            return .success(.changed(before: current, after: completed(
                current, failed: true, failureReason: Self.cellDisappearedReason, result: "", now: now,
                keepCell: true)))
        case (.pending, .cellDisappeared), (.completed, .cellDisappeared), (.resolving, .cellDisappeared):
            return .failure(.invalidTransition(from: current.state, to: .completed))

        case (.resolving, .demoteResolving(let updatedBefore)):
            guard current.updatedAt < updatedBefore else { return .failure(.conditionNoLongerHolds) }
            var after = current
            after.state = .completed
            return .success(.changed(before: current, after: after))
        case (.pending, .demoteResolving), (.running, .demoteResolving), (.completed, .demoteResolving):
            return .failure(.invalidTransition(from: current.state, to: .completed))

        case (.completed, .expireCompleted(let firstCompletedBefore)):
            guard current.firstCompletedAt < firstCompletedBefore else { return .failure(.conditionNoLongerHolds) }
            return .success(.removed(current))
        case (.pending, .expireCompleted), (.running, .expireCompleted), (.resolving, .expireCompleted):
            return .failure(.invalidTransition(from: current.state, to: .completed))
        }
    }

    /// The "complete" write shared by complete, fail, cancel and convergence
    /// (`completeTask` in the reference's task_db.go).
    private func completed(_ task: TaskRecord, failed: Bool, failureReason: String, result: String,
                           now: Int64, keepCell: Bool = false) -> TaskRecord {
        var after = task
        after.state = .completed
        after.failed = failed
        after.failureReason = Self.truncatedReason(failureReason)
        after.result = result
        if !keepCell { after.cellId = "" }
        after.updatedAt = now
        after.firstCompletedAt = now
        return after
    }

    /// Cuts a reason of 1024 bytes or more to its first 1013 bytes + `(truncated)`, as the
    /// reference does, but never inside a UTF-8 sequence (lifecycle.md §2 Recommendation).
    public static func truncatedReason(_ reason: String) -> String {
        let utf8 = reason.utf8
        guard utf8.count >= reasonLimit else { return reason }
        let suffix = "(truncated)"
        var end = utf8.index(utf8.startIndex, offsetBy: reasonLimit - suffix.utf8.count)
        // Back off over continuation bytes (10xxxxxx) to the start of a scalar.
        while end > utf8.startIndex && (utf8[end] & 0xC0) == 0x80 {
            end = utf8.index(before: end)
        }
        return String(decoding: utf8[utf8.startIndex..<end], as: UTF8.self) + suffix
    }
}

/// A stored task's state with the data that matters in it.
private enum Phase {
    case pending
    case running(cellId: String)
    case completed
    case resolving

    init?(_ task: TaskRecord) {
        switch task.state {
        case .pending: self = .pending
        case .running: self = .running(cellId: task.cellId)
        case .completed: self = .completed
        case .resolving: self = .resolving
        default: return nil
        }
    }
}

extension BBSError {
    /// A convergence rule whose condition stopped holding between scan and command; the
    /// converger skips the task silently.
    public static let conditionNoLongerHolds = BBSError(
        type: .resourceConflict, message: "the requested resource is in a conflicting state")
}
