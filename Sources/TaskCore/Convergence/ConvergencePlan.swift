import BBSModels

/// The durations that shape task convergence (lifecycle.md §10), in nanoseconds, with
/// the reference's keys and diego-release defaults.
public struct ConvergenceDurations: Sendable, Hashable {
    /// `kick_task_duration`: a Completed task not updated for this long gets its callback
    /// again; a Resolving task not updated for this long is demoted to Completed.
    public var kickTask: Int64 = 30 * 1_000_000_000
    /// `expire_pending_task_duration`: a Pending task older than this fails.
    public var expirePendingTask: Int64 = 1800 * 1_000_000_000
    /// `expire_completed_task_duration`: a Completed task first completed longer ago than
    /// this is deleted.
    public var expireCompletedTask: Int64 = 120 * 1_000_000_000

    public init() {}
}

/// What one convergence pass must do, decided from a snapshot of the store: a pure
/// function of (tasks, present cells, now, durations), so every rule is tested without a
/// clock or a store. The converger then applies each step through the store as ordinary
/// commands; each command re-checks its condition, since a client may move a task between
/// the scan and the command.
public struct ConvergencePlan: Sendable, Hashable {
    /// Step 1: Pending tasks created before now − expire_pending → Completed, failed.
    public var expirePending: [String] = []
    /// Step 2: every other Pending task, re-sent to the auctioneer in one request.
    public var kickPending: [TaskRecord] = []
    /// Step 3: Running tasks whose cell is not present → Completed, failed (cell kept).
    /// Empty when no cell registry is configured.
    public var cellDisappeared: [OrphanedTask] = []
    /// Step 4: Resolving tasks not updated since now − kick → back to Completed.
    public var demoteResolving: [String] = []
    /// Step 5: Completed tasks (including those demoted in step 4) first completed before
    /// now − expire_completed → deleted.
    public var expireCompleted: [String] = []
    /// Step 6: Completed tasks (including demoted ones) not updated since now − kick, that
    /// have a callback URL and were not deleted in step 5 → handed to the callback workers.
    public var kickCompleted: [String] = []

    public init() {}

    /// Decides a pass. `presentCells` is nil when no cell registry is configured (step 3
    /// is skipped); an empty set means every Running task is orphaned, as in the reference.
    public init(tasks: some Sequence<TaskRecord>, presentCells: Set<String>?, now: Int64,
                durations: ConvergenceDurations) {
        let pendingCutoff = now - durations.expirePendingTask
        let kickCutoff = now - durations.kickTask
        let completedCutoff = now - durations.expireCompletedTask
        for task in tasks {
            switch task.state {
            case .pending:
                if task.createdAt < pendingCutoff {
                    expirePending.append(task.guid)
                } else {
                    kickPending.append(task)
                }
            case .running:
                if let presentCells, !presentCells.contains(task.cellId) {
                    cellDisappeared.append(OrphanedTask(guid: task.guid, cellId: task.cellId))
                }
            case .resolving:
                // Demotion keeps every timestamp, so the demoted task is judged by steps 5
                // and 6 exactly as a Completed task with the same times.
                guard task.updatedAt < kickCutoff else { continue }
                demoteResolving.append(task.guid)
                fallthrough
            case .completed:
                if task.firstCompletedAt < completedCutoff {
                    expireCompleted.append(task.guid)
                } else if task.updatedAt < kickCutoff && !task.definition.completionCallbackURL.isEmpty {
                    kickCompleted.append(task.guid)
                }
            default:
                continue
            }
        }
    }
}

/// A Running task whose cell is no longer present.
public struct OrphanedTask: Sendable, Hashable {
    public var guid: String
    public var cellId: String
    public init(guid: String, cellId: String) { self.guid = guid; self.cellId = cellId }
}
