// JSON as the reference's Go models produce it with `encoding/json` (their `json:` struct
// tags, messages.md §1.5): object keys in struct-field order (= proto field order), strings
// escaped the way Go escapes them, 64-bit integers as plain JSON numbers, enums as names.
// Used for the completion callback body (lifecycle.md §7) and the JSON extension of the API
// (conformance README, "Our JSON extension"). The per-message mapping is in JSONCodec.swift,
// the reading side in JSON/GoJSONObject.swift.

/// A message with the JSON form the reference's Go model has under `encoding/json`.
///
/// Callers use `goJSONBytes()` and `init(goJSON:)`; the two requirements are the
/// per-message halves those are built from.
public protocol GoJSONCodable: Sendable {
    /// Writes the message's members (no braces) in Go struct order: `omitempty` members
    /// only when non-empty, the others always (`null` for an absent sub-message or an
    /// empty list, as Go writes a nil pointer or slice).
    func writeGoJSONMembers(to json: inout GoJSONWriter)

    /// Reads the message from a JSON object: unknown keys are ignored, `null` leaves the
    /// field at its default, a value of the wrong JSON type throws `GoJSONDecodingError`.
    init(goJSONObject object: GoJSONObject) throws
}

extension GoJSONCodable {
    /// The message as one JSON object (UTF-8, no whitespace), as Go's `json.Marshal`.
    public func goJSONBytes() -> [UInt8] {
        var json = GoJSONWriter()
        json.message(self)
        return json.bytes
    }

    /// Decodes a JSON body. A top-level `null` is the empty message (as Go's
    /// `json.Unmarshal` leaves its target alone); anything else but an object throws.
    /// Throws `GoJSONDecodingError`.
    public init(goJSON bytes: [UInt8]) throws {
        self = try GoJSONObject.decode(Self.self, from: bytes)
    }
}

