import ProtoWire

/// A small message covering every kind of field the runtime supports, for tests that must
/// not depend on BBS messages:
///   1 int32 number, 2 string text, 3 Sample child (presence), 4 repeated uint32 values
///   (written unpacked, read in both forms), 5 bool flag, 6 uint64 big, 7 repeated Sample
///   children, 8 bytes blob, 9 int64 wide, 10 uint32 small, 11 enum kind.
struct Sample: ProtoMessage, Hashable {
    var number: Int32 = 0
    var text = ""
    // Stored in an array so the recursive struct has a finite size.
    private var childStorage: [Sample] = []
    var values: [UInt32] = []
    var flag = false
    var big: UInt64 = 0
    var children: [Sample] = []
    var blob: [UInt8] = []
    var wide: Int64 = 0
    var small: UInt32 = 0
    var kind: Int32 = 0
    var unknownFields: [UInt8] = []

    init() {}

    var child: Sample? {
        get { childStorage.first }
        set { childStorage = newValue.map { [$0] } ?? [] }
    }

    func encode(to writer: inout ProtoWriter) {
        writer.writeInt32(1, number)
        writer.writeString(2, text)
        if let child { writer.writeMessage(3, child) }
        writer.writeUnpackedUInt32(4, values)
        writer.writeBool(5, flag)
        writer.writeUInt64(6, big)
        writer.writeRepeatedMessage(7, children)
        writer.writeBytes(8, blob)
        writer.writeInt64(9, wide)
        writer.writeUInt32(10, small)
        writer.writeEnum(11, kind)
        writer.writeRawBytes(unknownFields)
    }

    mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws {
        switch field {
        case 1: number = try reader.decodeInt32(wireType)
        case 2: text = try reader.decodeString(wireType)
        case 3: try reader.mergeMessage(wireType, into: &child)
        case 4: try reader.decodeRepeatedUInt32(wireType, into: &values)
        case 5: flag = try reader.decodeBool(wireType)
        case 6: big = try reader.decodeUInt64(wireType)
        case 7: try reader.appendMessage(wireType, to: &children)
        case 8: blob = try reader.decodeBytes(wireType)
        case 9: wide = try reader.decodeInt64(wireType)
        case 10: small = try reader.decodeUInt32(wireType)
        case 11: kind = try reader.decodeEnum(wireType)
        default: try reader.captureUnknownField(wireType, into: &unknownFields)
        }
    }
}

/// Builders for raw field records, for inputs the writer would never produce.
enum Raw {
    static func varint(_ value: UInt64) -> [UInt8] {
        var writer = ProtoWriter()
        writer.writeVarint(value)
        return writer.bytes
    }

    static func key(_ field: UInt64, _ wireType: UInt64) -> [UInt8] { varint(field << 3 | wireType) }

    static func varintField(_ field: UInt64, _ value: UInt64) -> [UInt8] { key(field, 0) + varint(value) }

    static func lengthDelimited(_ field: UInt64, _ payload: [UInt8]) -> [UInt8] {
        key(field, 2) + varint(UInt64(payload.count)) + payload
    }

    static func fixed32(_ field: UInt64, _ bytes: [UInt8] = [1, 2, 3, 4]) -> [UInt8] { key(field, 5) + bytes }

    static func fixed64(_ field: UInt64, _ bytes: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]) -> [UInt8] { key(field, 1) + bytes }

    static func group(_ field: UInt64, _ inner: [UInt8] = []) -> [UInt8] { key(field, 3) + inner + key(field, 4) }
}

/// SplitMix64: a small deterministic generator, so fuzz runs are reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
