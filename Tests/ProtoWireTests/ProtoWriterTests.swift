import ProtoWire
import Testing

@Suite("ProtoWriter")
struct ProtoWriterTests {
    private func written(_ write: (inout ProtoWriter) -> Void) -> [UInt8] {
        var writer = ProtoWriter()
        write(&writer)
        var counter = ProtoWriter.sizeCounter()
        write(&counter)
        #expect(counter.count == writer.bytes.count, "the size counter must agree with the bytes")
        #expect(counter.bytes.isEmpty)
        return writer.bytes
    }

    static let varintCases: [(UInt64, [UInt8])] = [
        (0, [0x00]),
        (1, [0x01]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (300, [0xAC, 0x02]),
        (16383, [0xFF, 0x7F]),
        (16384, [0x80, 0x80, 0x01]),
        (UInt64(UInt32.max), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        (UInt64(1) << 63, [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test("varint edge cases", arguments: varintCases)
    func varint(value: UInt64, expected: [UInt8]) throws {
        #expect(written { $0.writeVarint(value) } == expected)
        #expect(ProtoWriter.varintSize(value) == expected.count)
        var reader = ProtoReader(expected)
        #expect(try reader.readVarint() == value)
        #expect(reader.isAtEnd)
    }

    @Test func negativeInt32IsSignExtendedToTenBytes() {
        let minusOne: [UInt8] = [0x28, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        #expect(written { $0.writeInt32(5, -1) } == minusOne)
        #expect(written { $0.writeEnum(5, -1) } == minusOne)
        #expect(written { $0.writeInt64(5, -1) } == minusOne)
        #expect(written { $0.writeInt32(1, Int32.min) } == [0x08, 0x80, 0x80, 0x80, 0x80, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(written { $0.writeInt32(1, Int32.max) } == [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x07])
    }

    @Test func defaultScalarsAreOmitted() {
        let bytes = written { writer in
            writer.writeString(1, "")
            writer.writeBytes(2, [])
            writer.writeInt32(3, 0)
            writer.writeInt64(4, 0)
            writer.writeUInt32(5, 0)
            writer.writeUInt64(6, 0)
            writer.writeBool(7, false)
            writer.writeEnum(8, 0)
            writer.writeRepeatedString(9, [])
            writer.writeUnpackedUInt32(10, [])
            writer.writeRepeatedMessage(11, [Sample]())
        }
        #expect(bytes.isEmpty)
    }

    @Test func nonDefaultScalars() {
        let bytes = written { writer in
            writer.writeString(1, "hé")
            writer.writeBytes(2, [0x00])
            writer.writeUInt32(3, 7)
            writer.writeUInt64(4, 300)
            writer.writeBool(5, true)
        }
        #expect(bytes == [0x0A, 0x03, 0x68, 0xC3, 0xA9, 0x12, 0x01, 0x00, 0x18, 0x07, 0x20, 0xAC, 0x02, 0x28, 0x01])
    }

    @Test func explicitPresenceWritesDefaults() {
        #expect(written { $0.writeExplicitString(1, "") } == [0x0A, 0x00])
        #expect(written { $0.writeExplicitUInt64(2, 0) } == [0x10, 0x00])
        #expect(written { $0.writeLengthDelimited(3, []) } == [0x1A, 0x00])
        #expect(written { $0.writeMessage(4, Sample()) } == [0x22, 0x00])
        #expect(written { $0.writeRepeatedString(5, ["", "a"]) } == [0x2A, 0x00, 0x2A, 0x01, 0x61])
        #expect(written { $0.writeUnpackedUInt32(6, [0, 53, 443]) } == [0x30, 0x00, 0x30, 0x35, 0x30, 0xBB, 0x03])
    }

    static let keyCases: [(Int, WireType, [UInt8])] = [
        (1, .varint, [0x08]),
        (15, .lengthDelimited, [0x7A]),
        (16, .lengthDelimited, [0x82, 0x01]),
        (21, .varint, [0xA8, 0x01]),
        (28, .lengthDelimited, [0xE2, 0x01]),
        (2047, .varint, [0xF8, 0x7F]),
        (2048, .varint, [0x80, 0x80, 0x01]),
        (ProtoFieldNumber.maximum, .fixed32, [0xFD, 0xFF, 0xFF, 0xFF, 0x0F]),
    ]

    @Test("keys take one byte up to field 15, two up to 2047", arguments: keyCases)
    func keys(field: Int, wireType: WireType, expected: [UInt8]) {
        #expect(written { $0.writeKey(field, wireType) } == expected)
        #expect(ProtoWriter.keySize(field) == expected.count)
    }

    @Test func nestedMessagesAreLengthPrefixedInPlace() {
        var inner = Sample()
        inner.text = String(repeating: "x", count: 200)  // a two-byte length prefix
        var outer = Sample()
        outer.child = inner
        outer.number = 1
        let bytes = written { $0.writeMessage(7, outer) }
        // inner = 12 c8 01 + 200 bytes = 203; outer = 08 01 + 1a cb 01 + 203 = 208
        #expect(Array(bytes.prefix(9)) == [0x3A, 0xD0, 0x01, 0x08, 0x01, 0x1A, 0xCB, 0x01, 0x12])
        #expect(bytes.count == 3 + 208)
        #expect(outer.encodedSize() == 208)
        #expect(outer.protobufBytes() == Array(bytes.dropFirst(3)))
    }

    @Test func nestedFieldsAreCountedThenWrittenInPlace() throws {
        let stored: [UInt8] = Array(repeating: 0x61, count: 130)
        let bytes = written { writer in
            writer.writeNested(2) { nested in
                nested.writeLengthDelimited(1, stored)
                nested.writeString(2, "guid")
                nested.writeInt64(4, 5)
            }
            writer.writeNested(2) { _ in }
        }
        // 0a 82 01 + 130 bytes, 12 04 "guid", 20 05 = 141 bytes
        #expect(Array(bytes.prefix(3)) == [0x12, 0x8D, 0x01])
        #expect(bytes.count == 3 + 141 + 2)
        #expect(Array(bytes.suffix(2)) == [0x12, 0x00])
        var reader = ProtoReader(bytes)
        #expect(try reader.nextField()! == (2, .lengthDelimited))
        let inner = try reader.readLengthDelimited()
        #expect(inner.prefix(3) == [0x0A, 0x82, 0x01])
        #expect(inner.suffix(8) == [0x12, 0x04, 0x67, 0x75, 0x69, 0x64, 0x20, 0x05])
    }

    @Test func rawBytesAreAppendedUnchanged() {
        #expect(written { $0.writeRawBytes([0xFF, 0x00, 0x07]) } == [0xFF, 0x00, 0x07])
        #expect(written { $0.writeRawBytes([0x01, 0xFF, 0x00, 0x07][1...]) } == [0xFF, 0x00, 0x07])
    }

    @Test func writerAppendsAfterExistingContent() {
        var writer = ProtoWriter(capacity: 4)
        writer.writeBool(1, true)
        writer.writeLengthDelimited(2, [9, 9, 9, 9, 9, 9])
        #expect(writer.bytes == [0x08, 0x01, 0x12, 0x06, 9, 9, 9, 9, 9, 9])
        #expect(writer.count == 10)
    }
}