/// Builds one JSON text by appending to a byte buffer.
public struct GoJSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Per open container: whether it already holds an element (so the next needs a comma).
    private var containerHasElements: [Bool] = []
    /// A key was just written: the next value is its value and takes no comma.
    private var afterKey = false

    public init() {}

    public mutating func beginObject() { elementStarts(); bytes.append(UInt8(ascii: "{")); containerHasElements.append(false) }
    public mutating func endObject() { containerHasElements.removeLast(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { elementStarts(); bytes.append(UInt8(ascii: "[")); containerHasElements.append(false) }
    public mutating func endArray() { containerHasElements.removeLast(); bytes.append(UInt8(ascii: "]")) }

    /// Writes `"key":`; the value written next belongs to it.
    public mutating func key(_ key: String) {
        elementStarts()
        Self.appendQuoted(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    public mutating func string(_ value: String) { elementStarts(); Self.appendQuoted(value, to: &bytes) }
    public mutating func bool(_ value: Bool) { elementStarts(); bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    public mutating func null() { elementStarts(); bytes.append(contentsOf: "null".utf8) }
    public mutating func number(_ value: some BinaryInteger) { elementStarts(); bytes.append(contentsOf: String(value).utf8) }

    /// Writes `message` as a JSON object.
    public mutating func message(_ message: some GoJSONCodable) {
        beginObject()
        message.writeGoJSONMembers(to: &self)
        endObject()
    }

    private mutating func elementStarts() {
        if afterKey {
            afterKey = false
            return
        }
        guard let last = containerHasElements.indices.last else { return }
        if containerHasElements[last] { bytes.append(UInt8(ascii: ",")) }
        containerHasElements[last] = true
    }

    /// Appends `value` as a JSON string literal escaped as Go's encoding/json (Go 1.22 and
    /// later) does: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control characters as
    /// `\u00XX`, and the HTML-safe `<`, `>`, `&` and JavaScript-unsafe U+2028, U+2029 as
    /// `\uXXXX` (lower-case hex). Everything else is written as UTF-8.
    public static func appendQuoted(_ value: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for scalar in value.unicodeScalars {
            switch scalar.value {
            case 0x22: out.append(contentsOf: [0x5c, 0x22])             // \"
            case 0x5c: out.append(contentsOf: [0x5c, 0x5c])             // \\
            case 0x08: out.append(contentsOf: [0x5c, UInt8(ascii: "b")])
            case 0x0c: out.append(contentsOf: [0x5c, UInt8(ascii: "f")])
            case 0x0a: out.append(contentsOf: [0x5c, UInt8(ascii: "n")])
            case 0x0d: out.append(contentsOf: [0x5c, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5c, UInt8(ascii: "t")])
            case 0x00..<0x20, 0x3c, 0x3e, 0x26, 0x2028, 0x2029:
                let v = scalar.value
                out.append(contentsOf: [0x5c, UInt8(ascii: "u"),
                                        hex[Int(v >> 12 & 0xf)], hex[Int(v >> 8 & 0xf)],
                                        hex[Int(v >> 4 & 0xf)], hex[Int(v & 0xf)]])
            default:
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

// MARK: - Members as the Go struct tags describe them

// `omitEmpty` is the tag's `,omitempty`: the member is left out when it holds Go's empty
// value (false, 0, "", a nil pointer, an empty slice or map). Without it the member is
// always written, and an absent sub-message or an empty list is `null` (a nil pointer or
// slice, which is what the reference holds after decoding protobuf).
extension GoJSONWriter {
    mutating func member(_ key: String, _ value: String, omitEmpty: Bool = false) {
        if omitEmpty && value.isEmpty { return }
        self.key(key)
        string(value)
    }

    mutating func member(_ key: String, _ value: Bool, omitEmpty: Bool = false) {
        if omitEmpty && !value { return }
        self.key(key)
        bool(value)
    }

    mutating func member(_ key: String, _ value: some FixedWidthInteger, omitEmpty: Bool = false) {
        if omitEmpty && value == 0 { return }
        self.key(key)
        number(value)
    }

    /// An enum whose Go type marshals to its name.
    mutating func member(_ key: String, _ value: Int32, names: GoJSONEnum, omitEmpty: Bool = false) {
        if omitEmpty && value == 0 { return }
        self.key(key)
        string(names.name(of: value))
    }

    mutating func member(_ key: String, _ value: (some GoJSONCodable)?, omitEmpty: Bool = false) {
        guard let value else {
            if !omitEmpty { self.key(key); null() }
            return
        }
        self.key(key)
        message(value)
    }

    mutating func member(_ key: String, _ values: [some GoJSONCodable], omitEmpty: Bool = false) {
        guard writeListKey(key, isEmpty: values.isEmpty, omitEmpty: omitEmpty) else { return }
        beginArray()
        for value in values { message(value) }
        endArray()
    }

    mutating func member(_ key: String, _ values: [String], omitEmpty: Bool = false) {
        guard writeListKey(key, isEmpty: values.isEmpty, omitEmpty: omitEmpty) else { return }
        beginArray()
        for value in values { string(value) }
        endArray()
    }

    mutating func member(_ key: String, _ values: [some FixedWidthInteger], omitEmpty: Bool = false) {
        guard writeListKey(key, isEmpty: values.isEmpty, omitEmpty: omitEmpty) else { return }
        beginArray()
        for value in values { number(value) }
        endArray()
    }

    /// A `map<string, string>` (only ever `omitempty` in these messages).
    mutating func member(_ key: String, _ entries: [MapEntry<String>], omitEmpty: Bool) {
        guard writeListKey(key, isEmpty: entries.isEmpty, omitEmpty: omitEmpty) else { return }
        beginObject()
        for entry in Self.goMapOrder(entries) {
            self.key(entry.key)
            string(entry.value)
        }
        endObject()
    }

    /// A `map<string, Message>`. A nil value (a protobuf entry without value) is written
    /// as `{}`, not Go's `null`: the conformance mapping reads every map value as an
    /// object, and an empty message is what protobuf clients see for such an entry.
    mutating func member<Value: GoJSONCodable>(_ key: String, _ entries: [MapEntry<Value?>], omitEmpty: Bool) {
        guard writeListKey(key, isEmpty: entries.isEmpty, omitEmpty: omitEmpty) else { return }
        beginObject()
        for entry in Self.goMapOrder(entries) {
            self.key(entry.key)
            if let value = entry.value {
                message(value)
            } else {
                beginObject()
                endObject()
            }
        }
        endObject()
    }

    /// Writes the key of a list or map member, or `key: null` for an empty one without
    /// `omitempty`. Returns whether the caller must write the value.
    private mutating func writeListKey(_ key: String, isEmpty: Bool, omitEmpty: Bool) -> Bool {
        if isEmpty {
            if !omitEmpty { self.key(key); null() }
            return false
        }
        self.key(key)
        return true
    }

    /// A Go map's JSON: one entry per key, the last value of a repeated key winning (the
    /// model keeps protobuf entries as received), keys sorted by their UTF-8 bytes.
    /// Keys are compared as bytes, not as Swift strings, which would merge canonically
    /// equivalent but different keys.
    private static func goMapOrder<Value>(_ entries: [MapEntry<Value>]) -> [MapEntry<Value>] {
        var lastIndexOfKey: [[UInt8]: Int] = [:]
        for (index, entry) in entries.enumerated() {
            lastIndexOfKey[Array(entry.key.utf8)] = index
        }
        return lastIndexOfKey
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
            .map { entries[$0.value] }
    }
}
