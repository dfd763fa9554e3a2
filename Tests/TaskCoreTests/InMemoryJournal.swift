import Dispatch
import Synchronization
import BBSWAL
import TaskCore

/// A journal that keeps records in memory and makes them durable only when the test
/// says so (`makeDurable`), so tests can watch what waits for durability. Like the real
/// log it never completes inline: completions run in order on a serial queue, and
/// `makeDurable()` / `settle()` wait for them.
final class InMemoryJournal: TaskJournal {
    private let completions = DispatchQueue(label: "in-memory-journal.completions")
    struct Record: Equatable { let type: UInt8; let payload: [UInt8] }

    private struct State {
        var records: [Record] = []
        var durable: UInt64 = 0
        var waiters: [(UInt64, @Sendable (Result<Void, any Error>) -> Void)] = []
        var failure: (any Error)?
        var snapshot: [Record]? = nil
    }
    private let state = Mutex(State())
    /// When true every append is durable at once.
    let autoDurable: Bool

    init(autoDurable: Bool = true) { self.autoDurable = autoDurable }

    var records: [Record] { state.withLock { $0.records } }

    func append(type: UInt8, payload: [UInt8]) throws -> UInt64 {
        let sequence: UInt64 = try state.withLock { state in
            if let failure = state.failure { throw failure }
            state.records.append(Record(type: type, payload: payload))
            return UInt64(state.records.count)
        }
        if autoDurable { markDurable() }
        return sequence
    }

    func whenDurable(_ sequence: UInt64, _ completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        state.withLock { state in
            if let failure = state.failure {
                completions.async { completion(.failure(failure)) }
            } else if sequence <= state.durable {
                completions.async { completion(.success(())) }
            } else {
                state.waiters.append((sequence, completion))
            }
        }
    }

    var durableSequence: UInt64 { state.withLock { $0.durable } }
    var bytesSinceSnapshot: Int { state.withLock { $0.records.reduce(0) { $0 + $1.payload.count } } }

    /// Makes every record appended so far durable and waits until its waiters have run,
    /// in order.
    func makeDurable() {
        markDurable()
        settle()
    }

    /// Waits until every completion queued so far has run.
    func settle() { completions.sync {} }

    private func markDurable() {
        state.withLock { state in
            state.durable = UInt64(state.records.count)
            let done = state.waiters.filter { $0.0 <= state.durable }.sorted { $0.0 < $1.0 }
            state.waiters.removeAll { $0.0 <= state.durable }
            for (_, waiter) in done { completions.async { waiter(.success(())) } }
        }
    }

    /// Fails the log: pending and later waiters get `error`, appends throw.
    func fail(_ error: any Error) {
        state.withLock { state in
            state.failure = error
            for (_, waiter) in state.waiters { completions.async { waiter(.failure(error)) } }
            state.waiters = []
        }
        settle()
    }

    func beginSnapshot() throws -> JournalSnapshotPoint {
        JournalSnapshotPoint(lastSequence: durableSequence, nextSegment: 1)
    }

    func writeSnapshot(at point: JournalSnapshotPoint,
                       _ produce: (_ emit: (UInt8, [UInt8]) throws -> Void) throws -> Void) throws {
        var out: [Record] = []
        try produce { out.append(Record(type: $0, payload: $1)) }
        state.withLock { $0.snapshot = out }
    }

    func close() {}

    /// The records of the last snapshot written, if any.
    func snapshotRecords() -> [Record]? { state.withLock { $0.snapshot } }

    /// Replays what a restart would see into a fresh recovery.
    func recover() throws -> TaskStoreRecovery {
        var recovery = TaskStoreRecovery()
        for record in records { try recovery.apply(type: record.type, payload: record.payload) }
        return recovery
    }
}
