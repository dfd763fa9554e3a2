import BBSModels

// Request validation (lifecycle.md §8.1, §8.3 and the column limits of §9).
//
// Each `validate()` collects the texts of every broken rule in the reference's order and
// throws them joined as one `InvalidRequest` (`BBSError.validation`). Only a request that
// passes those rules is held to the 255-byte limits of the reference's `VARCHAR(255)`
// columns, which it reports the way its database did: `InvalidRequest` "the request
// received is invalid" (`BBSError.badRequest`). A limit applies only where the reference
// writes the value into such a column (desire: guid and domain; start: cell id; domain
// upsert: domain); values that are only compared against stored rows (a long guid on
// start, a long cell id on complete) simply match nothing there, as in the reference.

/// The byte limit of the reference's `VARCHAR(255)` columns.
let maximumColumnBytes = 255

/// Whether `guid` matches `^[a-zA-Z0-9_-]+$`, the reference's `taskGuidPattern`.
func isValidTaskGuid(_ guid: String) -> Bool {
    guard !guid.isEmpty else { return false }
    return guid.utf8.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}

/// Throws the collected texts, if any.
@inline(__always)
private func throwIfInvalid(_ errors: [String]) throws(BBSError) {
    if !errors.isEmpty { throw BBSError.validation(errors) }
}

/// Throws `BBSError.badRequest` when the value exceeds the column limit.
@inline(__always)
private func enforceColumnLimit(_ value: String) throws(BBSError) {
    if value.utf8.count > maximumColumnBytes { throw BBSError.badRequest }
}

extension DesireTaskRequest {
    /// `task_guid` pattern, `domain` non-empty, `task_definition` present and valid
    /// (§8.1, §8.2); then the guid and domain column limits.
    public func validate() throws(BBSError) {
        var errors: [String] = []
        if !isValidTaskGuid(taskGuid) { errors.append(invalidField("task_guid")) }
        if domain.isEmpty { errors.append(invalidField("domain")) }
        if let taskDefinition {
            taskDefinition.appendValidationErrors(to: &errors)
        } else {
            errors.append(invalidField("task_definition"))
        }
        try throwIfInvalid(errors)
        try enforceColumnLimit(taskGuid)
        try enforceColumnLimit(domain)
    }
}

extension StartTaskRequest {
    /// `task_guid` pattern, `cell_id` non-empty; then the cell id column limit.
    public func validate() throws(BBSError) {
        var errors: [String] = []
        if !isValidTaskGuid(taskGuid) { errors.append(invalidField("task_guid")) }
        if cellId.isEmpty { errors.append(invalidField("cell_id")) }
        try throwIfInvalid(errors)
        try enforceColumnLimit(cellId)
    }
}

extension CompleteTaskRequest {
    /// `task_guid` pattern, `cell_id` non-empty; `failure_reason` and `result` unchecked.
    public func validate() throws(BBSError) {
        var errors: [String] = []
        if !isValidTaskGuid(taskGuid) { errors.append(invalidField("task_guid")) }
        if cellId.isEmpty { errors.append(invalidField("cell_id")) }
        try throwIfInvalid(errors)
    }
}

extension FailTaskRequest {
    /// `task_guid` pattern, `failure_reason` non-empty.
    public func validate() throws(BBSError) {
        var errors: [String] = []
        if !isValidTaskGuid(taskGuid) { errors.append(invalidField("task_guid")) }
        if failureReason.isEmpty { errors.append(invalidField("failure_reason")) }
        try throwIfInvalid(errors)
    }
}

extension RejectTaskRequest {
    /// `task_guid` pattern, `rejection_reason` non-empty — reported, as by the reference,
    /// as `Invalid field: failure_reason`.
    public func validate() throws(BBSError) {
        var errors: [String] = []
        if !isValidTaskGuid(taskGuid) { errors.append(invalidField("task_guid")) }
        if rejectionReason.isEmpty { errors.append(invalidField("failure_reason")) }
        try throwIfInvalid(errors)
    }
}

extension TaskGuidRequest {
    /// `task_guid` non-empty; its characters are not checked (cancel, resolving, delete).
    public func validate() throws(BBSError) {
        if taskGuid.isEmpty { throw BBSError.validation([invalidField("task_guid")]) }
    }
}

extension TaskByGuidRequest {
    /// `task_guid` non-empty; its characters are not checked.
    public func validate() throws(BBSError) {
        if taskGuid.isEmpty { throw BBSError.validation([invalidField("task_guid")]) }
    }
}

extension TasksRequest {
    /// Always passes: both filters are optional and compared only against stored values.
    public func validate() throws(BBSError) {}
}

extension UpsertDomainRequest {
    /// `domain` non-empty; then the domain column limit.
    public func validate() throws(BBSError) {
        if domain.isEmpty { throw BBSError.validation([invalidField("domain")]) }
        try enforceColumnLimit(domain)
    }
}
