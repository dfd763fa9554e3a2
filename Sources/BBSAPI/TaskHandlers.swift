import BBSLog
import BBSModels
import HTTPServer
import ProtoWire
import TaskCore

/// The task, ping and domain routes (as the reference's `handlers/task_handlers.go`):
/// each handler decodes the request, validates it, calls the controller (writes) or the
/// store (reads) and encodes the answer. The rules live in `TaskStateMachine` and the
/// validators; handlers only translate between HTTP and those.
public struct TaskHandlers: Sendable {
    let controller: TaskController
    let events: TaskEventHub
    let logger: Logger
    var store: TaskStore { controller.store }

    public init(controller: TaskController, events: TaskEventHub, logger: Logger) {
        self.controller = controller
        self.events = events
        self.logger = logger
    }

    /// Registers every route on `router` (wire.md §5, every revision).
    public func register(on router: inout Router) {
        router.add("POST", BBSRoutes.ping) { _, respond in
            respond(RPC.response(PingResponse(available: true)))
        }

        router.add("POST", BBSRoutes.desireTask) { desire($0, $1, revision: .r2) }
        router.add("POST", BBSRoutes.desireTaskR1) { desire($0, $1, revision: .r1) }
        router.add("POST", BBSRoutes.desireTaskR0) { desire($0, $1, revision: .r0) }

        router.add("POST", BBSRoutes.tasks) { list($0, $1, format: .v3) }
        router.add("POST", BBSRoutes.tasksR2) { list($0, $1, format: .v2) }
        router.add("POST", BBSRoutes.tasksR1) { list($0, $1, format: .v1) }
        router.add("POST", BBSRoutes.tasksR0) { list($0, $1, format: .v0) }

        router.add("POST", BBSRoutes.taskByGuid) { get($0, $1, format: .v3) }
        router.add("POST", BBSRoutes.taskByGuidR2) { get($0, $1, format: .v2) }
        router.add("POST", BBSRoutes.taskByGuidR1) { get($0, $1, format: .v1) }
        // The r0 read was a GET with a protobuf body.
        router.add("GET", BBSRoutes.taskByGuidR0) { get($0, $1, format: .v0) }

        router.add("POST", BBSRoutes.startTask) { start($0, $1) }
        router.add("POST", BBSRoutes.cancelTask) { request, respond in
            change(request, respond, TaskGuidRequest.self) { ($0.taskGuid, .cancel) }
        }
        router.add("POST", BBSRoutes.failTask) { request, respond in
            change(request, respond, FailTaskRequest.self) { ($0.taskGuid, .fail(failureReason: $0.failureReason)) }
        }
        router.add("POST", BBSRoutes.rejectTask) { request, respond in
            change(request, respond, RejectTaskRequest.self) { ($0.taskGuid, .reject(rejectionReason: $0.rejectionReason)) }
        }
        router.add("POST", BBSRoutes.completeTask) { request, respond in
            change(request, respond, CompleteTaskRequest.self) {
                ($0.taskGuid, .complete(cellId: $0.cellId, failed: $0.failed, failureReason: $0.failureReason, result: $0.result))
            }
        }
        router.add("POST", BBSRoutes.resolvingTask) { request, respond in
            change(request, respond, TaskGuidRequest.self) { ($0.taskGuid, .resolving) }
        }
        router.add("POST", BBSRoutes.deleteTask) { request, respond in
            change(request, respond, TaskGuidRequest.self) { ($0.taskGuid, .delete) }
        }

        // Event streams: the body (an EventsByCellId) is neither read nor validated.
        router.add("POST", BBSRoutes.taskEvents) { _, respond in respond(events.subscribe(format: .v3)) }
        router.add("POST", BBSRoutes.taskEventsR0) { _, respond in respond(events.subscribe(format: .v2)) }

        router.add("POST", BBSRoutes.upsertDomain) { upsertDomain($0, $1) }
        router.add("POST", BBSRoutes.domains) { _, respond in
            store.freshDomains { result in
                switch result {
                case .success(let domains): respond(RPC.response(DomainsResponse(domains: domains)))
                case .failure(let error): respond(RPC.failure(DomainsResponse.self, error))
                }
            }
        }
    }

    // MARK: - Desire

    /// The desire revisions differ only in how the definition is read (versions.md §5).
    enum DesireRevision {
        /// Current: stored as sent.
        case r2
        /// Pre-2016 volume mounts (fields 2, 4, 5), up-converted after validation.
        case r1
        /// V0 timeouts in nanoseconds, up-converted before validation.
        case r0
    }

