import ProtoWire
import Testing

/// Reads every field of `bytes`, skipping each value (what a decoder does with a body of
/// unknown fields).
private func skimAll(_ bytes: [UInt8]) throws -> [(Int, WireType)] {
    var reader = ProtoReader(bytes)
    var fields: [(Int, WireType)] = []
    while let (field, wireType) = try reader.nextField() {
        fields.append((field, wireType))
        try reader.skipField(wireType)
    }
    return fields
}

private func expectFailure(_ error: ProtoDecodingError, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(throws: error, sourceLocation: sourceLocation) { _ = try skimAll(bytes) }
    #expect(throws: error, sourceLocation: sourceLocation) { _ = try Sample(protobuf: bytes) }
}

@Suite("ProtoReader")
struct ProtoReaderTests {
    // MARK: Malformed input throws, never traps

    @Test func varintLongerThanTenBytes() {
        expectFailure(.malformedVarint, Raw.key(99, 0) + [UInt8](repeating: 0xFF, count: 10) + [0x01])
        expectFailure(.malformedVarint, [UInt8](repeating: 0x80, count: 11) + [0x00])
        var reader = ProtoReader([UInt8](repeating: 0xFF, count: 12))
        #expect(throws: ProtoDecodingError.malformedVarint) { try reader.readVarint() }
    }

    @Test func tenByteVarintIsAccepted() throws {
        var reader = ProtoReader([UInt8](repeating: 0xFF, count: 9) + [0x01])
        #expect(try reader.readVarint() == UInt64.max)
        // As in the reference, bits past the 64th in the tenth byte are dropped, not rejected.
        var overflowing = ProtoReader([UInt8](repeating: 0xFF, count: 9) + [0x7F])
        #expect(try overflowing.readVarint() == UInt64.max)
    }

    @Test func truncatedVarints() {
        expectFailure(.truncated, [0x28, 0x80, 0x80])
        expectFailure(.truncated, [0x80])  // a key cut short
        expectFailure(.truncated, [0x28])  // a key without its value
    }

    @Test func lengthPastTheEnd() {
        expectFailure(.lengthOverflow, Raw.key(2, 2) + Raw.varint(1000) + Array("abc".utf8))
        expectFailure(.lengthOverflow, Raw.key(2, 2) + Raw.varint(UInt64.max))
        expectFailure(.lengthOverflow, Raw.key(2, 2) + Raw.varint(UInt64(Int.max) + 1))
        expectFailure(.lengthOverflow, Raw.key(99, 2) + [0x01])
    }

    @Test func lengthMayNotLeaveTheEnclosingMessage() {
        // A sub-message of 3 bytes whose inner string claims 5: it would end inside the
        // next outer field, which is still within the buffer.
        let bytes = Raw.key(3, 2) + [0x03, 0x12, 0x05, 0x61] + Raw.lengthDelimited(2, Array("bcdef".utf8))
        #expect(throws: ProtoDecodingError.lengthOverflow) { try Sample(protobuf: bytes) }
    }

    @Test func truncatedSubMessage() {
        expectFailure(.lengthOverflow, Raw.key(3, 2) + Raw.varint(50) + [0x0A, 0x05, 0x61, 0x62, 0x63])
    }

    @Test func fieldNumberZeroAndTooLarge() {
        expectFailure(.invalidFieldNumber, [0x02, 0x01, 0x78])
        expectFailure(.invalidFieldNumber, [0x00])
        expectFailure(.invalidFieldNumber, Raw.key(UInt64(ProtoFieldNumber.maximum) + 1, 0) + [0x01])
        expectFailure(.invalidFieldNumber, Raw.varint(UInt64.max) + [0x01])
    }

    @Test func largestFieldNumberIsAccepted() throws {
        let fields = try skimAll(Raw.varintField(UInt64(ProtoFieldNumber.maximum), 1))
        #expect(fields.map(\.0) == [ProtoFieldNumber.maximum])
    }

    @Test func wireTypesSixAndSeven() {
        expectFailure(.invalidWireType, Raw.key(99, 6) + [0x00])
        expectFailure(.invalidWireType, Raw.key(99, 7) + [0x00])
        expectFailure(.invalidWireType, Raw.key(1, 6))
    }

    @Test func endGroupWithoutStart() {
        expectFailure(.unmatchedEndGroup, Raw.key(99, 4))
        expectFailure(.unmatchedEndGroup, Raw.varintField(1, 1) + Raw.key(1, 4))
        var reader = ProtoReader(Raw.varintField(1, 1))
        _ = try? reader.nextField()
        #expect(throws: ProtoDecodingError.unmatchedEndGroup) { try reader.skipField(.endGroup) }
    }

