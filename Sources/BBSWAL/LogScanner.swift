import BBSPosix

/// Reads a log directory, checks every byte, hands each record to a visitor in log order
/// (snapshot first, then the segments), and says what recovery must repair. It changes
/// nothing on disk: `WriteAheadLog.init` applies the result, `WriteAheadLog.inspect`
/// only reports it.
///
/// Rules (docs/WAL.md, "Recovery"):
/// * The newest snapshot is the base; older snapshots and the segments it covers are
///   leftovers of an interrupted compaction. Temporary files are leftovers of an
///   interrupted write.
/// * The segments after the base must be numbered consecutively, each header must carry
///   the sequence that follows the previous segment's last record, and records must be
///   numbered consecutively.
/// * Zero bytes from a record boundary to the end of a file are unused (preallocated)
///   space: a clean end.
/// * Damage in the last segment is a torn tail (cut off with a warning) unless a valid
///   record after it says, in its `committed` field, that the damaged record had already
///   been made durable; then, like damage anywhere else, it is fatal.
struct LogScanner {
    let directory: String

    /// One record as read, its payload borrowed from the read buffer for the duration of
    /// the visit.
    struct Visit {
        let file: String
        let offset: Int
        let isSnapshot: Bool
        let sequence: UInt64
        let type: UInt8
        let payload: UnsafeRawBufferPointer
        /// Records in the snapshot being read (its footer's count); 0 in segments.
        var snapshotRecords = 0
    }

    struct Result {
        var snapshot: SnapshotScan?
        var segments: [SegmentScan] = []
        /// Older snapshots and covered segments (names).
        var covered: [String] = []
        /// Names ending in `.tmp`.
        var temporary: [String] = []
        /// The sequence of the last valid record (0 for an empty log).
        var lastSequence: UInt64 = 0
    }

    struct SnapshotScan {
        let name: String
        let nextSegment: UInt64
        let lastSequence: UInt64
        let records: Int
    }

    struct SegmentScan {
        let number: UInt64
        let name: String
        let firstSequence: UInt64
        var records = 0
        /// Offset just past the last whole record (0: the header itself is damaged).
        var validEnd: Int
        let fileSize: Int
        var tornTail: TornTail?
        /// Record bytes (headers and padding included).
        var recordBytes = 0

        var lastSequence: UInt64 { firstSequence + UInt64(records) - 1 }
    }

    /// Read window: big enough that reading costs few system calls.
    static let windowBytes = 4 << 20

    func scan(_ visit: (Visit) throws -> Void) throws -> Result {
        var result = Result()
        var segmentNumbers: [UInt64] = []
        var snapshotNumbers: [UInt64] = []
        let names: [String]
        do {
            names = try FileSystem.contentsOfDirectory(directory)
        } catch {
            throw WALError.fileSystem(directory, error)
        }
        for name in names {
            switch LogFileName.kind(of: name) {
            case .segment(let number): segmentNumbers.append(number)
            case .snapshot(let number): snapshotNumbers.append(number)
            case .temporary: result.temporary.append(name)
            case .other: break
            }
        }
        segmentNumbers.sort()
        snapshotNumbers.sort()

        var nextSequence: UInt64 = 1
        var firstSegment: UInt64 = 1
        if let newest = snapshotNumbers.last {
            let snapshot = try scanSnapshot(newest, visit)
            result.snapshot = snapshot
            nextSequence = snapshot.lastSequence + 1
            firstSegment = newest
            result.covered += snapshotNumbers.dropLast().map(LogFileName.snapshot)
            result.covered += segmentNumbers.filter { $0 < newest }.map(LogFileName.segment)
            segmentNumbers.removeAll { $0 < newest }
        }

        if let first = segmentNumbers.first, first != firstSegment {
            let base = result.snapshot.map { "\($0.name) ends before it" } ?? "no snapshot covers it"
            throw WALError.missing("\(LogFileName.segment(firstSegment)) is missing (\(base); first segment found: \(LogFileName.segment(first)))")
        }
        for (index, number) in segmentNumbers.enumerated() {
            let expected = firstSegment + UInt64(index)
            guard number == expected else {
                throw WALError.missing("\(LogFileName.segment(expected)) is missing (found \(LogFileName.segment(number)) after \(LogFileName.segment(expected - 1)))")
            }
            let segment = try scanSegment(number, firstSequence: nextSequence,
                                          isLast: index == segmentNumbers.count - 1, visit)
            result.segments.append(segment)
            nextSequence = segment.firstSequence + UInt64(segment.records)
        }
        result.lastSequence = nextSequence - 1
        return result
    }

    // MARK: - Snapshot

