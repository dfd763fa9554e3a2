internal import COpenSSL

/// Where the server's TLS identity comes from, and how clients must authenticate.
///
///     var tls = TLSConfiguration(certificateChainFile: "server.pem", privateKeyFile: "server.key")
///     tls.clientCAFile = "ca.pem"          // mutual TLS, as the reference BBS requires
///     configuration.tls = tls
public struct TLSConfiguration: Sendable, Equatable {
    /// PEM: the server's certificate, then any intermediate certificates.
    public var certificateChainFile: String
    /// PEM: the certificate's private key, unencrypted (a daemon cannot answer a prompt).
    public var privateKeyFile: String
    /// PEM: the CA certificates client certificates must chain to. When set, every client
    /// must present a certificate that verifies against them, or the handshake fails (the
    /// reference's `RequireAndVerifyClientCert`); when nil, none is asked for.
    public var clientCAFile: String?
    /// A connection whose handshake has not completed within this is closed, so a client
    /// that connects and stalls holds no slot for long.
    public var handshakeTimeout: Duration = .seconds(10)

    public init(certificateChainFile: String, privateKeyFile: String, clientCAFile: String? = nil) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.clientCAFile = clientCAFile
    }

    /// Reads the files and builds the context exactly as `HTTPServer.start` does, so a
    /// configuration check reports what the server would refuse.
    public func validate() throws(TLSError) {
        _ = try TLSContext(server: self, alpnProtocols: HTTPServer.alpnProtocols)
    }
}

/// How an outbound client verifies servers and, optionally, proves who it is.
///
///     var tls = TLSClientConfiguration()
///     tls.trustedCAFile = "ca.pem"                  // in addition to the system trust store
///     tls.certificateChainFile = "client.pem"       // mutual TLS
///     tls.privateKeyFile = "client.key"
public struct TLSClientConfiguration: Sendable, Equatable {
    /// PEM CA certificates trusted in addition to the system's default trust store.
    public var trustedCAFile: String?
    /// PEM client certificate (then intermediates) presented when the server asks; with
    /// `privateKeyFile`, or neither.
    public var certificateChainFile: String?
    /// PEM: the client certificate's unencrypted private key.
    public var privateKeyFile: String?

    public init(trustedCAFile: String? = nil, certificateChainFile: String? = nil, privateKeyFile: String? = nil) {
        self.trustedCAFile = trustedCAFile
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
    }

    /// Reads the files and builds a context as a client would, so a configuration
    /// check reports an unreadable file or a certificate that does not match its key.
    public func validate() throws(TLSError) {
        _ = try TLSContext(client: self)
    }
}

/// A configured `SSL_CTX`: the certificate and key, the trusted client CAs, versions,
/// ciphers and ALPN. Immutable once built; each connection's `TLSEngine` keeps the
/// context it was made from, so replacing the server's context (a certificate reload)
/// affects only new connections.
final class TLSContext: @unchecked Sendable {
    // Invariant: `context` is configured in `init` and never changed afterwards; OpenSSL
    // lets any thread create `SSL` objects from a configured `SSL_CTX`. `alpnProtocolList`
    // is written in `init` and only read by OpenSSL's callback.

    /// TLS 1.2 suites: the reference's two (ECDHE-RSA with AES-GCM), and their ECDSA
    /// twins for an ECDSA certificate. TLS 1.3 keeps OpenSSL's default suites (all AEAD).
    static let tls12CipherList = [
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    ].joined(separator: ":")

    let context: OpaquePointer
    /// The protocols offered through ALPN, most preferred first.
    let alpnProtocols: [String]
    /// Client certificates are required and verified.
    let requiresClientCertificate: Bool
    /// `alpnProtocols` in ALPN wire format (each name after its length byte), preceded by
    /// the total length as a 16-bit native integer; the argument of the select callback.
    private let alpnProtocolList: UnsafeMutableRawBufferPointer

