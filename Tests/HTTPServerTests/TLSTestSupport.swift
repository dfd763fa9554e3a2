import COpenSSL
import Foundation
import Testing

@testable import HTTPServer

#if canImport(Glibc)
import Glibc
#endif

// What the TLS tests share: certificates made at test time by scripts/gen-certs (no key
// is committed), client contexts built directly with OpenSSL (so a test can be a client
// the server must refuse, e.g. TLS 1.1 only), engines wired back to back in memory, and a
// blocking TLS client for the live tests.

struct TestTLSFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Two unrelated sets of `scripts/gen-certs` output, made once per test process in a
/// temporary directory that is removed at exit.
struct TestCertificates: Sendable {
    /// ca, server, client, other-ca, other-client
    let first: CertificateSet
    /// Another run: its own CA, server and client certificates.
    let second: CertificateSet
    let root: String

    struct CertificateSet: Sendable {
        let directory: String
        func path(_ name: String) -> String { directory + "/" + name }
        var ca: String { path("ca.pem") }
        var serverCertificate: String { path("server.pem") }
        var serverKey: String { path("server.key") }
        var clientCertificate: String { path("client.pem") }
        var clientKey: String { path("client.key") }
        var otherClientCertificate: String { path("other-client.pem") }
        var otherClientKey: String { path("other-client.key") }

        var serverConfiguration: TLSConfiguration {
            TLSConfiguration(certificateChainFile: serverCertificate, privateKeyFile: serverKey, clientCAFile: ca)
        }
    }

    static let shared: Result<TestCertificates, TestTLSFailure> = make()

    static func get() throws -> TestCertificates { try shared.get() }

