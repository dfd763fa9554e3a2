// The BBS task messages as plain Sendable values.
//
// One struct per protobuf message of `models/*.proto` (see ../shared/spec/messages.md).
// Property names are the lowerCamelCase of the proto field names (`root_fs` -> `rootFs`,
// `memory_mb` -> `memoryMb`). Presence rules that the wire cares about are kept in the
// types: a non-repeated sub-message is an Optional (present-but-empty is not absent),
// repeated fields are arrays, `ResourceLimits`' oneof members are Optionals.
// Every message keeps the bytes of fields it does not know in `unknownFields`, and the
// encoder writes them back after the known fields, so a newer client's field survives
// desire -> get. The binary codec lives in ProtobufCodec.swift.

/// `Task.State`. Unknown wire values are kept (proto3 open enum).
public struct TaskState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let invalid = TaskState(rawValue: 0)
    public static let pending = TaskState(rawValue: 1)
    public static let running = TaskState(rawValue: 2)
    public static let completed = TaskState(rawValue: 3)
    public static let resolving = TaskState(rawValue: 4)
    /// The enum name as the reference prints it (`Pending`, `Running`, ...).
    public var description: String {
        switch rawValue {
        case 0: return "Invalid"
        case 1: return "Pending"
        case 2: return "Running"
        case 3: return "Completed"
        case 4: return "Resolving"
        default: return String(rawValue)
        }
    }
}

public struct EnvironmentVariable: Hashable, Sendable {
    public var name = ""
    public var value = ""
    public var unknownFields: [UInt8] = []
    public init(name: String = "", value: String = "") { self.name = name; self.value = value }
}

public struct PortRange: Hashable, Sendable {
    public var start: UInt32 = 0
    public var end: UInt32 = 0
    public var unknownFields: [UInt8] = []
    public init(start: UInt32 = 0, end: UInt32 = 0) { self.start = start; self.end = end }
}

public struct ICMPInfo: Hashable, Sendable {
    public var type: Int32 = 0
    public var code: Int32 = 0
    public var unknownFields: [UInt8] = []
    public init(type: Int32 = 0, code: Int32 = 0) { self.type = type; self.code = code }
}

