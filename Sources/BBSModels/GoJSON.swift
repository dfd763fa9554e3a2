// JSON as the reference's Go models produce it with `encoding/json`: object keys in
// struct-field order, strings escaped the way Go escapes them (HTML-safe: `<`, `>`, `&`
// become \u003c, \u003e, \u0026; U+2028 and U+2029 are escaped too), 64-bit integers as
// plain JSON numbers. Used for the completion callback body (lifecycle.md §7) and the
// JSON extension of the API.

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

    private mutating func elementStarts() {
        if afterKey {
            afterKey = false
            return
        }
        guard let last = containerHasElements.indices.last else { return }
        if containerHasElements[last] { bytes.append(UInt8(ascii: ",")) }
        containerHasElements[last] = true
    }

    /// Appends `value` as a JSON string literal escaped as Go's encoding/json does.
    public static func appendQuoted(_ value: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for scalar in value.unicodeScalars {
            switch scalar.value {
            case 0x22: out.append(contentsOf: [0x5c, 0x22])             // \"
            case 0x5c: out.append(contentsOf: [0x5c, 0x5c])             // \\
            case 0x0a: out.append(contentsOf: [0x5c, UInt8(ascii: "n")])
            case 0x0d: out.append(contentsOf: [0x5c, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5c, UInt8(ascii: "t")])
            case 0x00..<0x20, 0x3c, 0x3e, 0x26, 0x2028, 0x2029:
                // Control characters, and Go's HTML-safe and JavaScript-safe escapes.
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

extension TaskCallbackResponse {
    /// The callback body, keys in the Go struct's order; `annotation` is omitted when
    /// empty (`omitempty`), the others are always written.
    public func goJSONBytes() -> [UInt8] {
        var json = GoJSONWriter()
        json.beginObject()
        json.key("task_guid"); json.string(taskGuid)
        json.key("failed"); json.bool(failed)
        json.key("failure_reason"); json.string(failureReason)
        json.key("result"); json.string(result)
        if !annotation.isEmpty { json.key("annotation"); json.string(annotation) }
        json.key("created_at"); json.number(createdAt)
        json.endObject()
        return json.bytes
    }
}
