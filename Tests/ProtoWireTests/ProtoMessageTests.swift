import ProtoWire
import Testing

@Suite("ProtoMessage")
struct ProtoMessageTests {
    private static func sample() -> Sample {
        var leaf = Sample()
        leaf.text = "leaf"
        leaf.values = [0, 1, UInt32.max]
        var child = Sample()
        child.number = -5
        child.children = [leaf, Sample()]
        var sample = Sample()
        sample.number = 150
        sample.text = "héllo ☃"
        sample.child = child
        sample.values = [53, 443]
        sample.flag = true
        sample.big = UInt64.max
        sample.children = [leaf]
        sample.blob = [0, 0xFF]
        sample.wide = Int64.min
        sample.small = 1
        sample.kind = 99
        return sample
    }

    @Test func roundTrip() throws {
        let sample = Self.sample()
        let bytes = sample.protobufBytes()
        #expect(sample.encodedSize() == bytes.count)
        #expect(try Sample(protobuf: bytes) == sample)
        #expect(try Sample(protobuf: ArraySlice(bytes)) == sample)
    }

    @Test func emptyMessageIsZeroBytes() throws {
        #expect(Sample().protobufBytes().isEmpty)
        #expect(try Sample(protobuf: []) == Sample())
    }

    @Test func presentEmptySubMessageStaysPresent() throws {
        var sample = Sample()
        sample.child = Sample()
        #expect(sample.protobufBytes() == [0x1A, 0x00])
        let decoded = try Sample(protobuf: [0x1A, 0x00])
        #expect(decoded.child == Sample())
        #expect(try Sample(protobuf: []).child == nil)
    }

    @Test func repeatedScalarInSingularFieldKeepsTheLastValue() throws {
        let bytes = Raw.varintField(1, 128) + Raw.lengthDelimited(2, Array("first".utf8))
            + Raw.varintField(1, 256) + Raw.lengthDelimited(2, Array("second".utf8))
        let sample = try Sample(protobuf: bytes)
        #expect(sample.number == 256)
        #expect(sample.text == "second")
    }

    @Test func subMessageSentTwiceIsMerged() throws {
        let part1 = Raw.lengthDelimited(3, Raw.varintField(1, 1) + Raw.varintField(4, 10)
            + Raw.lengthDelimited(3, Raw.lengthDelimited(2, Array("deep".utf8))))
        let part2 = Raw.lengthDelimited(3, Raw.lengthDelimited(2, Array("b".utf8)) + Raw.varintField(4, 20)
            + Raw.varintField(1, 2) + Raw.lengthDelimited(3, Raw.varintField(5, 1)))
        let sample = try Sample(protobuf: part1 + Raw.varintField(6, 9) + part2)
        let child = try #require(sample.child)
        #expect(child.number == 2)                  // scalar: last wins
        #expect(child.text == "b")
        #expect(child.values == [10, 20])           // repeated: appended
        let grandchild = try #require(child.child)  // nested message: merged too
        #expect(grandchild.text == "deep")
        #expect(grandchild.flag)
        #expect(sample.big == 9)
    }

    @Test func repeatedMessagesAppend() throws {
        let bytes = Raw.lengthDelimited(7, Raw.varintField(1, 1)) + Raw.lengthDelimited(7, [])
            + Raw.lengthDelimited(7, Raw.varintField(1, 3))
        #expect(try Sample(protobuf: bytes).children.map(\.number) == [1, 0, 3])
    }

    @Test func mergeIntoExistingValue() throws {
        var sample = Self.sample()
        try sample.merge(protobuf: Raw.varintField(1, 7) + Raw.varintField(4, 8))
        #expect(sample.number == 7)
        #expect(sample.values == [53, 443, 8])
        #expect(sample.text == Self.sample().text)
    }

    @Test func unknownFieldsSurviveAtEveryDepth() throws {
        let unknown = Raw.varintField(99, 1) + Raw.lengthDelimited(100, [7]) + Raw.fixed32(101) + Raw.fixed64(102)
            + Raw.group(103, Raw.varintField(1, 1))
        let leaf = unknown + Raw.varintField(1, 3)
        let middle = Raw.lengthDelimited(3, leaf) + unknown
        let bytes = unknown + Raw.lengthDelimited(7, middle) + unknown
        let sample = try Sample(protobuf: bytes)
        #expect(sample.unknownFields == unknown + unknown)
        #expect(sample.children[0].unknownFields == unknown)
        #expect(sample.children[0].child?.unknownFields == unknown)
        #expect(sample.children[0].child?.number == 3)
        let reencoded = sample.protobufBytes()
        #expect(reencoded == Raw.lengthDelimited(7, Raw.lengthDelimited(3, Raw.varintField(1, 3) + unknown) + unknown)
            + unknown + unknown)
        #expect(try Sample(protobuf: reencoded) == sample)
    }

    @Test func decodingErrorsAreThrownFromNestedMessages() {
        let bad = Raw.lengthDelimited(7, Raw.lengthDelimited(3, Raw.key(5, 7)))
        #expect(throws: ProtoDecodingError.invalidWireType) { try Sample(protobuf: bad) }
    }
}
