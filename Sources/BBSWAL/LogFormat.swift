// The bytes on disk (docs/WAL.md is the full description, with the reasons).
//
// Record (8-byte aligned; all integers little-endian):
//
//     0   u32  CRC-32C of bytes [4, 32 + length)
//     4   u32  length: payload bytes
//     8   u64  sequence (1, 2, 3, ... for the life of the log; 1...n inside a snapshot)
//     16  u64  committed: the highest sequence already durable when this record was written
//     24  u8   type (opaque to the log)
//     25  7 bytes zero (reserved)
//     32  payload, then zero padding to a multiple of 8
//
// File header / snapshot footer (32 bytes):
//
//     0   8 bytes magic ("BBSWSEG1", "BBSWSNP1", "BBSWEND1")
//     8   u64 first field, 16 u64 second field (per magic, see `FileHeader`)
//     24  u32 zero (reserved)
//     28  u32 CRC-32C of bytes [0, 28)

/// Names of the files in a log directory.
enum LogFileName {
    /// Held with `flock` while a log is open on the directory.
    static let lock = "LOCK"
    /// Suffix of files being written; they are renamed into place once complete and synced.
    static let temporarySuffix = ".tmp"

    /// `segment-<16 hex digits>.wal`.
    static func segment(_ number: UInt64) -> String { "segment-" + hex(number) + ".wal" }

    /// `snapshot-<16 hex digits>.snap`, numbered by the first segment it does not cover.
    static func snapshot(_ nextSegment: UInt64) -> String { "snapshot-" + hex(nextSegment) + ".snap" }

    enum Kind: Equatable {
        case segment(UInt64)
        case snapshot(UInt64)
        case temporary
        case other
    }

    static func kind(of name: String) -> Kind {
        if name.hasSuffix(temporarySuffix) && (name.hasPrefix("segment-") || name.hasPrefix("snapshot-")) {
            return .temporary
        }
        if let number = number(in: name, prefix: "segment-", suffix: ".wal") { return .segment(number) }
        if let number = number(in: name, prefix: "snapshot-", suffix: ".snap") { return .snapshot(number) }
        return .other
    }

    private static func number(in name: String, prefix: String, suffix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix),
              name.utf8.count == prefix.utf8.count + 16 + suffix.utf8.count else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else { return nil }
        return UInt64(digits, radix: 16)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// The framing of one record.
struct RecordHeader {
    static let size = 32
    static let alignment = 8

    let checksum: UInt32
    let length: Int
    let sequence: UInt64
    let committed: UInt64
    let type: UInt8

    /// Reads the header at `offset`; the caller has checked that 32 bytes are there.
    init(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        checksum = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
        sequence = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
        committed = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
        type = bytes[offset + 24]
    }

    /// Bytes the record takes on disk, padding included.
    var recordSize: Int { Self.recordSize(payload: length) }

    static func recordSize(payload count: Int) -> Int {
        (size + count + alignment - 1) & ~(alignment - 1)
    }

    /// Whether the checksum matches bytes [offset + 4, offset + 32 + length); the caller
    /// has checked they are there.
    func checksumMatches(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        let covered = UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + Self.size + length)])
        return CRC32C.checksum(covered) == checksum
    }

    /// Appends a record whose checksum and committed fields are still zero: the writer
    /// thread fills them in (`seal`) just before writing, so the append path under the
    /// caller's lock is only this copy.
    static func appendUnsealed(to buffer: inout [UInt8], sequence: UInt64, type: UInt8, payload: [UInt8]) {
        let header: (UInt64, UInt64, UInt64, UInt64) = (
            (UInt64(UInt32(payload.count)) << 32).littleEndian,
            sequence.littleEndian,
            0,
            UInt64(type).littleEndian
        )
        withUnsafeBytes(of: header) { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: payload)
        let padding = recordSize(payload: payload.count) - size - payload.count
        if padding > 0 { buffer.append(contentsOf: repeatElement(0, count: padding)) }
    }

    /// Stamps `committed` and the checksum into the unsealed record at `offset`; returns
    /// the record's size.
    static func seal(_ bytes: UnsafeMutableRawBufferPointer, at offset: Int, committed: UInt64) -> Int {
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
        bytes.storeBytes(of: committed.littleEndian, toByteOffset: offset + 16, as: UInt64.self)
        let covered = UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + size + length)])
        bytes.storeBytes(of: CRC32C.checksum(covered).littleEndian, toByteOffset: offset, as: UInt32.self)
        return recordSize(payload: length)
    }
}

/// The 32-byte header of a segment or snapshot file, and the snapshot's footer.
struct FileHeader: Equatable {
    static let size = 32

    enum Magic: UInt64 {
        /// Segment header: fields = (segment number, sequence of its first record).
        case segment = 0x3147_4553_5753_4242 // "BBSWSEG1"
        /// Snapshot header: fields = (first segment not covered, last sequence covered).
        case snapshot = 0x3150_4E53_5753_4242 // "BBSWSNP1"
        /// Snapshot footer: fields = (record count, last sequence covered).
        case snapshotEnd = 0x3144_4E45_5753_4242 // "BBSWEND1"
    }

    let magic: Magic
    let first: UInt64
    let second: UInt64

    var bytes: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: magic.rawValue.littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: first.littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: second.littleEndian, toByteOffset: 16, as: UInt64.self)
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<28]))
            raw.storeBytes(of: checksum.littleEndian, toByteOffset: 28, as: UInt32.self)
        }
        return bytes
    }

    init(_ magic: Magic, _ first: UInt64, _ second: UInt64) {
        self.magic = magic
        self.first = first
        self.second = second
    }

    /// Parses the 32 bytes at `offset`, expecting `magic`; the reason it is not valid otherwise.
    static func parse(_ bytes: UnsafeRawBufferPointer, at offset: Int, expecting magic: Magic) -> Result<FileHeader, Invalid> {
        guard bytes.count - offset >= size else { return .failure(Invalid("file too short for its header")) }
        let found = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        guard found == magic.rawValue else { return .failure(Invalid("not a \(magic) header (bad magic)")) }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 28, as: UInt32.self))
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 28)])) == stored else {
            return .failure(Invalid("\(magic) header checksum mismatch"))
        }
        return .success(FileHeader(
            magic,
            UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)),
            UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))))
    }

    struct Invalid: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}

extension UnsafeRawBufferPointer {
    /// Whether every byte is zero (8 at a time).
    var isAllZero: Bool {
        var offset = 0
        while count - offset >= 8 {
            if loadUnaligned(fromByteOffset: offset, as: UInt64.self) != 0 { return false }
            offset += 8
        }
        while offset < count {
            if self[offset] != 0 { return false }
            offset += 1
        }
        return true
    }
}
