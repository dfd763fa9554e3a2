import Foundation
import ProtoWire

// Reading JSON request bodies the way Go's `encoding/json` fills the reference's structs,
// with a little more leniency where a person typing curl commands benefits:
//
// - Foundation's JSONDecoder parses the text (UTF-8, at most 512 levels deep) and the codec
//   reads the members it knows through keyed containers. Its typed decoding keeps
//   `true`/`false` apart from numbers, which NSNumber bridging does not (`1 as? Bool`
//   succeeds on Linux). The values of unknown keys are never decoded, so hostile nesting
//   inside them costs no recursion of ours.
// - Keys are matched exactly; unknown keys are ignored; `null` leaves a field at its
//   default (Go leaves the target alone).
// - Strings, booleans, objects and lists must have their JSON type. Integer fields take
//   JSON numbers that are whole and in range (Go also refuses `1.0`; JSONDecoder hands it
//   over as 1, so we take it). Enums take their name (as Go does), their number, or the
//   number's decimal digits (what Go writes for a number without a name).
// - Sub-messages nest at most `ProtoReader.maximumDepth` deep, the limit of the protobuf
//   decoder, so everything accepted as JSON can be re-read from its protobuf encoding.
//
// Where Go differs and we do not follow: Go also matches keys case-insensitively, keeps the
// last of duplicated keys (JSONDecoder keeps the first), reads invalid UTF-8 in strings as
// U+FFFD (we refuse it in the members we read), and reads unknown `MetricTagValue.dynamic`
// names as 0 (we refuse them).

