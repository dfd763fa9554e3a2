import BBSLog
import Foundation
import HTTPServer
import TaskCore

/// The `--config` file: JSON with the reference's `bbs.json` key names where they apply
/// (`listen_address`, `max_task_retries`, `log_level`, ...) plus our own (`data_dir`, ...).
/// Keys the server does not use (database settings of a real bbs.json, say) are ignored,
/// as the reference ignores unknown keys. `Config/README.md` documents every key.
struct ServerConfiguration: Decodable, Sendable {
    // MARK: API listener
    /// `host:port` of the API listener; `[::1]:8889` for IPv6, `:8889` for every address.
    var listenAddress = "127.0.0.1:8889"
    /// Requests with a larger body get 413.
    var maxRequestBodyBytes = 16 << 20
    /// A request whose head or body stalls this long gets 408.
    var requestTimeout = GoDuration.seconds(30)
    /// Idle keep-alive connections are closed after this (well above Go's 90 s pool).
    var idleTimeout = GoDuration.seconds(300)

    // MARK: TLS (branch tls; the reference's keys, plus the handshake timeout)
    /// Serve HTTPS with `cert_file`/`key_file`; with `ca_file`, clients must present a
    /// certificate it signed (mutual TLS, as the reference always runs).
    var requireSSL = false
    /// PEM CA certificates that client certificates must chain to; empty: none asked for.
    var caFile = ""
    /// PEM server certificate (then intermediates) and its unencrypted private key.
    var certFile = ""
    var keyFile = ""
    /// A TLS handshake not complete within this is cut.
    var tlsHandshakeTimeout = GoDuration.seconds(10)

    // MARK: Storage
    /// Where the write-ahead log lives (relative paths are relative to the working directory).
    var dataDir = "./data"
    /// fdatasync the log before answering a write. Turn off only for throwaway servers.
    var walFsync = true

    // MARK: Task rules (the reference's keys and defaults)
    /// Rejections that return a task to Pending before the next one fails it.
    var maxTaskRetries = 3
    var convergeRepeatInterval = GoDuration.seconds(30)
    var kickTaskDuration = GoDuration.seconds(30)
    var expirePendingTaskDuration = GoDuration.seconds(1800)
    var expireCompletedTaskDuration = GoDuration.seconds(120)
    /// Completion callbacks delivered at once.
    var taskCallbackWorkers = 1000
    /// Timeout of every outbound call (callbacks, auctioneer, rep), from connect to the
    /// last byte of the response, redirects included.
    var communicationTimeout = GoDuration.seconds(10)
    /// `http(s)://host:port` of the auctioneer; empty: no auctions are requested.
    var auctioneerAddress = ""

    // MARK: Outbound TLS (the reference's keys). Callbacks use cert_file/key_file/ca_file.
    /// PEM CA trusted (besides the system store) for the auctioneer's certificate.
    var auctioneerCACert = ""
    /// PEM client certificate and key presented to the auctioneer.
    var auctioneerClientCert = ""
    var auctioneerClientKey = ""
    /// Never fall back to plain HTTP when the https auction request fails.
    var auctioneerRequireTLS = false
    /// PEM CA trusted (besides the system store) for reps' certificates.
    var repCACert = ""
    /// PEM client certificate and key presented to reps.
    var repClientCert = ""
    var repClientKey = ""
    /// Only `https` rep URLs are called.
    var repRequireTLS = false
    /// A JSON file listing the present cells (`{"cells": [{"cell_id", "rep_url"}]}`); empty:
    /// no registry, so convergence leaves Running tasks alone and cancels notify no rep.
    var cellRegistryFile = ""

    /// Bytes an event subscriber may fall behind (beyond what the kernel buffers) before
    /// its stream is ended as a slow consumer (the reference drops it 1024 events behind).
    var eventSubscriberBufferBytes = 1 << 20

    // MARK: Logging
    /// debug, info, error or fatal.
    var logLevel = "info"

