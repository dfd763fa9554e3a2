/// Go's `net.ParseIP` and `net.ParseCIDR` acceptance rules, which decide whether an
/// egress rule destination is well formed (lifecycle.md §8.6).
///
/// The reference BBS validates security-group destinations with Go's parsers, which sit
/// on `net/netip`. Their rules, reproduced here byte for byte:
///
/// * IPv4 is exactly four dot-separated decimal fields, each 0–255, with no leading
///   zero (`01.2.3.4` is refused) and no empty field.
/// * IPv6 is up to eight groups of one to four hex digits separated by `:`, with at most
///   one `::` that stands for at least one zero group, and optionally a dotted IPv4 tail
///   in place of the last two groups. A zone (`%eth0`) makes `net.ParseIP` refuse the
///   address, so any `%` does here too.
/// * Which parser applies is decided by the first `.`, `:` or `%` in the text.
/// * A CIDR is an address, `/`, and a decimal prefix length no larger than the address
///   family's bit length (32 for dotted IPv4, 128 for anything written as IPv6, including
///   IPv4-mapped forms such as `::ffff:1.2.3.4/96`). Leading zeros in the prefix are fine.
///
/// Addresses are kept in the 16-byte form `net.ParseIP` returns (IPv4 as `::ffff:a.b.c.d`),
/// so ranges compare exactly as the reference compares them: byte-wise, big-endian.
struct GoIPAddress: Hashable, Sendable {
    /// The first eight bytes of the 16-byte form, big-endian.
    var high: UInt64
    /// The last eight bytes of the 16-byte form, big-endian.
    var low: UInt64
    /// 32 for an address written in dotted IPv4 form, 128 for one written as IPv6
    /// (`netip.Addr.BitLen`); bounds a CIDR prefix.
    var bitLength: Int

    /// Whether this address sorts after `other` when both are compared byte-wise in
    /// their 16-byte form, as the reference orders the two ends of a range.
    func sortsAfter(_ other: GoIPAddress) -> Bool {
        (high, low) > (other.high, other.low)
    }

    /// The address `text` denotes, or nil where `net.ParseIP` returns nil.
    static func parse(_ text: UnsafeBufferPointer<UInt8>) -> GoIPAddress? {
        for byte in text {
            switch byte {
            case UInt8(ascii: "."):
                guard let v4 = parseIPv4Fields(text) else { return nil }
                return GoIPAddress(high: 0, low: 0xFFFF_0000_0000 | UInt64(v4), bitLength: 32)
            case UInt8(ascii: ":"):
                return parseIPv6(text)
            case UInt8(ascii: "%"):
                return nil  // a zone without an address
            default:
                continue
            }
        }
        return nil
    }

    /// Whether `text` is accepted by `net.ParseCIDR`.
    static func isValidCIDR(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let slash = text.firstIndex(of: UInt8(ascii: "/")) else { return false }
        guard let address = parse(UnsafeBufferPointer(rebasing: text[..<slash])) else { return false }
        let prefix = UnsafeBufferPointer(rebasing: text[(slash + 1)...])
        guard !prefix.isEmpty else { return false }
        var length = 0
        for byte in prefix {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return false }
            length = length * 10 + Int(byte - UInt8(ascii: "0"))
            // Go's dtoi gives up at 0xFFFFFF; anything that large is out of range anyway.
            if length > address.bitLength { return false }
        }
        return true
    }

    /// Four dotted decimal fields as one big-endian `UInt32`, or nil.
    static func parseIPv4Fields(_ text: UnsafeBufferPointer<UInt8>) -> UInt32? {
        var result: UInt32 = 0
        var value = 0
        var fieldsDone = 0
        var digits = 0
        for index in text.indices {
            let byte = text[index]
            if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                if digits == 1, value == 0 { return nil }  // leading zero
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
                if value > 255 { return nil }
            } else if byte == UInt8(ascii: ".") {
                if index == 0 || index == text.count - 1 || text[index - 1] == UInt8(ascii: ".") { return nil }
                if fieldsDone == 3 { return nil }
                result = result << 8 | UInt32(value)
                fieldsDone += 1
                value = 0
                digits = 0
            } else {
                return nil
            }
        }
        guard fieldsDone == 3 else { return nil }
        return result << 8 | UInt32(value)
    }

    private static func parseIPv6(_ text: UnsafeBufferPointer<UInt8>) -> GoIPAddress? {
        // net.ParseIP refuses every zone, and an empty one is a parse error anyway.
        if text.contains(UInt8(ascii: "%")) { return nil }
        let end = text.count
        var bytes = InlineArray<16, UInt8>(repeating: 0)
        var ellipsis = -1
        var position = 0

        if end >= 2, text[0] == UInt8(ascii: ":"), text[1] == UInt8(ascii: ":") {
            ellipsis = 0
            position = 2
            if position == end { return GoIPAddress(high: 0, low: 0, bitLength: 128) }
        }

        var filled = 0
        while filled < 16 {
            var digitCount = 0
            var group: UInt32 = 0
            while position + digitCount < end, let digit = hexValue(text[position + digitCount]) {
                if digitCount > 3 { return nil }  // more than four hex digits
                group = group << 4 | UInt32(digit)
                digitCount += 1
            }
            if digitCount == 0 { return nil }

            if position + digitCount < end, text[position + digitCount] == UInt8(ascii: ".") {
                // A dotted IPv4 tail, reparsed from the start of this group.
                if ellipsis < 0, filled != 12 { return nil }
                if filled + 4 > 16 { return nil }
                guard let v4 = parseIPv4Fields(UnsafeBufferPointer(rebasing: text[position...])) else { return nil }
                bytes[filled] = UInt8(truncatingIfNeeded: v4 >> 24)
                bytes[filled + 1] = UInt8(truncatingIfNeeded: v4 >> 16)
                bytes[filled + 2] = UInt8(truncatingIfNeeded: v4 >> 8)
                bytes[filled + 3] = UInt8(truncatingIfNeeded: v4)
                position = end
                filled += 4
                break
            }

            bytes[filled] = UInt8(truncatingIfNeeded: group >> 8)
            bytes[filled + 1] = UInt8(truncatingIfNeeded: group)
            filled += 2

            position += digitCount
            if position == end { break }
            guard text[position] == UInt8(ascii: ":"), position + 1 < end else { return nil }
            position += 1
            if text[position] == UInt8(ascii: ":") {
                if ellipsis >= 0 { return nil }  // a second "::"
                ellipsis = filled
                position += 1
                if position == end { break }
            }
        }

        if position != end { return nil }  // trailing garbage
        if filled < 16 {
            guard ellipsis >= 0 else { return nil }  // too short
            let gap = 16 - filled
            var index = filled - 1
            while index >= ellipsis {
                bytes[index + gap] = bytes[index]
                index -= 1
            }
            for index in ellipsis..<(ellipsis + gap) { bytes[index] = 0 }
        } else if ellipsis >= 0 {
            return nil  // "::" must stand for at least one zero group
        }

        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(bytes[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[index]) }
        return GoIPAddress(high: high, low: low, bitLength: 128)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension GoIPAddress {
    /// String conveniences for tests and callers holding Swift strings.
    static func parse(_ text: String) -> GoIPAddress? {
        var text = text
        return text.withUTF8 { parse($0) }
    }

    static func isValidCIDR(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { isValidCIDR($0) }
    }
}
