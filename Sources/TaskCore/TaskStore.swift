import BBSLog
import BBSModels
import BBSWAL
import Dispatch
import Synchronization

/// The tasks, in memory, indexed by guid, domain and cell, made durable by a journal.
///
/// Every mutation runs under one lock: look the task up, let `TaskStateMachine` decide,
/// append the resulting record to the journal (so journal order is commit order), update
/// the indexes. The caller is answered only once the journal reports the record durable
/// (group commit: many writers share one fsync), and observers see committed changes in
/// that same order, after they are durable. The lock is never held across I/O.
///
/// Reads never show a change that could still be lost: a read that would return (or
/// depend on the absence of) a record whose journal write is still in flight waits for
/// that write to be durable first. Reads of settled data answer at once.
public final class TaskStore: Sendable {
    /// A committed change, delivered to observers in commit order once durable.
    public struct Commit: Sendable {
        public let transition: TaskTransition
        public let sequence: UInt64
    }

    /// The journal record types (docs/ARCHITECTURE.md "Write-ahead log records").
    enum RecordType: UInt8 {
        /// A whole task, definition included (desire; snapshots).
        case putTask = 1
        /// A task's own fields without the definition (every later change).
        case updateTask = 2
        /// A task was removed; payload = guid.
        case removeTask = 3
        /// A domain and its expiry.
        case putDomain = 4
    }

    struct Entry: Sendable {
        var record: TaskRecord
        /// The journal sequence of the record's latest write.
        var sequence: UInt64
    }

    /// Everything the lock protects.
    private struct State: Sendable {
        var tasks = TaskTable()
        /// Slots of `tasks` by domain and by cell (a task keeps its slot for life).
        var byDomain: [String: SlotSet] = [:]
        var byCell: [String: SlotSet] = [:]
        /// Domain -> expiry (Unix ns; `Int64.max` = never).
        var domains: [String: Int64] = [:]
        /// Guids removed by writes that are not yet durable, with the removal's sequence.
        var pendingRemovals: [String: UInt64] = [:]
        /// The sequence of the latest append (0 before any).
        var lastSequence: UInt64 = 0
        var compacting = false
        /// Bytes of the last snapshot: compacting more often than the log grows by that
        /// much would rewrite the whole state for little gain.
        var lastSnapshotBytes = 0
        var observers: [@Sendable (Commit) -> Void] = []
        /// Tasks by domain and state, kept with every change (metrics read it without a scan).
        var counts = TaskCounts()

        mutating func insert(_ record: TaskRecord, sequence: UInt64) {
            let (slot, replaced) = tasks.put(Entry(record: record, sequence: sequence))
            if let replaced = replaced?.record {
                counts.remove(replaced)
                unindex(replaced, slot)
            }
            counts.add(record)
            byDomain[record.domain, default: SlotSet()].insert(slot)
            if !record.cellId.isEmpty { byCell[record.cellId, default: SlotSet()].insert(slot) }
        }

        mutating func replace(_ before: TaskRecord, with after: TaskRecord, sequence: UInt64) {
            guard let slot = tasks.slot(of: after.guid) else { return }
            if before.cellId != after.cellId {
                if !before.cellId.isEmpty { Self.removeIndex(&byCell, before.cellId, slot) }
                if !after.cellId.isEmpty { byCell[after.cellId, default: SlotSet()].insert(slot) }
            }
            if before.state != after.state || before.domain != after.domain {
                counts.remove(before)
                counts.add(after)
            }
            tasks.replace(at: slot, with: Entry(record: after, sequence: sequence))
        }

        mutating func remove(_ record: TaskRecord) {
            guard let (slot, removed) = tasks.remove(guid: record.guid) else { return }
            counts.remove(removed.record)
            unindex(removed.record, slot)
        }

        private mutating func unindex(_ record: TaskRecord, _ slot: TaskTable.Slot) {
            Self.removeIndex(&byDomain, record.domain, slot)
            if !record.cellId.isEmpty { Self.removeIndex(&byCell, record.cellId, slot) }
        }

        private static func removeIndex(_ index: inout [String: SlotSet], _ key: String,
                                        _ slot: TaskTable.Slot) {
            index[key]?.remove(slot)
            if index[key]?.isEmpty == true { index[key] = nil }
        }

