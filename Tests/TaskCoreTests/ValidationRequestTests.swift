import BBSModels
import Testing

@testable import TaskCore

// MARK: - Fixtures shared by the Validation*Tests files

/// Builders for the values the validation tests send (the conformance suite's
/// `minimal_definition` and friends).
enum ValidationFixtures {
    static func run(path: String = "/bin/true", user: String = "vcap") -> Action {
        Action(.run(RunAction(path: path, user: user)))
    }

    /// A valid definition: `docker:///busybox` running `/bin/true` as `vcap`, then `configure`.
    static func definition(_ configure: (inout TaskDefinition) -> Void = { _ in }) -> TaskDefinition {
        var definition = TaskDefinition()
        definition.rootFs = "docker:///busybox"
        definition.action = run()
        configure(&definition)
        return definition
    }

    static func desire(_ definition: TaskDefinition?, guid: String = "task-guid-1", domain: String = "domain") -> DesireTaskRequest {
        var request = DesireTaskRequest()
        request.taskGuid = guid
        request.domain = domain
        request.taskDefinition = definition
        return request
    }

    /// The error the conformance suite's `invalid(...)` describes: each part becomes
    /// `Invalid field: <part>`, except parts starting with `!`, which are used literally.
    static func invalid(_ parts: String...) -> BBSError {
        invalid(parts)
    }

    static func invalid(_ parts: [String]) -> BBSError {
        let texts = parts.map { $0.hasPrefix("!") ? String($0.dropFirst()) : "Invalid field: " + $0 }
        return BBSError(type: .invalidRequest, message: texts.joined(separator: ", "))
    }

    /// The error `validate` throws, or nil when it passes.
    static func error(of validate: () throws(BBSError) -> Void) -> BBSError? {
        do {
            try validate()
            return nil
        } catch {
            return error
        }
    }

    /// The error desiring `definition` gets, or nil when it is accepted.
    static func desireError(_ definition: TaskDefinition) -> BBSError? {
        error(of: desire(definition).validate)
    }
}

// MARK: - DesireTaskRequest (lifecycle.md §8.1)

@Suite("DesireTaskRequest validation")
struct ValidationDesireRequestTests {
    typealias F = ValidationFixtures

    @Test func validRequestPasses() {
        #expect(F.error(of: F.desire(F.definition()).validate) == nil)
    }

    @Test func missingGuid() {
        #expect(F.error(of: F.desire(F.definition(), guid: "").validate) == F.invalid("task_guid"))
    }

    @Test(arguments: ["has space", "slash/guid", "dot.guid", "colon:guid", "caf\u{e9}", "tab\tguid",
                      "plus+guid", "a,b", "trailing-newline\n"])
    func guidWithInvalidCharacters(guid: String) {
        #expect(F.error(of: F.desire(F.definition(), guid: guid).validate) == F.invalid("task_guid"))
    }

    @Test(arguments: ["a", "Z", "0", "_", "-", "abc-DEF_123", "cf-0123456789abcdef"])
    func guidOfPatternCharactersPasses(guid: String) {
        #expect(F.error(of: F.desire(F.definition(), guid: guid).validate) == nil)
    }

    @Test func missingDomain() {
        #expect(F.error(of: F.desire(F.definition(), domain: "").validate) == F.invalid("domain"))
    }

    @Test func missingTaskDefinition() {
        #expect(F.error(of: F.desire(nil).validate) == F.invalid("task_definition"))
    }

    @Test func emptyRequestReportsEveryRequestField() {
        let expected = BBSError(type: .invalidRequest,
                                message: "Invalid field: task_guid, Invalid field: domain, Invalid field: task_definition")
        #expect(F.error(of: DesireTaskRequest().validate) == expected)
    }

    @Test func requestErrorsPrecedeDefinitionErrors() {
        let request = F.desire(F.definition { $0.rootFs = "" }, guid: "bad guid", domain: "")
        #expect(F.error(of: request.validate) == F.invalid("task_guid", "domain", "rootfs"))
    }

    @Test func definitionErrorsAreAppendedIndividually() {
        let request = F.desire(F.definition { $0.memoryMb = -1; $0.diskMb = -1 }, domain: "")
        #expect(F.error(of: request.validate) == F.invalid("domain", "memory_mb", "disk_mb"))
    }
}

// MARK: - Column limits (lifecycle.md §9)

@Suite("255-byte column limits")
struct ValidationColumnLimitTests {
    typealias F = ValidationFixtures

    @Test func guidOf255BytesPasses() {
        #expect(F.error(of: F.desire(F.definition(), guid: String(repeating: "g", count: 255)).validate) == nil)
    }

    @Test func guidOver255BytesIsABadRequest() {
        let request = F.desire(F.definition(), guid: String(repeating: "g", count: 256))
        #expect(F.error(of: request.validate) == BBSError.badRequest)
        #expect(F.error(of: request.validate)?.message == "the request received is invalid")
    }

    @Test func domainOf255BytesPasses() {
        #expect(F.error(of: F.desire(F.definition(), domain: String(repeating: "d", count: 255)).validate) == nil)
    }

    @Test func domainLimitCountsBytesNotCharacters() {
        // 86 snowmen are 86 characters but 258 bytes.
        let request = F.desire(F.definition(), domain: String(repeating: "\u{2603}", count: 86))
        #expect(F.error(of: request.validate) == BBSError.badRequest)
    }

    @Test func validationErrorsTakePrecedenceOverLimits() {
        let request = F.desire(F.definition(), guid: String(repeating: "g", count: 300), domain: "")
        #expect(F.error(of: request.validate) == F.invalid("domain"))
    }

