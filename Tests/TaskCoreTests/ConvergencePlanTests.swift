import BBSModels
import Testing
@testable import TaskCore

/// lifecycle.md §10, one rule at a time, with the defaults: kick 30 s, pending expiry
/// 30 min, completed expiry 120 s.
@Suite("Convergence plan")
struct ConvergencePlanTests {
    static let second: Int64 = 1_000_000_000
    static let now: Int64 = 1_700_000_000 * second
    let durations = ConvergenceDurations()

    func task(_ guid: String, _ state: TaskState, created: Int64 = now, updated: Int64 = now,
              firstCompleted: Int64 = 0, cell: String = "", callback: String = "") -> TaskRecord {
        TaskRecord(guid: guid, domain: "d", definition: StoredDefinition(bytes: [], completionCallbackURL: callback),
                   createdAt: created, updatedAt: updated, firstCompletedAt: firstCompleted, state: state,
                   cellId: cell)
    }

    func plan(_ tasks: [TaskRecord], cells: Set<String>? = nil) -> ConvergencePlan {
        ConvergencePlan(tasks: tasks, presentCells: cells, now: Self.now, durations: durations)
    }

    @Test func pendingTasksOlderThanThePendingExpiryFailAndTheRestAreKicked() {
        let old = task("old", .pending, created: Self.now - 1801 * Self.second)
        let young = task("young", .pending, created: Self.now - 1799 * Self.second)
        let fresh = task("fresh", .pending)
        let p = plan([old, young, fresh])
        #expect(p.expirePending == ["old"])
        #expect(p.kickPending.map(\.guid).sorted() == ["fresh", "young"])
    }

    @Test func runningTasksAreLeftAloneWithoutACellRegistry() {
        let p = plan([task("r", .running, cell: "cell-1")], cells: nil)
        #expect(p.cellDisappeared.isEmpty)
    }

    @Test func runningTasksOnAVanishedCellAreOrphaned() {
        let tasks = [task("here", .running, cell: "cell-1"), task("gone", .running, cell: "cell-2")]
        #expect(plan(tasks, cells: ["cell-1"]).cellDisappeared == [OrphanedTask(guid: "gone", cellId: "cell-2")])
        // An empty registry means every Running task is orphaned, as in the reference.
        #expect(plan(tasks, cells: []).cellDisappeared.count == 2)
    }

    @Test func staleResolvingTasksAreDemotedAndThenJudgedAsCompleted() {
        let stale = task("stale", .resolving, updated: Self.now - 31 * Self.second,
                         firstCompleted: Self.now - 60 * Self.second, callback: "http://cb")
        let recent = task("recent", .resolving, updated: Self.now - 29 * Self.second,
                          firstCompleted: Self.now - 60 * Self.second, callback: "http://cb")
        let p = plan([stale, recent])
        #expect(p.demoteResolving == ["stale"])
        #expect(p.kickCompleted == ["stale"])
        #expect(p.expireCompleted.isEmpty)
    }

    @Test func aDemotedTaskPastTheCompletedExpiryIsDeletedNotKicked() {
        let old = task("old", .resolving, updated: Self.now - 200 * Self.second,
                       firstCompleted: Self.now - 200 * Self.second, callback: "http://cb")
        let p = plan([old])
        #expect(p.demoteResolving == ["old"])
        #expect(p.expireCompleted == ["old"])
        #expect(p.kickCompleted.isEmpty)
    }

    @Test func completedTasksPastTheExpiryAreDeletedWhetherOrNotTheyHaveACallback() {
        let p = plan([
            task("a", .completed, updated: Self.now - 121 * Self.second, firstCompleted: Self.now - 121 * Self.second),
            task("b", .completed, updated: Self.now - 121 * Self.second, firstCompleted: Self.now - 121 * Self.second,
                 callback: "http://cb"),
            task("c", .completed, updated: Self.now - 119 * Self.second, firstCompleted: Self.now - 119 * Self.second),
        ])
        #expect(p.expireCompleted.sorted() == ["a", "b"])
    }

    @Test func completedTasksNotUpdatedForTheKickDurationGetTheirCallbackAgain() {
        let p = plan([
            task("stale-cb", .completed, updated: Self.now - 31 * Self.second, firstCompleted: Self.now - 31 * Self.second,
                 callback: "http://cb"),
            task("fresh-cb", .completed, updated: Self.now - 29 * Self.second, firstCompleted: Self.now - 29 * Self.second,
                 callback: "http://cb"),
            task("stale-no-cb", .completed, updated: Self.now - 31 * Self.second,
                 firstCompleted: Self.now - 31 * Self.second),
        ])
        #expect(p.kickCompleted == ["stale-cb"])
        #expect(p.expireCompleted.isEmpty)
    }

    @Test func recentResolvingAndRunningTasksNeedNothing() {
        let p = plan([task("res", .resolving, updated: Self.now - Self.second, firstCompleted: Self.now - Self.second),
                      task("run", .running, cell: "c")], cells: ["c"])
        #expect(p == ConvergencePlan())
    }
}