/// An object member's name as a coding key.
private struct MemberKey: CodingKey {
    let stringValue: String
    init(_ name: String) { stringValue = name }
    init(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

/// A whole body decoded as `Message` (the top level of `init(goJSON:)`).
private struct GoJSONBody<Message: GoJSONCodable>: Decodable {
    let message: Message

    init(from decoder: any Decoder) throws {
        let body = GoJSONValue(decoder, path: "")
        if try body.isNull {
            message = try Message(goJSONObject: GoJSONObject(members: nil, path: "", depth: 0))
        } else {
            message = try Message(goJSONObject: GoJSONObject(members: body.object(), path: "", depth: 0))
        }
    }
}

/// One JSON value, read with the type its field asks for. Type errors of JSONDecoder
/// become `GoJSONDecodingError`s naming `path`.
private struct GoJSONValue {
    let decoder: any Decoder
    let path: String

    init(_ decoder: any Decoder, path: String) {
        self.decoder = decoder
        self.path = path
    }

    var isNull: Bool {
        get throws { try decoder.singleValueContainer().decodeNil() }
    }

    func string() throws -> String {
        try typed("a string of UTF-8", otherFailure: .malformed) { try decoder.singleValueContainer().decode(String.self) }
    }

    func bool() throws -> Bool {
        try typed("true or false") { try decoder.singleValueContainer().decode(Bool.self) }
    }

    func integer<Integer: FixedWidthInteger & Decodable>() throws -> Integer {
        try typed("a whole number within \(Integer.self)", otherFailure: .numberOutOfRange) {
            try decoder.singleValueContainer().decode(Integer.self)
        }
    }

    func enumNumber(_ names: GoJSONEnum) throws -> Int32 {
        guard let name = try? decoder.singleValueContainer().decode(String.self) else {
            return try typed("a name of \(names.typeName) or a number", otherFailure: .numberOutOfRange) {
                try decoder.singleValueContainer().decode(Int32.self)
            }
        }
        guard let number = names.number(named: name) else {
            throw GoJSONDecodingError.unknownEnumName.with(path: path, detail: "no \(names.typeName) is named \"\(name)\"")
        }
        return number
    }

    func object() throws -> KeyedDecodingContainer<MemberKey> {
        try typed("an object") { try decoder.container(keyedBy: MemberKey.self) }
    }

    /// The value as the message one level below `depth`.
    func message<Message: GoJSONCodable>(below depth: Int) throws -> Message {
        let members = try object()
        try GoJSONObject.checkDepth(depth, at: path)
        return try Message(goJSONObject: GoJSONObject(members: members, path: path, depth: depth + 1))
    }

    /// The elements of an array.
    func elements() throws -> [GoJSONValue] {
        var list = try typed("an array") { try decoder.unkeyedContainer() }
        var elements: [GoJSONValue] = []
        while !list.isAtEnd {
            let elementPath = "\(path)[\(list.currentIndex)]"
            elements.append(GoJSONValue(try list.superDecoder(), path: elementPath))
        }
        return elements
    }

    /// The members of an object, sorted by key (JSON objects are unordered).
    func entries() throws -> [(key: String, value: GoJSONValue)] {
        let members = try object()
        return try members.allKeys
            .sorted { $0.stringValue.utf8.lexicographicallyPrecedes($1.stringValue.utf8) }
            .map { key in
                (key.stringValue, GoJSONValue(try members.superDecoder(forKey: key), path: "\(path)[\(key.stringValue)]"))
            }
    }

    /// Runs one typed read. JSONDecoder reports a value of another JSON type as
    /// `DecodingError.typeMismatch`, and a number that does not fit (or a string that is
    /// not UTF-8) with an error of its own, which becomes `otherFailure`.
    private func typed<T>(_ expected: String, otherFailure: GoJSONDecodingError = .typeMismatch,
                          _ decode: () throws -> T) throws -> T {
        do {
            return try decode()
        } catch DecodingError.typeMismatch {
            throw GoJSONDecodingError.typeMismatch.with(path: path, detail: "expected \(expected)")
        } catch {
            throw otherFailure.with(path: path, detail: "expected \(expected)")
        }
    }
}

/// The members of one JSON object being read into a message. Only the codec reads it.
public struct GoJSONObject {
    /// nil for a `null` body or list element, which has no members.
    private let members: KeyedDecodingContainer<MemberKey>?
    /// Where the object is in the body (`task_definition.action.run`), for errors.
    private let path: String
    /// How many sub-messages deep the object is (the body's top level is 0).
    private let depth: Int

    fileprivate init(members: KeyedDecodingContainer<MemberKey>?, path: String, depth: Int) {
        self.members = members
        self.path = path
        self.depth = depth
    }

    /// Decodes a whole body as `Message`. Throws `GoJSONDecodingError`.
    static func decode<Message: GoJSONCodable>(_ type: Message.Type, from bytes: [UInt8]) throws -> Message {
        do {
            return try JSONDecoder().decode(GoJSONBody<Message>.self, from: Data(bytes)).message
        } catch let error as GoJSONDecodingError {
            throw error
        } catch {
            throw GoJSONDecodingError.malformed.with(path: "", detail: "not a JSON text")
        }
    }

    fileprivate static func checkDepth(_ depth: Int, at path: String) throws {
        guard depth < ProtoReader.maximumDepth else {
            throw GoJSONDecodingError.depthLimitExceeded.with(
                path: path, detail: "messages nested deeper than \(ProtoReader.maximumDepth)")
        }
    }

    /// The same members read as a message embedded one level down (a Task's definition,
    /// whose fields Go inlines into the task object).
    func embedded() throws -> GoJSONObject {
        try Self.checkDepth(depth, at: path)
        return GoJSONObject(members: members, path: path, depth: depth + 1)
    }

    /// Whether any of `keys` is present (even as `null`: Go then allocates an embedded
    /// struct before it sees the value).
    func containsAny(of keys: [String]) -> Bool {
        guard let members else { return false }
        return keys.contains { members.contains(MemberKey($0)) }
    }

    // MARK: Reading members into fields

    func read(_ key: String, into field: inout String) throws {
        if let value = try member(key) { field = try value.string() }
    }

    func read(_ key: String, into field: inout Bool) throws {
        if let value = try member(key) { field = try value.bool() }
    }

    func read<Integer: FixedWidthInteger & Decodable>(_ key: String, into field: inout Integer) throws {
        if let value = try member(key) { field = try value.integer() }
    }

    /// An integer with presence (a oneof member): set when the key holds a number.
    func read<Integer: FixedWidthInteger & Decodable>(_ key: String, into field: inout Integer?) throws {
        if let value = try member(key) { field = try value.integer() as Integer }
    }

    /// An enum field: a name of `names`, a number, or a number's decimal digits.
    func read(_ key: String, names: GoJSONEnum, into field: inout Int32) throws {
        if let value = try member(key) { field = try value.enumNumber(names) }
    }

    func read<Message: GoJSONCodable>(_ key: String, into field: inout Message?) throws {
        if let value = try member(key) { field = try value.message(below: depth) as Message }
    }

    /// A list of strings; a `null` element is "".
    func read(_ key: String, into field: inout [String]) throws {
        guard let value = try member(key) else { return }
        field = try value.elements().map { try $0.isNull ? "" : $0.string() }
    }

    /// A list of integers; a `null` element is 0.
    func read<Integer: FixedWidthInteger & Decodable>(_ key: String, into field: inout [Integer]) throws {
        guard let value = try member(key) else { return }
        field = try value.elements().map { try $0.isNull ? 0 : $0.integer() }
    }

    /// A list of messages; a `null` element is an empty message.
    func read<Message: GoJSONCodable>(_ key: String, into field: inout [Message]) throws {
        guard let value = try member(key) else { return }
        field = try value.elements().map { element in
            if try element.isNull {
                try Self.checkDepth(depth, at: element.path)
                return try Message(goJSONObject: GoJSONObject(members: nil, path: element.path, depth: depth + 1))
            }
            return try element.message(below: depth)
        }
    }

    /// A `map<string, string>`; a `null` value is "".
    func read(_ key: String, into field: inout [MapEntry<String>]) throws {
        guard let value = try member(key) else { return }
        field = try value.entries().map { MapEntry(key: $0.key, value: try $0.value.isNull ? "" : $0.value.string()) }
    }

    /// A `map<string, Message>`; a `null` value is an entry without value.
    func read<Message: GoJSONCodable>(_ key: String, into field: inout [MapEntry<Message?>]) throws {
        guard let value = try member(key) else { return }
        field = try value.entries().map { entry in
            MapEntry(key: entry.key, value: try entry.value.isNull ? nil : entry.value.message(below: depth) as Message)
        }
    }

    /// The member `key`, or nil when it is absent or `null`.
    private func member(_ key: String) throws -> GoJSONValue? {
        let memberKey = MemberKey(key)
        guard let members, members.contains(memberKey) else { return nil }
        let value = GoJSONValue(try members.superDecoder(forKey: memberKey), path: path.isEmpty ? key : path + "." + key)
        return try value.isNull ? nil : value
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

    /// Not a JSON text (syntax, nesting beyond the parser's limit), or a string member
    /// that is not UTF-8.
    public static let malformed = GoJSONDecodingError(.malformed)
    /// A value of the wrong JSON type for its field (`"memory_mb": "lots"`, a body that is
    /// an array).
    public static let typeMismatch = GoJSONDecodingError(.typeMismatch)
    /// A number that is not whole or does not fit its field (`1.5`, `-1` for a uint32).
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