    @Test func endGroupWithAnotherFieldNumber() {
        expectFailure(.unmatchedEndGroup, Raw.key(77, 3) + Raw.varintField(1, 5) + Raw.key(78, 4))
    }

    @Test func unterminatedGroups() {
        expectFailure(.unterminatedGroup, Raw.key(99, 3) + Raw.varintField(1, 1))
        expectFailure(.unterminatedGroup, Raw.key(99, 3))
        expectFailure(.unterminatedGroup, Raw.key(77, 3) + Raw.key(78, 3) + Raw.key(78, 4))
        // A group may not end outside the sub-message it started in.
        let escaping = Raw.lengthDelimited(3, Raw.key(77, 3)) + Raw.key(77, 4)
        #expect(throws: ProtoDecodingError.unterminatedGroup) { try Sample(protobuf: escaping) }
    }

    @Test func truncatedFixedSizeValues() {
        expectFailure(.truncated, Raw.key(99, 1) + [0x01, 0x02, 0x03])
        expectFailure(.truncated, Raw.key(99, 5) + [0x01])
        expectFailure(.truncated, Raw.key(99, 5))
        var reader = ProtoReader([0x01, 0x02, 0x03])
        #expect(throws: ProtoDecodingError.truncated) { try reader.readFixed32() }
        #expect(throws: ProtoDecodingError.truncated) { try reader.readFixed64() }
    }

    @Test func fixedSizeValuesAreLittleEndian() throws {
        var reader = ProtoReader([0x01, 0x02, 0x03, 0x04, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08])
        #expect(try reader.readFixed32() == 0x0403_0201)
        #expect(try reader.readFixed64() == 0x0807_0605_0403_0201)
        #expect(reader.isAtEnd)
    }

    // MARK: Depth

    private func nestedGroups(_ depth: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for _ in 0..<depth { bytes += Raw.key(5, 3) }
        for _ in 0..<depth { bytes += Raw.key(5, 4) }
        return Raw.key(100, 3) + bytes + Raw.key(100, 4)
    }

    @Test func groupNestingIsLimited() throws {
        _ = try skimAll(nestedGroups(ProtoReader.maximumDepth - 1))
        expectFailure(.depthLimitExceeded, nestedGroups(ProtoReader.maximumDepth))
    }

    private func nestedMessages(_ depth: Int) -> [UInt8] {
        var bytes = Raw.varintField(1, 7)
        for _ in 0..<depth { bytes = Raw.lengthDelimited(3, bytes) }
        return bytes
    }