public struct SecurityGroupRule: Hashable, Sendable {
    public var `protocol` = ""
    public var destinations: [String] = []
    /// Written unpacked, read in both forms.
    public var ports: [UInt32] = []
    public var portRange: PortRange?
    public var icmpInfo: ICMPInfo?
    public var log = false
    public var annotations: [String] = []
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct CachedDependency: Hashable, Sendable {
    public var name = ""
    public var from = ""
    public var to = ""
    public var cacheKey = ""
    public var logSource = ""
    public var checksumAlgorithm = ""
    public var checksumValue = ""
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct SharedDevice: Hashable, Sendable {
    public var volumeId = ""
    public var mountConfig = ""
    public var unknownFields: [UInt8] = []
    public init(volumeId: String = "", mountConfig: String = "") { self.volumeId = volumeId; self.mountConfig = mountConfig }
}

public struct DedicatedDevice: Hashable, Sendable {
    public var mounterId = ""
    public var mountConfig = ""
    public var deviceConfig = ""
    public var unknownFields: [UInt8] = []
    public init() {}
}

/// `VolumeMount`. Fields 2, 4 and 5 are reserved (pre-2016 shape); they arrive in
/// `unknownFields`, where the `desire.r1` up-conversion reads them.
public struct VolumeMount: Hashable, Sendable {
    public var driver = ""
    public var containerDir = ""
    public var mode = ""
    public var shared: SharedDevice?
    public var dedicated: DedicatedDevice?
    public var unknownFields: [UInt8] = []
    public init() {}
}

/// One entry of a protobuf map, in wire order. Maps keep their entries as received
/// (the reference re-emits them in Go map order, which is unspecified).
public struct MapEntry<Value: Hashable & Sendable>: Hashable, Sendable {
    public var key: String
    public var value: Value
    public init(key: String, value: Value) { self.key = key; self.value = value }
}

public struct Network: Hashable, Sendable {
    public var properties: [MapEntry<String>] = []
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct CertificateProperties: Hashable, Sendable {
    public var organizationalUnit: [String] = []
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct ImageLayer: Hashable, Sendable {
    /// `ImageLayer.Type`: 0 invalid, 1 SHARED, 2 EXCLUSIVE.
    public enum LayerType { public static let invalid: Int32 = 0, shared: Int32 = 1, exclusive: Int32 = 2 }
    /// `ImageLayer.MediaType`: 0 invalid, 1 TGZ, 2 TAR, 3 ZIP.
    public enum MediaType { public static let invalid: Int32 = 0, tgz: Int32 = 1, tar: Int32 = 2, zip: Int32 = 3 }
    /// `ImageLayer.DigestAlgorithm`: 0 invalid, 1 SHA256, 2 SHA512.
    public enum DigestAlgorithm { public static let invalid: Int32 = 0, sha256: Int32 = 1, sha512: Int32 = 2 }

    public var name = ""
    public var url = ""
    public var destinationPath = ""
    public var layerType: Int32 = 0
    public var mediaType: Int32 = 0
    public var digestAlgorithm: Int32 = 0
    public var digestValue = ""
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct LogRateLimit: Hashable, Sendable {
    public var bytesPerSecond: Int64 = 0
    public var unknownFields: [UInt8] = []
    public init(bytesPerSecond: Int64 = 0) { self.bytesPerSecond = bytesPerSecond }
}

public struct MetricTagValue: Hashable, Sendable {
    /// `MetricTagValue.DynamicValue`: 0 invalid, 1 INDEX, 2 INSTANCE_GUID.
    public var `static` = ""
    public var dynamic: Int32 = 0
    public var unknownFields: [UInt8] = []
    public init() {}
}

/// `File` (a file mounted into the container).
public struct File: Hashable, Sendable {
    public var path = ""
    public var content = ""
    public var unknownFields: [UInt8] = []
    public init(path: String = "", content: String = "") { self.path = path; self.content = content }
}

/// `ResourceLimits`: both members are presence-tracked oneofs (written when set, even if 0).
public struct ResourceLimits: Hashable, Sendable {
    public var nofile: UInt64?
    public var nproc: UInt64?
    public var unknownFields: [UInt8] = []
    public init(nofile: UInt64? = nil, nproc: UInt64? = nil) { self.nofile = nofile; self.nproc = nproc }
}

// MARK: - Actions

/// `Action`: a hand-rolled union, not a oneof. Several members may arrive and all are
/// kept; the action "is" its first present member in field order (`value`).
public struct Action: Hashable, Sendable {
    public var downloadAction: DownloadAction?
    public var uploadAction: UploadAction?
    public var runAction: RunAction?
    public var timeoutAction: TimeoutAction?
    public var emitProgressAction: EmitProgressAction?
    public var tryAction: TryAction?
    public var parallelAction: ParallelAction?
    public var serialAction: SerialAction?
    public var codependentAction: CodependentAction?
    public var unknownFields: [UInt8] = []
    public init() {}

    /// The first present member in field-number order, as `Action.GetValue` picks it.
    public enum Value: Hashable, Sendable {
        case download(DownloadAction)
        case upload(UploadAction)
        case run(RunAction)
        case timeout(TimeoutAction)
        case emitProgress(EmitProgressAction)
        case `try`(TryAction)
        case parallel(ParallelAction)
        case serial(SerialAction)
        case codependent(CodependentAction)
    }

    public var value: Value? {
        if let a = downloadAction { return .download(a) }
        if let a = uploadAction { return .upload(a) }
        if let a = runAction { return .run(a) }
        if let a = timeoutAction { return .timeout(a) }
        if let a = emitProgressAction { return .emitProgress(a) }
        if let a = tryAction { return .try(a) }
        if let a = parallelAction { return .parallel(a) }
        if let a = serialAction { return .serial(a) }
        if let a = codependentAction { return .codependent(a) }
        return nil
    }

    /// An Action holding exactly `value`.
    public init(_ value: Value) {
        switch value {
        case .download(let a): downloadAction = a
        case .upload(let a): uploadAction = a
        case .run(let a): runAction = a
        case .timeout(let a): timeoutAction = a
        case .emitProgress(let a): emitProgressAction = a
        case .try(let a): tryAction = a
        case .parallel(let a): parallelAction = a
        case .serial(let a): serialAction = a
        case .codependent(let a): codependentAction = a
        }
    }
}

public struct DownloadAction: Hashable, Sendable {
    public var artifact = ""
    public var from = ""
    public var to = ""
    public var cacheKey = ""
    public var logSource = ""
    public var user = ""
    public var checksumAlgorithm = ""
    public var checksumValue = ""
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct UploadAction: Hashable, Sendable {
    public var artifact = ""
    public var from = ""
    public var to = ""
    public var logSource = ""
    public var user = ""
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct RunAction: Hashable, Sendable {
    public var path = ""
    public var args: [String] = []
    public var dir = ""
    public var env: [EnvironmentVariable] = []
    public var resourceLimits: ResourceLimits?
    public var user = ""
    public var logSource = ""
    public var suppressLogOutput = false
    public var volumeMountedFiles: [File] = []
    public var unknownFields: [UInt8] = []
    public init(path: String = "", user: String = "") { self.path = path; self.user = user }
}

// Nested actions are boxed so the recursive value types have a finite size.
public struct TimeoutAction: Hashable, Sendable {
    @Indirect public var action: Action?
    public var deprecatedTimeoutNs: Int64 = 0
    public var logSource = ""
    public var timeoutMs: Int64 = 0
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct EmitProgressAction: Hashable, Sendable {
    @Indirect public var action: Action?
    public var startMessage = ""
    public var successMessage = ""
    public var failureMessagePrefix = ""
    public var logSource = ""
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct TryAction: Hashable, Sendable {
    @Indirect public var action: Action?
    public var logSource = ""
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct ParallelAction: Hashable, Sendable {
    public var actions: [Action] = []
    public var logSource = ""
    public var unknownFields: [UInt8] = []
    public init(actions: [Action] = []) { self.actions = actions }
}

public struct SerialAction: Hashable, Sendable {
    public var actions: [Action] = []
    public var logSource = ""
    public var unknownFields: [UInt8] = []
    public init(actions: [Action] = []) { self.actions = actions }
}

public struct CodependentAction: Hashable, Sendable {
    public var actions: [Action] = []
    public var logSource = ""
    public var unknownFields: [UInt8] = []
    public init(actions: [Action] = []) { self.actions = actions }
}

/// Boxes an optional value so recursive structs stay finite; value semantics are kept
/// (the box is immutable and replaced on every write).
@propertyWrapper
public struct Indirect<Wrapped: Hashable & Sendable>: Hashable, Sendable {
    private final class Box: Sendable {
        let value: Wrapped?
        init(_ value: Wrapped?) { self.value = value }
    }
    private var box: Box
    public init(wrappedValue: Wrapped?) { box = Box(wrappedValue) }
    public var wrappedValue: Wrapped? {
        get { box.value }
        set { box = Box(newValue) }
    }
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.wrappedValue == rhs.wrappedValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(wrappedValue) }
}

// MARK: - Task

public struct TaskDefinition: Hashable, Sendable {
    public var rootFs = ""
    public var environmentVariables: [EnvironmentVariable] = []
    public var action: Action?
    public var diskMb: Int32 = 0
    public var memoryMb: Int32 = 0
    public var cpuWeight: UInt32 = 0
    public var privileged = false
    public var logSource = ""
    public var logGuid = ""
    public var metricsGuid = ""
    public var resultFile = ""
    public var completionCallbackUrl = ""
    public var annotation = ""
    public var egressRules: [SecurityGroupRule] = []
    public var cachedDependencies: [CachedDependency] = []
    public var legacyDownloadUser = ""
    public var trustedSystemCertificatesPath = ""
    public var volumeMounts: [VolumeMount] = []
    public var network: Network?
    public var placementTags: [String] = []
    public var maxPids: Int32 = 0
    public var certificateProperties: CertificateProperties?
    public var imageUsername = ""
    public var imagePassword = ""
    public var imageLayers: [ImageLayer] = []
    public var logRateLimit: LogRateLimit?
    public var metricTags: [MapEntry<MetricTagValue?>] = []
    public var volumeMountedFiles: [File] = []
    public var unknownFields: [UInt8] = []
    public init() {}
}

/// `Task` (named BBSTask so it does not shadow Swift's `Task`). On the wire the
/// definition is an ordinary nested message at field 1.
public struct BBSTask: Hashable, Sendable {
    public var taskDefinition: TaskDefinition?
    public var taskGuid = ""
    public var domain = ""
    public var createdAt: Int64 = 0
    public var updatedAt: Int64 = 0
    public var firstCompletedAt: Int64 = 0
    public var state: TaskState = .invalid
    public var cellId = ""
    public var result = ""
    public var failed = false
    public var failureReason = ""
    public var rejectionCount: Int32 = 0
    public var rejectionReason = ""
    public var unknownFields: [UInt8] = []
    public init() {}
}

// MARK: - Requests and responses

public struct DesireTaskRequest: Hashable, Sendable {
    public var taskDefinition: TaskDefinition?
    public var taskGuid = ""
    public var domain = ""
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct StartTaskRequest: Hashable, Sendable {
    public var taskGuid = ""
    public var cellId = ""
    public var unknownFields: [UInt8] = []
    public init(taskGuid: String = "", cellId: String = "") { self.taskGuid = taskGuid; self.cellId = cellId }
}

public struct StartTaskResponse: Hashable, Sendable {
    public var error: BBSError?
    public var shouldStart = false
    public var unknownFields: [UInt8] = []
    public init(error: BBSError? = nil, shouldStart: Bool = false) { self.error = error; self.shouldStart = shouldStart }
}

public struct FailTaskRequest: Hashable, Sendable {
    public var taskGuid = ""
    public var failureReason = ""
    public var unknownFields: [UInt8] = []
    public init(taskGuid: String = "", failureReason: String = "") { self.taskGuid = taskGuid; self.failureReason = failureReason }
}

public struct RejectTaskRequest: Hashable, Sendable {
    public var taskGuid = ""
    public var rejectionReason = ""
    public var unknownFields: [UInt8] = []
    public init(taskGuid: String = "", rejectionReason: String = "") { self.taskGuid = taskGuid; self.rejectionReason = rejectionReason }
}

public struct TaskGuidRequest: Hashable, Sendable {
    public var taskGuid = ""
    public var unknownFields: [UInt8] = []
    public init(taskGuid: String = "") { self.taskGuid = taskGuid }
}

public struct CompleteTaskRequest: Hashable, Sendable {
    public var taskGuid = ""
    public var cellId = ""
    public var failed = false
    public var failureReason = ""
    public var result = ""
    public var unknownFields: [UInt8] = []
    public init() {}
}

public struct TaskLifecycleResponse: Hashable, Sendable {
    public var error: BBSError?
    public var unknownFields: [UInt8] = []
    public init(error: BBSError? = nil) { self.error = error }
}

public struct TasksRequest: Hashable, Sendable {
    public var domain = ""
    public var cellId = ""
    public var unknownFields: [UInt8] = []
    public init(domain: String = "", cellId: String = "") { self.domain = domain; self.cellId = cellId }
}

public struct TasksResponse: Hashable, Sendable {
    public var error: BBSError?
    public var tasks: [BBSTask] = []
    public var unknownFields: [UInt8] = []
    public init(error: BBSError? = nil, tasks: [BBSTask] = []) { self.error = error; self.tasks = tasks }
}

public struct TaskByGuidRequest: Hashable, Sendable {
    public var taskGuid = ""
    public var unknownFields: [UInt8] = []
    public init(taskGuid: String = "") { self.taskGuid = taskGuid }
}

public struct TaskResponse: Hashable, Sendable {
    public var error: BBSError?
    public var task: BBSTask?
    public var unknownFields: [UInt8] = []
    public init(error: BBSError? = nil, task: BBSTask? = nil) { self.error = error; self.task = task }
}

public struct PingResponse: Hashable, Sendable {
    public var available = false
    public var unknownFields: [UInt8] = []
    public init(available: Bool = false) { self.available = available }
}

/// The JSON body of a completion callback (lifecycle.md §7).
public struct TaskCallbackResponse: Hashable, Sendable {
    public var taskGuid = ""
    public var failed = false
    public var failureReason = ""
    public var result = ""
    public var annotation = ""
    public var createdAt: Int64 = 0
    public init() {}
}

// MARK: - Domains (models/domain.proto)

public struct UpsertDomainRequest: Hashable, Sendable {
    public var domain = ""
    /// Seconds; 0 means the domain never expires.
    public var ttl: UInt32 = 0
    public var unknownFields: [UInt8] = []
    public init(domain: String = "", ttl: UInt32 = 0) { self.domain = domain; self.ttl = ttl }
}

public struct UpsertDomainResponse: Hashable, Sendable {
    public var error: BBSError?
    public var unknownFields: [UInt8] = []
    public init(error: BBSError? = nil) { self.error = error }
}

public struct DomainsResponse: Hashable, Sendable {
    public var error: BBSError?
    public var domains: [String] = []
    public var unknownFields: [UInt8] = []
    public init(error: BBSError? = nil, domains: [String] = []) { self.error = error; self.domains = domains }
}

// MARK: - Events (models/events.proto)

public struct TaskCreatedEvent: Hashable, Sendable {
    public var task: BBSTask?
    public var unknownFields: [UInt8] = []
    public init(task: BBSTask? = nil) { self.task = task }
}

public struct TaskChangedEvent: Hashable, Sendable {
    public var before: BBSTask?
    public var after: BBSTask?
    public var unknownFields: [UInt8] = []
    public init(before: BBSTask? = nil, after: BBSTask? = nil) { self.before = before; self.after = after }
}

public struct TaskRemovedEvent: Hashable, Sendable {
    public var task: BBSTask?
    public var unknownFields: [UInt8] = []
    public init(task: BBSTask? = nil) { self.task = task }
}

/// The pre-2016 `VolumeMount` fields 2, 4 and 5 (read from `unknownFields` by the codec's
/// `VolumeMount.legacyFields()`), which only the removed `desire.r1` route interprets.
public struct LegacyVolumeMountFields: Hashable, Sendable {
    public var volumeId: String
    /// `DeprecatedBindMountMode`: 0 RO, 1 RW.
    public var mode: Int32
    public var config: [UInt8]
    public init(volumeId: String = "", mode: Int32 = 0, config: [UInt8] = []) {
        self.volumeId = volumeId; self.mode = mode; self.config = config
    }
}
