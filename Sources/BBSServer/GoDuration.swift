/// Durations in the reference's config are Go `time.Duration` strings ("30s", "1h30m",
/// "500ms", "1.5h"), as `code.cloudfoundry.org/durationjson` reads them.
struct GoDuration: Decodable, Hashable, Sendable, CustomStringConvertible {
    let nanoseconds: Int64

    init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    static func seconds(_ s: Int64) -> GoDuration { GoDuration(nanoseconds: s * 1_000_000_000) }

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = GoDuration(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "invalid duration \"\(text)\" (expected Go syntax such as \"30s\", \"2m\", \"1h30m\")"))
        }
        self = parsed
    }

    /// Parses Go's `time.ParseDuration` syntax: an optional sign, then one or more
    /// `<decimal><unit>` terms with units ns, us, µs, ms, s, m, h; "0" alone is allowed.
    init?(parsing text: String) {
        var rest = Substring(text)
        var negative = false
        if let sign = rest.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            rest = rest.dropFirst()
        }
        if rest == "0" { self.nanoseconds = 0; return }
        guard !rest.isEmpty else { return nil }
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6),
                                         ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, number != ".", let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            // Longest unit first so "ms" is not read as "m".
            guard let (unit, scale) = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { rest.hasPrefix($0.0) })
            else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * scale
        }
        guard total < 9.2e18 else { return nil }
        self.nanoseconds = Int64(negative ? -total : total)
    }

    var seconds: Double { Double(nanoseconds) / 1e9 }
    var duration: Duration { .nanoseconds(nanoseconds) }

    var description: String {
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
        if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
        return "\(nanoseconds)ns"
    }
}
