/// The BBS `Error` message (`models/error.proto`), which is also the Swift error that
/// domain code throws: its `type` and `message` travel unchanged in the `error` field
/// of every response (HTTP 200).
public struct BBSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `Error.Type` numbers (messages.md §4.1). Unknown wire values are kept.
    public struct ErrorType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let unknownError = ErrorType(rawValue: 0)
        public static let invalidRecord = ErrorType(rawValue: 3)
        public static let invalidRequest = ErrorType(rawValue: 4)
        public static let invalidResponse = ErrorType(rawValue: 5)
        public static let invalidProtobufMessage = ErrorType(rawValue: 6)
        public static let invalidJSON = ErrorType(rawValue: 7)
        public static let failedToOpenEnvelope = ErrorType(rawValue: 8)
        public static let invalidStateTransition = ErrorType(rawValue: 9)
        public static let resourceConflict = ErrorType(rawValue: 11)
        public static let resourceExists = ErrorType(rawValue: 12)
        public static let resourceNotFound = ErrorType(rawValue: 13)
        public static let routerError = ErrorType(rawValue: 14)
        public static let runningOnDifferentCell = ErrorType(rawValue: 24)
        public static let guidGeneration = ErrorType(rawValue: 26)
        public static let deserialize = ErrorType(rawValue: 27)
        public static let deadlock = ErrorType(rawValue: 28)
        public static let unrecoverable = ErrorType(rawValue: 29)
        public static let lockCollision = ErrorType(rawValue: 30)
        public static let timeout = ErrorType(rawValue: 31)

        /// Every name of `Error.Type`, by number (for JSON and logs).
        public static let names: [Int32: String] = [
            0: "UnknownError", 3: "InvalidRecord", 4: "InvalidRequest", 5: "InvalidResponse",
            6: "InvalidProtobufMessage", 7: "InvalidJSON", 8: "FailedToOpenEnvelope",
            9: "InvalidStateTransition", 11: "ResourceConflict", 12: "ResourceExists",
            13: "ResourceNotFound", 14: "RouterError", 15: "ActualLRPCannotBeClaimed",
            16: "ActualLRPCannotBeStarted", 17: "ActualLRPCannotBeCrashed",
            18: "ActualLRPCannotBeFailed", 19: "ActualLRPCannotBeRemoved",
            21: "ActualLRPCannotBeUnclaimed", 24: "RunningOnDifferentCell",
            26: "GUIDGeneration", 27: "Deserialize", 28: "Deadlock", 29: "Unrecoverable",
            30: "LockCollision", 31: "Timeout",
        ]
        public var description: String { Self.names[rawValue] ?? String(rawValue) }
    }

    public var type: ErrorType
    public var message: String
    public var unknownFields: [UInt8] = []

    public init(type: ErrorType = .unknownError, message: String = "") {
        self.type = type
        self.message = message
    }

    public var description: String { "\(type): \(message)" }

    // The standard errors of models/errors.go, with their exact texts.
    public static let resourceNotFound = BBSError(type: .resourceNotFound, message: "the requested resource could not be found")
    public static let resourceExists = BBSError(type: .resourceExists, message: "the requested resource already exists")
    public static let resourceConflict = BBSError(type: .resourceConflict, message: "the requested resource is in a conflicting state")
    public static let deadlock = BBSError(type: .deadlock, message: "the request failed due to deadlock")
    public static let badRequest = BBSError(type: .invalidRequest, message: "the request received is invalid")
    public static let unknownError = BBSError(type: .unknownError, message: "the request failed for an unknown reason")
    public static let deserialize = BBSError(type: .deserialize, message: "could not deserialize record")

    /// `Cannot transition from <from> to <to>` (InvalidStateTransition).
    public static func invalidTransition(from: TaskState, to: TaskState) -> BBSError {
        BBSError(type: .invalidStateTransition, message: "Cannot transition from \(from) to \(to)")
    }

    /// `Running on cell <actual> not <requested>` (RunningOnDifferentCell).
    public static func runningOnDifferentCell(actual: String, requested: String) -> BBSError {
        BBSError(type: .runningOnDifferentCell, message: "Running on cell \(actual) not \(requested)")
    }

    /// A validation failure: the joined texts of every failed rule.
    public static func validation(_ texts: [String]) -> BBSError {
        BBSError(type: .invalidRequest, message: texts.joined(separator: ", "))
    }
}
