import BBSPosix

/// Everything the write-ahead log throws. Errors compare equal by kind (`==` ignores the
/// detail), so callers and tests can match `error == .corruptLog` while the description
/// names the file, the offset and what was wrong there.
public struct WALError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case corruptLog, missingData, replayFailed, directoryInUse
        case writeFailed, closed, recordTooLarge
        case snapshotInProgress, invalidSnapshotPoint, snapshotFailed, fileSystem
        case restoreRefused
    }

    private let code: Code
    /// What happened, for people: file, offset, reason.
    public let detail: String

    private init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// A record or header failed its checks somewhere other than a torn tail (fatal on open).
    public static let corruptLog = WALError(.corruptLog, "")
    /// A segment or a range of sequence numbers that must exist does not (fatal on open).
    public static let missingData = WALError(.missingData, "")
    /// The `replay` closure threw while the log was being opened.
    public static let replayFailed = WALError(.replayFailed, "")
    /// Another open log (in this or another process) holds the directory's lock.
    public static let directoryInUse = WALError(.directoryInUse, "")
    /// A write or fsync of the log failed; the log accepts nothing more (sticky).
    public static let writeFailed = WALError(.writeFailed, "")
    /// The log was closed.
    public static let closed = WALError(.closed, "")
    /// `append` or a snapshot record exceeded `Options.maximumRecordBytes`.
    public static let recordTooLarge = WALError(.recordTooLarge, "")
    /// `writeSnapshot` was called while another one was running.
    public static let snapshotInProgress = WALError(.snapshotInProgress, "")
    /// `writeSnapshot` was given a point that `beginSnapshot` did not return, or one that
    /// an earlier snapshot already covers.
    public static let invalidSnapshotPoint = WALError(.invalidSnapshotPoint, "")
    /// Writing the snapshot file failed; the previous state of the log is intact.
    public static let snapshotFailed = WALError(.snapshotFailed, "")
    /// A file operation outside the append path failed (opening the log, reading it).
    public static let fileSystem = WALError(.fileSystem, "")
    /// `restore(snapshotFile:into:)` would overwrite something, or the file is not a lone
    /// snapshot.
    public static let restoreRefused = WALError(.restoreRefused, "")

    static func corrupt(_ file: String, offset: Int, _ reason: String) -> WALError {
        WALError(.corruptLog, "\(file) at offset \(offset): \(reason)")
    }

    static func missing(_ detail: String) -> WALError { WALError(.missingData, detail) }

    static func replay(_ file: String, offset: Int, sequence: UInt64, _ error: any Error) -> WALError {
        WALError(.replayFailed, "record \(sequence) of \(file) at offset \(offset): \(error)")
    }

    static func inUse(_ directory: String) -> WALError {
        WALError(.directoryInUse, "\(directory) is locked by another open log")
    }

    static func write(_ file: String, _ error: any Error) -> WALError {
        WALError(.writeFailed, "\(file): \(error)")
    }

    static func closed(_ detail: String) -> WALError { WALError(.closed, detail) }

    static func tooLarge(_ count: Int, limit: Int) -> WALError {
        WALError(.recordTooLarge, "record of \(count) bytes exceeds the limit of \(limit) bytes")
    }

    static func busy() -> WALError { WALError(.snapshotInProgress, "a snapshot is already being written") }

    static func invalidPoint(_ detail: String) -> WALError { WALError(.invalidSnapshotPoint, detail) }

    static func snapshot(_ file: String, _ error: any Error) -> WALError {
        WALError(.snapshotFailed, "\(file): \(error)")
    }

    static func restoreRefused(_ detail: String) -> WALError { WALError(.restoreRefused, detail) }

    static func fileSystem(_ path: String, _ error: SystemCallError) -> WALError {
        WALError(.fileSystem, "\(path): \(error)")
    }

    public var description: String {
        let kind: String
        switch code {
        case .corruptLog: kind = "write-ahead log is corrupt"
        case .missingData: kind = "write-ahead log is missing data"
        case .replayFailed: kind = "write-ahead log replay failed"
        case .directoryInUse: kind = "write-ahead log directory is in use"
        case .writeFailed: kind = "write-ahead log write failed; the log accepts no more records"
        case .closed: kind = "write-ahead log is closed"
        case .recordTooLarge: kind = "write-ahead log record too large"
        case .snapshotInProgress: kind = "write-ahead log snapshot already in progress"
        case .invalidSnapshotPoint: kind = "invalid write-ahead log snapshot point"
        case .snapshotFailed: kind = "write-ahead log snapshot failed"
        case .fileSystem: kind = "write-ahead log file operation failed"
        case .restoreRefused: kind = "write-ahead log restore refused"
        }
        return detail.isEmpty ? kind : kind + ": " + detail
    }

    public static func == (a: WALError, b: WALError) -> Bool { a.code == b.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
