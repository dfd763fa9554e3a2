import BBSLog
import BBSModels
import Synchronization

/// How one POST of a completion callback ended.
public enum CallbackAttemptOutcome: Sendable, Hashable {
    /// The receiver answered with this status (after following redirects).
    case answered(status: Int)
    /// The attempt timed out or its connection was closed under it: worth another try
    /// (the reference retries on `Client.Timeout` and `use of closed network connection`).
    case transientFailure(String)
    /// Any other transport failure (DNS, connection refused, TLS, malformed URL): the
    /// reference gives up at once and leaves the task for convergence.
    case permanentFailure(String)
}

/// POSTs a callback body. The server wires a real HTTP(S) client; tests use a fake.
public protocol CompletionCallbackTransport: Sendable {
    func post(url: String, jsonBody: [UInt8], completion: @escaping @Sendable (CallbackAttemptOutcome) -> Void)
}

/// Delivers completion callbacks (lifecycle.md §7) with at most `workers` deliveries in
/// flight; further submissions wait in a queue. No thread is held per delivery: each is a
/// chain of asynchronous store and transport calls.
///
/// One delivery: claim the task (Completed → Resolving; if that fails someone else owns
/// it, stop), POST the `TaskCallbackResponse` JSON up to three times in a row while the
/// receiver answers 503/504 or the attempt fails transiently, and delete the task on any
/// other answer. When every attempt failed, or on a permanent transport failure, the
/// task stays Resolving; convergence demotes it after `kick_task_duration` and hands it
/// back here.
public final class CompletionCallbackWorkers: Sendable {
    public static let attempts = 3

    private struct State {
        /// FIFO of waiting guids: `queued[head...]` (the consumed prefix is dropped when it
        /// grows, so a long backlog is not shifted on every dequeue).
        var queued: [String] = []
        var head = 0
        var active = 0
        var delivered = 0
        var failed = 0
    }
    private let state = Mutex(State())
    private let store: TaskStore
    private let transport: any CompletionCallbackTransport
    private let workers: Int
    private let logger: Logger

    public init(store: TaskStore, transport: any CompletionCallbackTransport, workers: Int, logger: Logger) {
        precondition(workers > 0, "task_callback_workers must be positive")
        self.store = store
        self.transport = transport
        self.workers = workers
        self.logger = logger
    }

    /// Queues the callback of the Completed task `guid`.
    public func submit(guid: String) {
        let start: Bool = state.withLock { state in
            if state.active < workers {
                state.active += 1
                return true
            }
            state.queued.append(guid)
            return false
        }
        if start { deliver(guid) }
    }

    /// Callbacks answered by their receiver (the task was then deleted), and deliveries
    /// that gave up (the task stays Resolving), since start.
    public var counts: (delivered: Int, failed: Int) { state.withLock { ($0.delivered, $0.failed) } }

    /// Deliveries in flight plus queued ones.
    public var backlog: Int { state.withLock { $0.active + $0.queued.count - $0.head } }

    private func deliver(_ guid: String) {
        store.apply(.resolving, guid: guid) { [self] result in
            guard case .success(.changed(let completed, _)) = result else {
                // Resolved, deleted or claimed by someone else meanwhile: not ours.
                logger.debug("callback-claim-refused", ["task_guid": guid])
                finished(delivered: nil)
                return
            }
            let url = completed.definition.completionCallbackURL
            let body = Self.callbackBody(completed)
            attempt(1, guid: guid, url: url, body: body)
        }
    }

    private func attempt(_ number: Int, guid: String, url: String, body: [UInt8]) {
        transport.post(url: url, jsonBody: body) { [self] outcome in
            switch outcome {
            case .answered(let status) where status != 503 && status != 504:
                store.apply(.delete, guid: guid) { [self] result in
                    if case .failure(let error) = result {
                        logger.error("callback-delete-failed", ["task_guid": guid, "error": error.message])
                    }
                    finished(delivered: true)
                }
            case .answered, .transientFailure:
                if number < Self.attempts {
                    attempt(number + 1, guid: guid, url: url, body: body)
                } else {
                    logger.error("callback-failed", ["task_guid": guid, "attempts": String(number),
                                                      "last_outcome": "\(outcome)"])
                    finished(delivered: false)
                }
            case .permanentFailure(let reason):
                logger.error("callback-failed", ["task_guid": guid, "error": reason])
                finished(delivered: false)
            }
        }
    }

    /// Ends one delivery and starts the next queued one, if any.
    private func finished(delivered: Bool?) {
        let next: String? = state.withLock { state in
            switch delivered {
            case true?: state.delivered += 1
            case false?: state.failed += 1
            case nil: break
            }
            guard state.head < state.queued.count else {
                state.queued.removeAll(keepingCapacity: true)
                state.head = 0
                state.active -= 1
                return nil
            }
            let next = state.queued[state.head]
            state.head += 1
            if state.head >= 1024 && state.head * 2 >= state.queued.count {
                state.queued.removeFirst(state.head)
                state.head = 0
            }
            return next
        }
        if let next { deliver(next) }
    }

    /// The JSON body: the task's outcome, its annotation and creation time.
    static func callbackBody(_ task: TaskRecord) -> [UInt8] {
        var response = TaskCallbackResponse()
        response.taskGuid = task.guid
        response.failed = task.failed
        response.failureReason = task.failureReason
        response.result = task.result
        response.annotation = (try? TaskDefinition(protobuf: task.definition.bytes))?.annotation ?? ""
        response.createdAt = task.createdAt
        return response.goJSONBytes()
    }
}
