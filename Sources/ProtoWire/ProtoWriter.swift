/// Appends protobuf fields to a byte array.
///
/// The scalar writers (`writeString`, `writeInt32`, ...) follow proto3 implicit presence:
/// a value equal to its default (`""`, 0, `false`, empty bytes) is not written at all.
/// `writeLengthDelimited`, `writeMessage` and the `writeExplicit...` writers always write,
/// for fields whose presence matters (sub-messages, oneof members, map entry keys/values).
///
/// Size first, allocate once: a writer made by `ProtoWriter.sizeCounter()` appends nothing
/// and only adds up `count`, so a message has one `encode(to:)` that serves both passes and
/// size and bytes cannot disagree. `ProtoMessage.protobufBytes()` counts, reserves exactly
/// that capacity, then writes; `writeMessage` counts the sub-message to write its length
/// prefix, then writes it in place (no intermediate array per nested message).
public struct ProtoWriter {
    /// The bytes written so far (always empty for a size counter).
    public private(set) var bytes: [UInt8]
    private let isCounting: Bool
    private var countedBytes = 0

    /// A writer with an empty, growable buffer.
    public init() {
        bytes = []
        isCounting = false
    }

    /// A writer whose buffer has room for `capacity` bytes before it must grow.
    public init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
        isCounting = false
    }

    private init(counting: Void) {
        bytes = []
        isCounting = true
    }

    /// A writer that writes nothing and only counts how many bytes it would have written.
    public static func sizeCounter() -> ProtoWriter { ProtoWriter(counting: ()) }

    /// Bytes written (or, for a size counter, counted) so far.
    public var count: Int { isCounting ? countedBytes : bytes.count }

    // MARK: - Sizes

    /// The length of `value` as a varint: 1 to 10 bytes.
    public static func varintSize(_ value: UInt64) -> Int {
        let significantBits = 64 - value.leadingZeroBitCount
        return significantBits == 0 ? 1 : (significantBits + 6) / 7
    }

    /// The length of the key of `field`: 1 byte for fields 1-15, 2 for 16-2047, ...
    public static func keySize(_ field: Int) -> Int { varintSize(UInt64(field) << 3) }

    // MARK: - Raw appends

    /// Appends `value` as a varint (no key).
    public mutating func writeVarint(_ value: UInt64) {
        if isCounting {
            countedBytes += Self.varintSize(value)
            return
        }
        if value < 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value))
            return
        }
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    /// Appends the key of `field` with `wireType`.
    public mutating func writeKey(_ field: Int, _ wireType: WireType) {
        precondition(field >= ProtoFieldNumber.minimum && field <= ProtoFieldNumber.maximum,
                     "protobuf field number \(field) out of range")
        writeVarint(UInt64(field) << 3 | UInt64(wireType.rawValue))
    }

    /// Appends bytes as they are: already-encoded fields, such as a message's unknown fields.
    public mutating func writeRawBytes(_ raw: [UInt8]) {
        if raw.isEmpty { return }
        if isCounting {
            countedBytes += raw.count
        } else {
            bytes.append(contentsOf: raw)
        }
    }

    /// Appends bytes as they are (slice form).
    public mutating func writeRawBytes(_ raw: ArraySlice<UInt8>) {
        if isCounting {
            countedBytes += raw.count
        } else {
            bytes.append(contentsOf: raw)
        }
    }

    private mutating func writeUTF8(_ value: String) {
        let utf8 = value.utf8
        if isCounting {
            countedBytes += utf8.count
        } else {
            bytes.append(contentsOf: utf8)
        }
    }

    // MARK: - Fields that are omitted when they hold their default

    public mutating func writeString(_ field: Int, _ value: String) {
        if value.isEmpty { return }
        writeExplicitString(field, value)
    }

    public mutating func writeBytes(_ field: Int, _ value: [UInt8]) {
        if value.isEmpty { return }
        writeLengthDelimited(field, value)
    }

    /// Negative values are sign-extended to 64 bits: 10 bytes on the wire.
    public mutating func writeInt32(_ field: Int, _ value: Int32) {
        if value == 0 { return }
        writeKey(field, .varint)
        writeVarint(UInt64(bitPattern: Int64(value)))
    }

    public mutating func writeInt64(_ field: Int, _ value: Int64) {
        if value == 0 { return }
        writeKey(field, .varint)
        writeVarint(UInt64(bitPattern: value))
    }

    public mutating func writeUInt32(_ field: Int, _ value: UInt32) {
        if value == 0 { return }
        writeKey(field, .varint)
        writeVarint(UInt64(value))
    }

    public mutating func writeUInt64(_ field: Int, _ value: UInt64) {
        if value == 0 { return }
        writeExplicitUInt64(field, value)
    }

    public mutating func writeBool(_ field: Int, _ value: Bool) {
        if !value { return }
        writeKey(field, .varint)
        writeVarint(1)
    }

    /// An enum's number; encoded like `int32` (negative numbers take 10 bytes).
    public mutating func writeEnum(_ field: Int, _ value: Int32) {
        writeInt32(field, value)
    }

    // MARK: - Fields that are always written

    /// A string with explicit presence: written even when empty.
    public mutating func writeExplicitString(_ field: Int, _ value: String) {
        writeKey(field, .lengthDelimited)
        writeVarint(UInt64(value.utf8.count))
        writeUTF8(value)
    }

    /// A `uint64` with explicit presence (a oneof member): written even when 0.
    public mutating func writeExplicitUInt64(_ field: Int, _ value: UInt64) {
        writeKey(field, .varint)
        writeVarint(value)
    }

    /// Key, length and `payload`, written even when `payload` is empty (an already-encoded
    /// sub-message, or bytes).
    public mutating func writeLengthDelimited(_ field: Int, _ payload: [UInt8]) {
        writeKey(field, .lengthDelimited)
        writeVarint(UInt64(payload.count))
        writeRawBytes(payload)
    }

    /// A sub-message whose fields `writeFields` writes (no key or length of its own), for
    /// messages assembled from parts, such as stored bytes plus a few fields: the fields are
    /// counted first, then written in place, so no intermediate array is built.
    /// `writeFields` runs twice and must write the same fields both times.
    public mutating func writeNested(_ field: Int, _ writeFields: (inout ProtoWriter) -> Void) {
        writeKey(field, .lengthDelimited)
        if isCounting {
            let before = countedBytes
            writeFields(&self)
            countedBytes += Self.varintSize(UInt64(countedBytes - before))
        } else {
            var counter = ProtoWriter.sizeCounter()
            writeFields(&counter)
            writeVarint(UInt64(counter.count))
            let start = bytes.count
            writeFields(&self)
            assert(bytes.count - start == counter.count, "nested fields wrote \(bytes.count - start) bytes, sized \(counter.count)")
        }
    }

    /// A `repeated string` field: one key per element, empty elements included.
    public mutating func writeRepeatedString(_ field: Int, _ values: [String]) {
        for value in values { writeExplicitString(field, value) }
    }

    /// A `repeated uint32` field in the unpacked form (`[packed = false]`): one key and one
    /// varint per element, zeros included.
    public mutating func writeUnpackedUInt32(_ field: Int, _ values: [UInt32]) {
        for value in values {
            writeKey(field, .varint)
            writeVarint(UInt64(value))
        }
    }

    /// A repeated sub-message field: one length-delimited record per element, in order.
    public mutating func writeRepeatedMessage<Message: ProtoMessage>(_ field: Int, _ messages: [Message]) {
        for message in messages { writeMessage(field, message) }
    }

    /// A sub-message, always written: a present-but-empty message is its key and `00`.
    public mutating func writeMessage(_ field: Int, _ message: some ProtoMessage) {
        writeKey(field, .lengthDelimited)
        if isCounting {
            let before = countedBytes
            message.encode(to: &self)
            countedBytes += Self.varintSize(UInt64(countedBytes - before))
        } else {
            let size = message.encodedSize()
            writeVarint(UInt64(size))
            let start = bytes.count
            message.encode(to: &self)
            assert(bytes.count - start == size, "\(type(of: message)) wrote \(bytes.count - start) bytes, sized \(size)")
        }
    }
}
