/// The Prometheus text exposition format, version 0.0.4: for each metric family a
/// `# HELP` line, a `# TYPE` line, then one line per sample:
///
///     # HELP bbs_requests_total Requests answered, by route and outcome.
///     # TYPE bbs_requests_total counter
///     bbs_requests_total{route="/v1/ping",outcome="success"} 3
///
/// Label values escape `\`, `"` and line feed; help texts escape `\` and line feed.
public enum PrometheusText {
    /// The `Content-Type` of an exposition.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// `value` as a label value between double quotes would need it: `\` → `\\`,
    /// `"` → `\"`, line feed → `\n`.
    public static func escapeLabelValue(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == 0x0A }) else {
            return value
        }
        var out = ""
        out.reserveCapacity(value.utf8.count + 8)
        for character in value.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// `text` as a `# HELP` line needs it: `\` → `\\`, line feed → `\n`.
    public static func escapeHelp(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// A sample value or `le` bound: integral values without a fraction (`3`), others in
    /// Swift's shortest round-tripping form (`0.25`, `1e-05`), `+Inf`, `-Inf`, `NaN`.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return value.description
    }

    /// The rendered label set (without braces) for `names` and `values`.
    public static func labels(_ names: [String], _ values: [String]) -> String {
        precondition(names.count == values.count, "\(values.count) label values for labels \(names)")
        var out = ""
        for (index, name) in names.enumerated() {
            if index > 0 { out += "," }
            out += name + "=\"" + escapeLabelValue(values[index]) + "\""
        }
        return out
    }

    static func appendSample(_ name: String, labels: String, value: String, into output: inout String) {
        output += name
        if !labels.isEmpty {
            output += "{"
            output += labels
            output += "}"
        }
        output += " "
        output += value
        output += "\n"
    }

    static func appendHeader(name: String, help: String, type: String, into output: inout String) {
        output += "# HELP " + name + " " + escapeHelp(help) + "\n"
        output += "# TYPE " + name + " " + type + "\n"
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    static func isValidMetricName(_ name: String) -> Bool {
        isName(name, allowingColon: true)
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with the reserved `__`, and not `le`
    /// (histograms add it).
    static func isValidLabelName(_ name: String) -> Bool {
        isName(name, allowingColon: false) && !name.hasPrefix("__") && name != "le"
    }

    private static func isName(_ name: String, allowingColon: Bool) -> Bool {
        guard let first = name.utf8.first, !(0x30...0x39).contains(first) else { return false }
        return name.utf8.allSatisfy { byte in
            (0x61...0x7A).contains(byte) || (0x41...0x5A).contains(byte) || (0x30...0x39).contains(byte)
                || byte == UInt8(ascii: "_") || (allowingColon && byte == UInt8(ascii: ":"))
        }
    }
}