    /// Takes ownership of `context` (freed in `deinit`) and installs the ALPN selection
    /// when `alpnProtocols` is not empty. Servers are built with `init(server:)`; tests
    /// use this for their client contexts.
    init(adopting context: OpaquePointer, alpnProtocols: [String], requiresClientCertificate: Bool = false) {
        self.context = context
        self.alpnProtocols = alpnProtocols
        self.requiresClientCertificate = requiresClientCertificate
        let wire = Self.alpnWireFormat(alpnProtocols)
        alpnProtocolList = .allocate(byteCount: 2 + wire.count, alignment: 2)
        alpnProtocolList.storeBytes(of: UInt16(wire.count), as: UInt16.self)
        UnsafeMutableRawBufferPointer(rebasing: alpnProtocolList[2...]).copyBytes(from: wire)
    }

    /// A server context from `configuration`, offering `alpnProtocols` (the client's
    /// preference among them is ignored: the first we both speak wins). Reads the files
    /// now; nothing is kept open.
    convenience init(server configuration: TLSConfiguration, alpnProtocols: [String]) throws(TLSError) {
        ERR_clear_error()
        guard let raw = SSL_CTX_new(TLS_server_method()) else { throw TLSError.context.with("SSL_CTX_new") }
        self.init(adopting: raw, alpnProtocols: alpnProtocols,
                  requiresClientCertificate: configuration.clientCAFile != nil)
        try configureServer(configuration)
    }

    /// A client context from `configuration`: TLS 1.2 and 1.3, the server's certificate
    /// verified against the system trust store plus `trustedCAFile` (the host name is
    /// checked per connection, by `TLSEngine`'s `.client(serverName:)`), and the client
    /// certificate if one is configured. Reads the files now.
    convenience init(client configuration: TLSClientConfiguration) throws(TLSError) {
        ERR_clear_error()
        guard let raw = SSL_CTX_new(TLS_client_method()) else { throw TLSError.context.with("SSL_CTX_new") }
        self.init(adopting: raw, alpnProtocols: [])
        guard COpenSSL_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1 else {
            throw TLSError.context.with("cannot limit versions to TLS 1.2+")
        }
        SSL_CTX_set_options(context, COpenSSL_SSL_OP_NO_RENEGOTIATION() | COpenSSL_SSL_OP_NO_COMPRESSION()
            | COpenSSL_SSL_OP_IGNORE_UNEXPECTED_EOF())
        SSL_CTX_set_default_passwd_cb(context, refusePassphrase)
        // A host without a CA bundle still verifies against `trustedCAFile`, so a
        // failure to find the default paths is not an error.
        _ = SSL_CTX_set_default_verify_paths(context)
        if let caFile = configuration.trustedCAFile {
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw TLSError.trustedCertificates.with(caFile)
            }
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        switch (configuration.certificateChainFile, configuration.privateKeyFile) {
        case (nil, nil):
            break
        case (let certificate?, let key?):
            guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1 else {
                throw TLSError.certificate.with(certificate)
            }
            guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
                throw TLSError.privateKey.with(key)
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw TLSError.privateKey.with("\(key) does not match \(certificate)")
            }
        case (let certificate?, nil):
            throw TLSError.privateKey.with("no private key for \(certificate)")
        case (nil, let key?):
            throw TLSError.certificate.with("no certificate for \(key)")
        }
    }

    deinit {
        SSL_CTX_free(context)
        alpnProtocolList.deallocate()
    }

    private func configureServer(_ configuration: TLSConfiguration) throws(TLSError) {
        // TLS 1.2 and 1.3 only: an older client gets a protocol_version alert.
        guard COpenSSL_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1,
              COpenSSL_SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION) == 1 else {
            throw TLSError.context.with("cannot limit versions to TLS 1.2-1.3")
        }
        SSL_CTX_set_options(context, COpenSSL_SSL_OP_CIPHER_SERVER_PREFERENCE()
            | COpenSSL_SSL_OP_NO_RENEGOTIATION() | COpenSSL_SSL_OP_NO_COMPRESSION()
            // A peer that drops TCP without close_notify ends the stream like one that
            // sends it; HTTP framing already tells a complete message from a cut one.
            | COpenSSL_SSL_OP_IGNORE_UNEXPECTED_EOF())
        guard SSL_CTX_set_cipher_list(context, Self.tls12CipherList) == 1 else {
            throw TLSError.context.with("cipher list \(Self.tls12CipherList)")
        }
        // The engine hands OpenSSL the same bytes again after WANT_WRITE only if they
        // moved; memory BIOs never ask, but the mode costs nothing.
        _ = COpenSSL_SSL_CTX_set_mode(context, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        // An encrypted key would make OpenSSL prompt on the terminal; fail instead.
        SSL_CTX_set_default_passwd_cb(context, refusePassphrase)

        ERR_clear_error()
        guard SSL_CTX_use_certificate_chain_file(context, configuration.certificateChainFile) == 1 else {
            throw TLSError.certificate.with(configuration.certificateChainFile)
        }
        guard SSL_CTX_use_PrivateKey_file(context, configuration.privateKeyFile, SSL_FILETYPE_PEM) == 1 else {
            throw TLSError.privateKey.with(configuration.privateKeyFile)
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError.privateKey.with(
                "\(configuration.privateKeyFile) does not match \(configuration.certificateChainFile)")
        }

        if let caFile = configuration.clientCAFile {
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw TLSError.trustedCertificates.with(caFile)
            }
            // The CA names sent in CertificateRequest, so a client holding several
            // certificates picks one we accept.
            guard let names = SSL_load_client_CA_file(caFile) else {
                throw TLSError.trustedCertificates.with(caFile)
            }
            SSL_CTX_set_client_CA_list(context, names)
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
        // Required by OpenSSL to resume sessions when client certificates are verified.
        let sessionContext = Array("bbs-server".utf8)
        guard SSL_CTX_set_session_id_context(context, sessionContext, UInt32(sessionContext.count)) == 1 else {
            throw TLSError.context.with("session id context")
        }
        if !alpnProtocols.isEmpty {
            SSL_CTX_set_alpn_select_cb(context, selectALPNProtocol, alpnProtocolList.baseAddress)
        }
    }

    /// `protocols` as ALPN's wire format: each name after its length byte.
    static func alpnWireFormat(_ protocols: [String]) -> [UInt8] {
        var wire: [UInt8] = []
        for name in protocols {
            let bytes = Array(name.utf8)
            precondition((1...255).contains(bytes.count), "ALPN protocol name \(name) must be 1-255 bytes")
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        return wire
    }
}

