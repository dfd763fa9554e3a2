import BBSLog
import BBSModels

/// Sends task auction requests to the auctioneer (lifecycle.md §5). Fire and forget: a
/// failure is logged by the implementation and the task stays Pending until the next
/// convergence pass re-sends it.
public protocol TaskAuctioneer: Sendable {
    func requestAuctions(for tasks: [TaskRecord])
}

/// Tells a cell that one of its tasks was cancelled (lifecycle.md §6). Fire and forget.
/// `requestID` is the cancel request's `X-Vcap-Request-Id` ("" when it had none), which
/// the reference forwards to the rep (wire.md §10).
public protocol CellCancelNotifier: Sendable {
    func notifyCancelled(taskGuid: String, cellId: String, requestID: String)
}

/// Applies task commands through the store and, once a change is durable, starts what
/// follows from it (as the reference's `controllers/task_controller.go`): an auction
/// after a desire, the completion callback after complete/fail/cancel/reject leaves a
/// task Completed with a callback URL, the cell notification after cancelling a Running
/// task. Events need nothing here: the event hub observes every commit of the store.
public struct TaskController: Sendable {
    public let store: TaskStore
    private let auctioneer: (any TaskAuctioneer)?
    private let callbacks: CompletionCallbackWorkers?
    private let cells: (any CellCancelNotifier)?

    public init(store: TaskStore, auctioneer: (any TaskAuctioneer)? = nil,
                callbacks: CompletionCallbackWorkers? = nil, cells: (any CellCancelNotifier)? = nil) {
        self.store = store
        self.auctioneer = auctioneer
        self.callbacks = callbacks
        self.cells = cells
    }

    /// Applies `command` to `guid`; `completion` gets the store's answer (after the change
    /// is durable). Side effects are started before the answer and never delay it.
    /// `requestID` is the request's `X-Vcap-Request-Id`, passed on to the rep on cancel.
    public func apply(_ command: TaskCommand, guid: String, requestID: String = "",
                      completion: @escaping @Sendable (Result<TaskTransition, BBSError>) -> Void) {
        store.apply(command, guid: guid) { [auctioneer, callbacks, cells] result in
            if case .success(let transition) = result {
                Self.followUp(command, transition, requestID: requestID,
                              auctioneer: auctioneer, callbacks: callbacks, cells: cells)
            }
            completion(result)
        }
    }

    private static func followUp(_ command: TaskCommand, _ transition: TaskTransition, requestID: String,
                                 auctioneer: (any TaskAuctioneer)?, callbacks: CompletionCallbackWorkers?,
                                 cells: (any CellCancelNotifier)?) {
        switch (command, transition) {
        case (.desire, .created(let task)):
            auctioneer?.requestAuctions(for: [task])
        case (.complete, .changed(let before, let after)), (.fail, .changed(let before, let after)),
             (.cancel, .changed(let before, let after)), (.reject, .changed(let before, let after)):
            if after.state == .completed && !after.definition.completionCallbackURL.isEmpty {
                callbacks?.submit(guid: after.guid)
            }
            if case .cancel = command, before.state == .running, !before.cellId.isEmpty {
                cells?.notifyCancelled(taskGuid: before.guid, cellId: before.cellId, requestID: requestID)
            }
        default:
            break
        }
    }
}