    /// Reads the snapshot numbered `nextSegment`. A snapshot is synced before it is renamed
    /// into place, so any damage in it is fatal.
    private func scanSnapshot(_ nextSegment: UInt64, _ visit: (Visit) throws -> Void) throws -> SnapshotScan {
        let name = LogFileName.snapshot(nextSegment)
        let window = try FileWindow(path: directory + "/" + name, name: name)
        defer { window.close() }
        let size = window.size
        guard size >= 2 * FileHeader.size else {
            throw WALError.corrupt(name, offset: 0, "snapshot of \(size) bytes is too short for its header and footer")
        }
        let header = try parseHeader(window, at: 0, expecting: .snapshot, name: name)
        guard header.first == nextSegment else {
            throw WALError.corrupt(name, offset: 0, "header says it ends before segment \(header.first), the name says \(nextSegment)")
        }
        let footerOffset = size - FileHeader.size
        let footer = try parseHeader(window, at: footerOffset, expecting: .snapshotEnd, name: name)
        guard footer.second == header.second else {
            throw WALError.corrupt(name, offset: footerOffset, "footer's last sequence \(footer.second) differs from the header's \(header.second)")
        }

        var offset = FileHeader.size
        var ordinal: UInt64 = 0
        while offset < footerOffset {
            guard footerOffset - offset >= RecordHeader.size else {
                throw WALError.corrupt(name, offset: offset, "incomplete record header before the footer")
            }
            let head = try window.bytes(at: offset, count: RecordHeader.size)
            let record = RecordHeader(head, at: 0)
            guard record.recordSize <= footerOffset - offset else {
                throw WALError.corrupt(name, offset: offset, "record length \(record.length) runs into the footer")
            }
            let bytes = try window.bytes(at: offset, count: RecordHeader.size + record.length)
            guard record.checksumMatches(bytes, at: 0) else {
                throw WALError.corrupt(name, offset: offset, "record checksum mismatch")
            }
            ordinal += 1
            guard record.sequence == ordinal else {
                throw WALError.corrupt(name, offset: offset, "record number \(record.sequence) where \(ordinal) was expected")
            }
            try visit(Visit(file: name, offset: offset, isSnapshot: true, sequence: ordinal, type: record.type,
                            payload: UnsafeRawBufferPointer(rebasing: bytes[RecordHeader.size...]),
                            snapshotRecords: Int(footer.first)))
            offset += record.recordSize
        }
        guard footer.first == ordinal else {
            throw WALError.corrupt(name, offset: footerOffset, "footer counts \(footer.first) records, the file holds \(ordinal)")
        }
        return SnapshotScan(name: name, nextSegment: nextSegment, lastSequence: header.second, records: Int(ordinal))
    }

    // MARK: - Segments

    private func scanSegment(_ number: UInt64, firstSequence: UInt64, isLast: Bool,
                             _ visit: (Visit) throws -> Void) throws -> SegmentScan {
        let name = LogFileName.segment(number)
        let window = try FileWindow(path: directory + "/" + name, name: name)
        defer { window.close() }
        var scan = SegmentScan(number: number, name: name, firstSequence: firstSequence,
                               validEnd: 0, fileSize: window.size)

        /// Damage at `offset`: fatal outside the last segment or when later records prove
        /// it was durable; otherwise the torn tail, cut at `offset`.
        func damaged(at offset: Int, _ reason: String) throws -> SegmentScan {
            guard isLast else { throw WALError.corrupt(name, offset: offset, reason) }
            let expected = firstSequence + UInt64(scan.records)
            scan.tornTail = try tornTail(window, name: name, at: offset, expected: expected, reason)
            scan.validEnd = offset
            return scan
        }

        let headerBytes = try window.bytes(at: 0, count: FileHeader.size)
        switch FileHeader.parse(headerBytes, at: 0, expecting: .segment) {
        case .failure(let invalid):
            // Only a segment whose creation was cut short (no fsync yet) can be like this.
            return try damaged(at: 0, invalid.reason)
        case .success(let header):
            guard header.first == number else {
                throw WALError.corrupt(name, offset: 0, "header says segment \(header.first)")
            }
            guard header.second == firstSequence else {
                let detail = header.second > firstSequence
                    ? "records \(firstSequence)...\(header.second - 1) are missing"
                    : "it overlaps the records before it"
                throw WALError.missing("\(name) starts at sequence \(header.second), but the log before it ends at \(firstSequence - 1): \(detail)")
            }
        }

        var offset = FileHeader.size
        let size = window.size
        while offset < size {
            guard size - offset >= RecordHeader.size else {
                if try window.isZero(from: offset) { break }
                return try damaged(at: offset, "incomplete record header")
            }
            let head = try window.bytes(at: offset, count: RecordHeader.size)
            if head.isAllZero {
                if try window.isZero(from: offset) { break }
                return try damaged(at: offset, "zeroed bytes followed by data")
            }
            let record = RecordHeader(head, at: 0)
            guard record.recordSize <= size - offset else {
                return try damaged(at: offset, "record length \(record.length) runs past the end of the file")
            }
            let bytes = try window.bytes(at: offset, count: RecordHeader.size + record.length)
            guard record.checksumMatches(bytes, at: 0) else {
                return try damaged(at: offset, "record checksum mismatch")
            }
            let expected = firstSequence + UInt64(scan.records)
            guard record.sequence == expected else {
                throw WALError.corrupt(name, offset: offset, "valid record with sequence \(record.sequence) where \(expected) was expected")
            }
            guard record.committed < record.sequence else {
                throw WALError.corrupt(name, offset: offset, "record \(record.sequence) claims \(record.committed) was already durable")
            }
            try visit(Visit(file: name, offset: offset, isSnapshot: false, sequence: record.sequence, type: record.type,
                            payload: UnsafeRawBufferPointer(rebasing: bytes[RecordHeader.size...])))
            scan.records += 1
            scan.recordBytes += record.recordSize
            offset += record.recordSize
        }
        scan.validEnd = offset
        return scan
    }

