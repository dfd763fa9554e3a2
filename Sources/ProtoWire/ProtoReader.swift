/// Reads protobuf fields one at a time from a byte buffer.
///
/// Every read is checked against the end of the message being read (the whole buffer, or
/// the current sub-message while `mergeMessage` runs), so hostile input throws a
/// `ProtoDecodingError` and never traps: overlong varints, lengths past the end,
/// field number 0, wire types 6 and 7, stray or unterminated groups, truncated fixed-size
/// values, and nesting deeper than `maximumDepth`.
///
/// Two levels of API:
/// - `nextField()` then a raw `read...()` / `skipField(_:)`, for hand-written decoders that
///   match on `(field, wireType)` themselves;
/// - `decode...(_ wireType:)`, `mergeMessage`, `appendMessage`, for `ProtoMessage.decodeField`:
///   they also check that the wire type suits the field's type (`wrongWireType` if not).
public struct ProtoReader {
    /// Nested sub-messages and groups allowed below the outermost message.
    public static let maximumDepth = 100

    private let bytes: [UInt8]
    private var position = 0
    /// End of the message being read: `bytes.count`, or the end of the current sub-message.
    private var limit: Int
    /// Where the key of the field last returned by `nextField()` starts.
    private var fieldStart = 0
    /// The field number last returned by `nextField()` (a group's end must match it).
    private var fieldNumber = 0
    /// How many sub-messages or groups enclose the current position.
    public private(set) var depth = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        limit = bytes.count
    }

    public init(_ bytes: some Collection<UInt8>) {
        if let array = bytes as? [UInt8] {
            self.init(array)
        } else {
            self.init(Array(bytes))
        }
    }

    /// The offset of the next byte to read, in the buffer given to `init`.
    public var offset: Int { position }

    /// True when the message being read has no more bytes.
    public var isAtEnd: Bool { position >= limit }

    // MARK: - Keys

    /// The next field's number and wire type, or nil at the end of the message being read.
    /// Throws on field number 0 or above 2^29 - 1, wire types 6/7, and an end-group key (a
    /// group is only ever consumed whole, by `skipField(.startGroup)`).
    public mutating func nextField() throws -> (Int, WireType)? {
        guard position < limit else { return nil }
        fieldStart = position
        let (field, wireType) = try readKey()
        if wireType == .endGroup { throw ProtoDecodingError.unmatchedEndGroup.at(fieldStart) }
        fieldNumber = field
        return (field, wireType)
    }

    private mutating func readKey() throws -> (Int, WireType) {
        let keyStart = position
        let key = try readVarint()
        let field = key >> 3
        guard field >= UInt64(ProtoFieldNumber.minimum), field <= UInt64(ProtoFieldNumber.maximum) else {
            throw ProtoDecodingError.invalidFieldNumber.at(keyStart)
        }
        guard let wireType = WireType(rawValue: UInt8(key & 7)) else {
            throw ProtoDecodingError.invalidWireType.at(keyStart)
        }
        return (Int(field), wireType)
    }

    // MARK: - Raw values (no wire-type check)

    /// A varint of up to 10 bytes. As in the Go reference, bits beyond the 64th in the 10th
    /// byte are dropped; an 11th byte is an error.
    public mutating func readVarint() throws -> UInt64 {
        guard position < limit else { throw ProtoDecodingError.truncated.at(position) }
        let first = bytes[position]
        position += 1
        if first < 0x80 { return UInt64(first) }
        var result = UInt64(first & 0x7F)
        var shift: UInt64 = 7
        while true {
            guard position < limit else { throw ProtoDecodingError.truncated.at(position) }
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift >= 70 { throw ProtoDecodingError.malformedVarint.at(position - 10) }
        }
    }

    /// A little-endian 4-byte value.
    public mutating func readFixed32() throws -> UInt32 {
        let start = try advance(by: 4)
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[start + index]) << (8 * index) }
        return value
    }

    /// A little-endian 8-byte value.
    public mutating func readFixed64() throws -> UInt64 {
        let start = try advance(by: 8)
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[start + index]) << (8 * index) }
        return value
    }

    /// A length prefix, checked to fit in what is left of the message.
    private mutating func readLength() throws -> Int {
        let lengthStart = position
        let length = try readVarint()
        guard length <= UInt64(limit - position) else {
            throw ProtoDecodingError.lengthOverflow.at(lengthStart)
        }
        return Int(length)
    }

    /// Moves past `count` bytes and returns where they start.
    private mutating func advance(by count: Int) throws -> Int {
        guard limit - position >= count else { throw ProtoDecodingError.truncated.at(position) }
        let start = position
        position += count
        return start
    }

    /// The payload of a length-delimited field, copied out.
    public mutating func readLengthDelimited() throws -> [UInt8] {
        let length = try readLength()
        let start = try advance(by: length)
        return Array(bytes[start..<start + length])
    }

    /// The payload of a length-delimited field as text. Any bytes are accepted (Go strings
    /// are bytes); invalid UTF-8 is repaired with U+FFFD so we only ever emit valid UTF-8.
    public mutating func readString() throws -> String {
        let length = try readLength()
        let start = try advance(by: length)
        return String(decoding: bytes[start..<start + length], as: UTF8.self)
    }

    // MARK: - Skipping and unknown fields

    /// Skips the value of the field `nextField()` just returned, whatever its wire type;
    /// a group is skipped up to its matching end-group, nested groups included.
    public mutating func skipField(_ wireType: WireType) throws {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try advance(by: 8)
        case .lengthDelimited: _ = try advance(by: try readLength())
        case .startGroup: try skipGroup(fieldNumber)
        case .endGroup: throw ProtoDecodingError.unmatchedEndGroup.at(fieldStart)
        case .fixed32: _ = try advance(by: 4)
        }
    }

    private mutating func skipGroup(_ groupField: Int) throws {
        let groupStart = position
        guard depth < Self.maximumDepth else { throw ProtoDecodingError.depthLimitExceeded.at(groupStart) }
        depth += 1
        defer { depth -= 1 }
        while true {
            guard position < limit else { throw ProtoDecodingError.unterminatedGroup.at(groupStart) }
            let keyStart = position
            let (field, wireType) = try readKey()
            switch wireType {
            case .endGroup:
                guard field == groupField else { throw ProtoDecodingError.unmatchedEndGroup.at(keyStart) }
                return
            case .startGroup:
                try skipGroup(field)
            case .varint, .fixed64, .lengthDelimited, .fixed32:
                try skipField(wireType)
            }
        }
    }

    /// Skips the field `nextField()` just returned and appends its whole record (key and
    /// value, as received) to `unknownFields`, so it can be written back unchanged.
    public mutating func captureUnknownField(_ wireType: WireType, into unknownFields: inout [UInt8]) throws {
        let start = fieldStart
        try skipField(wireType)
        unknownFields.append(contentsOf: bytes[start..<position])
    }

    // MARK: - Typed field values (wire type checked)

    private func expect(_ expected: WireType, _ actual: WireType) throws {
        guard expected == actual else { throw ProtoDecodingError.wrongWireType.at(fieldStart) }
    }

    /// `string`: lenient about UTF-8 (see `readString()`).
    public mutating func decodeString(_ wireType: WireType) throws -> String {
        try expect(.lengthDelimited, wireType)
        return try readString()
    }

    /// `bytes`.
    public mutating func decodeBytes(_ wireType: WireType) throws -> [UInt8] {
        try expect(.lengthDelimited, wireType)
        return try readLengthDelimited()
    }

    /// `int32`: a 64-bit varint of which the low 32 bits are kept.
    public mutating func decodeInt32(_ wireType: WireType) throws -> Int32 {
        try expect(.varint, wireType)
        return Int32(truncatingIfNeeded: try readVarint())
    }

    /// `int64`.
    public mutating func decodeInt64(_ wireType: WireType) throws -> Int64 {
        try expect(.varint, wireType)
        return Int64(bitPattern: try readVarint())
    }

    /// `uint32`: the low 32 bits of the varint.
    public mutating func decodeUInt32(_ wireType: WireType) throws -> UInt32 {
        try expect(.varint, wireType)
        return UInt32(truncatingIfNeeded: try readVarint())
    }

    /// `uint64`.
    public mutating func decodeUInt64(_ wireType: WireType) throws -> UInt64 {
        try expect(.varint, wireType)
        return try readVarint()
    }

    /// `bool`: any non-zero varint is true.
    public mutating func decodeBool(_ wireType: WireType) throws -> Bool {
        try expect(.varint, wireType)
        return try readVarint() != 0
    }

    /// An enum's number, kept even when the enum does not define it (proto3 open enums).
    public mutating func decodeEnum(_ wireType: WireType) throws -> Int32 {
        try decodeInt32(wireType)
    }

    /// One occurrence of a `repeated uint32` field, unpacked (one varint) or packed (a
    /// length-delimited run of varints); both forms are accepted whatever the field's
    /// declared encoding, as every protobuf parser does.
    public mutating func decodeRepeatedUInt32(_ wireType: WireType, into values: inout [UInt32]) throws {
        switch wireType {
        case .varint:
            values.append(UInt32(truncatingIfNeeded: try readVarint()))
        case .lengthDelimited:
            let length = try readLength()
            let outerLimit = limit
            limit = position + length
            defer { limit = outerLimit }
            while position < limit {
                values.append(UInt32(truncatingIfNeeded: try readVarint()))
            }
        case .fixed64, .startGroup, .endGroup, .fixed32:
            throw ProtoDecodingError.wrongWireType.at(fieldStart)
        }
    }

    // MARK: - Sub-messages

    /// Reads every remaining field of the message being read into `message`.
    public mutating func mergeFields(into message: inout some ProtoMessage) throws {
        while let (field, wireType) = try nextField() {
            try message.decodeField(field, wireType, from: &self)
        }
    }

    /// A non-repeated sub-message: merged into `message` (protobuf merge semantics, so a
    /// message field sent twice behaves as one message with both parts).
    public mutating func mergeMessage<Message: ProtoMessage>(_ wireType: WireType, into message: inout Message) throws {
        try expect(.lengthDelimited, wireType)
        let lengthStart = position
        let length = try readLength()
        guard depth < Self.maximumDepth else { throw ProtoDecodingError.depthLimitExceeded.at(lengthStart) }
        let outerLimit = limit
        limit = position + length
        depth += 1
        defer {
            depth -= 1
            limit = outerLimit
        }
        try mergeFields(into: &message)
    }

    /// A non-repeated sub-message with presence: merged into the existing value if the
    /// field was already seen, otherwise decoded into a new one. Present-but-empty stays
    /// present.
    public mutating func mergeMessage<Message: ProtoMessage>(_ wireType: WireType, into message: inout Message?) throws {
        // Move the value out so the merge mutates a uniquely referenced copy.
        var merged = message ?? Message()
        message = nil
        try mergeMessage(wireType, into: &merged)
        message = merged
    }

    /// One element of a repeated sub-message field.
    public mutating func appendMessage<Message: ProtoMessage>(_ wireType: WireType, to messages: inout [Message]) throws {
        var element = Message()
        try mergeMessage(wireType, into: &element)
        messages.append(element)
    }
}