    private func desire(_ request: HTTPRequest, _ respond: @escaping RPC.Respond, revision: DesireRevision) {
        guard var message = RPC.decode(request, as: DesireTaskRequest.self, answering: TaskLifecycleResponse.self, respond)
        else { return }
        if revision == .r0, let definition = message.taskDefinition {
            message.taskDefinition = definition.upgradedFromV0Timeouts()
        }
        do {
            try message.validate()
        } catch {
            respond(RPC.failure(TaskLifecycleResponse.self, error))
            return
        }
        guard var definition = message.taskDefinition else { return }  // validate() requires it
        if revision == .r1 {
            definition = definition.upgradedFromR1VolumeMounts()
        }
        controller.apply(.desire(domain: message.domain, definition: StoredDefinition(definition)), guid: message.taskGuid) { result in
            respond(RPC.outcome(TaskLifecycleResponse.self, result.failureValue))
        }
    }

    // MARK: - Reads

    private func list(_ request: HTTPRequest, _ respond: @escaping RPC.Respond, format: TaskFormat) {
        guard let message = RPC.decodeValid(request, as: TasksRequest.self, answering: TasksResponse.self, respond)
        else { return }
        store.tasks(domain: message.domain, cellId: message.cellId) { result in
            switch result {
            case .success(let records):
                respond(RPC.response(bytes: Self.encodeTasksResponse(records, format: format)))
            case .failure(let error):
                respond(RPC.failure(TasksResponse.self, error))
            }
        }
    }

    private func get(_ request: HTTPRequest, _ respond: @escaping RPC.Respond, format: TaskFormat) {
        guard let message = RPC.decodeValid(request, as: TaskByGuidRequest.self, answering: TaskResponse.self, respond)
        else { return }
        store.task(guid: message.taskGuid) { result in
            switch result {
            case .success(let record?):
                var writer = ProtoWriter()
                Self.writeTask(record, field: 2, format: format, into: &writer)
                respond(RPC.response(bytes: writer.bytes))
            case .success(nil):
                respond(RPC.failure(TaskResponse.self, .resourceNotFound))
            case .failure(let error):
                respond(RPC.failure(TaskResponse.self, error))
            }
        }
    }

    /// `TasksResponse{tasks}` built from stored bytes: for the current revision each task
    /// is its stored definition plus its own fields, so no definition is re-encoded.
    static func encodeTasksResponse(_ records: [TaskRecord], format: TaskFormat) -> [UInt8] {
        var capacity = 0
        for record in records { capacity += record.definition.bytes.count + 160 }
        var writer = ProtoWriter(capacity: capacity)
        for record in records { writeTask(record, field: 2, format: format, into: &writer) }
        return writer.bytes
    }

    /// Writes `record` as a `Task` sub-message at `field`, in the task format of the route.
    static func writeTask(_ record: TaskRecord, field: Int, format: TaskFormat, into writer: inout ProtoWriter) {
        if format == .v3 {
            writer.writeNested(field) { record.encodeTask(into: &$0, includingDefinition: true) }
            return
        }
        do {
            writer.writeMessage(field, try record.decoded().converted(to: format))
        } catch {
            // The definition was encoded by us from a validated value; failing to decode it
            // means the stored bytes are damaged. Return the task as stored rather than
            // nothing (the reference would report Deserialize and delete the row).
            writer.writeNested(field) { record.encodeTask(into: &$0, includingDefinition: true) }
        }
    }

    // MARK: - Lifecycle

    private func start(_ request: HTTPRequest, _ respond: @escaping RPC.Respond) {
        guard let message = RPC.decodeValid(request, as: StartTaskRequest.self, answering: StartTaskResponse.self, respond)
        else { return }
        controller.apply(.start(cellId: message.cellId), guid: message.taskGuid) { result in
            switch result {
            case .success(.changed):
                respond(RPC.response(StartTaskResponse(shouldStart: true)))
            case .success:
                // Already running on this cell: do not start it again, and no error.
                respond(RPC.response(StartTaskResponse(shouldStart: false)))
            case .failure(let error):
                respond(RPC.failure(StartTaskResponse.self, error))
            }
        }
    }

    /// cancel, fail, reject, complete, resolving, delete: validate, apply, empty answer.
    private func change<Request: ProtoMessage & ValidatableRequest>(
        _ request: HTTPRequest, _ respond: @escaping RPC.Respond, _: Request.Type,
        _ command: (Request) -> (guid: String, command: TaskCommand)
    ) {
        guard let message = RPC.decodeValid(request, as: Request.self, answering: TaskLifecycleResponse.self, respond)
        else { return }
        let (guid, command) = command(message)
        controller.apply(command, guid: guid) { result in
            respond(RPC.outcome(TaskLifecycleResponse.self, result.failureValue))
        }
    }

    // MARK: - Domains

    private func upsertDomain(_ request: HTTPRequest, _ respond: @escaping RPC.Respond) {
        guard let message = RPC.decodeValid(request, as: UpsertDomainRequest.self, answering: UpsertDomainResponse.self, respond)
        else { return }
        store.upsertDomain(message.domain, ttl: message.ttl) { result in
            respond(RPC.outcome(UpsertDomainResponse.self, result.failureValue))
        }
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