/// OpenSSL's passphrase callback: no passphrase (the key load fails instead of prompting).
private func refusePassphrase(_ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32, _ rwflag: Int32,
                              _ userData: UnsafeMutableRawPointer?) -> Int32 {
    0
}

/// ALPN selection (server side): the first of our protocols the client also offers. No
/// common protocol is not an error: the handshake goes on without ALPN and the
/// connection speaks HTTP/1.1, as a client that offered nothing gets.
private func selectALPNProtocol(
    _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
    _ outLength: UnsafeMutablePointer<UInt8>?, _ clientList: UnsafePointer<UInt8>?, _ clientLength: UInt32,
    _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let argument, let out, let outLength, let clientList else { return SSL_TLSEXT_ERR_NOACK }
    let serverLength = argument.load(as: UInt16.self)
    let serverList = argument.advanced(by: 2).assumingMemoryBound(to: UInt8.self)
    var selected: UnsafeMutablePointer<UInt8>?
    var selectedLength: UInt8 = 0
    let outcome = SSL_select_next_proto(&selected, &selectedLength, serverList, UInt32(serverLength),
                                        clientList, clientLength)
    guard outcome == OPENSSL_NPN_NEGOTIATED, let selected else { return SSL_TLSEXT_ERR_NOACK }
    out.pointee = UnsafePointer(selected)
    outLength.pointee = selectedLength
    return SSL_TLSEXT_ERR_OK
}