        /// Builds the domain and cell indexes and the counts of a table loaded in bulk (a
        /// restart). Records of one domain mostly follow each other in the log, so runs
        /// of the same domain (and state) are gathered before touching the dictionaries.
        mutating func rebuildIndexes() {
            var domainSlots: [String: [TaskTable.Slot]] = [:]
            var cellSlots: [String: [TaskTable.Slot]] = [:]
            var run: [TaskTable.Slot] = []
            var runDomain: String?
            var countKey: TaskCounts.Key?
            var countRun = 0
            counts = TaskCounts()
            tasks.forEachSlot { slot, entry in
                if runDomain != entry.record.domain {
                    if let runDomain { domainSlots[runDomain, default: []].append(contentsOf: run) }
                    run.removeAll(keepingCapacity: true)
                    runDomain = entry.record.domain
                }
                run.append(slot)
                if !entry.record.cellId.isEmpty { cellSlots[entry.record.cellId, default: []].append(slot) }
                let key = TaskCounts.Key(domain: entry.record.domain, state: entry.record.state)
                if countKey != key {
                    if let countKey { counts.add(countKey, countRun) }
                    countKey = key
                    countRun = 0
                }
                countRun += 1
            }
            if let runDomain { domainSlots[runDomain, default: []].append(contentsOf: run) }
            if let countKey { counts.add(countKey, countRun) }
            byDomain = domainSlots.mapValues { SlotSet($0) }
            byCell = cellSlots.mapValues { SlotSet($0) }
        }
    }

    private let state: Mutex<State>
    private let journal: any TaskJournal
    private let machine: TaskStateMachine
    private let clock: @Sendable () -> Int64
    private let logger: Logger
    /// Compact when this many bytes were appended since the last snapshot (and the log is
    /// at least twice the size a snapshot would have).
    private let compactionThreshold: Int
    private let compactionQueue = DispatchQueue(label: "bbs.task-store.compaction", qos: .utility)

    /// - Parameters:
    ///   - recovered: the state replayed from the journal (`TaskStoreRecovery`).
    ///   - clock: Unix time in nanoseconds.
    public init(recovered: TaskStoreRecovery, journal: any TaskJournal, machine: TaskStateMachine,
                clock: @escaping @Sendable () -> Int64, logger: Logger,
                compactionThreshold: Int = 64 << 20) {
        var state = State()
        // Taken over whole, not re-inserted: the recovery built the table already.
        state.tasks = recovered.table
        state.rebuildIndexes()
        state.domains = recovered.domains
        state.lastSequence = journal.durableSequence
        self.state = Mutex(state)
        self.journal = journal
        self.machine = machine
        self.clock = clock
        self.logger = logger
        self.compactionThreshold = compactionThreshold
    }

    /// Registers `observer` for every later commit. Observers run on the journal's
    /// completion queue, in commit order; they must return quickly.
    public func observe(_ observer: @escaping @Sendable (Commit) -> Void) {
        state.withLock { $0.observers.append(observer) }
    }

    // MARK: - Writes

