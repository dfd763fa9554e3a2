import BBSLog
import BBSPosix

/// Opening a log: lock the directory, replay it (`LogScanner`), repair what an interrupted
/// run left behind, and open the segment to append to.
struct Recovery {
    var lastSequence: UInt64
    /// The segment appends continue in, and what it holds (header included).
    var segment: UInt64
    var segmentBytes: Int
    var segmentRecords: Int
    /// Record bytes in the replayed segments (not the snapshot).
    var recordBytes: Int
    var snapshotSegment: UInt64
    var writer: SegmentWriter

    static func open(directory: String, options: WriteAheadLog.Options, logger: Logger,
                     replay: (WriteAheadLog.ReplayedRecord) throws -> Void) throws -> Recovery {
        let lock: OpenFile
        do {
            try FileSystem.createDirectory(directory)
            lock = try OpenFile.open(directory + "/" + LogFileName.lock, [.write, .create])
        } catch {
            throw WALError.fileSystem(directory, error)
        }
        do {
            guard try lock.tryLockExclusive() else { throw WALError.inUse(directory) }
            return try open(directory: directory, options: options, logger: logger, lock: lock, replay: replay)
        } catch {
            try? lock.close()
            if let error = error as? SystemCallError { throw WALError.fileSystem(directory, error) }
            throw error
        }
    }

    private static func open(directory: String, options: WriteAheadLog.Options, logger: Logger, lock: OpenFile,
                             replay: (WriteAheadLog.ReplayedRecord) throws -> Void) throws -> Recovery {
        let scan = try LogScanner(directory: directory).scan { record in
            do {
                try replay(WriteAheadLog.ReplayedRecord(type: record.type, payload: record.payload,
                                                        snapshotRecords: record.snapshotRecords))
            } catch {
                throw WALError.replay(record.file, offset: record.offset, sequence: record.sequence, error)
            }
        }

        var directoryChanged = false
        for name in scan.temporary {
            try FileSystem.removeFile(directory + "/" + name)
            logger.info("removed-temporary-file", ["file": name])
            directoryChanged = true
        }
        for name in scan.covered {
            try FileSystem.removeFile(directory + "/" + name)
            logger.info("removed-covered-file", ["file": name])
            directoryChanged = true
        }
        if directoryChanged && options.fsync { try FileSystem.synchronizeDirectory(directory) }

        let snapshotSegment = scan.snapshot?.nextSegment ?? 1
        let file: OpenFile, segment: UInt64, segmentBytes: Int, segmentRecords: Int
        if let last = scan.segments.last {
            file = try openForAppending(last, directory: directory, options: options, logger: logger)
            segment = last.number
            segmentBytes = max(last.validEnd, FileHeader.size)
            segmentRecords = last.records
        } else {
            file = try SegmentWriter.createSegment(directory: directory, number: snapshotSegment,
                                                   firstSequence: scan.lastSequence + 1, options: options)
            segment = snapshotSegment
            segmentBytes = FileHeader.size
            segmentRecords = 0
        }

        logger.info("opened", [
            "directory": directory,
            "last_sequence": String(scan.lastSequence),
            "snapshot_records": String(scan.snapshot?.records ?? 0),
            "segments": String(scan.segments.count),
            "segment_records": String(scan.segments.reduce(0) { $0 + $1.records }),
        ])
        let writer = SegmentWriter(directory: directory, options: options, lock: lock, file: file,
                                   number: segment, offset: segmentBytes, committed: scan.lastSequence)
        return Recovery(lastSequence: scan.lastSequence, segment: segment, segmentBytes: segmentBytes,
                        segmentRecords: segmentRecords,
                        recordBytes: scan.segments.reduce(0) { $0 + $1.recordBytes },
                        snapshotSegment: snapshotSegment, writer: writer)
    }

    /// Opens the last segment to continue it: cuts a torn tail off (or rewrites a header
    /// whose creation was cut short), preallocates again, and syncs, so the records
    /// replayed from it are durable before new records claim they are.
    private static func openForAppending(_ last: LogScanner.SegmentScan, directory: String,
                                         options: WriteAheadLog.Options, logger: Logger) throws -> OpenFile {
        let file = try OpenFile.open(directory + "/" + last.name, .write)
        do {
            if let torn = last.tornTail {
                logger.error("truncated-torn-tail", [
                    "file": torn.file,
                    "offset": String(torn.offset),
                    "reason": torn.reason,
                    "discarded_bytes": String(torn.discardedBytes),
                    "discarded_records": String(torn.discardedRecords),
                ])
            }
            if last.validEnd < FileHeader.size {
                try file.truncate(to: 0)
                try FileHeader(.segment, last.number, last.firstSequence).bytes.withUnsafeBytes { bytes in
                    try file.writeAll(bytes, at: 0)
                }
            } else if last.tornTail != nil {
                try file.truncate(to: last.validEnd)
            }
            if options.preallocate { try file.allocate(length: options.segmentBytes) }
            if options.fsync { try file.synchronize() }
            return file
        } catch {
            try? file.close()
            throw error
        }
    }
}
