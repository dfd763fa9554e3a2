import BBSLog
import BBSModels
import Synchronization
import Testing
@testable import TaskCore

/// A callback receiver the test scripts: each POST takes the next outcome (the last one
/// repeats), and every body is kept.
final class ScriptedCallbackTransport: CompletionCallbackTransport {
    private let state: Mutex<(outcomes: [CallbackAttemptOutcome], posts: [(url: String, body: String)])>
    init(_ outcomes: [CallbackAttemptOutcome]) { state = Mutex((outcomes, [])) }

    func post(url: String, jsonBody: [UInt8], completion: @escaping @Sendable (CallbackAttemptOutcome) -> Void) {
        let outcome: CallbackAttemptOutcome = state.withLock { state in
            state.posts.append((url, String(decoding: jsonBody, as: UTF8.self)))
            return state.outcomes.count > 1 ? state.outcomes.removeFirst() : state.outcomes[0]
        }
        completion(outcome)
    }

    var posts: [(url: String, body: String)] { state.withLock { $0.posts } }
}

final class RecordingAuctioneer: TaskAuctioneer {
    private let batches = Mutex<[[String]]>([])
    func requestAuctions(for tasks: [TaskRecord]) { batches.withLock { $0.append(tasks.map(\.guid)) } }
    var requested: [[String]] { batches.withLock { $0 } }
}

private func definitionBytes(annotation: String = "") -> [UInt8] {
    var definition = TaskDefinition()
    definition.rootFs = "docker:///busybox"
    definition.annotation = annotation
    return definition.protobufBytes()
}

private let second: Int64 = 1_000_000_000

/// A store with a callback pool and a converger around one manual clock.
private struct Rig {
    let clock = ManualClock()
    let journal = InMemoryJournal()
    let store: TaskStore
    let transport: ScriptedCallbackTransport
    let auctioneer = RecordingAuctioneer()
    let callbacks: CompletionCallbackWorkers
    let controller: TaskController

    init(outcomes: [CallbackAttemptOutcome] = [.answered(status: 200)]) {
        store = TaskStore(recovered: TaskStoreRecovery(), journal: journal,
                          machine: TaskStateMachine(maxTaskRetries: 3), clock: clock.function, logger: .discarding)
        transport = ScriptedCallbackTransport(outcomes)
        callbacks = CompletionCallbackWorkers(store: store, transport: transport, workers: 2, logger: .discarding)
        controller = TaskController(store: store, auctioneer: auctioneer, callbacks: callbacks)
    }

    func converger(cells: (any CellRegistry)? = nil) -> TaskConverger {
        TaskConverger(store: store, durations: ConvergenceDurations(), cells: cells, auctioneer: auctioneer,
                      callbacks: callbacks, clock: clock.function, logger: .discarding)
    }

    @discardableResult
    func apply(_ command: TaskCommand, _ guid: String) async -> Result<TaskTransition, BBSError> {
        await withCheckedContinuation { c in controller.apply(command, guid: guid) { c.resume(returning: $0) } }
    }

    func desire(_ guid: String, callback: String = "", annotation: String = "") async {
        let definition = StoredDefinition(bytes: definitionBytes(annotation: annotation), completionCallbackURL: callback)
        _ = await apply(.desire(domain: "d", definition: definition), guid)
    }

    func state(_ guid: String) async -> TaskState? {
        await withCheckedContinuation { c in store.task(guid: guid) { c.resume(returning: (try? $0.get())??.state) } }
    }

    func converge(_ converger: TaskConverger) async {
        await withCheckedContinuation { c in converger.runPass { c.resume() } }
    }

    /// Lets queued callback work (store answers, transport calls) run to the end.
    func settle() async {
        for _ in 0..<20 {
            journal.settle()
            await Task.yield()
        }
    }
}

struct StaticCells: CellRegistry {
    let cells: Set<String>
    func presentCells(completion: @escaping @Sendable (Result<Set<String>, any Error>) -> Void) {
        completion(.success(cells))
    }
}

@Suite("Completion callbacks (lifecycle.md §7)")
struct CompletionCallbackTests {
    @Test func aCompletedTaskIsClaimedPostedAndDeleted() async {
        let rig = Rig()
        await rig.desire("g", callback: "http://receiver/cb", annotation: "<a&b>")
        await rig.apply(.start(cellId: "c"), "g")
        await rig.apply(.complete(cellId: "c", failed: true, failureReason: "boom", result: "r"), "g")
        await rig.settle()
        #expect(rig.transport.posts.count == 1)
        #expect(rig.transport.posts.first?.url == "http://receiver/cb")
        #expect(rig.transport.posts.first?.body == #"{"task_guid":"g","failed":true,"failure_reason":"boom","result":"r","annotation":"\u003ca\u0026b\u003e","created_at":\#(rig.clock.now)}"#)
        #expect(await rig.state("g") == nil)
        #expect(rig.callbacks.counts.delivered == 1)
    }