    /// Applies `command` to the task `guid` and answers once the outcome is durable.
    public func apply(_ command: TaskCommand, guid: String,
                      completion: @escaping @Sendable (Result<TaskTransition, BBSError>) -> Void) {
        let now = clock()
        let outcome: Outcome = state.withLock { state in
            let current = state.tasks[guid]
            switch machine.apply(command, guid: guid, to: current?.record, now: now) {
            case .failure(let error):
                return .answer(.failure(error), after: dependency(of: guid, current: current, in: state))
            case .success(let transition):
                let record: (RecordType, [UInt8])
                switch transition {
                case .unchanged:
                    return .answer(.success(transition), after: dependency(of: guid, current: current, in: state))
                case .created(let task):
                    record = (.putTask, task.encodedRecord(includingDefinition: true))
                case .changed(_, let after):
                    record = (.updateTask, after.encodedRecord(includingDefinition: false))
                case .removed:
                    record = (.removeTask, Array(guid.utf8))
                }
                let sequence: UInt64
                do {
                    sequence = try journal.append(type: record.0.rawValue, payload: record.1)
                } catch {
                    return .answer(.failure(Self.journalError(error)), after: 0)
                }
                state.lastSequence = sequence
                switch transition {
                case .created(let task):
                    state.insert(task, sequence: sequence)
                    state.pendingRemovals[guid] = nil
                case .changed(_, let after):
                    // Index by what was stored (for reject past the limit, `before` is the
                    // intermediate rejected task, not the stored one).
                    if let stored = current?.record { state.replace(stored, with: after, sequence: sequence) }
                case .removed(let task):
                    state.remove(task)
                    state.pendingRemovals[guid] = sequence
                case .unchanged:
                    break
                }
                // Registered under the lock, so completions (and the observers they call) run
                // in sequence order: the journal completes waiters in the order of their
                // sequences, and never inline.
                let observers = state.observers
                journal.whenDurable(sequence) { [self] result in
                    switch result {
                    case .success:
                        if case .removed = transition { forgetRemoval(of: transition, sequence: sequence) }
                        let commit = Commit(transition: transition, sequence: sequence)
                        for observer in observers { observer(commit) }
                        completion(.success(transition))
                    case .failure(let error):
                        completion(.failure(Self.journalError(error)))
                    }
                }
                return .committed(compact: shouldCompact(&state))
            }
        }

        switch outcome {
        case .answer(let result, let dependency):
            whenDurable(dependency) { error in completion(error.map { .failure($0) } ?? result) }
        case .committed(let compact):
            if compact { startCompaction() }
        }
    }

    /// Records `domain` as fresh for `ttl` seconds (0 = forever), as `/v1/domains/upsert`.
    public func upsertDomain(_ domain: String, ttl: UInt32,
                             completion: @escaping @Sendable (Result<Void, BBSError>) -> Void) {
        let now = clock()
        let expiry = ttl == 0 ? Int64.max : now &+ Int64(ttl) * 1_000_000_000
        let failure: BBSError? = state.withLock { state in
            do {
                let sequence = try journal.append(
                    type: RecordType.putDomain.rawValue, payload: Self.encodeDomain(domain, expiry: expiry))
                state.lastSequence = sequence
                state.domains[domain] = expiry
                journal.whenDurable(sequence) { result in
                    completion(result.mapError { Self.journalError($0) })
                }
                return nil
            } catch {
                return Self.journalError(error)
            }
        }
        if let failure { completion(.failure(failure)) }
    }

    // MARK: - Reads

    /// The task `guid`, or nil.
    public func task(guid: String, completion: @escaping @Sendable (Result<TaskRecord?, BBSError>) -> Void) {
        let (record, dependency): (TaskRecord?, UInt64) = state.withLock { state in
            let entry = state.tasks[guid]
            return (entry?.record, self.dependency(of: guid, current: entry, in: state))
        }
        whenDurable(dependency) { error in completion(error.map { .failure($0) } ?? .success(record)) }
    }

    /// Every task matching both filters (an empty filter matches everything), in no
    /// particular order, as `TasksRequest` asks.
    public func tasks(domain: String = "", cellId: String = "",
                      completion: @escaping @Sendable (Result<[TaskRecord], BBSError>) -> Void) {
        let (records, dependency): ([TaskRecord], UInt64) = state.withLock { state in
            (Self.select(domain: domain, cellId: cellId, in: state), state.lastSequence)
        }
        whenDurable(dependency) { error in completion(error.map { .failure($0) } ?? .success(records)) }
    }

    /// Every task matching both filters, as `tasks(domain:cellId:completion:)`, as a
    /// `TaskSelection`: taken under the lock in O(1) (the table's chunks and the index's
    /// set are shared, not copied) and read afterwards without it, so a list of 100,000
    /// tasks neither copies them nor holds up writers while it is encoded.
    public func selectTasks(domain: String = "", cellId: String = "",
                            completion: @escaping @Sendable (Result<TaskSelection, BBSError>) -> Void) {
        let (selection, dependency): (TaskSelection, UInt64) = state.withLock { state in
            (Self.selection(domain: domain, cellId: cellId, in: state), state.lastSequence)
        }
        whenDurable(dependency) { error in completion(error.map { .failure($0) } ?? .success(selection)) }
    }

