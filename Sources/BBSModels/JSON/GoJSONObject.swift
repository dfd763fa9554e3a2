import Foundation
import ProtoWire

// Reading JSON request bodies the way Go's `encoding/json` fills the reference's structs,
// with a little more leniency where a person typing curl commands benefits:
//
// - Foundation's JSONDecoder parses the text (UTF-8, at most 512 levels deep) into a
//   `GoJSONValue` tree; its typed decoding keeps `true`/`false` apart from numbers, which
//   NSNumber bridging does not (`1 as? Bool` succeeds on Linux).
// - Keys are matched exactly; unknown keys are ignored; `null` leaves a field at its
//   default (Go leaves the target alone).
// - Strings, booleans and lists must have their JSON type. Integer fields take JSON
//   numbers that are whole and in range (Go also refuses `1.0`; JSONDecoder hands it over
//   as 1, so we take it). Enums take their name (as Go does), their number, or the
//   number's decimal digits (what Go writes for a number without a name).
// - Sub-messages nest at most `ProtoReader.maximumDepth` deep, the limit of the protobuf
//   decoder, so everything accepted as JSON can be re-read from its protobuf encoding.
//
// Where Go differs and we do not follow: Go also matches keys case-insensitively, keeps the
// last of duplicated keys (JSONDecoder keeps the first), accepts invalid UTF-8 in strings
// (we reject the body), and reads unknown `MetricTagValue.dynamic` names as 0 (we reject).