    @Test(arguments: [200, 302, 404, 500])
    func anyAnswerButServiceUnavailableCountsAsDelivered(status: Int) async {
        let rig = Rig(outcomes: [.answered(status: status)])
        await rig.desire("g", callback: "http://cb")
        await rig.apply(.cancel, "g")
        await rig.settle()
        #expect(rig.transport.posts.count == 1)
        #expect(await rig.state("g") == nil)
    }

    @Test func unavailableAnswersAreRetriedThreeTimesInARowThenLeftResolving() async {
        let rig = Rig(outcomes: [.answered(status: 503), .answered(status: 504), .transientFailure("timeout")])
        await rig.desire("g", callback: "http://cb")
        await rig.apply(.cancel, "g")
        await rig.settle()
        #expect(rig.transport.posts.count == 3)
        #expect(await rig.state("g") == .resolving)
        #expect(rig.callbacks.counts.failed == 1)
    }

    @Test func aRetryThatSucceedsDeletesTheTask() async {
        let rig = Rig(outcomes: [.answered(status: 503), .answered(status: 200)])
        await rig.desire("g", callback: "http://cb")
        await rig.apply(.fail(failureReason: "x"), "g")
        await rig.settle()
        #expect(rig.transport.posts.count == 2)
        #expect(await rig.state("g") == nil)
    }

    @Test func aPermanentFailureGivesUpAtOnce() async {
        let rig = Rig(outcomes: [.permanentFailure("connection refused")])
        await rig.desire("g", callback: "http://cb")
        await rig.apply(.cancel, "g")
        await rig.settle()
        #expect(rig.transport.posts.count == 1)
        #expect(await rig.state("g") == .resolving)
    }

    @Test func tasksWithoutACallbackURLAreLeftToTheirClient() async {
        let rig = Rig()
        await rig.desire("g")
        await rig.apply(.cancel, "g")
        await rig.settle()
        #expect(rig.transport.posts.isEmpty)
        #expect(await rig.state("g") == .completed)
    }

    @Test func rejectPastTheRetryLimitTriggersTheCallback() async {
        let rig = Rig()
        await rig.desire("g", callback: "http://cb")
        for _ in 0..<4 { await rig.apply(.reject(rejectionReason: "no room"), "g") }
        await rig.settle()
        #expect(rig.transport.posts.count == 1)
        #expect(await rig.state("g") == nil)
    }

    @Test func aTaskAlreadyClaimedByAClientIsNotPosted() async {
        let rig = Rig()
        await rig.desire("g", callback: "http://cb")
        await rig.apply(.cancel, "g")
        await rig.settle()
        // Delivered and deleted; a second submission finds nothing to claim.
        rig.callbacks.submit(guid: "g")
        await rig.settle()
        #expect(rig.transport.posts.count == 1)
    }

    @Test func aDesireRequestsAnAuctionOfTheNewTask() async {
        let rig = Rig()
        await rig.desire("g")
        #expect(rig.auctioneer.requested == [["g"]])
    }
}

@Suite("Task converger with a manual clock (lifecycle.md §10)")
struct TaskConvergerTests {
    @Test func pendingTasksAreKickedUntilTheyExpireAndFail() async {
        let rig = Rig()
        await rig.desire("g")
        let converger = rig.converger()
        await rig.converge(converger)
        #expect(rig.auctioneer.requested.last == ["g"])
        rig.clock.advance(seconds: 1801)
        await rig.converge(converger)
        #expect(await rig.state("g") == .completed)
        let task = await withCheckedContinuation { c in rig.store.task(guid: "g") { c.resume(returning: try! $0.get()!) } }
        #expect(task.failed && task.failureReason == TaskStateMachine.expiredPendingReason)
    }

