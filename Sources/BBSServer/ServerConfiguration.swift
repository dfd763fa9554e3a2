import BBSLog
import Foundation

/// The `--config` file: JSON with the reference's `bbs.json` key names where they apply
/// (`listen_address`, `max_task_retries`, `log_level`, ...) plus our own (`data_dir`, ...).
/// Keys the server does not use (database settings of a real bbs.json, say) are ignored,
/// as the reference ignores unknown keys. `Config/README.md` documents every key.
struct ServerConfiguration: Decodable, Sendable {
    /// `host:port` of the API listener; `[::1]:8889` for IPv6, `:8889` for every address.
    var listenAddress = "127.0.0.1:8889"
    /// Where the write-ahead log lives (relative paths are relative to the working directory).
    var dataDir = "./data"
    /// Rejections that return a task to Pending before the next one fails it.
    var maxTaskRetries = 3
    /// debug, info, error or fatal.
    var logLevel = "info"
    /// fdatasync the log before answering a write. Turn off only for throwaway servers.
    var walFsync = true
    /// Requests with a larger body get 413.
    var maxRequestBodyBytes = 16 << 20
    /// A request whose head or body stalls this long gets 408.
    var requestTimeout = GoDuration.seconds(30)
    /// Idle keep-alive connections are closed after this (well above Go's 90 s pool).
    var idleTimeout = GoDuration.seconds(300)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listenAddress = "listen_address"
        case dataDir = "data_dir"
        case maxTaskRetries = "max_task_retries"
        case logLevel = "log_level"
        case walFsync = "wal_fsync"
        case maxRequestBodyBytes = "max_request_body_bytes"
        case requestTimeout = "request_timeout"
        case idleTimeout = "idle_timeout"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ServerConfiguration()
        listenAddress = try c.decodeIfPresent(String.self, forKey: .listenAddress) ?? defaults.listenAddress
        dataDir = try c.decodeIfPresent(String.self, forKey: .dataDir) ?? defaults.dataDir
        maxTaskRetries = try c.decodeIfPresent(Int.self, forKey: .maxTaskRetries) ?? defaults.maxTaskRetries
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? defaults.logLevel
        walFsync = try c.decodeIfPresent(Bool.self, forKey: .walFsync) ?? defaults.walFsync
        maxRequestBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxRequestBodyBytes) ?? defaults.maxRequestBodyBytes
        requestTimeout = try c.decodeIfPresent(GoDuration.self, forKey: .requestTimeout) ?? defaults.requestTimeout
        idleTimeout = try c.decodeIfPresent(GoDuration.self, forKey: .idleTimeout) ?? defaults.idleTimeout
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
        guard requestTimeout.nanoseconds > 0, idleTimeout.nanoseconds > 0 else {
            throw ConfigurationError("request_timeout and idle_timeout must be positive")
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
