import BBSLog
import BBSModels
import Dispatch
import Synchronization

/// Which cells are present (the reference asks Locket). Optional: without a registry,
/// convergence cannot tell a vanished cell and leaves Running tasks alone.
public protocol CellRegistry: Sendable {
    func presentCells(completion: @escaping @Sendable (Result<Set<String>, any Error>) -> Void)
}

/// Runs task convergence (lifecycle.md §10): every `converge_repeat_interval`, decide a
/// `ConvergencePlan` from a snapshot of the store and carry it out with ordinary store
/// commands, so every change is journalled and published like an API call. The clock is
/// injected; tests call `runPass` directly.
public final class TaskConverger: Sendable {
    private let store: TaskStore
    private let durations: ConvergenceDurations
    private let cells: (any CellRegistry)?
    private let auctioneer: (any TaskAuctioneer)?
    private let callbacks: CompletionCallbackWorkers?
    private let clock: @Sendable () -> Int64
    private let logger: Logger
    private let queue = DispatchQueue(label: "bbs.task-converger")
    /// Dispatch sources are thread-safe; the timer is created once and only scheduled,
    /// resumed and cancelled through their own API.
    nonisolated(unsafe) private let timer: any DispatchSourceTimer
    /// libdispatch traps when a source that was never resumed is released, so `deinit`
    /// must know whether `start` resumed it.
    private let timerResumed = Atomic(false)
    /// Passes do not overlap: a tick that finds one running is skipped.
    private let running = Mutex(false)

    public init(store: TaskStore, durations: ConvergenceDurations, cells: (any CellRegistry)?,
                auctioneer: (any TaskAuctioneer)?, callbacks: CompletionCallbackWorkers?,
                clock: @escaping @Sendable () -> Int64, logger: Logger) {
        self.store = store
        self.durations = durations
        self.cells = cells
        self.auctioneer = auctioneer
        self.callbacks = callbacks
        self.clock = clock
        self.logger = logger
        self.timer = DispatchSource.makeTimerSource(queue: queue)
    }

    deinit {
        timer.cancel()
        if !timerResumed.exchange(true, ordering: .relaxed) { timer.resume() }
    }

    /// Starts the periodic passes; the first runs after one interval, as the reference's.
    public func start(every interval: Duration) {
        let nanoseconds = Int(interval.components.seconds) * 1_000_000_000
            + Int(interval.components.attoseconds / 1_000_000_000)
        timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds),
                       leeway: .milliseconds(100))
        timer.setEventHandler { [weak self] in self?.runPass {} }
        if !timerResumed.exchange(true, ordering: .relaxed) { timer.resume() }
    }

    public func stop() {
        timer.cancel()
    }

    /// Hands every Completed task that has a callback URL to the callback workers. Called
    /// once after a restart: nothing else is delivering them, and the claim each delivery
    /// makes (Completed → Resolving) keeps them from being delivered twice concurrently.
    public func resumeOwedCallbacks() {
        guard let callbacks else { return }
        // Filtered on a shared copy of the table, not a copy of every task (a restart with
        // 1,000,000 tasks spent 8% of its start-up copying them here).
        let owed = store.guidsOfTasks { task in
            task.state == .completed && !task.definition.completionCallbackURL.isEmpty
        }
        for guid in owed { callbacks.submit(guid: guid) }
    }

    /// One pass; `completion` runs when every change of the pass is durable and the
    /// auction and callback submissions are made.
    public func runPass(completion: @escaping @Sendable () -> Void) {
        let claimed = running.withLock { running in
            if running { return false }
            running = true
            return true
        }
        guard claimed else {
            logger.info("convergence-skipped-previous-pass-running")
            completion()
            return
        }
        let done: @Sendable () -> Void = { [self] in
            running.withLock { $0 = false }
            completion()
        }
        guard let cells else {
            converge(presentCells: nil, done)
            return
        }
        cells.presentCells { [self] result in
            switch result {
            case .success(let present):
                converge(presentCells: present, done)
            case .failure(let error):
                // As the reference: without the cell set the task pass is skipped.
                logger.error("failed-to-fetch-cells", ["error": "\(error)"])
                done()
            }
        }
    }

    private func converge(presentCells: Set<String>?, _ done: @escaping @Sendable () -> Void) {
        let now = clock()
        let plan = ConvergencePlan(tasks: store.snapshotOfTasks(), presentCells: presentCells, now: now,
                                   durations: durations)
        var commands: [(String, TaskCommand)] = []
        for guid in plan.expirePending {
            commands.append((guid, .expirePending(createdBefore: now - durations.expirePendingTask)))
        }
        for orphan in plan.cellDisappeared {
            commands.append((orphan.guid, .cellDisappeared(cellId: orphan.cellId)))
        }
        for guid in plan.demoteResolving {
            commands.append((guid, .demoteResolving(updatedBefore: now - durations.kickTask)))
        }
        // Step 5 must see step 4's demotions: apply the deletions after the others.
        let deletions = plan.expireCompleted.map {
            ($0, TaskCommand.expireCompleted(firstCompletedBefore: now - durations.expireCompletedTask))
        }
        let changed = ChangeCounter()
        applyAll(commands, changed: changed) { [self] in
            applyAll(deletions, changed: changed) { [self] in
                if !plan.kickPending.isEmpty { auctioneer?.requestAuctions(for: plan.kickPending) }
                for guid in plan.kickCompleted { callbacks?.submit(guid: guid) }
                logger.info("converged", [
                    "expired_pending": String(plan.expirePending.count),
                    "kicked_pending": String(plan.kickPending.count),
                    "cell_disappeared": String(plan.cellDisappeared.count),
                    "demoted_resolving": String(plan.demoteResolving.count),
                    "expired_completed": String(plan.expireCompleted.count),
                    "kicked_completed": String(plan.kickCompleted.count),
                    "changes": String(changed.value.withLock { $0 }),
                ])
                done()
            }
        }
    }

    /// Applies every command concurrently; `then` runs once all have answered. A command
    /// whose condition no longer holds (the task moved since the scan) is skipped.
    private func applyAll(_ commands: [(String, TaskCommand)], changed: ChangeCounter,
                          then: @escaping @Sendable () -> Void) {
        guard !commands.isEmpty else { then(); return }
        let group = DispatchGroup()
        for (guid, command) in commands {
            group.enter()
            store.apply(command, guid: guid) { [logger] result in
                switch result {
                case .success: changed.value.withLock { $0 += 1 }
                case .failure(let error) where error.type == .invalidStateTransition
                    || error == .conditionNoLongerHolds || error.type == .resourceNotFound:
                    break
                case .failure(let error):
                    logger.error("convergence-change-failed", ["task_guid": guid, "error": error.message])
                }
                group.leave()
            }
        }
        group.notify(queue: queue, execute: then)
    }
}

/// Counts the changes of one pass across asynchronous completions.
private final class ChangeCounter: Sendable {
    let value = Mutex(0)
}
