import BBSModels
import ProtoWire

// How a TaskRecord travels: as the `Task` message of the API (messages.md §2.2), and as
// the payload of journal records, which is the same `Task` message plus one field of our
// own (the callback URL, so replay need not decode definitions):
//
//   1  TaskDefinition bytes (absent in `updateTask` records: the definition never changes)
//   2–13  the Task fields, encoded as the Task message encodes them
//   100   completion_callback_url (journal records only)

extension TaskRecord {
    private static let callbackURLField = 100

    /// The `Task` message bytes, as `get`/`list.r3`/events return it.
    public func taskProtobufBytes() -> [UInt8] {
        var writer = ProtoWriter(capacity: definition.bytes.count + guid.utf8.count + domain.utf8.count + 64)
        encodeTask(into: &writer, includingDefinition: true)
        return writer.bytes
    }

    /// Writes the `Task` message's fields (not a length prefix) into `writer`.
    public func encodeTask(into writer: inout ProtoWriter, includingDefinition: Bool) {
        if includingDefinition {
            writer.writeLengthDelimited(1, definition.bytes)
        }
        writer.writeString(2, guid)
        writer.writeString(3, domain)
        writer.writeInt64(4, createdAt)
        writer.writeInt64(5, updatedAt)
        writer.writeInt64(6, firstCompletedAt)
        writer.writeInt32(7, state.rawValue)
        writer.writeString(8, cellId)
        writer.writeString(9, result)
        writer.writeBool(10, failed)
        writer.writeString(11, failureReason)
        writer.writeInt32(12, rejectionCount)
        writer.writeString(13, rejectionReason)
    }

    // MARK: - Straight into a preallocated buffer (lists)

    /// The size of the `Task` message `encodeTask(into:includingDefinition: true)` writes.
    public var taskMessageSize: Int {
        let definitionCount = definition.bytes.count
        var size = 1 + ProtoWriter.varintSize(UInt64(definitionCount)) + definitionCount
        size += Self.stringSize(guid) + Self.stringSize(domain)
        size += Self.int64Size(createdAt) + Self.int64Size(updatedAt) + Self.int64Size(firstCompletedAt)
        size += Self.int64Size(Int64(state.rawValue))
        size += Self.stringSize(cellId) + Self.stringSize(result)
        size += failed ? 2 : 0
        size += Self.stringSize(failureReason)
        size += Self.int64Size(Int64(rejectionCount))
        size += Self.stringSize(rejectionReason)
        return size
    }

    /// The size of the task as a sub-message at a field number below 16 (key, length,
    /// message), as `writeTaskField` writes it.
    public var taskFieldSize: Int {
        let size = taskMessageSize
        return 1 + ProtoWriter.varintSize(UInt64(size)) + size
    }

