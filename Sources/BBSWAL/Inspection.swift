extension WriteAheadLog {
    /// A record as `inspect` reports it.
    public struct Record: Sendable, Hashable {
        /// File name (in the log directory) and offset of the record's header.
        public let file: String
        public let offset: Int
        /// Whether it comes from the snapshot (then `sequence` is its position, 1...n).
        public let isSnapshot: Bool
        public let sequence: UInt64
        public let type: UInt8
        public let payload: [UInt8]
    }

    /// What `inspect` found in a log directory.
    public struct Inspection: Sendable, Hashable {
        public struct Snapshot: Sendable, Hashable {
            public let file: String
            /// The first segment it does not cover.
            public let nextSegment: UInt64
            /// The last log sequence it covers.
            public let lastSequence: UInt64
            public let records: Int
        }

        public struct Segment: Sendable, Hashable {
            public let file: String
            public let number: UInt64
            public let firstSequence: UInt64
            public let records: Int
            /// Header and whole records; any bytes after are unused space or a torn tail.
            public let validBytes: Int
            public let fileBytes: Int
        }

        public let snapshot: Snapshot?
        public let segments: [Segment]
        /// The damaged end of the last segment that opening the log would cut off.
        public let tornTail: TornTail?
        /// The sequence of the last valid record (0 for an empty log).
        public let lastSequence: UInt64
        /// Temporary files and files covered by the snapshot, which opening would remove.
        public let leftoverFiles: [String]
    }

    /// Reads the log in `directory` without changing it, calling `visit` for every record in
    /// replay order (snapshot, then segments), and reports its layout and any torn tail.
    /// Throws `WALError` where opening would (damage that is not a torn tail, missing data).
    /// Safe on a live log directory (no lock is taken), though records being written at
    /// that moment may show up as a torn tail.
    public static func inspect(directory: String, _ visit: (Record) throws -> Void = { _ in }) throws -> Inspection {
        let scan = try LogScanner(directory: directory).scan { record in
            try visit(Record(file: record.file, offset: record.offset, isSnapshot: record.isSnapshot,
                             sequence: record.sequence, type: record.type, payload: Array(record.payload)))
        }
        return Inspection(
            snapshot: scan.snapshot.map {
                Inspection.Snapshot(file: $0.name, nextSegment: $0.nextSegment, lastSequence: $0.lastSequence,
                                    records: $0.records)
            },
            segments: scan.segments.map {
                Inspection.Segment(file: $0.name, number: $0.number, firstSequence: $0.firstSequence,
                                   records: $0.records, validBytes: $0.validEnd, fileBytes: $0.fileSize)
            },
            tornTail: scan.segments.last?.tornTail,
            lastSequence: scan.lastSequence,
            leftoverFiles: (scan.temporary + scan.covered).sorted())
    }
}
