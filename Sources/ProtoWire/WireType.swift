// ProtoWire: the generic protobuf binary runtime. It knows the wire format
// (https://protobuf.dev/programming-guides/encoding/) and nothing of BBS messages:
//
//   ProtoWriter    appends fields; proto3 scalars are omitted when they hold their default
//   ProtoReader    bounds-checked field-by-field reading; never traps on hostile input
//   ProtoMessage   what a message type provides (encode, decode one field) and what it gets
//                  (`init(protobuf:)`, `protobufBytes()`, merge semantics)

/// The low three bits of a field key. 6 and 7 are not wire types; a key carrying them is
/// malformed.
public enum WireType: UInt8, Sendable, CaseIterable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    /// Deprecated groups: never used by our messages, but skipped (with their nesting)
    /// when they arrive as unknown fields.
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// Field-number limits of the wire format: 1 ... 2^29 - 1.
public enum ProtoFieldNumber {
    public static let minimum = 1
    public static let maximum = (1 << 29) - 1
}