    /// Writes the task as the sub-message `field` (1...15) at `out`, exactly the bytes
    /// `ProtoWriter.writeNested(field) { encodeTask(into: $0, includingDefinition: true) }`
    /// writes, and returns the position after it. `out` must have `taskFieldSize` bytes.
    /// Why: a list of 100,000 tasks is 33 MB; written this way it is sized once and
    /// written once, with no per-byte appends and no second counting pass.
    public func writeTaskField(_ field: Int, to out: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        precondition(field >= 1 && field < 16)
        var p = out
        p = Self.put(UInt64(field << 3 | 2), p)
        p = Self.put(UInt64(taskMessageSize), p)
        p = Self.put(0x0A, p)
        p = Self.put(UInt64(definition.bytes.count), p)
        p = definition.bytes.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress else { return p }
            p.update(from: base, count: bytes.count)
            return p + bytes.count
        }
        p = Self.put(2, guid, p)
        p = Self.put(3, domain, p)
        p = Self.put(4, createdAt, p)
        p = Self.put(5, updatedAt, p)
        p = Self.put(6, firstCompletedAt, p)
        p = Self.put(7, Int64(state.rawValue), p)
        p = Self.put(8, cellId, p)
        p = Self.put(9, result, p)
        if failed {
            p[0] = 10 << 3
            p[1] = 1
            p += 2
        }
        p = Self.put(11, failureReason, p)
        p = Self.put(12, Int64(rejectionCount), p)
        p = Self.put(13, rejectionReason, p)
        return p
    }

    /// A string field of number 1...15: omitted when empty, as `writeString`.
    private static func stringSize(_ value: String) -> Int {
        let count = value.utf8.count
        return count == 0 ? 0 : 1 + ProtoWriter.varintSize(UInt64(count)) + count
    }

    /// An int64 (or sign-extended int32) field of number 1...15: omitted when 0.
    private static func int64Size(_ value: Int64) -> Int {
        value == 0 ? 0 : 1 + ProtoWriter.varintSize(UInt64(bitPattern: value))
    }

    @inline(__always)
    private static func put(_ value: UInt64, _ out: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        var p = out, remaining = value
        while remaining >= 0x80 {
            p.pointee = UInt8(truncatingIfNeeded: remaining) | 0x80
            p += 1
            remaining >>= 7
        }
        p.pointee = UInt8(remaining)
        return p + 1
    }

    private static func put(_ field: Int, _ value: Int64, _ out: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        if value == 0 { return out }
        return put(UInt64(bitPattern: value), put(UInt64(field << 3), out))
    }

    private static func put(_ field: Int, _ value: String, _ out: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        var value = value
        return value.withUTF8 { utf8 in
            guard let base = utf8.baseAddress, utf8.count > 0 else { return out }
            var p = put(UInt64(field << 3 | 2), out)
            p = put(UInt64(utf8.count), p)
            p.update(from: base, count: utf8.count)
            return p + utf8.count
        }
    }

    /// The journal payload for this task.
    func encodedRecord(includingDefinition: Bool) -> [UInt8] {
        var writer = ProtoWriter(capacity: (includingDefinition ? definition.bytes.count : 0) + 128)
        encodeTask(into: &writer, includingDefinition: includingDefinition)
        if includingDefinition {
            writer.writeString(Self.callbackURLField, definition.completionCallbackURL)
        }
        return writer.bytes
    }

    /// Decodes a journal payload. An `updateTask` payload has no definition and takes it
    /// from `previous`.
    init(record bytes: [UInt8], previous: TaskRecord?) throws {
        var reader = ProtoReader(bytes)
        var definitionBytes: [UInt8]? = nil
        var callbackURL = ""
        self.init(guid: "", domain: "", definition: previous?.definition ?? StoredDefinition(bytes: [], completionCallbackURL: ""))
        while let (field, wireType) = try reader.nextField() {
            switch (field, wireType) {
            case (1, .lengthDelimited): definitionBytes = try reader.readLengthDelimited()
            case (2, .lengthDelimited): guid = try reader.readString()
            case (3, .lengthDelimited): domain = try reader.readString()
            case (4, .varint): createdAt = Int64(bitPattern: try reader.readVarint())
            case (5, .varint): updatedAt = Int64(bitPattern: try reader.readVarint())
            case (6, .varint): firstCompletedAt = Int64(bitPattern: try reader.readVarint())
            case (7, .varint): state = TaskState(rawValue: Int32(truncatingIfNeeded: try reader.readVarint()))
            case (8, .lengthDelimited): cellId = try reader.readString()
            case (9, .lengthDelimited): result = try reader.readString()
            case (10, .varint): failed = try reader.readVarint() != 0
            case (11, .lengthDelimited): failureReason = try reader.readString()
            case (12, .varint): rejectionCount = Int32(truncatingIfNeeded: try reader.readVarint())
            case (13, .lengthDelimited): rejectionReason = try reader.readString()
            case (Self.callbackURLField, .lengthDelimited): callbackURL = try reader.readString()
            default: try reader.skipField(wireType)
            }
        }
        if let definitionBytes {
            definition = StoredDefinition(bytes: definitionBytes, completionCallbackURL: callbackURL)
        } else if previous == nil {
            throw TaskStoreRecoveryError(record: 0, reason: "task record without definition")
        }
    }

    /// Decodes a journal payload borrowed from the log's read buffer (a restart): the
    /// fields are read straight from it, so the only copies made are the ones the record
    /// keeps (definition bytes, strings). Anything this fast path does not expect (a
    /// group, malformed bytes) is decoded again by the general reader above, which
    /// reports the error exactly as before.
    init(record buffer: UnsafeRawBufferPointer, previous: TaskRecord?) throws {
        var reader = RawFieldReader(buffer)
        var definitionBytes: [UInt8]? = nil
        var callbackURL = ""
        self.init(guid: "", domain: "", definition: previous?.definition ?? StoredDefinition(bytes: [], completionCallbackURL: ""))
        var fast = true
        while fast, let (field, wireType) = reader.nextField() {
            switch (field, wireType) {
            case (1, 2): if let bytes = reader.bytes() { definitionBytes = Array(bytes) } else { fast = false }
            case (2, 2): if let value = reader.string() { guid = value } else { fast = false }
            case (3, 2): if let value = reader.string() { domain = value } else { fast = false }
            case (4, 0): if let value = reader.varint() { createdAt = Int64(bitPattern: value) } else { fast = false }
            case (5, 0): if let value = reader.varint() { updatedAt = Int64(bitPattern: value) } else { fast = false }
            case (6, 0): if let value = reader.varint() { firstCompletedAt = Int64(bitPattern: value) } else { fast = false }
            case (7, 0):
                if let value = reader.varint() { state = TaskState(rawValue: Int32(truncatingIfNeeded: value)) } else { fast = false }
            case (8, 2): if let value = reader.string() { cellId = value } else { fast = false }
            case (9, 2): if let value = reader.string() { result = value } else { fast = false }
            case (10, 0): if let value = reader.varint() { failed = value != 0 } else { fast = false }
            case (11, 2): if let value = reader.string() { failureReason = value } else { fast = false }
            case (12, 0):
                if let value = reader.varint() { rejectionCount = Int32(truncatingIfNeeded: value) } else { fast = false }
            case (13, 2): if let value = reader.string() { rejectionReason = value } else { fast = false }
            case (Self.callbackURLField, 2): if let value = reader.string() { callbackURL = value } else { fast = false }
            default: fast = reader.skip(wireType)
            }
        }
        guard fast, reader.isAtEnd else {
            self = try TaskRecord(record: Array(buffer), previous: previous)
            return
        }
        if let definitionBytes {
            definition = StoredDefinition(bytes: definitionBytes, completionCallbackURL: callbackURL)
        } else if previous == nil {
            throw TaskStoreRecoveryError(record: 0, reason: "task record without definition")
        }
    }

    /// The guid of a journal payload borrowed from the log's read buffer.
    static func guid(ofRecord buffer: UnsafeRawBufferPointer) throws -> String {
        var reader = RawFieldReader(buffer)
        while let (field, wireType) = reader.nextField() {
            if field == 2 && wireType == 2, let guid = reader.string() { return guid }
            if !reader.skip(wireType) { break }
        }
        if reader.isAtEnd { return "" }
        return try guid(ofRecord: Array(buffer))
    }

    /// The guid of a journal payload, without decoding the rest.
    static func guid(ofRecord bytes: [UInt8]) throws -> String {
        var reader = ProtoReader(bytes)
        while let (field, wireType) = try reader.nextField() {
            if field == 2 && wireType == .lengthDelimited { return try reader.readString() }
            try reader.skipField(wireType)
        }
        return ""
    }

    /// The task as a model value, its definition decoded (for old route revisions, JSON
    /// and callbacks).
    public func decoded() throws -> BBSTask {
        var task = withoutDefinition
        task.taskDefinition = try TaskDefinition(protobuf: definition.bytes)
        return task
    }

    /// The task's own fields as a model value, without its definition.
    public var withoutDefinition: BBSTask {
        var task = BBSTask()
        task.taskGuid = guid
        task.domain = domain
        task.createdAt = createdAt
        task.updatedAt = updatedAt
        task.firstCompletedAt = firstCompletedAt
        task.state = state
        task.cellId = cellId
        task.result = result
        task.failed = failed
        task.failureReason = failureReason
        task.rejectionCount = rejectionCount
        task.rejectionReason = rejectionReason
        return task
    }
}