    @Test func startCellIdOver255BytesIsABadRequest() {
        let request = StartTaskRequest(taskGuid: "ok", cellId: String(repeating: "c", count: 256))
        #expect(F.error(of: request.validate) == BBSError.badRequest)
        #expect(F.error(of: StartTaskRequest(taskGuid: "ok", cellId: String(repeating: "c", count: 255)).validate) == nil)
    }

    @Test func valuesOnlyComparedWithStoredRowsAreNotLimited() {
        // The reference only looks these up, so they are "not found" / "other cell", not invalid.
        let longGuid = String(repeating: "g", count: 300)
        #expect(F.error(of: StartTaskRequest(taskGuid: longGuid, cellId: "cell").validate) == nil)
        var complete = CompleteTaskRequest()
        complete.taskGuid = "ok"
        complete.cellId = String(repeating: "c", count: 300)
        #expect(F.error(of: complete.validate) == nil)
        #expect(F.error(of: TaskGuidRequest(taskGuid: longGuid).validate) == nil)
    }

    @Test func upsertDomainOver255BytesIsABadRequest() {
        #expect(F.error(of: UpsertDomainRequest(domain: String(repeating: "d", count: 256)).validate) == BBSError.badRequest)
    }
}

// MARK: - Lifecycle requests (lifecycle.md §8.3)

@Suite("Lifecycle request validation")
struct ValidationLifecycleRequestTests {
    typealias F = ValidationFixtures

    @Test(arguments: [
        (StartTaskRequest(taskGuid: "", cellId: "c"), ["task_guid"]),
        (StartTaskRequest(taskGuid: "bad guid", cellId: "c"), ["task_guid"]),
        (StartTaskRequest(taskGuid: "ok", cellId: ""), ["cell_id"]),
        (StartTaskRequest(), ["task_guid", "cell_id"]),
    ])
    func start(request: StartTaskRequest, fields: [String]) {
        #expect(F.error(of: request.validate) == F.invalid(fields))
    }

    @Test func startPasses() {
        #expect(F.error(of: StartTaskRequest(taskGuid: "ok", cellId: "cell-1").validate) == nil)
    }

    private static func completeRequest(guid: String, cell: String, failed: Bool = false) -> CompleteTaskRequest {
        var request = CompleteTaskRequest()
        request.taskGuid = guid
        request.cellId = cell
        request.failed = failed
        return request
    }

    @Test(arguments: [
        (completeRequest(guid: "", cell: "c"), ["task_guid"]),
        (completeRequest(guid: "a.b", cell: "c"), ["task_guid"]),
        (completeRequest(guid: "ok", cell: ""), ["cell_id"]),
        (completeRequest(guid: "", cell: "", failed: true), ["task_guid", "cell_id"]),
    ])
    func complete(request: CompleteTaskRequest, fields: [String]) {
        #expect(F.error(of: request.validate) == F.invalid(fields))
    }

    @Test func completeLeavesReasonAndResultUnchecked() {
        let request = Self.completeRequest(guid: "ok", cell: "c", failed: true)
        #expect(request.failureReason.isEmpty && request.result.isEmpty)
        #expect(F.error(of: request.validate) == nil)
    }

    @Test(arguments: [
        (FailTaskRequest(taskGuid: "", failureReason: "r"), ["task_guid"]),
        (FailTaskRequest(taskGuid: "ok", failureReason: ""), ["failure_reason"]),
        (FailTaskRequest(), ["task_guid", "failure_reason"]),
    ])
    func fail(request: FailTaskRequest, fields: [String]) {
        #expect(F.error(of: request.validate) == F.invalid(fields))
    }

    @Test(arguments: [
        (RejectTaskRequest(taskGuid: "x/y", rejectionReason: "r"), ["task_guid"]),
        // The reference names the missing rejection_reason "failure_reason".
        (RejectTaskRequest(taskGuid: "ok", rejectionReason: ""), ["failure_reason"]),
        (RejectTaskRequest(), ["task_guid", "failure_reason"]),
    ])
    func reject(request: RejectTaskRequest, fields: [String]) {
        #expect(F.error(of: request.validate) == F.invalid(fields))
    }

    @Test func failAndRejectPass() {
        #expect(F.error(of: FailTaskRequest(taskGuid: "ok", failureReason: "r").validate) == nil)
        #expect(F.error(of: RejectTaskRequest(taskGuid: "ok", rejectionReason: "r").validate) == nil)
    }

    @Test func guidOnlyRequestsNeedANonEmptyGuid() {
        #expect(F.error(of: TaskGuidRequest(taskGuid: "").validate) == F.invalid("task_guid"))
        #expect(F.error(of: TaskByGuidRequest(taskGuid: "").validate) == F.invalid("task_guid"))
    }

    @Test func guidOnlyRequestsDoNotCheckGuidCharacters() {
        #expect(F.error(of: TaskGuidRequest(taskGuid: "no such/guid!").validate) == nil)
        #expect(F.error(of: TaskByGuidRequest(taskGuid: "no such/guid!").validate) == nil)
    }

    @Test func tasksRequestNeverFails() {
        #expect(F.error(of: TasksRequest().validate) == nil)
        #expect(F.error(of: TasksRequest(domain: String(repeating: "d", count: 1000), cellId: "bad cell/").validate) == nil)
    }

    @Test func upsertDomain() {
        #expect(F.error(of: UpsertDomainRequest(domain: "").validate) == F.invalid("domain"))
        #expect(F.error(of: UpsertDomainRequest(domain: "cf-apps", ttl: 120).validate) == nil)
    }
}
