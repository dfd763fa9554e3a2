import Testing
@testable import BBSWAL

@Suite struct LogFormatTests {
    /// RFC 3720 (iSCSI) appendix B.4 test vectors and the common check value.
    @Test func crc32cMatchesPublishedValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
    }

    /// The 8-bytes-at-a-time path and the byte tail agree for every length and split.
    @Test func crc32cContinuesAcrossSplits() {
        let bytes = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let whole = CRC32C.checksum(bytes)
        for split in 0...bytes.count {
            let head = CRC32C.checksum(Array(bytes[..<split]))
            let joined = bytes[split...].withUnsafeBytes { CRC32C.checksum($0, continuing: head) }
            #expect(joined == whole, "split at \(split)")
        }
    }

    @Test func fileNamesRoundTrip() {
        #expect(LogFileName.segment(1) == "segment-0000000000000001.wal")
        #expect(LogFileName.snapshot(0xAB) == "snapshot-00000000000000ab.snap")
        #expect(LogFileName.kind(of: LogFileName.segment(0x1234_5678_9ABC)) == .segment(0x1234_5678_9ABC))
        #expect(LogFileName.kind(of: LogFileName.snapshot(7)) == .snapshot(7))
        #expect(LogFileName.kind(of: LogFileName.segment(7) + ".tmp") == .temporary)
        #expect(LogFileName.kind(of: "segment-1.wal") == .other)
        #expect(LogFileName.kind(of: "segment-000000000000000G.wal") == .other)
        #expect(LogFileName.kind(of: "LOCK") == .other)
    }

    @Test func fileHeadersRejectDamage() {
        var bytes = FileHeader(.segment, 3, 42).bytes
        #expect(bytes.count == 32)
        #expect(Array(bytes[0..<8]) == Array("BBSWSEG1".utf8))
        let parsed = bytes.withUnsafeBytes { FileHeader.parse($0, at: 0, expecting: .segment) }
        #expect((try? parsed.get()) == FileHeader(.segment, 3, 42))
        let wrongKind = bytes.withUnsafeBytes { FileHeader.parse($0, at: 0, expecting: .snapshot) }
        #expect((try? wrongKind.get()) == nil)
        bytes[12] ^= 1
        let damaged = bytes.withUnsafeBytes { FileHeader.parse($0, at: 0, expecting: .segment) }
        #expect((try? damaged.get()) == nil)
    }
}