    private static func selection(domain: String, cellId: String, in state: State) -> TaskSelection {
        let slots: SlotSet?
        switch (domain.isEmpty, cellId.isEmpty) {
        case (true, true): slots = nil
        case (false, true): slots = state.byDomain[domain] ?? SlotSet()
        case (true, false): slots = state.byCell[cellId] ?? SlotSet()
        case (false, false):
            let byDomain = state.byDomain[domain] ?? SlotSet(), byCell = state.byCell[cellId] ?? SlotSet()
            slots = byDomain.count <= byCell.count ? byDomain : byCell
        }
        return TaskSelection(tasks: state.tasks.snapshot, slots: slots, domain: domain, cellId: cellId)
    }

    /// Domains whose ttl has not run out, sorted.
    public func freshDomains(completion: @escaping @Sendable (Result<[String], BBSError>) -> Void) {
        let now = clock()
        let (domains, dependency): ([String], UInt64) = state.withLock { state in
            (state.domains.filter { $0.value > now }.keys.sorted(), state.lastSequence)
        }
        whenDurable(dependency) { error in completion(error.map { .failure($0) } ?? .success(domains)) }
    }

    /// A consistent copy of every task (convergence scans, backups, metrics). Includes
    /// changes whose journal write may still be in flight.
    public func snapshotOfTasks() -> [TaskRecord] {
        // The chunks are shared under the lock and copied out after it.
        state.withLock { state in state.tasks.snapshot }.map(\.record)
    }

    /// The guids of the tasks that match `predicate`, as of now. The predicate runs
    /// outside the lock, on a shared copy of the table, so a scan of every task does not
    /// hold up writers.
    public func guidsOfTasks(where predicate: (TaskRecord) -> Bool) -> [String] {
        let tasks = state.withLock { state in state.tasks.snapshot }
        var guids: [String] = []
        for entry in tasks where predicate(entry.record) { guids.append(entry.record.guid) }
        return guids
    }

    /// The number of stored tasks.
    public var count: Int { state.withLock { $0.tasks.count } }

    /// Tasks by domain and state, maintained with every change: a copy of a table of
    /// domains × states, no scan of the tasks. Includes changes whose journal write may
    /// still be in flight.
    public var counts: TaskCounts { state.withLock { $0.counts } }

    /// A copy of the whole store, answered once every change in it is durable (so a
    /// backup never holds a change that could still be lost). The copy is taken under the
    /// lock in O(chunks) (`TaskTable.Snapshot`), like a compaction's: a later write copies
    /// only the chunk it changes.
    public func backup(completion: @escaping @Sendable (Result<TaskStoreBackup, BBSError>) -> Void) {
        let backup = state.withLock { state in
            TaskStoreBackup(lastSequence: state.lastSequence, tasks: state.tasks.snapshot, domains: state.domains)
        }
        whenDurable(backup.lastSequence) { error in completion(error.map { .failure($0) } ?? .success(backup)) }
    }

    private static func select(domain: String, cellId: String, in state: State) -> [TaskRecord] {
        func records(_ slots: SlotSet?) -> [TaskRecord] {
            guard let slots else { return [] }
            var out: [TaskRecord] = []
            out.reserveCapacity(slots.count)
            for slot in slots {
                guard let record = state.tasks[slot]?.record else { continue }
                if !domain.isEmpty && record.domain != domain { continue }
                if !cellId.isEmpty && record.cellId != cellId { continue }
                out.append(record)
            }
            return out
        }
        switch (domain.isEmpty, cellId.isEmpty) {
        case (true, true): return state.tasks.snapshot.map(\.record)
        case (false, true): return records(state.byDomain[domain])
        case (true, false): return records(state.byCell[cellId])
        case (false, false):
            let byDomain = state.byDomain[domain], byCell = state.byCell[cellId]
            return (byDomain?.count ?? 0) <= (byCell?.count ?? 0) ? records(byDomain) : records(byCell)
        }
    }

    // MARK: - Durability plumbing

