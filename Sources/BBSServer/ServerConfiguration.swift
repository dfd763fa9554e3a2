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
    /// Timeout of every outbound call (callbacks, auctioneer).
    var communicationTimeout = GoDuration.seconds(10)
    /// `http(s)://host:port` of the auctioneer; empty: no auctions are requested.
    var auctioneerAddress = ""

    /// Bytes an event subscriber may fall behind (beyond what the kernel buffers) before
    /// its stream is ended as a slow consumer (the reference drops it 1024 events behind).
    var eventSubscriberBufferBytes = 1 << 20

    // MARK: Logging
    /// debug, info, error or fatal.
    var logLevel = "info"

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
        case eventSubscriberBufferBytes = "event_subscriber_buffer_bytes"
        case logLevel = "log_level"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, into value: inout T) throws {
            if let present = try c.decodeIfPresent(T.self, forKey: key) { value = present }
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
        try read(.eventSubscriberBufferBytes, into: &eventSubscriberBufferBytes)
        try read(.logLevel, into: &logLevel)
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
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigurationError("\(path): \(Self.describe(context))")
        } catch let DecodingError.typeMismatch(type, context) {
            throw ConfigurationError("\(path): \(Self.key(context)) must be \(Self.jsonType(type))")
        } catch {
            throw ConfigurationError("\(path): \(error)")
        }
        try config.validate()
        return config
    }

    func validate() throws {
        guard (try? ListenAddress(parsing: listenAddress)) != nil else {
            throw ConfigurationError("listen_address \"\(listenAddress)\" is not host:port")
        }
        guard LogLevel(name: logLevel) != nil else {
            throw ConfigurationError("log_level \"\(logLevel)\" must be debug, info, error or fatal")
        }
        guard maxTaskRetries >= 0 else { throw ConfigurationError("max_task_retries must be >= 0") }
        guard maxRequestBodyBytes > 0 else { throw ConfigurationError("max_request_body_bytes must be > 0") }
        guard !dataDir.isEmpty else { throw ConfigurationError("data_dir must not be empty") }
        if requireSSL && (certFile.isEmpty || keyFile.isEmpty) {
            throw ConfigurationError("require_ssl needs cert_file and key_file")
        }
        for (key, duration) in [("request_timeout", requestTimeout), ("idle_timeout", idleTimeout),
                                ("converge_repeat_interval", convergeRepeatInterval),
                                ("kick_task_duration", kickTaskDuration),
                                ("expire_pending_task_duration", expirePendingTaskDuration),
                                ("expire_completed_task_duration", expireCompletedTaskDuration),
                                ("communication_timeout", communicationTimeout),
                                ("tls_handshake_timeout", tlsHandshakeTimeout)] where duration.nanoseconds <= 0 {
            throw ConfigurationError("\(key) must be a positive duration")
        }
        guard eventSubscriberBufferBytes > 0 else {
            throw ConfigurationError("event_subscriber_buffer_bytes must be > 0")
        }
        guard taskCallbackWorkers > 0 else { throw ConfigurationError("task_callback_workers must be > 0") }
        if !auctioneerAddress.isEmpty, URL(string: auctioneerAddress)?.host == nil {
            throw ConfigurationError("auctioneer_address \"\(auctioneerAddress)\" is not an http(s) URL")
        }
    }

    private static func key(_ context: DecodingError.Context) -> String {
        context.codingPath.map(\.stringValue).joined(separator: ".")
    }

    private static func describe(_ context: DecodingError.Context) -> String {
        let key = key(context)
        return key.isEmpty ? "not valid JSON (\(context.debugDescription))" : "\(key): \(context.debugDescription)"
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
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }
}
