import BBSLog
import BBSPosix

/// Writes one snapshot file and, once it is durably in place, removes what it replaces.
///
/// The file is complete or absent: it is written as `<name>.tmp`, synced, renamed, and the
/// directory synced; a crash before the rename leaves a temporary file that the next open
/// deletes, with the previous snapshot and segments untouched.
struct SnapshotWriter {
    let directory: String
    let options: WriteAheadLog.Options
    let point: JournalSnapshotPoint

    var name: String { LogFileName.snapshot(point.nextSegment) }

    /// Bytes buffered before each write.
    static let chunkBytes = 1 << 20

    /// Writes the records `produce` emits. I/O failures throw `WALError.snapshotFailed`;
    /// errors `produce` throws are rethrown as they are. Either way the temporary file is
    /// removed.
    func write(_ produce: (_ emit: (UInt8, [UInt8]) throws -> Void) throws -> Void) throws -> (records: Int, bytes: Int) {
        let path = directory + "/" + name
        let temporary = path + LogFileName.temporarySuffix
        let file: OpenFile
        do {
            file = try OpenFile.open(temporary, [.write, .create, .truncate])
        } catch {
            throw WALError.snapshot(temporary, error)
        }
        var open = true
        var renamed = false
        defer {
            if open { try? file.close() }
            if !renamed { try? FileSystem.removeFile(temporary) }
        }

        var buffer = FileHeader(.snapshot, point.nextSegment, point.lastSequence).bytes
        buffer.reserveCapacity(Self.chunkBytes + (64 << 10))
        var written = 0
        var count: UInt64 = 0
        func flush() throws(WALError) {
            do {
                try options.faultInjection?(.writeSnapshot)
                try buffer.withUnsafeBytes { bytes in try file.writeAll(bytes, at: written) }
            } catch {
                throw WALError.snapshot(temporary, error)
            }
            written += buffer.count
            buffer.removeAll(keepingCapacity: buffer.capacity <= 4 * Self.chunkBytes)
        }

        try produce { type, payload in
            guard payload.count <= options.maximumRecordBytes else {
                throw WALError.tooLarge(payload.count, limit: options.maximumRecordBytes)
            }
            count += 1
            let start = buffer.count
            RecordHeader.appendUnsealed(to: &buffer, sequence: count, type: type, payload: payload)
            buffer.withUnsafeMutableBytes { _ = RecordHeader.seal($0, at: start, committed: 0) }
            if buffer.count >= Self.chunkBytes { try flush() }
        }
        buffer += FileHeader(.snapshotEnd, count, point.lastSequence).bytes
        try flush()

        do {
            if options.fsync {
                try options.faultInjection?(.synchronizeSnapshot)
                try file.synchronize()
            }
            open = false
            try file.close()
            try FileSystem.rename(temporary, to: path)
            renamed = true
            if options.fsync { try FileSystem.synchronizeDirectory(directory) }
        } catch {
            throw WALError.snapshot(renamed ? path : temporary, error)
        }
        return (Int(count), written)
    }

    /// Removes the segments and older snapshots the new snapshot covers; returns how many.
    /// Failures are logged, not thrown: whatever is left is removed on the next open.
    func removeCovered(logger: Logger) -> Int {
        var removed = 0
        do {
            for name in try FileSystem.contentsOfDirectory(directory) {
                switch LogFileName.kind(of: name) {
                case .segment(let number) where number < point.nextSegment,
                     .snapshot(let number) where number < point.nextSegment:
                    do {
                        try FileSystem.removeFile(directory + "/" + name)
                        removed += 1
                    } catch {
                        logger.error("remove-covered-file-failed", ["file": name, "error": "\(error)"])
                    }
                case .segment, .snapshot, .temporary, .other:
                    break
                }
            }
            if removed > 0 && options.fsync { try FileSystem.synchronizeDirectory(directory) }
        } catch {
            logger.error("remove-covered-files-failed", ["directory": directory, "error": "\(error)"])
        }
        return removed
    }
}