    @Test func runningTasksOnAVanishedCellFailAndKeepTheirCell() async {
        let rig = Rig()
        await rig.desire("here")
        await rig.desire("gone")
        await rig.apply(.start(cellId: "cell-1"), "here")
        await rig.apply(.start(cellId: "cell-2"), "gone")
        await rig.converge(rig.converger(cells: StaticCells(cells: ["cell-1"])))
        #expect(await rig.state("here") == .running)
        let gone = await withCheckedContinuation { c in rig.store.task(guid: "gone") { c.resume(returning: try! $0.get()!) } }
        #expect(gone.state == .completed && gone.cellId == "cell-2"
                && gone.failureReason == TaskStateMachine.cellDisappearedReason)
    }

    @Test func aCallbackThatKeptFailingIsDemotedAndRetriedAfterTheKickDuration() async {
        let rig = Rig(outcomes: [.answered(status: 503), .answered(status: 503), .answered(status: 503),
                                 .answered(status: 200)])
        await rig.desire("g", callback: "http://cb")
        await rig.apply(.cancel, "g")
        await rig.settle()
        #expect(await rig.state("g") == .resolving)
        let converger = rig.converger()
        rig.clock.advance(seconds: 10)
        await rig.converge(converger)
        await rig.settle()
        #expect(await rig.state("g") == .resolving)   // not stale yet: untouched
        #expect(rig.transport.posts.count == 3)
        rig.clock.advance(seconds: 25)
        await rig.converge(converger)
        await rig.settle()
        #expect(rig.transport.posts.count == 4)
        #expect(await rig.state("g") == nil)
    }

    @Test func completedTasksNobodyResolvesAreDeletedAfterTheCompletedExpiry() async {
        let rig = Rig()
        await rig.desire("g")
        await rig.apply(.cancel, "g")
        let converger = rig.converger()
        rig.clock.advance(seconds: 119)
        await rig.converge(converger)
        #expect(await rig.state("g") == .completed)
        rig.clock.advance(seconds: 2)
        await rig.converge(converger)
        #expect(await rig.state("g") == nil)
    }

    @Test func owedCallbacksResumeAfterARestart() async {
        let rig = Rig(outcomes: [.permanentFailure("down"), .answered(status: 200)])
        await rig.desire("g", callback: "http://cb")
        await rig.apply(.cancel, "g")
        await rig.settle()
        // The receiver was down: the task stays Resolving. A restart replays the log; the
        // converger demotes it once stale, and it is delivered.
        let recovered = try! rig.journal.recover()
        let restarted = TaskStore(recovered: recovered, journal: rig.journal,
                                  machine: TaskStateMachine(maxTaskRetries: 3), clock: rig.clock.function,
                                  logger: .discarding)
        let callbacks = CompletionCallbackWorkers(store: restarted, transport: rig.transport, workers: 1,
                                                  logger: .discarding)
        let converger = TaskConverger(store: restarted, durations: ConvergenceDurations(), cells: nil,
                                      auctioneer: nil, callbacks: callbacks, clock: rig.clock.function,
                                      logger: .discarding)
        rig.clock.advance(seconds: 31)
        await withCheckedContinuation { c in converger.runPass { c.resume() } }
        await rig.settle()
        #expect(rig.transport.posts.count == 2)
        let gone = await withCheckedContinuation { c in restarted.task(guid: "g") { c.resume(returning: (try? $0.get()) ?? nil) } }
        #expect(gone == nil)
    }
}

final class RecordingCancelNotifier: CellCancelNotifier {
    private let calls = Mutex<[(guid: String, cellId: String, requestID: String)]>([])
    func notifyCancelled(taskGuid: String, cellId: String, requestID: String) {
        calls.withLock { $0.append((taskGuid, cellId, requestID)) }
    }
    var notified: [(guid: String, cellId: String, requestID: String)] { calls.withLock { $0 } }
}

@Suite("Cancel notifies the cell (lifecycle.md §6)")
struct CancelNotificationTests {
    @Test func theCancelRequestIDReachesTheNotifier() async {
        let store = TaskStore(recovered: TaskStoreRecovery(), journal: InMemoryJournal(),
                              machine: TaskStateMachine(maxTaskRetries: 3), clock: ManualClock().function,
                              logger: .discarding)
        let cells = RecordingCancelNotifier()
        let controller = TaskController(store: store, cells: cells)
        func apply(_ command: TaskCommand, _ guid: String, requestID: String = "") async {
            _ = await withCheckedContinuation { c in
                controller.apply(command, guid: guid, requestID: requestID) { c.resume(returning: $0) }
            }
        }
        for guid in ["with-id", "without-id"] {
            await apply(.desire(domain: "d", definition: StoredDefinition(bytes: definitionBytes(), completionCallbackURL: "")), guid)
            await apply(.start(cellId: "cell-1"), guid)
        }
        await apply(.cancel, "with-id", requestID: "3f2a6c1e-1111-2222-3333-444455556666")
        await apply(.cancel, "without-id")
        let notified = cells.notified
        #expect(notified.count == 2)
        #expect(notified.first { $0.guid == "with-id" }?.requestID == "3f2a6c1e-1111-2222-3333-444455556666")
        #expect(notified.first { $0.guid == "with-id" }?.cellId == "cell-1")
        #expect(notified.first { $0.guid == "without-id" }?.requestID == "")
    }
}