    @Test func messageNestingIsLimited() throws {
        var sample = try Sample(protobuf: nestedMessages(ProtoReader.maximumDepth))
        for _ in 0..<ProtoReader.maximumDepth { sample = try #require(sample.child) }
        #expect(sample.number == 7)
        #expect(throws: ProtoDecodingError.depthLimitExceeded) {
            try Sample(protobuf: nestedMessages(ProtoReader.maximumDepth + 1))
        }
        // Hostile depth far beyond the limit is cut off before it can exhaust the stack.
        #expect(throws: ProtoDecodingError.depthLimitExceeded) {
            try Sample(protobuf: nestedMessages(5_000))
        }
    }

    // MARK: Skipping

    @Test func everyWireTypeIsSkipped() throws {
        let bytes = Raw.varintField(99, 12345)
            + Raw.lengthDelimited(100, [0x01, 0x02] + Array("garbage".utf8))
            + Raw.fixed32(101) + Raw.fixed64(102)
            + Raw.varintField(UInt64(ProtoFieldNumber.maximum), 1)
            + Raw.group(77, Raw.varintField(1, 5) + Raw.group(78, Raw.lengthDelimited(2, Array("x".utf8))))
            + Raw.group(79)
            + Raw.varintField(1, 42)
        let fields = try skimAll(bytes)
        #expect(fields.map(\.0) == [99, 100, 101, 102, ProtoFieldNumber.maximum, 77, 79, 1])
        #expect(fields.map(\.1) == [.varint, .lengthDelimited, .fixed32, .fixed64, .varint, .startGroup, .startGroup, .varint])
        #expect(try Sample(protobuf: bytes).number == 42)
    }

    @Test func groupPayloadsAreParsedNotScanned() throws {
        // The end-group key of field 77 appears inside a length-delimited value and inside a
        // fixed64: both are payload, not the end of the group.
        let endKey = Raw.key(77, 4)
        let group = Raw.group(77, Raw.lengthDelimited(1, endKey) + Raw.fixed64(2, endKey + [0, 0, 0, 0, 0, 0]))
        var reader = ProtoReader(group + Raw.varintField(1, 3))
        #expect(try reader.nextField()! == (77, .startGroup))
        try reader.skipField(.startGroup)
        #expect(try reader.nextField()! == (1, .varint))
        #expect(try reader.readVarint() == 3)
        #expect(try reader.nextField() == nil)
    }

    @Test func unknownFieldsAreCapturedAsReceived() throws {
        let unknown = Raw.varintField(99, 12345) + Raw.lengthDelimited(100, [1, 2]) + Raw.fixed32(101)
            + Raw.fixed64(102) + Raw.group(77, Raw.group(78))
        let bytes = Raw.varintField(99, 12345) + Raw.varintField(1, 5) + Raw.lengthDelimited(100, [1, 2])
            + Raw.fixed32(101) + Raw.lengthDelimited(2, Array("t".utf8)) + Raw.fixed64(102) + Raw.group(77, Raw.group(78))
        let sample = try Sample(protobuf: bytes)
        #expect(sample.number == 5)
        #expect(sample.text == "t")
        #expect(sample.unknownFields == unknown)
        // Written back after the known fields.
        #expect(sample.protobufBytes() == Raw.varintField(1, 5) + Raw.lengthDelimited(2, Array("t".utf8)) + unknown)
    }

    // MARK: Typed values

    @Test func knownFieldWithWrongWireType() {
        #expect(throws: ProtoDecodingError.wrongWireType) { try Sample(protobuf: Raw.varintField(2, 5)) }
        #expect(throws: ProtoDecodingError.wrongWireType) { try Sample(protobuf: Raw.varintField(3, 5)) }
        #expect(throws: ProtoDecodingError.wrongWireType) { try Sample(protobuf: Raw.lengthDelimited(1, [0x01])) }
        #expect(throws: ProtoDecodingError.wrongWireType) { try Sample(protobuf: Raw.fixed32(5)) }
        #expect(throws: ProtoDecodingError.wrongWireType) { try Sample(protobuf: Raw.fixed64(4)) }
        #expect(throws: ProtoDecodingError.wrongWireType) { try Sample(protobuf: Raw.group(7)) }
        #expect(throws: ProtoDecodingError.wrongWireType) {
            try Sample(protobuf: Raw.lengthDelimited(3, Raw.lengthDelimited(1, Array("12".utf8))))
        }
    }

    @Test func repeatedUInt32AcceptsPackedAndUnpacked() throws {
        let unpacked = Raw.varintField(4, 53) + Raw.varintField(4, 443)
        let packed = Raw.lengthDelimited(4, [0x35, 0xBB, 0x03])
        #expect(try Sample(protobuf: unpacked).values == [53, 443])
        #expect(try Sample(protobuf: packed).values == [53, 443])
        #expect(try Sample(protobuf: packed + unpacked + Raw.lengthDelimited(4, [])).values == [53, 443, 53, 443])
        // Written unpacked whatever was received.
        #expect(try Sample(protobuf: packed).protobufBytes() == unpacked)
        #expect(throws: ProtoDecodingError.truncated) { try Sample(protobuf: Raw.lengthDelimited(4, [0x35, 0xBB])) }
    }

    @Test func integersKeepTheLowBits() throws {
        let sample = try Sample(protobuf: Raw.varintField(1, UInt64.max) + Raw.varintField(10, 1 << 32 | 7)
            + Raw.varintField(5, 2) + Raw.varintField(11, UInt64(bitPattern: -3)) + Raw.varintField(9, UInt64.max))
        #expect(sample.number == -1)
        #expect(sample.small == 7)
        #expect(sample.flag)
        #expect(sample.kind == -3)
        #expect(sample.wide == -1)
    }

    @Test func stringsAreDecodedLeniently() throws {
        let sample = try Sample(protobuf: Raw.lengthDelimited(2, [0x61, 0xFF, 0x62, 0xC3]))
        #expect(sample.text == "a\u{FFFD}b\u{FFFD}")
        // What we write back is valid UTF-8.
        #expect(sample.protobufBytes() == Raw.lengthDelimited(2, Array("a\u{FFFD}b\u{FFFD}".utf8)))
    }

    @Test func readerAcceptsSlices() throws {
        let buffer: [UInt8] = [0xFF, 0x08, 0x96, 0x01, 0xFF]
        var reader = ProtoReader(buffer[1..<4])
        #expect(try reader.nextField()! == (1, .varint))
        #expect(try reader.readVarint() == 150)
        #expect(try reader.nextField() == nil)
        #expect(try Sample(protobuf: buffer[1..<4]).number == 150)
    }

    @Test func errorsCarryTheOffset() {
        do {
            _ = try skimAll(Raw.varintField(1, 1) + Raw.key(99, 7))
            Issue.record("expected a failure")
        } catch let error as ProtoDecodingError {
            #expect(error == .invalidWireType)
            #expect(error.offset == 2)
            #expect(error.description.contains("invalid wire type"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