    // MARK: Operations (branch ops)
    /// `host:port` of the health listener: the health check, `/metrics`, `/log-level`,
    /// `/backup` (the reference's key). Empty: no health listener.
    var healthAddress = ""
    /// A file that gets one line per request (appended; reopened on SIGHUP). Empty: none.
    var accessLogPath = ""

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listenAddress = "listen_address"
        case maxRequestBodyBytes = "max_request_body_bytes"
        case requestTimeout = "request_timeout"
        case idleTimeout = "idle_timeout"
        case requireSSL = "require_ssl"
        case caFile = "ca_file"
        case certFile = "cert_file"
        case keyFile = "key_file"
        case tlsHandshakeTimeout = "tls_handshake_timeout"
        case dataDir = "data_dir"
        case walFsync = "wal_fsync"
        case maxTaskRetries = "max_task_retries"
        case convergeRepeatInterval = "converge_repeat_interval"
        case kickTaskDuration = "kick_task_duration"
        case expirePendingTaskDuration = "expire_pending_task_duration"
        case expireCompletedTaskDuration = "expire_completed_task_duration"
        case taskCallbackWorkers = "task_callback_workers"
        case communicationTimeout = "communication_timeout"
        case auctioneerAddress = "auctioneer_address"
        case auctioneerCACert = "auctioneer_ca_cert"
        case auctioneerClientCert = "auctioneer_client_cert"
        case auctioneerClientKey = "auctioneer_client_key"
        case auctioneerRequireTLS = "auctioneer_require_tls"
        case repCACert = "rep_ca_cert"
        case repClientCert = "rep_client_cert"
        case repClientKey = "rep_client_key"
        case repRequireTLS = "rep_require_tls"
        case cellRegistryFile = "cell_registry_file"
        case eventSubscriberBufferBytes = "event_subscriber_buffer_bytes"
        case logLevel = "log_level"
        case healthAddress = "health_address"
        case accessLogPath = "access_log_path"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // With a problem list in `userInfo` (`--check-config`), a key that does not decode
        // is noted and the next one read, so every bad key is reported at once.
        let problems = decoder.userInfo[ConfigurationProblems.userInfoKey] as? ConfigurationProblems
        func read<T: Decodable>(_ key: CodingKeys, into value: inout T) throws {
            do {
                if let present = try c.decodeIfPresent(T.self, forKey: key) { value = present }
            } catch {
                // Foundation reports a number that does not fit the type (`3.5` for an
                // integer) with its own error, which would surface keyless as "not valid
                // JSON": every failure is turned into this key's problem here.
                let problem = Self.problem(error, key: key.stringValue, type: T.self)
                guard let problems else { throw ConfigurationError(problem.description) }
                problems.add(problem)
            }
        }
        try read(.listenAddress, into: &listenAddress)
        try read(.maxRequestBodyBytes, into: &maxRequestBodyBytes)
        try read(.requestTimeout, into: &requestTimeout)
        try read(.idleTimeout, into: &idleTimeout)
        try read(.requireSSL, into: &requireSSL)
        try read(.caFile, into: &caFile)
        try read(.certFile, into: &certFile)
        try read(.keyFile, into: &keyFile)
        try read(.tlsHandshakeTimeout, into: &tlsHandshakeTimeout)
        try read(.dataDir, into: &dataDir)
        try read(.walFsync, into: &walFsync)
        try read(.maxTaskRetries, into: &maxTaskRetries)
        try read(.convergeRepeatInterval, into: &convergeRepeatInterval)
        try read(.kickTaskDuration, into: &kickTaskDuration)
        try read(.expirePendingTaskDuration, into: &expirePendingTaskDuration)
        try read(.expireCompletedTaskDuration, into: &expireCompletedTaskDuration)
        try read(.taskCallbackWorkers, into: &taskCallbackWorkers)
        try read(.communicationTimeout, into: &communicationTimeout)
        try read(.auctioneerAddress, into: &auctioneerAddress)
        try read(.auctioneerCACert, into: &auctioneerCACert)
        try read(.auctioneerClientCert, into: &auctioneerClientCert)
        try read(.auctioneerClientKey, into: &auctioneerClientKey)
        try read(.auctioneerRequireTLS, into: &auctioneerRequireTLS)
        try read(.repCACert, into: &repCACert)
        try read(.repClientCert, into: &repClientCert)
        try read(.repClientKey, into: &repClientKey)
        try read(.repRequireTLS, into: &repRequireTLS)
        try read(.cellRegistryFile, into: &cellRegistryFile)
        try read(.eventSubscriberBufferBytes, into: &eventSubscriberBufferBytes)
        try read(.logLevel, into: &logLevel)
        try read(.healthAddress, into: &healthAddress)
        try read(.accessLogPath, into: &accessLogPath)
    }

    var convergenceDurations: ConvergenceDurations {
        var durations = ConvergenceDurations()
        durations.kickTask = kickTaskDuration.nanoseconds
        durations.expirePendingTask = expirePendingTaskDuration.nanoseconds
        durations.expireCompletedTask = expireCompletedTaskDuration.nanoseconds
        return durations
    }

    /// The listener's TLS settings; nil unless `require_ssl` (then `validate` has checked
    /// that `cert_file` and `key_file` are set).
    var tls: TLSConfiguration? {
        guard requireSSL else { return nil }
        var tls = TLSConfiguration(certificateChainFile: certFile, privateKeyFile: keyFile,
                                   clientCAFile: caFile.isEmpty ? nil : caFile)
        tls.handshakeTimeout = tlsHandshakeTimeout.duration
        return tls
    }

    /// The completion callback client's TLS: the server's own certificate as client
    /// identity, the system trust store plus `ca_file` (lifecycle.md §7).
    var callbackTLS: TLSClientConfiguration {
        Self.clientTLS(ca: caFile, certificate: certFile, key: keyFile)
    }

    var auctioneerTLS: TLSClientConfiguration {
        Self.clientTLS(ca: auctioneerCACert, certificate: auctioneerClientCert, key: auctioneerClientKey)
    }

    /// Auction requests go to https (any auctioneer certificate key is set, or TLS is required).
    var auctioneerUsesTLS: Bool {
        auctioneerRequireTLS || !auctioneerCACert.isEmpty || !auctioneerClientCert.isEmpty
    }

    var repTLS: TLSClientConfiguration {
        Self.clientTLS(ca: repCACert, certificate: repClientCert, key: repClientKey)
    }

    private static func clientTLS(ca: String, certificate: String, key: String) -> TLSClientConfiguration {
        TLSClientConfiguration(trustedCAFile: ca.isEmpty ? nil : ca,
                               certificateChainFile: certificate.isEmpty ? nil : certificate,
                               privateKeyFile: key.isEmpty ? nil : key)
    }

    /// Reads and checks `path`; every problem is reported with the key it concerns.
    static func load(path: String) throws -> ServerConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError("cannot read config file \(path): \(error.localizedDescription)")
        }
        let config: ServerConfiguration
        do {
            config = try JSONDecoder().decode(ServerConfiguration.self, from: data)
        } catch let error as DecodingError {
            throw ConfigurationError("\(path): \(Self.problem(error))")
        } catch {
            throw ConfigurationError("\(path): \(error)")
        }
        try config.validate()
        return config
    }

    /// Throws the first of `problems()`.
    func validate() throws {
        if let first = problems().first { throw ConfigurationError(first.description) }
    }

    /// Every value that is out of range or malformed, with its key.
    func problems() -> [ConfigurationProblem] {
        var problems: [ConfigurationProblem] = []
        func check(_ condition: Bool, _ key: String, _ text: @autoclosure () -> String) {
            if !condition { problems.append(ConfigurationProblem(key: key, text: text())) }
        }
        check((try? ListenAddress(parsing: listenAddress)) != nil, "listen_address", "\"\(listenAddress)\" is not host:port")
        check(LogLevel(name: logLevel) != nil, "log_level", "\"\(logLevel)\" must be debug, info, error or fatal")
        check(maxTaskRetries >= 0, "max_task_retries", "must be >= 0")
        check(maxRequestBodyBytes > 0, "max_request_body_bytes", "must be > 0")
        check(!dataDir.isEmpty, "data_dir", "must not be empty")
        check(!requireSSL || (!certFile.isEmpty && !keyFile.isEmpty), "require_ssl", "needs cert_file and key_file")
        for (key, duration) in [("request_timeout", requestTimeout), ("idle_timeout", idleTimeout),
                                ("converge_repeat_interval", convergeRepeatInterval),
                                ("kick_task_duration", kickTaskDuration),
                                ("expire_pending_task_duration", expirePendingTaskDuration),
                                ("expire_completed_task_duration", expireCompletedTaskDuration),
                                ("communication_timeout", communicationTimeout),
                                ("tls_handshake_timeout", tlsHandshakeTimeout)] {
            check(duration.nanoseconds > 0, key, "must be a positive duration")
        }
        check(eventSubscriberBufferBytes > 0, "event_subscriber_buffer_bytes", "must be > 0")
        check(taskCallbackWorkers > 0, "task_callback_workers", "must be > 0")
        check(auctioneerAddress.isEmpty || HTTPClientURL(string: auctioneerAddress) != nil, "auctioneer_address",
              "\"\(auctioneerAddress)\" is not an http(s) URL")
        // A client certificate needs its key and the reverse (the reference's tls config
        // refuses half a pair too).
        for (certificateKey, certificate, keyKey, key) in [
            ("cert_file", certFile, "key_file", keyFile),
            ("auctioneer_client_cert", auctioneerClientCert, "auctioneer_client_key", auctioneerClientKey),
            ("rep_client_cert", repClientCert, "rep_client_key", repClientKey),
        ] where !(requireSSL && certificateKey == "cert_file") {  // require_ssl reports its own pair
            check(certificate.isEmpty == key.isEmpty, certificate.isEmpty ? certificateKey : keyKey,
                  "must be set together with \(certificate.isEmpty ? keyKey : certificateKey)")
        }
        if !cellRegistryFile.isEmpty {
            do {
                _ = try CellRegistryFile.read(cellRegistryFile)
            } catch {
                check(false, "cell_registry_file", "\(cellRegistryFile): \(error)")
            }
        }
        // Operations (branch ops)
        if !healthAddress.isEmpty {
            if let health = try? ListenAddress(parsing: healthAddress) {
                let api = try? ListenAddress(parsing: listenAddress)
                check(health.port == 0 || health != api, "health_address", "\"\(healthAddress)\" is the listen_address")
            } else {
                check(false, "health_address", "\"\(healthAddress)\" is not host:port")
            }
        }
        return problems
    }

    /// A decoding failure, with the key it concerns ("" when the file is not JSON at all).
    static func problem(_ error: DecodingError) -> ConfigurationProblem {
        switch error {
        case .dataCorrupted(let context):
            let key = key(context)
            return key.isEmpty ? ConfigurationProblem(key: "", text: "not valid JSON (\(context.debugDescription))")
                : ConfigurationProblem(key: key, text: context.debugDescription)
        case .typeMismatch(let type, let context):
            return ConfigurationProblem(key: key(context), text: "must be \(jsonType(type))")
        case .valueNotFound(let type, let context):
            return ConfigurationProblem(key: key(context), text: "must be \(jsonType(type)), not null")
        case .keyNotFound(let key, _):
            return ConfigurationProblem(key: key.stringValue, text: "is missing")
        @unknown default:
            return ConfigurationProblem(key: "", text: "\(error)")
        }
    }

    /// A decoding failure of the value of `key`, which should be a `type`. Valid JSON of
    /// the wrong kind (`3.5` or `1e3` for an integer) is reported as such, with the key.
    static func problem<T>(_ error: any Error, key: String, type: T.Type) -> ConfigurationProblem {
        guard let error = error as? DecodingError else {
            switch type {
            case is String.Type, is Bool.Type, is Int.Type:
                return ConfigurationProblem(key: key, text: "must be \(jsonType(type))")
            default:
                return ConfigurationProblem(key: key, text: "\(error)")
            }
        }
        switch error {
        case .dataCorrupted(let context):
            switch type {
            case is String.Type, is Bool.Type, is Int.Type:
                return ConfigurationProblem(key: key, text: "must be \(jsonType(type))")
            default:
                let text = context.debugDescription
                return ConfigurationProblem(key: key, text: text.isEmpty ? "is not valid" : text)
            }
        default:
            let problem = problem(error)
            return problem.key.isEmpty ? ConfigurationProblem(key: key, text: problem.text) : problem
        }
    }

    private static func key(_ context: DecodingError.Context) -> String {
        context.codingPath.map(\.stringValue).joined(separator: ".")
    }

    private static func jsonType(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type: return "an integer"
        default: return "\(type)"
        }
    }
}

/// One thing wrong with a configuration, and the key it concerns.
struct ConfigurationProblem: Sendable, Equatable, CustomStringConvertible {
    let key: String
    let text: String
    var description: String { key.isEmpty ? text : key + ": " + text }
}

/// Where `--check-config` collects decoding problems instead of stopping at the first.
final class ConfigurationProblems: @unchecked Sendable {
    // Unchecked: used by one decoding on one thread, then read.
    static let userInfoKey = CodingUserInfoKey(rawValue: "bbs.configuration-problems")!
    private(set) var all: [ConfigurationProblem] = []
    func add(_ problem: ConfigurationProblem) { all.append(problem) }
}

struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `host:port` as the reference's `listen_address` takes it.
struct ListenAddress: Sendable, Equatable {
    var host: String
    var port: Int

    init(parsing text: String) throws {
        guard let colon = text.lastIndex(of: ":") else { throw ConfigurationError("no port in \(text)") }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError("bad port in \(text)")
        }
        // Empty: every address of both families, as Go's ":port" (HTTPServer binds `::`
        // dual stack, or 0.0.0.0 without IPv6).
        self.host = host
        self.port = port
    }
}
