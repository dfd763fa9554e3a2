import BBSPosix
import Foundation

/// The bytes of a snapshot file (docs/WAL.md: header, records numbered 1...n, footer),
/// produced piecewise so a large one can be streamed. `SnapshotWriter` uses it for
/// compaction; backups use it to write a copy of the state outside any log directory,
/// which `WriteAheadLog.restore(snapshotFile:into:)` installs as a new log.
public struct SnapshotFileEncoder: Sendable {
    /// Bytes encoded and not yet taken.
    public private(set) var bytes: [UInt8]
    public private(set) var records: UInt64 = 0
    public let lastSequence: UInt64
    private let maximumRecordBytes: Int
    private let reservedCapacity: Int

    /// - Parameters:
    ///   - nextSegment: the first segment the snapshot does not cover; it names the file
    ///     (`snapshot-<nextSegment>.snap`). A backup uses 1: it covers no segment.
    ///   - lastSequence: the last log sequence it covers; a log opened on it continues
    ///     numbering after it.
    public init(nextSegment: UInt64, lastSequence: UInt64, maximumRecordBytes: Int = 1 << 30,
                reservingCapacity capacity: Int = 0) {
        bytes = FileHeader(.snapshot, nextSegment, lastSequence).bytes
        bytes.reserveCapacity(capacity)
        reservedCapacity = capacity
        self.lastSequence = lastSequence
        self.maximumRecordBytes = maximumRecordBytes
    }

    /// Appends one record (sealed: checksummed, `committed` 0).
    public mutating func append(type: UInt8, payload: [UInt8]) throws(WALError) {
        guard payload.count <= maximumRecordBytes else {
            throw WALError.tooLarge(payload.count, limit: maximumRecordBytes)
        }
        records += 1
        let start = bytes.count
        RecordHeader.appendUnsealed(to: &bytes, sequence: records, type: type, payload: payload)
        bytes.withUnsafeMutableBytes { _ = RecordHeader.seal($0, at: start, committed: 0) }
    }

    /// Returns the bytes encoded so far and continues in a fresh buffer of the reserved
    /// capacity (so one huge record does not keep a huge buffer alive).
    public mutating func take() -> [UInt8] {
        var taken: [UInt8] = []
        taken.reserveCapacity(reservedCapacity)
        swap(&taken, &bytes)
        return taken
    }

    /// Appends the footer (record count, last sequence). No record may follow.
    public mutating func finish() {
        bytes += FileHeader(.snapshotEnd, records, lastSequence).bytes
    }
}

extension WriteAheadLog {
    /// Whether an open log, in this process or another, holds the lock of `directory`.
    /// Opens the lock file read-only (creating nothing) and tries the lock, releasing it at
    /// once; a directory without a lock file has never been opened as a log.
    public static func isInUse(directory: String) throws -> Bool {
        let file: OpenFile
        do {
            file = try OpenFile.open(directory + "/" + LogFileName.lock)
        } catch where error.errno == ENOENT {
            return false
        } catch {
            throw WALError.fileSystem(directory, error)
        }
        defer { try? file.close() }
        do {
            return try !file.tryLockExclusive()
        } catch {
            throw WALError.fileSystem(directory, error)
        }
    }

    /// Makes `snapshotFile` (a backup) the whole content of a new log in `directory`, which
    /// must not exist or must be empty. Nothing is put in place before every byte has been
    /// checked: the file is copied into a staging directory beside `directory`, synced,
    /// read back as opening a log would read it (each record passed to `visit`, which may
    /// throw to refuse the content), and only then is the staging directory renamed to
    /// `directory`. On failure the staging directory is removed and `directory` is as it
    /// was. Opening the log afterwards replays the snapshot and continues the sequence
    /// numbers after its last one.
    @discardableResult
    public static func restore(snapshotFile: String, into directory: String, fsync: Bool = true,
                               _ visit: (Record) throws -> Void = { _ in }) throws -> Inspection {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: directory, isDirectory: &isDirectory) {
            let contents = (try? manager.contentsOfDirectory(atPath: directory)) ?? ["?"]
            guard isDirectory.boolValue, contents.isEmpty else {
                throw WALError.restoreRefused("\(directory) exists and is not an empty directory")
            }
        }
        let nextSegment = try snapshotHeader(of: snapshotFile).first
        let staging = directory + ".restoring"
        try? manager.removeItem(atPath: staging)
        do {
            try FileSystem.createDirectory(staging)
            let name = LogFileName.snapshot(nextSegment)
            try copy(snapshotFile, to: staging + "/" + name + LogFileName.temporarySuffix, fsync: fsync)
            try FileSystem.rename(staging + "/" + name + LogFileName.temporarySuffix, to: staging + "/" + name)
            if fsync { try FileSystem.synchronizeDirectory(staging) }
            let inspection = try inspect(directory: staging, visit)
            guard inspection.segments.isEmpty, inspection.snapshot != nil else {
                throw WALError.restoreRefused("\(snapshotFile) did not read back as a lone snapshot")
            }
            try FileSystem.rename(staging, to: directory)
            if fsync { try FileSystem.synchronizeDirectory((directory as NSString).deletingLastPathComponent.nonEmpty ?? ".") }
            return inspection
        } catch {
            try? manager.removeItem(atPath: staging)
            if let error = error as? SystemCallError { throw WALError.fileSystem(staging, error) }
            throw error
        }
    }

    /// The header of a snapshot file, or why it is not one.
    private static func snapshotHeader(of path: String) throws -> FileHeader {
        let window = try FileWindow(path: path, name: path)
        defer { window.close() }
        let bytes = try window.bytes(at: 0, count: FileHeader.size)
        switch FileHeader.parse(bytes, at: 0, expecting: .snapshot) {
        case .success(let header): return header
        case .failure(let invalid): throw WALError.corrupt(path, offset: 0, invalid.reason)
        }
    }

    private static func copy(_ source: String, to destination: String, fsync: Bool) throws {
        let input = try OpenFile.open(source)
        defer { try? input.close() }
        let output = try OpenFile.open(destination, [.write, .create, .exclusive])
        defer { try? output.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var offset = 0
        while true {
            let count = try input.read(into: buffer, at: offset)
            if count == 0 { break }
            try output.writeAll(UnsafeRawBufferPointer(rebasing: buffer[..<count]), at: offset)
            offset += count
        }
        if fsync { try output.synchronize() }
    }
}

private extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