    private static func make() -> Result<TestCertificates, TestTLSFailure> {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("bbs-tls-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        certificateRoot = root
        atexit { if let root = certificateRoot { try? FileManager.default.removeItem(atPath: root) } }
        do {
            try run(generator, [root + "/first"])
            try run(generator, [root + "/second"])
        } catch {
            return .failure(error)
        }
        return .success(TestCertificates(first: CertificateSet(directory: root + "/first"),
                                         second: CertificateSet(directory: root + "/second"), root: root))
    }

    /// scripts/gen-certs of this checkout.
    static let generator = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/gen-certs").path

    static func run(_ executable: String, _ arguments: [String]) throws(TestTLSFailure) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        do {
            try process.run()
        } catch {
            throw TestTLSFailure("cannot run \(executable): \(error)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestTLSFailure("\(executable) \(arguments) exited with \(process.terminationStatus)")
        }
    }

    /// A fresh directory under the test root.
    func scratchDirectory(_ name: String) throws -> String {
        let path = root + "/" + name + "-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Where `TestCertificates` lives, for the exit handler (written once, before any read).
nonisolated(unsafe) private var certificateRoot: String?

/// A client context: verifies the server against `trusting` (if given), presents
/// `certificate`/`key` (if given), offers `alpn`, and speaks `versions`.
func makeClientContext(trusting ca: String?, certificate: String? = nil, key: String? = nil,
                       alpn: [String] = [], versions: ClosedRange<Int32> = TLS1_2_VERSION...TLS1_3_VERSION,
                       tls12Ciphers: String? = nil) throws -> TLSContext {
    guard let raw = SSL_CTX_new(TLS_client_method()) else { throw TestTLSFailure("SSL_CTX_new") }
    let context = TLSContext(adopting: raw, alpnProtocols: alpn)
    if versions.lowerBound < TLS1_2_VERSION {
        // OpenSSL 3 refuses TLS 1.1 at the default security level; this client wants to
        // offer it, to see the server refuse it.
        guard SSL_CTX_set_cipher_list(raw, "DEFAULT:@SECLEVEL=0") == 1 else { throw TestTLSFailure("seclevel") }
    }
    if let tls12Ciphers {
        guard SSL_CTX_set_cipher_list(raw, tls12Ciphers) == 1 else { throw TestTLSFailure("cipher list") }
    }
    guard COpenSSL_SSL_CTX_set_min_proto_version(raw, versions.lowerBound) == 1,
          COpenSSL_SSL_CTX_set_max_proto_version(raw, versions.upperBound) == 1 else {
        throw TestTLSFailure("versions")
    }
    if let ca {
        guard SSL_CTX_load_verify_locations(raw, ca, nil) == 1 else { throw TestTLSFailure("load \(ca)") }
        SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nil)
    }
    if let certificate, let key {
        guard SSL_CTX_use_certificate_chain_file(raw, certificate) == 1,
              SSL_CTX_use_PrivateKey_file(raw, key, SSL_FILETYPE_PEM) == 1 else {
            throw TestTLSFailure("load \(certificate)")
        }
    }
    if !alpn.isEmpty {
        let wire = TLSContext.alpnWireFormat(alpn)
        // 0 is success here, unlike every other SSL_CTX setter.
        guard SSL_CTX_set_alpn_protos(raw, wire, UInt32(wire.count)) == 0 else { throw TestTLSFailure("alpn") }
    }
    return context
}

/// The usual good client of `set`: trusts its CA and presents its client certificate.
func makeGoodClientContext(_ set: TestCertificates.CertificateSet, alpn: [String] = []) throws -> TLSContext {
    try makeClientContext(trusting: set.ca, certificate: set.clientCertificate, key: set.clientKey, alpn: alpn)
}

// MARK: - Engines in memory

/// Moves each engine's output to the other until neither has any; true if anything moved.
@discardableResult
func exchange(_ a: TLSEngine, _ b: TLSEngine) -> Bool {
    var moved = false
    while a.pendingOutputBytes > 0 || b.pendingOutputBytes > 0 {
        moved = true
        for (from, to) in [(a, b), (b, a)] where from.pendingOutputBytes > 0 {
            var bytes: [UInt8] = []
            from.takeOutput(appendingTo: &bytes)
            bytes.withUnsafeBytes { to.receive($0) }
        }
    }
    return moved
}

/// Runs both handshakes to their end, in memory; returns each side's last result.
func handshake(client: TLSEngine, server: TLSEngine)
    -> (client: TLSEngine.OperationResult, server: TLSEngine.OperationResult) {
    var clientResult = TLSEngine.OperationResult.incomplete
    var serverResult = TLSEngine.OperationResult.incomplete
    for _ in 0..<20 {
        if clientResult == .incomplete { clientResult = client.handshake() }
        var moved = exchange(client, server)
        if serverResult == .incomplete { serverResult = server.handshake() }
        moved = exchange(client, server) || moved
        if !moved && (clientResult != .incomplete || serverResult != .incomplete) { break }
        if clientResult != .incomplete && serverResult != .incomplete { break }
    }
    return (clientResult, serverResult)
}

/// Everything `engine` can decrypt now, and how reading ended.
func readAll(_ engine: TLSEngine) -> (bytes: [UInt8], end: TLSEngine.ReadResult) {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let result = buffer.withUnsafeMutableBytes { engine.read(into: $0) }
        guard case .bytes(let count) = result else { return (out, result) }
        out += buffer[..<count]
    }
}

func write(_ text: String, to engine: TLSEngine) -> TLSEngine.OperationResult {
    Array(text.utf8).withUnsafeBytes { engine.write($0) }
}

// MARK: - A blocking TLS client on a real socket

/// A TLS client for the live tests: a blocking socket with a client `TLSEngine`. Reads
/// HTTP/1.1 responses with `Content-Length` bodies (all the test responder sends). The
/// receive timeout only keeps a broken server from hanging a test.
final class TLSTestClient {
    private let descriptor: Int32
    let engine: TLSEngine
    private var plaintext: [UInt8] = []
    /// The server sent close_notify or closed the socket.
    private(set) var closedByPeer = false
    /// The server's close came with close_notify.
    private(set) var receivedCloseNotify = false

