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
        func rpc(_ method: String, _ path: String, _ handle: @escaping @Sendable (RPCExchange) -> Void) {
            router.add(method, path) { request, respond in handle(RPCExchange(request, respond)) }
        }
        rpc("POST", BBSRoutes.ping) { $0.answer(PingResponse(available: true)) }

        rpc("POST", BBSRoutes.desireTask) { desire($0, revision: .r2) }
        rpc("POST", BBSRoutes.desireTaskR1) { desire($0, revision: .r1) }
        rpc("POST", BBSRoutes.desireTaskR0) { desire($0, revision: .r0) }

        rpc("POST", BBSRoutes.tasks) { list($0, format: .v3) }
        rpc("POST", BBSRoutes.tasksR2) { list($0, format: .v2) }
        rpc("POST", BBSRoutes.tasksR1) { list($0, format: .v1) }
        rpc("POST", BBSRoutes.tasksR0) { list($0, format: .v0) }

        rpc("POST", BBSRoutes.taskByGuid) { get($0, format: .v3) }
        rpc("POST", BBSRoutes.taskByGuidR2) { get($0, format: .v2) }
        rpc("POST", BBSRoutes.taskByGuidR1) { get($0, format: .v1) }
        // The r0 read was a GET with a protobuf body.
        rpc("GET", BBSRoutes.taskByGuidR0) { get($0, format: .v0) }

        rpc("POST", BBSRoutes.startTask) { start($0) }
        rpc("POST", BBSRoutes.cancelTask) { change($0, TaskGuidRequest.self) { ($0.taskGuid, .cancel) } }
        rpc("POST", BBSRoutes.failTask) {
            change($0, FailTaskRequest.self) { ($0.taskGuid, .fail(failureReason: $0.failureReason)) }
        }
        rpc("POST", BBSRoutes.rejectTask) {
            change($0, RejectTaskRequest.self) { ($0.taskGuid, .reject(rejectionReason: $0.rejectionReason)) }
        }
        rpc("POST", BBSRoutes.completeTask) {
            change($0, CompleteTaskRequest.self) {
                ($0.taskGuid, .complete(cellId: $0.cellId, failed: $0.failed, failureReason: $0.failureReason, result: $0.result))
            }
        }
        rpc("POST", BBSRoutes.resolvingTask) { change($0, TaskGuidRequest.self) { ($0.taskGuid, .resolving) } }
        rpc("POST", BBSRoutes.deleteTask) { change($0, TaskGuidRequest.self) { ($0.taskGuid, .delete) } }

        // Event streams: the body (an EventsByCellId) is neither read nor validated.
        rpc("POST", BBSRoutes.taskEvents) { $0.send(events.subscribe(format: .v3)) }
        rpc("POST", BBSRoutes.taskEventsR0) { $0.send(events.subscribe(format: .v2)) }

        rpc("POST", BBSRoutes.upsertDomain) { upsertDomain($0) }
        rpc("POST", BBSRoutes.domains) { exchange in
            store.freshDomains { result in
                switch result {
                case .success(let domains): exchange.answer(DomainsResponse(domains: domains))
                case .failure(let error): exchange.fail(DomainsResponse.self, error)
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

    private func desire(_ exchange: RPCExchange, revision: DesireRevision) {
        guard var message = exchange.decode(DesireTaskRequest.self, answering: TaskLifecycleResponse.self)
        else { return }
        if revision == .r0, let definition = message.taskDefinition {
            message.taskDefinition = definition.upgradedFromV0Timeouts()
        }
        do {
            try message.validate()
        } catch {
            exchange.fail(TaskLifecycleResponse.self, error)
            return
        }
        guard var definition = message.taskDefinition else { return }  // validate() requires it
        if revision == .r1 {
            definition = definition.upgradedFromR1VolumeMounts()
        }
        controller.apply(.desire(domain: message.domain, definition: StoredDefinition(definition)),
                         guid: message.taskGuid) { result in
            exchange.outcome(TaskLifecycleResponse.self, result.failureValue)
        }
    }

    // MARK: - Reads

    private func list(_ exchange: RPCExchange, format: TaskFormat) {
        guard let message = exchange.decodeValid(TasksRequest.self, answering: TasksResponse.self) else { return }
        store.selectTasks(domain: message.domain, cellId: message.cellId) { result in
            switch result {
            case .success(let selection) where exchange.output == .protobuf && format == .v3:
                exchange.answer(protobufBytes: Self.encodeTasksResponse(selection))
            case .success(let selection) where exchange.output == .protobuf:
                exchange.answer(protobufBytes: Self.encodeTasksResponse(Array(selection), format: format))
            case .success(let selection):
                exchange.answer(TasksResponse(tasks: selection.map { Self.task($0, format: format) }))
            case .failure(let error):
                exchange.fail(TasksResponse.self, error)
            }
        }
    }

    private func get(_ exchange: RPCExchange, format: TaskFormat) {
        guard let message = exchange.decodeValid(TaskByGuidRequest.self, answering: TaskResponse.self) else { return }
        store.task(guid: message.taskGuid) { result in
            switch result {
            case .success(let record?) where exchange.output == .protobuf:
                var writer = ProtoWriter()
                Self.writeTask(record, field: 2, format: format, into: &writer)
                exchange.answer(protobufBytes: writer.bytes)
            case .success(let record?):
                exchange.answer(TaskResponse(task: Self.task(record, format: format)))
            case .success(nil):
                exchange.fail(TaskResponse.self, .resourceNotFound)
            case .failure(let error):
                exchange.fail(TaskResponse.self, error)
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

    /// `TasksResponse{tasks}` of the current revision, read where the tasks are stored and
    /// written into one buffer sized beforehand (the bytes `encodeTasksResponse(_:format:
    /// .v3)` makes, without copying a task or growing the buffer).
    static func encodeTasksResponse(_ selection: TaskSelection) -> [UInt8] {
        selection.encodedAsField(2)
    }

    /// Writes `record` as a `Task` sub-message at `field`, in the task format of the route.
    static func writeTask(_ record: TaskRecord, field: Int, format: TaskFormat, into writer: inout ProtoWriter) {
        if format != .v3, let task = try? record.decoded() {
            writer.writeMessage(field, task.converted(to: format))
            return
        }
        // The current revision, or a definition that does not decode (damaged stored bytes:
        // returned as stored rather than dropped; the reference would report Deserialize).
        writer.writeNested(field) { record.encodeTask(into: &$0, includingDefinition: true) }
    }

    /// The task as a model value in the route's format (JSON answers, conversions).
    static func task(_ record: TaskRecord, format: TaskFormat) -> BBSTask {
        guard let task = try? record.decoded() else {
            // Damaged definition bytes: the task's own fields without its definition.
            return record.withoutDefinition
        }
        return format == .v3 ? task : task.converted(to: format)
    }

    // MARK: - Lifecycle

    private func start(_ exchange: RPCExchange) {
        guard let message = exchange.decodeValid(StartTaskRequest.self, answering: StartTaskResponse.self)
        else { return }
        controller.apply(.start(cellId: message.cellId), guid: message.taskGuid) { result in
            switch result {
            case .success(.changed):
                exchange.answer(StartTaskResponse(shouldStart: true))
            case .success:
                // Already running on this cell: do not start it again, and no error.
                exchange.answer(StartTaskResponse(shouldStart: false))
            case .failure(let error):
                exchange.fail(StartTaskResponse.self, error)
            }
        }
    }

    /// cancel, fail, reject, complete, resolving, delete: validate, apply, empty answer.
    private func change<Request: BBSMessage & ValidatableRequest>(
        _ exchange: RPCExchange, _: Request.Type, _ command: (Request) -> (guid: String, command: TaskCommand)
    ) {
        guard let message = exchange.decodeValid(Request.self, answering: TaskLifecycleResponse.self) else { return }
        let (guid, command) = command(message)
        let requestID = exchange.request.headers["X-Vcap-Request-Id"] ?? ""
        controller.apply(command, guid: guid, requestID: requestID) { result in
            exchange.outcome(TaskLifecycleResponse.self, result.failureValue)
        }
    }

    // MARK: - Domains

    private func upsertDomain(_ exchange: RPCExchange) {
        guard let message = exchange.decodeValid(UpsertDomainRequest.self, answering: UpsertDomainResponse.self)
        else { return }
        store.upsertDomain(message.domain, ttl: message.ttl) { result in
            exchange.outcome(UpsertDomainResponse.self, result.failureValue)
        }
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
