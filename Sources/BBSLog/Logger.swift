import Foundation
import Synchronization

/// Log levels in lager's order; the raw value is lager's numeric `log_level`.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case debug = 0, info = 1, error = 2, fatal = 3

    public init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "error": self = .error
        case "fatal": self = .fatal
        default: return nil
        }
    }
    public var name: String { ["debug", "info", "error", "fatal"][rawValue] }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// Where log lines go. The level is shared and can change at runtime.
public final class LogSink: Sendable {
    private let state: Mutex<(level: LogLevel, write: @Sendable (String) -> Void)>

    public init(level: LogLevel = .info, write: @escaping @Sendable (String) -> Void = LogSink.standardError) {
        state = Mutex((level, write))
    }

    public var level: LogLevel {
        get { state.withLock { $0.level } }
        set { state.withLock { $0.level = newValue } }
    }

    func emit(_ level: LogLevel, _ line: @autoclosure () -> String) {
        let writer: (@Sendable (String) -> Void)? = state.withLock { level >= $0.level ? $0.write : nil }
        writer?(line())
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// A sink that keeps lines in memory (tests).
    public static func memory() -> (LogSink, @Sendable () -> [String]) {
        let lines = Mutex<[String]>([])
        let sink = LogSink(level: .debug) { line in lines.withLock { $0.append(line) } }
        return (sink, { lines.withLock { $0 } })
    }
}

/// A lager-style structured logger: one JSON object per line with `timestamp`,
/// `source`, `message` (the session path plus a constant kebab-case event name),
/// `log_level` and `data`. Loggers are values; `session` derives a child.
public struct Logger: Sendable {
    public let source: String
    public let session: String
    public let sink: LogSink
    public var metadata: [String: String]

    public init(source: String = "bbs", sink: LogSink = LogSink(), metadata: [String: String] = [:]) {
        self.source = source
        self.session = source
        self.sink = sink
        self.metadata = metadata
    }

    private init(source: String, session: String, sink: LogSink, metadata: [String: String]) {
        self.source = source
        self.session = session
        self.sink = sink
        self.metadata = metadata
    }

    /// A child logger whose messages are prefixed with `<parent>.<name>`.
    public func session(_ name: String, _ data: [String: String] = [:]) -> Logger {
        Logger(source: source, session: session + "." + name, sink: sink,
               metadata: metadata.merging(data) { _, new in new })
    }

    /// A logger that drops everything (tests, tools).
    public static var discarding: Logger { Logger(sink: LogSink(level: .fatal) { _ in }) }

    public func debug(_ message: String, _ data: @autoclosure () -> [String: String] = [:]) {
        log(.debug, message, data())
    }
    public func info(_ message: String, _ data: @autoclosure () -> [String: String] = [:]) {
        log(.info, message, data())
    }
    public func error(_ message: String, _ data: @autoclosure () -> [String: String] = [:]) {
        log(.error, message, data())
    }
    public func fatal(_ message: String, _ data: @autoclosure () -> [String: String] = [:]) {
        log(.fatal, message, data())
    }

    public func log(_ level: LogLevel, _ message: String, _ data: @autoclosure () -> [String: String]) {
        sink.emit(level, render(level, message, data()))
    }

    private func render(_ level: LogLevel, _ message: String, _ data: [String: String]) -> String {
        var fields = metadata
        for (k, v) in data { fields[k] = v }
        var out = "{\"timestamp\":\"" + Self.timestamp() + "\",\"source\":" + Self.quote(source)
        out += ",\"message\":" + Self.quote(session + "." + message)
        out += ",\"log_level\":\(level.rawValue),\"data\":{"
        var first = true
        for key in fields.keys.sorted() {
            if !first { out += "," }
            first = false
            out += Self.quote(key) + ":" + Self.quote(fields[key]!)
        }
        return out + "}}"
    }

    /// RFC 3339 with nanoseconds in UTC, as lager's `rfc3339` format.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        let ns = String(ts.tv_nsec)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: 9 - ns.count) + ns + "Z"
    }

    /// A JSON string literal.
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