    init(port: Int, context: TLSContext, serverName: String? = "127.0.0.1", receiveTimeoutSeconds: Int = 10) throws {
        descriptor = try connectLoopback(port: port, receiveTimeoutSeconds: receiveTimeoutSeconds)
        engine = try TLSEngine(context: context, role: .client(serverName: serverName))
    }

    deinit {
        Glibc.close(descriptor)
    }

    /// Runs the handshake; throws with the engine's error if it fails. (In TLS 1.3 the
    /// server checks the client's certificate after the client is done: a refusal then
    /// shows on the first read.)
    func handshake() throws {
        while true {
            let result = engine.handshake()
            try sendOutput()
            switch result {
            case .complete: return
            case .failed(let error): throw error
            case .incomplete: try receiveCiphertext()
            }
        }
    }

    func send(_ text: String) throws {
        guard case .complete = write(text, to: engine) else { throw TestTLSFailure("SSL_write failed") }
        try sendOutput()
    }

    func readResponse() throws -> TestResponse {
        let head = String(decoding: try readUntil(Array("\r\n\r\n".utf8)), as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw TestTLSFailure("malformed status line in \(head)")
        }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = TestResponse(status: status, headers: headers, body: [])
        let length = response.header("Content-Length").flatMap(Int.init) ?? 0
        while plaintext.count < length { try fill() }
        response.body = Array(plaintext[..<length])
        plaintext.removeSubrange(..<length)
        return response
    }

    /// A request and its response; throws if the server refused or closed instead.
    func exchange(_ method: String, _ path: String, body: String = "") throws -> TestResponse {
        try send(TestClient.request(method, path, body: body))
        return try readResponse()
    }

    /// True once the server has closed (close_notify, alert, or EOF); false if it sends
    /// application data instead.
    func waitForClose() -> Bool {
        if closedByPeer { return true }
        do {
            try fill()
            return false
        } catch {
            return closedByPeer
        }
    }

    // MARK: Bytes

    private func readUntil(_ separator: [UInt8]) throws -> [UInt8] {
        while true {
            if let range = plaintext.firstRange(of: separator) {
                let out = Array(plaintext[..<range.lowerBound])
                plaintext.removeSubrange(..<range.upperBound)
                return out
            }
            try fill()
        }
    }

    /// Reads records until some plaintext arrives; throws when the server closes or the
    /// session fails (then `closedByPeer` is set).
    private func fill() throws {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let result = buffer.withUnsafeMutableBytes { engine.read(into: $0) }
            try sendOutput()
            switch result {
            case .bytes(let count):
                plaintext += buffer[..<count]
                return
            case .closed:
                closedByPeer = true
                receivedCloseNotify = true
                throw TestTLSFailure("server sent close_notify")
            case .failed(let error):
                closedByPeer = true
                throw error
            case .incomplete:
                try receiveCiphertext()
            }
        }
    }

    private func sendOutput() throws {
        var bytes: [UInt8] = []
        engine.takeOutput(appendingTo: &bytes)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { throw TestTLSFailure("send: errno \(errno)") }
            sent += count
        }
    }

    private func receiveCiphertext() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count == 0 || (count < 0 && errno == ECONNRESET) {
            closedByPeer = true
            throw TestTLSFailure("connection closed by peer")
        }
        guard count > 0 else { throw TestTLSFailure("recv: errno \(errno) (timed out?)") }
        chunk[..<count].withUnsafeBytes { engine.receive($0) }
    }
}

/// A connected, blocking TCP socket to 127.0.0.1:`port`.
func connectLoopback(port: Int, receiveTimeoutSeconds: Int) throws -> Int32 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestTLSFailure("socket: errno \(errno)") }
    var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var noDelay: Int32 = 1
    setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let status = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard status == 0 else {
        let code = errno
        Glibc.close(descriptor)
        throw TestTLSFailure("connect: errno \(code)")
    }
    return descriptor
}