extension StoredDefinition {
    /// The canonical stored form of a validated definition.
    public init(_ definition: TaskDefinition) {
        self.init(bytes: definition.protobufBytes(), completionCallbackURL: definition.completionCallbackUrl)
    }
}

extension TaskStore {
    static func encodeDomain(_ domain: String, expiry: Int64) -> [UInt8] {
        var writer = ProtoWriter(capacity: domain.utf8.count + 16)
        writer.writeString(1, domain)
        writer.writeInt64(2, expiry)
        return writer.bytes
    }

    static func decodeDomain(_ bytes: [UInt8]) throws -> (String, Int64) {
        var reader = ProtoReader(bytes)
        var domain = "", expiry: Int64 = 0
        while let (field, wireType) = try reader.nextField() {
            switch (field, wireType) {
            case (1, .lengthDelimited): domain = try reader.readString()
            case (2, .varint): expiry = Int64(bitPattern: try reader.readVarint())
            default: try reader.skipField(wireType)
            }
        }
        return (domain, expiry)
    }
}

/// A minimal protobuf field reader over borrowed bytes, for replaying journal records
/// (a million of them at a restart). It understands what `encodedRecord` writes and
/// answers nil on anything else (groups, truncation, overlong varints), so that the caller
/// can hand the record to `ProtoReader`, the checked general decoder.
private struct RawFieldReader {
    private let buffer: UnsafeRawBufferPointer
    private var position = 0
    /// Set when the input stopped being what this reader understands.
    private(set) var failed = false

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var isAtEnd: Bool { !failed && position == buffer.count }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < buffer.count && shift < 64 {
            let byte = buffer[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        failed = true
        return nil
    }

    /// The next field's number and wire type (0, 1, 2 or 5), or nil at the end or on
    /// anything unexpected.
    mutating func nextField() -> (Int, UInt8)? {
        guard !failed, position < buffer.count, let key = varint() else { return nil }
        let field = key >> 3, wireType = UInt8(key & 7)
        guard field >= 1, field < 1 << 29, wireType == 0 || wireType == 1 || wireType == 2 || wireType == 5 else {
            failed = true
            return nil
        }
        return (Int(field), wireType)
    }

    mutating func bytes() -> UnsafeRawBufferPointer? {
        guard let length = varint(), length <= UInt64(buffer.count - position) else {
            failed = true
            return nil
        }
        let start = position
        position += Int(length)
        return UnsafeRawBufferPointer(rebasing: buffer[start..<position])
    }

    /// A string field, invalid UTF-8 repaired as `ProtoReader.readString` does.
    mutating func string() -> String? {
        guard let bytes = bytes() else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func skip(_ wireType: UInt8) -> Bool {
        switch wireType {
        case 0: return varint() != nil
        case 1, 5:
            let size = wireType == 1 ? 8 : 4
            guard buffer.count - position >= size else {
                failed = true
                return false
            }
            position += size
            return true
        default: return bytes() != nil
        }
    }
}
