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

    /// Bytes written between two `fdatasync`s of the snapshot file. Why: a snapshot of
    /// 1,000,000 tasks is 340 MB; synced only at the end, all of it is written back at
    /// once, and the log's own `fdatasync`s (which every acknowledged write waits for)
    /// queue behind that writeback (a desire took 128 ms at the end of such a compaction).
    /// Syncing as it goes keeps each wait to a few megabytes' worth.
    static let syncEveryBytes = 4 << 20

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

        var encoder = SnapshotFileEncoder(nextSegment: point.nextSegment, lastSequence: point.lastSequence,
                                          maximumRecordBytes: options.maximumRecordBytes,
                                          reservingCapacity: Self.chunkBytes + (64 << 10))
        var written = 0
        var synced = 0
        func flush() throws(WALError) {
            let chunk = encoder.take()
            do {
                try options.faultInjection?(.writeSnapshot)
                try chunk.withUnsafeBytes { bytes in try file.writeAll(bytes, at: written) }
                written += chunk.count
                if options.fsync && written - synced >= Self.syncEveryBytes {
                    try file.synchronizeData()
                    synced = written
                }
            } catch {
                throw WALError.snapshot(temporary, error)
            }
        }

        try produce { type, payload in
            try encoder.append(type: type, payload: payload)
            if encoder.bytes.count >= Self.chunkBytes { try flush() }
        }
        encoder.finish()
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
        return (Int(encoder.records), written)
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
