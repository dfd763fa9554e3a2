internal import COpenSSL

/// One TLS session over memory: ciphertext from the peer goes in with `receive`, the
/// ciphertext to send comes out of `takeOutput`, and `handshake`, `read`, `write` and
/// `shutdown` move the session along. No sockets: the connection around it does the I/O.
///
///     peer bytes ──receive──> [networkIn BIO] ──SSL──> read ──> plaintext
///     plaintext  ──write────> SSL ──> [networkOut BIO] ──takeOutput──> bytes to send
///
/// "Needs more input from the peer" is `.incomplete`, a normal result; OpenSSL's error
/// queue becomes a `TLSError` only on failure. The `SSL` and its two memory BIOs are freed
/// in `deinit`. Not thread-safe: one connection's queue uses it.
final class TLSEngine {
    enum Role {
        case server
        /// `serverName` is sent as SNI and checked against the server's certificate.
        case client(serverName: String?)
    }

    enum OperationResult: Equatable {
        case complete
        /// Waiting for the peer's bytes.
        case incomplete
        case failed(TLSError)
    }

    enum ReadResult: Equatable {
        /// This many plaintext bytes were written to the buffer.
        case bytes(Int)
        /// No whole record buffered: wait for the peer's bytes.
        case incomplete
        /// The peer sent close_notify: no more plaintext will come.
        case closed
        case failed(TLSError)
    }

    /// Kept so the `SSL_CTX` (and its ALPN list) outlives this session.
    let context: TLSContext
    private let ssl: OpaquePointer
    /// Ciphertext from the peer, read by OpenSSL. Owned by `ssl`.
    private let networkIn: OpaquePointer
    /// Ciphertext OpenSSL produced, to send. Owned by `ssl`.
    private let networkOut: OpaquePointer

