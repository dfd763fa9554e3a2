internal import COpenSSL

/// A TLS failure: loading certificates and keys, or one connection's handshake or
/// records. Equal when the kind is equal; `detail` carries OpenSSL's error strings (file
/// names and reasons, never key material).
public struct TLSError: Error, Equatable, CustomStringConvertible, Sendable {
    private enum Code: Equatable, Sendable {
        case notConfigured
        case certificate
        case privateKey
        case trustedCertificates
        case context
        case handshake
        case connection
    }

    private let code: Code
    /// What OpenSSL said, or what was being done when it failed.
    public let detail: String

    private init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// The server was started without a TLS configuration.
    public static let notConfigured = TLSError(.notConfigured, "")
    /// The certificate chain file cannot be read or used.
    public static let certificate = TLSError(.certificate, "")
    /// The private key file cannot be read, or does not match the certificate.
    public static let privateKey = TLSError(.privateKey, "")
    /// The CA file for client certificates cannot be read or holds no certificate.
    public static let trustedCertificates = TLSError(.trustedCertificates, "")
    /// OpenSSL refused a setting (out of memory, or a cipher or version it lacks).
    public static let context = TLSError(.context, "")
    /// The peer failed the handshake: protocol version, cipher, or its certificate.
    public static let handshake = TLSError(.handshake, "")
    /// A record after the handshake was bad (decryption, unexpected message).
    public static let connection = TLSError(.connection, "")

    /// This kind of error with `detail`, and the OpenSSL error queue (emptied) appended.
    func with(_ detail: String) -> TLSError {
        let queue = TLSError.drainErrorQueue()
        let joined = [detail, queue].filter { !$0.isEmpty }.joined(separator: ": ")
        return TLSError(code, joined)
    }

    public static func == (a: TLSError, b: TLSError) -> Bool { a.code == b.code }

    public var description: String {
        let kind: String
        switch code {
        case .notConfigured: kind = "TLS is not configured"
        case .certificate: kind = "bad certificate file"
        case .privateKey: kind = "bad private key file"
        case .trustedCertificates: kind = "bad CA file"
        case .context: kind = "TLS setup failed"
        case .handshake: kind = "TLS handshake failed"
        case .connection: kind = "TLS connection failed"
        }
        return detail.isEmpty ? kind : "\(kind): \(detail)"
    }

    /// OpenSSL's pending errors on this thread, oldest first, as one line; the queue is
    /// left empty. The queue is per thread, so callers clear it before an operation
    /// (`ERR_clear_error`) and read it right after, on the same thread.
    static func drainErrorQueue() -> String {
        var messages: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            buffer.withUnsafeMutableBufferPointer { ERR_error_string_n(code, $0.baseAddress, $0.count) }
            // error:0A000086:SSL routines::certificate verify failed -> keep it whole:
            // the hex code is what operators search for.
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.joined(separator: "; ")
    }
}
