import BBSModels

/// A stored task: the fields of the `Task` message, with the definition kept as the
/// canonical protobuf bytes it was stored as.
///
/// Why bytes: a definition is validated once, at desire, and never changes afterwards.
/// Every read (`get`, `list`, events) returns it verbatim inside a `Task`, so keeping it
/// encoded makes a list of 100,000 tasks mostly a copy of bytes, and keeps a stored
/// task small (one array instead of a tree of strings and arrays). Conversions for old
/// route revisions decode it on demand (`BBSTask(record)`).
public struct TaskRecord: Sendable, Hashable {
    public var guid: String
    public var domain: String
    public var createdAt: Int64
    public var updatedAt: Int64
    public var firstCompletedAt: Int64
    public var state: TaskState
    public var cellId: String
    public var result: String
    public var failed: Bool
    public var failureReason: String
    public var rejectionCount: Int32
    public var rejectionReason: String
    public var definition: StoredDefinition

    public init(guid: String, domain: String, definition: StoredDefinition, createdAt: Int64 = 0,
                updatedAt: Int64 = 0, firstCompletedAt: Int64 = 0, state: TaskState = .pending,
                cellId: String = "", result: String = "", failed: Bool = false, failureReason: String = "",
                rejectionCount: Int32 = 0, rejectionReason: String = "") {
        self.guid = guid
        self.domain = domain
        self.definition = definition
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.firstCompletedAt = firstCompletedAt
        self.state = state
        self.cellId = cellId
        self.result = result
        self.failed = failed
        self.failureReason = failureReason
        self.rejectionCount = rejectionCount
        self.rejectionReason = rejectionReason
    }
}

/// A task definition as stored: its canonical protobuf encoding, plus the one field the
/// server itself acts on (the completion callback URL), extracted once at desire.
public struct StoredDefinition: Sendable, Hashable {
    /// The `TaskDefinition` message bytes (field 1 of `Task`).
    public let bytes: [UInt8]
    /// `completion_callback_url`; empty when the task has none.
    public let completionCallbackURL: String

    public init(bytes: [UInt8], completionCallbackURL: String) {
        self.bytes = bytes
        self.completionCallbackURL = completionCallbackURL
    }
}
