/// A protobuf message type. A conformance provides the two halves of its codec, and gets
/// the whole-buffer entry points (`init(protobuf:)`, `protobufBytes()`) from the extension.
public protocol ProtoMessage: Sendable {
    /// The message with every field at its default (and absent).
    init()

    /// Writes the message's fields (no key, no length prefix): known fields in ascending
    /// field-number order, then any unknown fields kept from decoding. Called twice per
    /// encoding, first on a size counter (see `ProtoWriter`), so it must be deterministic.
    func encode(to writer: inout ProtoWriter)

    /// Merges one field, whose key `reader.nextField()` just returned, into the message:
    /// a scalar replaces the previous value (last one wins), a sub-message merges into the
    /// previous one, a repeated field appends. A known field with an unsuitable wire type
    /// throws; an unknown field is kept with `reader.captureUnknownField` (or skipped).
    mutating func decodeField(_ field: Int, _ wireType: WireType, from reader: inout ProtoReader) throws
}

extension ProtoMessage {
    /// Decodes a whole buffer. Throws `ProtoDecodingError` on malformed input.
    public init(protobuf bytes: [UInt8]) throws {
        self.init()
        try merge(protobuf: bytes)
    }

    /// Decodes a whole buffer. Throws `ProtoDecodingError` on malformed input.
    public init(protobuf bytes: some Collection<UInt8>) throws {
        self.init()
        try merge(protobuf: bytes)
    }

    /// Merges a whole encoded message into this one (protobuf merge semantics).
    public mutating func merge(protobuf bytes: [UInt8]) throws {
        var reader = ProtoReader(bytes)
        try reader.mergeFields(into: &self)
    }

    /// Merges a whole encoded message into this one (protobuf merge semantics).
    public mutating func merge(protobuf bytes: some Collection<UInt8>) throws {
        var reader = ProtoReader(bytes)
        try reader.mergeFields(into: &self)
    }

    /// The number of bytes `protobufBytes()` returns.
    public func encodedSize() -> Int {
        var counter = ProtoWriter.sizeCounter()
        encode(to: &counter)
        return counter.count
    }

    /// The encoded message, in one exactly sized allocation.
    public func protobufBytes() -> [UInt8] {
        let size = encodedSize()
        var writer = ProtoWriter(capacity: size)
        encode(to: &writer)
        assert(writer.count == size, "\(Self.self) wrote \(writer.count) bytes, sized \(size)")
        return writer.bytes
    }
}