    /// Decides whether damage at `offset` of the last segment (where record `expected`
    /// should start) is a torn tail: it is, unless a valid record after it was written
    /// once `expected` was durable (its `committed` field is at least `expected`), which
    /// means acknowledged data was damaged.
    private func tornTail(_ window: FileWindow, name: String, at offset: Int, expected: UInt64,
                          _ reason: String) throws -> TornTail {
        let rest = try window.bytes(at: offset, count: window.size - offset)
        var dropped = 0
        var candidate = RecordHeader.alignment
        // Records after the damage have sequence numbers from `expected` on, and each
        // takes at least a header, which bounds them.
        let highest = expected + UInt64(rest.count / RecordHeader.size)
        while rest.count - candidate >= RecordHeader.size {
            let record = RecordHeader(rest, at: candidate)
            if record.sequence >= expected, record.sequence <= highest, record.committed < record.sequence,
               record.recordSize <= rest.count - candidate, record.checksumMatches(rest, at: candidate) {
                if record.committed >= expected {
                    throw WALError.corrupt(name, offset: offset, reason + "; the valid record \(record.sequence) at offset \(offset + candidate) was written after record \(expected) was durable, so this is damage to acknowledged data, not a torn write")
                }
                dropped += 1
                candidate += record.recordSize
            } else {
                candidate += RecordHeader.alignment
            }
        }
        let nonZero = rest.isAllZero ? 0 : rest.count
        return TornTail(file: name, offset: offset, reason: reason, discardedBytes: nonZero, discardedRecords: dropped)
    }

    private func parseHeader(_ window: FileWindow, at offset: Int, expecting magic: FileHeader.Magic,
                             name: String) throws -> FileHeader {
        let bytes = try window.bytes(at: offset, count: FileHeader.size)
        switch FileHeader.parse(bytes, at: 0, expecting: magic) {
        case .success(let header): return header
        case .failure(let invalid): throw WALError.corrupt(name, offset: offset, invalid.reason)
        }
    }
}

/// A damaged end of the last segment that recovery cuts off: the writes that were in
/// flight when the process or machine stopped.
public struct TornTail: Sendable, Hashable {
    /// The segment's file name.
    public let file: String
    /// Where the damage starts; the segment is truncated to this length.
    public let offset: Int
    /// What was wrong at `offset`.
    public let reason: String
    /// Bytes from `offset` to the end of the file, if any of them is not zero.
    public let discardedBytes: Int
    /// Whole, valid records after the damage that are discarded with it (written in the
    /// same unsynced batch, so never acknowledged).
    public let discardedRecords: Int
}

/// Reads a file through one reusable buffer: `bytes(at:count:)` returns a view of the
/// requested range, reading a new window (`windowBytes` or more) when it is not loaded.
/// Views stay valid until the next call.
final class FileWindow {
    let name: String
    let size: Int
    private let file: OpenFile
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var loaded = 0

    init(path: String, name: String, windowBytes: Int = LogScanner.windowBytes) throws {
        self.name = name
        do {
            file = try OpenFile.open(path)
        } catch {
            throw WALError.fileSystem(path, error)
        }
        do {
            size = try file.size()
        } catch {
            try? file.close()
            throw WALError.fileSystem(path, error)
        }
        buffer = .allocate(byteCount: min(windowBytes, max(size, 1)), alignment: 16)
    }

    deinit { buffer.deallocate() }

    func close() { try? file.close() }

    /// The bytes [offset, offset + count), clipped at the end of the file.
    func bytes(at offset: Int, count: Int) throws -> UnsafeRawBufferPointer {
        let count = min(count, size - offset)
        if offset < start || offset + count > start + loaded {
            if count > buffer.count {
                buffer.deallocate()
                buffer = .allocate(byteCount: count, alignment: 16)
            }
            do {
                loaded = try file.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(buffer.count, size - offset)]), at: offset)
            } catch {
                throw WALError.fileSystem(name, error)
            }
            start = offset
            guard loaded >= count else {
                throw WALError.corrupt(name, offset: offset + loaded, "file shrank while it was being read")
            }
        }
        return UnsafeRawBufferPointer(rebasing: buffer[(offset - start)..<(offset - start + count)])
    }

    /// Whether every byte from `offset` to the end of the file is zero.
    func isZero(from offset: Int) throws -> Bool {
        var position = offset
        while position < size {
            let chunk = try bytes(at: position, count: min(LogScanner.windowBytes, size - position))
            if !chunk.isAllZero { return false }
            position += chunk.count
        }
        return true
    }
}