    init(context: TLSContext, role: Role = .server) throws(TLSError) {
        self.context = context
        ERR_clear_error()
        guard let ssl = SSL_new(context.context) else { throw TLSError.context.with("SSL_new") }
        guard let networkIn = BIO_new(BIO_s_mem()), let networkOut = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.context.with("BIO_new")
        }
        // An empty BIO means "not yet", not end of stream: the peer's EOF is the
        // connection's business (see `TLSConnection`).
        _ = COpenSSL_BIO_set_mem_eof_return(networkIn, -1)
        _ = COpenSSL_BIO_set_mem_eof_return(networkOut, -1)
        SSL_set_bio(ssl, networkIn, networkOut)
        self.ssl = ssl
        self.networkIn = networkIn
        self.networkOut = networkOut
        switch role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client(let serverName):
            if let serverName {
                // SNI carries host names only (RFC 6066 §3); SSL_set1_host takes both.
                let isAddress = serverName.contains(":") || serverName.allSatisfy { $0 == "." || $0.isNumber }
                if !isAddress { _ = COpenSSL_SSL_set_tlsext_host_name(ssl, serverName) }
                _ = SSL_set1_host(ssl, serverName)
            }
            SSL_set_connect_state(ssl)
        }
    }

    deinit {
        SSL_free(ssl)  // frees both BIOs
    }

    // MARK: - Input

    /// Buffers ciphertext from the peer (copied; `bytes` may be reused at once).
    func receive(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let chunk = Int32(clamping: remaining)
            let written = BIO_write(networkIn, base, chunk)
            // A memory BIO takes everything or fails to allocate.
            precondition(written == chunk, "BIO_write to a memory BIO failed (out of memory)")
            base += Int(written)
            remaining -= Int(written)
        }
    }

    /// Ciphertext or decrypted plaintext is buffered that `read` has not returned.
    var hasBufferedInput: Bool {
        BIO_ctrl_pending(networkIn) > 0 || SSL_pending(ssl) > 0
    }

    // MARK: - Operations

    func handshake() -> OperationResult {
        ERR_clear_error()
        let status = SSL_do_handshake(ssl)
        if status == 1 { return .complete }
        return classify(status, as: .handshake)
    }

    var isHandshakeComplete: Bool { SSL_is_init_finished(ssl) == 1 }

    /// Decrypts what is buffered into `buffer`, at most one record's worth per call.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return .bytes(0) }
        ERR_clear_error()
        var count = 0
        let status = SSL_read_ex(ssl, base, buffer.count, &count)
        if status == 1 { return .bytes(count) }
        switch SSL_get_error(ssl, status) {
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .incomplete
        case let error:
            return .failed(failure(error, as: .connection))
        }
    }

    /// Encrypts all of `bytes` into the output (memory BIOs never push back).
    func write(_ bytes: UnsafeRawBufferPointer) -> OperationResult {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return .complete }
        ERR_clear_error()
        var written = 0
        let status = SSL_write_ex(ssl, base, bytes.count, &written)
        if status == 1 {
            precondition(written == bytes.count, "SSL_write_ex wrote \(written) of \(bytes.count) bytes")
            return .complete
        }
        return classify(status, as: .connection)
    }

    /// Queues close_notify. `.complete` once the peer's close_notify has arrived too;
    /// `.incomplete` when only ours is sent (enough for a server that closes next).
    func shutdown() -> OperationResult {
        ERR_clear_error()
        let status = SSL_shutdown(ssl)
        switch status {
        case 1: return .complete
        case 0: return .incomplete
        default: return classify(status, as: .connection)
        }
    }

    // MARK: - Output

    /// Ciphertext waiting to be sent.
    var pendingOutputBytes: Int { Int(BIO_ctrl_pending(networkOut)) }

    /// Moves the waiting ciphertext to the end of `out`; returns how many bytes.
    @discardableResult
    func takeOutput(appendingTo out: inout [UInt8]) -> Int {
        let count = pendingOutputBytes
        guard count > 0 else { return 0 }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: count))
        let read = out.withUnsafeMutableBytes { bytes in
            BIO_read(networkOut, bytes.baseAddress! + start, Int32(clamping: count))
        }
        precondition(Int(read) == count, "BIO_read of a memory BIO returned \(read) of \(count) bytes")
        return count
    }

    // MARK: - What was negotiated

    /// The ALPN protocol both sides chose, if any.
    var negotiatedProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// `TLSv1.2` or `TLSv1.3` (OpenSSL's names).
    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// The negotiated cipher suite's OpenSSL name, once the handshake is done.
    var cipherSuite: String? {
        guard let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) else { return nil }
        return String(cString: name)
    }

    /// The peer certificate's subject, one-line form (`/CN=...`), if it sent one.
    var peerCertificateSubject: String? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        guard let name = X509_get_subject_name(certificate) else { return nil }
        var buffer = [CChar](repeating: 0, count: 512)
        return buffer.withUnsafeMutableBufferPointer { pointer -> String? in
            guard let line = X509_NAME_oneline(name, pointer.baseAddress, Int32(pointer.count)) else { return nil }
            return String(cString: line)
        }
    }

    // MARK: - Errors

    private func classify(_ status: Int32, as kind: TLSError) -> OperationResult {
        let error = SSL_get_error(ssl, status)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .incomplete
        default:
            return .failed(failure(error, as: kind))
        }
    }

    /// The error for `SSL_get_error`'s `code`, with OpenSSL's queue and, when the peer's
    /// certificate was refused, the verification's reason.
    private func failure(_ code: Int32, as kind: TLSError) -> TLSError {
        var reasons: [String] = []
        let verification = SSL_get_verify_result(ssl)
        if verification != X509_V_OK, let text = X509_verify_cert_error_string(verification) {
            reasons.append("certificate verification: \(String(cString: text))")
        }
        switch code {
        case SSL_ERROR_SSL:
            break  // the queue says it
        case SSL_ERROR_SYSCALL:
            reasons.append("unexpected end of stream")
        case SSL_ERROR_ZERO_RETURN:
            reasons.append("peer closed the session")
        default:
            reasons.append("SSL_get_error \(code)")
        }
        return kind.with(reasons.joined(separator: "; "))
    }
}