    private enum Outcome {
        /// Answer without writing, once `after` (a sequence, 0 = none) is durable.
        case answer(Result<TaskTransition, BBSError>, after: UInt64)
        /// Written; the journal answers the caller once the write is durable.
        case committed(compact: Bool)
    }

    /// The journal sequence an answer about `guid` depends on: its latest write, or the
    /// removal of it, if that write is not known durable yet.
    private func dependency(of guid: String, current: Entry?, in state: State) -> UInt64 {
        let sequence = current?.sequence ?? state.pendingRemovals[guid] ?? 0
        return sequence > journal.durableSequence ? sequence : 0
    }

    /// Runs `body` once `sequence` is durable (at once for 0 or an already durable one),
    /// with the journal's error if it failed.
    private func whenDurable(_ sequence: UInt64, _ body: @escaping @Sendable (BBSError?) -> Void) {
        guard sequence > 0 && sequence > journal.durableSequence else {
            body(nil)
            return
        }
        journal.whenDurable(sequence) { result in
            switch result {
            case .success: body(nil)
            case .failure(let error): body(Self.journalError(error))
            }
        }
    }

    private func forgetRemoval(of transition: TaskTransition, sequence: UInt64) {
        guard case .removed(let task) = transition else { return }
        state.withLock { state in
            if state.pendingRemovals[task.guid] == sequence { state.pendingRemovals[task.guid] = nil }
        }
    }

    /// A journal failure as the API reports it. The log has stopped: no write is
    /// accepted until the operator restarts the server (which replays what is durable).
    static func journalError(_ error: any Error) -> BBSError {
        if let error = error as? BBSError { return error }
        return BBSError(type: .unknownError, message: "write-ahead log failed: \(error)")
    }

    // MARK: - Compaction

    private func shouldCompact(_ state: inout State) -> Bool {
        guard !state.compacting,
              journal.bytesSinceSnapshot >= max(compactionThreshold, state.lastSnapshotBytes) else { return false }
        state.compacting = true
        return true
    }

    /// Snapshots the current state now and lets the journal drop the records it covers
    /// (also what happens automatically past the compaction threshold). Completes with
    /// the number of tasks in the snapshot.
    public func compact(completion: @escaping @Sendable (Result<Int, any Error>) -> Void) {
        let claimed = state.withLock { state in
            if state.compacting { return false }
            state.compacting = true
            return true
        }
        guard claimed else {
            completion(.failure(TaskStoreBusyError()))
            return
        }
        startCompaction(completion: completion)
    }

    /// Takes the copy under the lock (`TaskTable.Snapshot`: the chunks are shared, and a
    /// later write copies only the chunk it touches, so writers never stall on it) and
    /// writes the snapshot on a background queue. The caller has set `compacting`.
    private func startCompaction(completion: (@Sendable (Result<Int, any Error>) -> Void)? = nil) {
        let taken: Result<(JournalSnapshotPoint, TaskTable.Snapshot, [String: Int64]), any Error> = state.withLock { state in
            Result { (try journal.beginSnapshot(), state.tasks.snapshot, state.domains) }
        }
        let point: JournalSnapshotPoint, tasks: TaskTable.Snapshot, domains: [String: Int64]
        switch taken {
        case .success(let values):
            (point, tasks, domains) = values
        case .failure(let error):
            logger.error("compaction-failed", ["error": "\(error)"])
            state.withLock { $0.compacting = false }
            completion?(.failure(error))
            return
        }
        compactionQueue.async { [self] in
            let started = ContinuousClock.now
            var bytes = 0
            let result = Result<Int, any Error> {
                try journal.writeSnapshot(at: point) { emit in
                    bytes = try Self.emitState(tasks: tasks, domains: domains, emit)
                }
                return tasks.count
            }
            switch result {
            case .success:
                logger.info("compaction-complete", [
                    "tasks": String(tasks.count),
                    "duration": "\(ContinuousClock.now - started)",
                ])
            case .failure(let error):
                logger.error("compaction-failed", ["error": "\(error)"])
            }
            let snapshotBytes = bytes
            state.withLock { state in
                state.compacting = false
                if case .success = result { state.lastSnapshotBytes = snapshotBytes }
            }
            completion?(result)
        }
    }
}

