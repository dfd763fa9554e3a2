/// Why a protobuf body could not be decoded. Equality compares only the kind of failure;
/// `offset` says where in the reader's buffer it was detected.
public struct ProtoDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case truncated
        case malformedVarint
        case lengthOverflow
        case invalidFieldNumber
        case invalidWireType
        case wrongWireType
        case unmatchedEndGroup
        case unterminatedGroup
        case depthLimitExceeded
    }

    private let code: Code
    /// Byte offset (in the buffer the reader was created with) where the failure was found.
    public let offset: Int

    private init(_ code: Code, offset: Int) {
        self.code = code
        self.offset = offset
    }

    /// The input ends inside a key, value or fixed-size field.
    public static let truncated = ProtoDecodingError(.truncated, offset: 0)
    /// A varint longer than 10 bytes.
    public static let malformedVarint = ProtoDecodingError(.malformedVarint, offset: 0)
    /// A length prefix that runs past the end of the enclosing message (or does not fit an Int).
    public static let lengthOverflow = ProtoDecodingError(.lengthOverflow, offset: 0)
    /// Field number 0, or above 2^29 - 1.
    public static let invalidFieldNumber = ProtoDecodingError(.invalidFieldNumber, offset: 0)
    /// Wire type 6 or 7.
    public static let invalidWireType = ProtoDecodingError(.invalidWireType, offset: 0)
    /// A known field arrived with a wire type its declared type cannot have.
    public static let wrongWireType = ProtoDecodingError(.wrongWireType, offset: 0)
    /// An end-group key without a matching start-group.
    public static let unmatchedEndGroup = ProtoDecodingError(.unmatchedEndGroup, offset: 0)
    /// A start-group whose end-group never comes.
    public static let unterminatedGroup = ProtoDecodingError(.unterminatedGroup, offset: 0)
    /// Sub-messages or groups nested deeper than `ProtoReader.maximumDepth`.
    public static let depthLimitExceeded = ProtoDecodingError(.depthLimitExceeded, offset: 0)

    func at(_ offset: Int) -> ProtoDecodingError { ProtoDecodingError(code, offset: offset) }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String {
        let what: String
        switch code {
        case .truncated: what = "truncated input"
        case .malformedVarint: what = "varint longer than 10 bytes"
        case .lengthOverflow: what = "length past the end of the message"
        case .invalidFieldNumber: what = "invalid field number"
        case .invalidWireType: what = "invalid wire type"
        case .wrongWireType: what = "wrong wire type for a known field"
        case .unmatchedEndGroup: what = "end-group without a matching start-group"
        case .unterminatedGroup: what = "unterminated group"
        case .depthLimitExceeded: what = "nesting deeper than \(ProtoReader.maximumDepth)"
        }
        return "protobuf decoding failed at byte \(offset): \(what)"
    }
}
