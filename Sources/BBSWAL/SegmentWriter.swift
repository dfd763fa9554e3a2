import BBSPosix
import Dispatch

/// A point in the append stream where the log moves to a new segment: records before
/// `offset` (in the pending buffer) go to the current segment, the rest to `segment`.
struct SegmentCut: Sendable {
    let offset: Int
    let segment: UInt64
    let firstSequence: UInt64
}

/// The files the writer thread owns: the segment being appended to and the directory
/// lock. It is moved into the writer thread when the log opens and nothing else touches
/// it afterwards, so it needs no lock.
struct SegmentWriter: Sendable {
    let directory: String
    let options: WriteAheadLog.Options
    /// Held (flock) until the writer exits; closing it releases the directory.
    let lock: OpenFile
    private(set) var file: OpenFile
    private(set) var number: UInt64
    /// Where the next record goes.
    private(set) var offset: Int
    /// The highest sequence known durable; stamped into every record written (see
    /// `RecordHeader`), which is what lets recovery tell a torn tail from damage.
    private(set) var committed: UInt64
    /// Whether bytes were written since the last sync.
    private var unsynced = false

    init(directory: String, options: WriteAheadLog.Options, lock: OpenFile, file: OpenFile,
         number: UInt64, offset: Int, committed: UInt64) {
        self.directory = directory
        self.options = options
        self.lock = lock
        self.file = file
        self.number = number
        self.offset = offset
        self.committed = committed
    }

    private var path: String { directory + "/" + LogFileName.segment(number) }

    /// Time one batch spent writing and syncing (statistics).
    struct BatchTiming {
        var writeNanoseconds: UInt64 = 0
        var syncNanoseconds: UInt64 = 0
    }

    /// Writes one batch taken from the pending buffer, moving to new segments at `cuts`,
    /// and makes it durable: one write and one fdatasync per segment touched.
    @discardableResult
    mutating func write(_ batch: inout [UInt8], cuts: [SegmentCut], lastSequence: UInt64) throws(WALError) -> BatchTiming {
        var timing = BatchTiming()
        var start = 0
        for cut in cuts {
            try write(&batch, start..<cut.offset, timing: &timing)
            try synchronize(timing: &timing)
            committed = cut.firstSequence - 1
            try moveTo(segment: cut.segment, firstSequence: cut.firstSequence)
            start = cut.offset
        }
        try write(&batch, start..<batch.count, timing: &timing)
        try synchronize(timing: &timing)
        committed = lastSequence
        return timing
    }

    private mutating func write(_ batch: inout [UInt8], _ range: Range<Int>, timing: inout BatchTiming) throws(WALError) {
        let started = DispatchTime.now().uptimeNanoseconds
        defer { timing.writeNanoseconds += DispatchTime.now().uptimeNanoseconds - started }
        try write(&batch, range)
    }

    private mutating func synchronize(timing: inout BatchTiming) throws(WALError) {
        guard options.fsync && unsynced else { return try synchronize() }
        let started = DispatchTime.now().uptimeNanoseconds
        defer { timing.syncNanoseconds += DispatchTime.now().uptimeNanoseconds - started }
        try synchronize()
    }

    /// Seals the records in `range` against `committed` and writes them with one pwrite.
    private mutating func write(_ batch: inout [UInt8], _ range: Range<Int>) throws(WALError) {
        guard !range.isEmpty else { return }
        let committed = self.committed
        let result: Swift.Result<Void, WALError> = batch.withUnsafeMutableBytes { bytes in
            var position = range.lowerBound
            while position < range.upperBound {
                position += RecordHeader.seal(bytes, at: position, committed: committed)
            }
            do {
                try options.faultInjection?(.write)
                try file.writeAll(UnsafeRawBufferPointer(rebasing: bytes[range]), at: offset)
                return .success(())
            } catch {
                return .failure(.write(path, error))
            }
        }
        try result.get()
        offset += range.count
        unsynced = true
    }

    private mutating func synchronize() throws(WALError) {
        guard unsynced else { return }
        if options.fsync {
            do {
                try options.faultInjection?(.synchronize)
                try file.synchronizeData()
            } catch {
                throw .write(path, error)
            }
        }
        unsynced = false
    }

    /// Closes the current segment (already synced) and continues in a new one.
    private mutating func moveTo(segment: UInt64, firstSequence: UInt64) throws(WALError) {
        try trimPreallocation()
        try? file.close() // Everything in it is synced; a close error cannot lose data.
        file = try Self.createSegment(directory: directory, number: segment, firstSequence: firstSequence,
                                      options: options)
        number = segment
        offset = FileHeader.size
    }

    /// Cuts the zero-filled preallocated space after the last record, so that only the
    /// last segment can end in zeros.
    private func trimPreallocation() throws(WALError) {
        guard options.preallocate else { return }
        do {
            try file.truncate(to: offset)
            if options.fsync { try file.synchronize() }
        } catch {
            throw .write(path, error)
        }
    }

    /// Creates segment `number`, beginning with its header, durably: written under a
    /// temporary name, preallocated, synced, renamed into place, directory synced. Returns
    /// it open for writing.
    static func createSegment(directory: String, number: UInt64, firstSequence: UInt64,
                              options: WriteAheadLog.Options) throws(WALError) -> OpenFile {
        let path = directory + "/" + LogFileName.segment(number)
        let temporary = path + LogFileName.temporarySuffix
        let file: OpenFile
        do {
            try options.faultInjection?(.createSegment)
            file = try OpenFile.open(temporary, [.write, .create, .truncate])
        } catch {
            throw .write(temporary, error)
        }
        do {
            try FileHeader(.segment, number, firstSequence).bytes.withUnsafeBytes { bytes in
                try file.writeAll(bytes, at: 0)
            }
            if options.preallocate { try file.allocate(length: options.segmentBytes) }
            if options.fsync { try file.synchronize() }
            try FileSystem.rename(temporary, to: path)
            if options.fsync { try FileSystem.synchronizeDirectory(directory) }
            return file
        } catch {
            try? file.close()
            try? FileSystem.removeFile(temporary)
            throw .write(path, error)
        }
    }

    /// After a clean close: trims the preallocated tail and closes the files. Failures
    /// here cannot lose records (they were synced) and are returned for the log.
    func finish() -> WALError? {
        defer {
            try? file.close()
            try? lock.close()
        }
        do {
            try trimPreallocation()
            return nil
        } catch {
            return error
        }
    }

    /// After a failure: closes the files without touching them further.
    func abandon() {
        try? file.close()
        try? lock.close()
    }
}