extension TaskStore {
    /// Emits the records that rebuild a state from nothing: every domain, then every task
    /// whole. A compaction's snapshot and a backup are both made of these. Returns the
    /// payload bytes emitted.
    static func emitState(tasks: TaskTable.Snapshot, domains: [String: Int64],
                          _ emit: (_ type: UInt8, _ payload: [UInt8]) throws -> Void) rethrows -> Int {
        var bytes = 0
        for (domain, expiry) in domains {
            let payload = encodeDomain(domain, expiry: expiry)
            bytes += payload.count
            try emit(RecordType.putDomain.rawValue, payload)
        }
        for entry in tasks {
            let payload = entry.record.encodedRecord(includingDefinition: true)
            bytes += payload.count
            try emit(RecordType.putTask.rawValue, payload)
        }
        return bytes
    }
}

/// `compact` was called while a compaction was already running.
public struct TaskStoreBusyError: Error, CustomStringConvertible {
    public var description: String { "a compaction is already running" }
}

/// The store's state rebuilt from journal records (snapshot first, then later records).
/// `WriteAheadLog` feeds it through `apply(type:payload:)` while it replays.
///
/// It builds the store's own `TaskTable`, which `TaskStore.init` takes over as it is
/// (no second insertion of every task on a restart).
public struct TaskStoreRecovery: Sendable {
    private(set) var table = TaskTable()
    public private(set) var domains: [String: Int64] = [:]
    public private(set) var records = 0

    public init() {}

    /// The number of tasks recovered.
    public var taskCount: Int { table.count }

    /// The recovered tasks by guid. Builds a dictionary of every task: for tests and
    /// tools, not for the start-up path.
    public var tasks: [String: TaskRecord] {
        var tasks: [String: TaskRecord] = [:]
        tasks.reserveCapacity(table.count)
        for entry in table.snapshot { tasks[entry.record.guid] = entry.record }
        return tasks
    }

    /// Tasks by domain and state.
    public var counts: TaskCounts { TaskCounts(table.snapshot.lazy.map(\.record)) }

    /// Makes room for `count` tasks (a snapshot's record count), so that replaying them
    /// does not grow the guid index step by step (each growth rehashes every key).
    public mutating func reserveCapacity(_ count: Int) {
        table.reserveCapacity(count)
    }

    /// Applies one journal record. Throws on a record that cannot be understood, which
    /// stops the server from starting on a log it cannot read.
    public mutating func apply(type: UInt8, payload: [UInt8]) throws {
        try payload.withUnsafeBytes { try apply(type: type, payload: $0) }
    }

    /// Applies one journal record whose payload is borrowed for the duration of the call
    /// (the log's read buffer: no copy of the whole payload is made).
    public mutating func apply(type: UInt8, payload: UnsafeRawBufferPointer) throws {
        records += 1
        guard let kind = TaskStore.RecordType(rawValue: type) else {
            throw TaskStoreRecoveryError(record: records, reason: "unknown record type \(type)")
        }
        do {
            switch kind {
            case .putTask:
                let record = try TaskRecord(record: payload, previous: nil)
                table.put(TaskStore.Entry(record: record, sequence: 0))
            case .updateTask:
                let guid = try TaskRecord.guid(ofRecord: payload)
                guard let slot = table.slot(of: guid), let previous = table[slot] else {
                    throw TaskStoreRecoveryError(record: records, reason: "update of unknown task \(guid)")
                }
                let record = try TaskRecord(record: payload, previous: previous.record)
                table.replace(at: slot, with: TaskStore.Entry(record: record, sequence: 0))
            case .removeTask:
                table.remove(guid: String(decoding: payload, as: UTF8.self))
            case .putDomain:
                let (domain, expiry) = try TaskStore.decodeDomain(Array(payload))
                domains[domain] = expiry
            }
        } catch let error as TaskStoreRecoveryError {
            throw error
        } catch {
            throw TaskStoreRecoveryError(record: records, reason: "undecodable \(kind) record: \(error)")
        }
    }
}

public struct TaskStoreRecoveryError: Error, CustomStringConvertible {
    public let record: Int
    public let reason: String
    public var description: String { "journal record \(record): \(reason)" }
}