/// One parsed JSON value.
enum GoJSONValue: Sendable, Decodable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// An integer above `Int64.max`.
    case unsignedInteger(UInt64)
    case float(Double)
    case string(String)
    case array([GoJSONValue])
    case object([String: GoJSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(UInt64.self) {
            self = .unsignedInteger(value)
        } else if let value = try? container.decode(Double.self) {
            self = .float(value)
        } else if let value = try? container.decode([String: GoJSONValue].self) {
            self = .object(value)
        } else {
            self = .array(try container.decode([GoJSONValue].self))
        }
    }

    /// What the value is, for error messages ("got a string").
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .unsignedInteger, .float: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// The members of one JSON object being read into a message. Only the codec reads it.
public struct GoJSONObject: Sendable {
    private let members: [String: GoJSONValue]
    /// Where the object is in the body (`task_definition.action.run`), for errors.
    private let path: String
    /// How many sub-messages deep the object is (the body's top level is 0).
    private let depth: Int

    private init(members: [String: GoJSONValue], path: String, depth: Int) {
        self.members = members
        self.path = path
        self.depth = depth
    }

    /// Parses a whole body. Throws `GoJSONDecodingError`.
    init(parsing bytes: [UInt8]) throws {
        let value: GoJSONValue
        do {
            value = try JSONDecoder().decode(GoJSONValue.self, from: Data(bytes))
        } catch {
            throw GoJSONDecodingError.malformed.with(path: "", detail: "not a JSON text (\(error))")
        }
        switch value {
        case .object(let members): self.init(members: members, path: "", depth: 0)
        case .null: self.init(members: [:], path: "", depth: 0)
        default: throw GoJSONDecodingError.typeMismatch.with(path: "", detail: "expected an object, got \(value.kind)")
        }
    }

    /// The same members read as a message embedded one level down (a Task's definition,
    /// whose fields Go inlines into the task object).
    func embedded() throws -> GoJSONObject {
        try checkDepth(at: path)
        return GoJSONObject(members: members, path: path, depth: depth + 1)
    }

    /// Whether any of `keys` is present (even as `null`: Go then allocates an embedded
    /// struct before it sees the value).
    func containsAny(of keys: [String]) -> Bool {
        keys.contains { members[$0] != nil }
    }

    // MARK: Reading members into fields

    func read(_ key: String, into field: inout String) throws {
        guard let value = members[key], !value.isNull else { return }
        field = try string(value, at: path(key))
    }

    func read(_ key: String, into field: inout Bool) throws {
        guard let value = members[key], !value.isNull else { return }
        guard case .bool(let bool) = value else { throw mismatch(at: path(key), expected: "true or false", got: value) }
        field = bool
    }

    func read<Integer: FixedWidthInteger>(_ key: String, into field: inout Integer) throws {
        guard let value = members[key], !value.isNull else { return }
        field = try integer(value, at: path(key))
    }

    /// An integer with presence (a oneof member): set when the key holds a number.
    func read<Integer: FixedWidthInteger>(_ key: String, into field: inout Integer?) throws {
        guard let value = members[key], !value.isNull else { return }
        field = try integer(value, at: path(key)) as Integer
    }

    /// An enum field: a name of `names`, a number, or a number's decimal digits.
    func read(_ key: String, names: GoJSONEnum, into field: inout Int32) throws {
        guard let value = members[key], !value.isNull else { return }
        let path = path(key)
        if case .string(let name) = value {
            guard let number = names.number(named: name) else {
                throw GoJSONDecodingError.unknownEnumName.with(path: path, detail: "no \(names.typeName) is named \"\(name)\"")
            }
            field = number
        } else {
            field = try integer(value, at: path)
        }
    }

    func read<Message: GoJSONCodable>(_ key: String, into field: inout Message?) throws {
        guard let value = members[key], !value.isNull else { return }
        field = try message(value, at: path(key))
    }

    func read(_ key: String, into field: inout [String]) throws {
        guard let value = members[key], !value.isNull else { return }
        field = try elements(value, at: path(key)) { element, path in
            element.isNull ? "" : try string(element, at: path)
        }
    }

    func read<Integer: FixedWidthInteger>(_ key: String, into field: inout [Integer]) throws {
        guard let value = members[key], !value.isNull else { return }
        field = try elements(value, at: path(key)) { element, path in
            element.isNull ? 0 : try integer(element, at: path)
        }
    }

    /// A list of messages; a `null` element is an empty message.
    func read<Message: GoJSONCodable>(_ key: String, into field: inout [Message]) throws {
        guard let value = members[key], !value.isNull else { return }
        field = try elements(value, at: path(key)) { element, path in
            element.isNull ? try message(.object([:]), at: path) : try message(element, at: path)
        }
    }

    /// A `map<string, string>`; entries come out sorted by key (JSON objects are unordered).
    func read(_ key: String, into field: inout [MapEntry<String>]) throws {
        guard let value = members[key], !value.isNull else { return }
        field = try entries(value, at: path(key)) { element, path in
            element.isNull ? "" : try string(element, at: path)
        }
    }

    /// A `map<string, Message>`; a `null` value is an entry without value.
    func read<Message: GoJSONCodable>(_ key: String, into field: inout [MapEntry<Message?>]) throws {
        guard let value = members[key], !value.isNull else { return }
        field = try entries(value, at: path(key)) { element, path in
            element.isNull ? nil : try message(element, at: path) as Message
        }
    }

    // MARK: Values

    private func path(_ key: String) -> String {
        path.isEmpty ? key : path + "." + key
    }

    private func mismatch(at path: String, expected: String, got value: GoJSONValue) -> GoJSONDecodingError {
        GoJSONDecodingError.typeMismatch.with(path: path, detail: "expected \(expected), got \(value.kind)")
    }

    private func checkDepth(at path: String) throws {
        guard depth < ProtoReader.maximumDepth else {
            throw GoJSONDecodingError.depthLimitExceeded.with(
                path: path, detail: "messages nested deeper than \(ProtoReader.maximumDepth)")
        }
    }

    private func string(_ value: GoJSONValue, at path: String) throws -> String {
        guard case .string(let string) = value else { throw mismatch(at: path, expected: "a string", got: value) }
        return string
    }

    private func integer<Integer: FixedWidthInteger>(_ value: GoJSONValue, at path: String) throws -> Integer {
        let converted: Integer?
        switch value {
        case .integer(let number): converted = Integer(exactly: number)
        case .unsignedInteger(let number): converted = Integer(exactly: number)
        case .float(let number):
            throw GoJSONDecodingError.typeMismatch.with(path: path, detail: "expected a whole number, got \(number)")
        default: throw mismatch(at: path, expected: "a whole number", got: value)
        }
        guard let converted else {
            throw GoJSONDecodingError.numberOutOfRange.with(path: path, detail: "does not fit \(Integer.self)")
        }
        return converted
    }

    private func message<Message: GoJSONCodable>(_ value: GoJSONValue, at path: String) throws -> Message {
        guard case .object(let members) = value else { throw mismatch(at: path, expected: "an object", got: value) }
        try checkDepth(at: path)
        return try Message(goJSONObject: GoJSONObject(members: members, path: path, depth: depth + 1))
    }

    private func elements<Element>(_ value: GoJSONValue, at path: String,
                                   _ convert: (GoJSONValue, String) throws -> Element) throws -> [Element] {
        guard case .array(let elements) = value else { throw mismatch(at: path, expected: "an array", got: value) }
        return try elements.enumerated().map { index, element in try convert(element, "\(path)[\(index)]") }
    }

    private func entries<Value>(_ value: GoJSONValue, at path: String,
                                _ convert: (GoJSONValue, String) throws -> Value) throws -> [MapEntry<Value>] {
        guard case .object(let members) = value else { throw mismatch(at: path, expected: "an object", got: value) }
        return try members
            .sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map { key, element in MapEntry(key: key, value: try convert(element, "\(path)[\(key)]")) }
    }
}

extension GoJSONValue {
    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// The JSON names of one protobuf enum whose Go type marshals to its name.
struct GoJSONEnum: Sendable {
    /// The proto enum's name, for error messages (`Task.State`).
    let typeName: String
    private let names: [Int32: String]
    private let numbers: [String: Int32]
    /// What Go writes for a number without a name: its decimal digits (the enum's
    /// `String()`), or "" (`MetricTagValue.DynamicValue` looks names up in a map).
    private let unnamedAsDecimal: Bool

    init(_ typeName: String, _ names: [Int32: String], unnamedAsDecimal: Bool = true) {
        self.typeName = typeName
        self.names = names
        self.numbers = Dictionary(uniqueKeysWithValues: names.map { ($0.value, $0.key) })
        self.unnamedAsDecimal = unnamedAsDecimal
    }

    func name(of number: Int32) -> String {
        names[number] ?? (unnamedAsDecimal ? String(number) : "")
    }

    /// The number of a name, or of a number written as decimal digits.
    func number(named name: String) -> Int32? {
        numbers[name] ?? Int32(name)
    }

    static let taskState = GoJSONEnum("Task.State", Dictionary(uniqueKeysWithValues: [
        TaskState.invalid, .pending, .running, .completed, .resolving,
    ].map { ($0.rawValue, $0.description) }))
    static let errorType = GoJSONEnum("Error.Type", BBSError.ErrorType.names)
    static let imageLayerType = GoJSONEnum("ImageLayer.Type", [0: "LayerTypeInvalid", 1: "SHARED", 2: "EXCLUSIVE"])
    static let imageLayerMediaType = GoJSONEnum("ImageLayer.MediaType", [0: "MediaTypeInvalid", 1: "TGZ", 2: "TAR", 3: "ZIP"])
    static let imageLayerDigestAlgorithm = GoJSONEnum("ImageLayer.DigestAlgorithm", [0: "DigestAlgorithmInvalid", 1: "SHA256", 2: "SHA512"])
    static let dynamicValue = GoJSONEnum("MetricTagValue.DynamicValue", [0: "DynamicValueInvalid", 1: "INDEX", 2: "INSTANCE_GUID"],
                                         unnamedAsDecimal: false)
}

/// Why a JSON body could not be read into a message. Equality compares only the kind of
/// failure; `path` (`task_definition.memory_mb`) and `detail` say where and what.
public struct GoJSONDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case malformed
        case typeMismatch
        case numberOutOfRange
        case unknownEnumName
        case depthLimitExceeded
    }

    private let code: Code
    /// The member the failure is about, as dotted keys and `[index]`; "" for the body.
    public let path: String
    public let detail: String

    private init(_ code: Code, path: String = "", detail: String = "") {
        self.code = code
        self.path = path
        self.detail = detail
    }

    /// Not a JSON text (syntax, encoding, nesting beyond the parser's limit).
    public static let malformed = GoJSONDecodingError(.malformed)
    /// A value of the wrong JSON type for its field (`"memory_mb": "lots"`, a fraction for
    /// an integer, a body that is an array).
    public static let typeMismatch = GoJSONDecodingError(.typeMismatch)
    /// A whole number that does not fit its field (`-1` for a uint32).
    public static let numberOutOfRange = GoJSONDecodingError(.numberOutOfRange)
    /// An enum given as a string that is not one of its names.
    public static let unknownEnumName = GoJSONDecodingError(.unknownEnumName)
    /// Sub-messages nested deeper than `ProtoReader.maximumDepth`.
    public static let depthLimitExceeded = GoJSONDecodingError(.depthLimitExceeded)

    func with(path: String, detail: String) -> GoJSONDecodingError {
        GoJSONDecodingError(code, path: path, detail: detail)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String {
        "JSON decoding failed" + (path.isEmpty ? "" : " at \(path)") + ": " + detail
    }
}
