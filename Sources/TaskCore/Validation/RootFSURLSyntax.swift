/// Whether a `root_fs` is accepted by the reference's check: Go's `net/url.Parse` must
/// succeed and find a non-empty scheme (lifecycle.md §8.2).
///
/// What `url.Parse` refuses, in the order it looks (everything else it accepts):
///
/// 1. The text is cut at its first `#`; the part before it is the URL, the rest the
///    fragment.
/// 2. The URL may hold no ASCII control byte (0x00–0x1F, 0x7F). The fragment is not
///    checked for them.
/// 3. The scheme is `[A-Za-z][A-Za-z0-9+.-]*` followed by `:`. Text starting with `:` is an
///    error; text without such a prefix has no scheme, which `root_fs` does not allow.
/// 4. The query (from the first `?`) is never checked.
/// 5. If what follows the scheme does not start with `/` it is opaque and accepted as is
///    (`preloaded:cflinuxfs4`).
/// 6. If it starts with `//`, the authority runs to the next `/`. Its host is what follows
///    the last `@`: a bracketed literal `[…]` may be followed only by `:` and digits, and
///    its zone (from `%25`) gets its own escaping rules; otherwise the text after the last
///    `:` must be digits. Host bytes below 0x80 must be letters, digits or one of
///    `-._~!$&'()*+,;=:[]<>"`, and `%` escapes there may only encode bytes ≥ 0x80 (or be
///    `%25`). The userinfo before the `@` may hold only ASCII letters, digits and
///    `-._:~!$&'()*+,;=%@`.
/// 7. Every `%` in the userinfo, the path and the fragment must be followed by two hex
///    digits.
///
/// The spec's shorter approximation (scheme, control bytes, escapes, numeric port) agrees
/// with this on every input the conformance suite sends; this follows Go exactly so that
/// corner cases (control bytes after `#`, escapes in an opaque URL's fragment, characters
/// a host may not contain) are decided as the reference decides them.
enum RootFSURLSyntax {
    static func isValid(_ rootFs: String) -> Bool {
        var rootFs = rootFs
        return rootFs.withUTF8 { isValid(bytes: $0) }
    }

    static func isValid(bytes text: UnsafeBufferPointer<UInt8>) -> Bool {
        let fragmentStart = text.firstIndex(of: UInt8(ascii: "#")) ?? text.count
        guard hasValidSchemeAndHierarchy(UnsafeBufferPointer(rebasing: text[..<fragmentStart])) else {
            return false
        }
        if fragmentStart < text.count {
            return percentEscapesAreWellFormed(UnsafeBufferPointer(rebasing: text[(fragmentStart + 1)...]))
        }
        return true
    }

    private static func hasValidSchemeAndHierarchy(_ url: UnsafeBufferPointer<UInt8>) -> Bool {
        if url.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return false }

        var schemeEnd: Int?
        for index in url.indices {
            let byte = url[index]
            if isASCIILetter(byte) { continue }
            if isASCIIDigit(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") {
                if index == 0 { return false }  // no scheme
                continue
            }
            if byte == UInt8(ascii: ":"), index > 0 { schemeEnd = index }
            break  // ":" first is "missing protocol scheme"; any other byte means no scheme
        }
        guard let schemeEnd else { return false }

        let restStart = schemeEnd + 1
        let afterScheme = UnsafeBufferPointer(rebasing: url[restStart...])
        let restEnd = restStart + (afterScheme.firstIndex(of: UInt8(ascii: "?")) ?? afterScheme.count)
        guard restStart < restEnd, url[restStart] == UInt8(ascii: "/") else {
            return true  // opaque
        }

        var pathStart = restStart
        if restEnd - restStart >= 2, url[restStart + 1] == UInt8(ascii: "/") {
            let authorityStart = restStart + 2
            let afterSlashes = UnsafeBufferPointer(rebasing: url[authorityStart..<restEnd])
            let authorityEnd = authorityStart + (afterSlashes.firstIndex(of: UInt8(ascii: "/")) ?? afterSlashes.count)
            guard authorityIsValid(UnsafeBufferPointer(rebasing: url[authorityStart..<authorityEnd])) else {
                return false
            }
            pathStart = authorityEnd
        }
        return percentEscapesAreWellFormed(UnsafeBufferPointer(rebasing: url[pathStart..<restEnd]))
    }

    private static func authorityIsValid(_ authority: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let at = authority.lastIndex(of: UInt8(ascii: "@")) else {
            return hostIsValid(authority)
        }
        let userinfo = UnsafeBufferPointer(rebasing: authority[..<at])
        return hostIsValid(UnsafeBufferPointer(rebasing: authority[(at + 1)...]))
            && userinfo.allSatisfy(isUserinfoByte)
            && percentEscapesAreWellFormed(userinfo)
    }

    private static func hostIsValid(_ host: UnsafeBufferPointer<UInt8>) -> Bool {
        if host.first == UInt8(ascii: "[") {
            guard let close = host.lastIndex(of: UInt8(ascii: "]")) else { return false }
            guard isValidOptionalPort(UnsafeBufferPointer(rebasing: host[(close + 1)...])) else { return false }
            if let zone = indexOfPercent25(UnsafeBufferPointer(rebasing: host[..<close])) {
                return hostEscapesAreValid(UnsafeBufferPointer(rebasing: host[..<zone]), inZone: false)
                    && hostEscapesAreValid(UnsafeBufferPointer(rebasing: host[zone..<close]), inZone: true)
                    && hostEscapesAreValid(UnsafeBufferPointer(rebasing: host[close...]), inZone: false)
            }
        } else if let colon = host.lastIndex(of: UInt8(ascii: ":")) {
            guard isValidOptionalPort(UnsafeBufferPointer(rebasing: host[colon...])) else { return false }
        }
        return hostEscapesAreValid(host, inZone: false)
    }

    /// Go's `unescape` in host or zone mode, reduced to its verdict.
    private static func hostEscapesAreValid(_ text: UnsafeBufferPointer<UInt8>, inZone: Bool) -> Bool {
        var index = 0
        while index < text.count {
            let byte = text[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < text.count, let high = hexValue(text[index + 1]), let low = hexValue(text[index + 2]) else {
                    return false
                }
                let isPercent25 = text[index + 1] == UInt8(ascii: "2") && text[index + 2] == UInt8(ascii: "5")
                if inZone {
                    let decoded = high << 4 | low
                    if !isPercent25, decoded != UInt8(ascii: " "), !isHostByte(decoded) { return false }
                } else if high < 8, !isPercent25 {
                    return false  // a host may %-encode only non-ASCII bytes
                }
                index += 3
            } else {
                if byte < 0x80, !isHostByte(byte) { return false }
                index += 1
            }
        }
        return true
    }

    private static func percentEscapesAreWellFormed(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        while index < text.count {
            if text[index] == UInt8(ascii: "%") {
                guard index + 2 < text.count, hexValue(text[index + 1]) != nil, hexValue(text[index + 2]) != nil else {
                    return false
                }
                index += 3
            } else {
                index += 1
            }
        }
        return true
    }

    /// Empty, or `:` followed by digits only.
    private static func isValidOptionalPort(_ port: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = port.first else { return true }
        return first == UInt8(ascii: ":") && port.dropFirst().allSatisfy(isASCIIDigit)
    }

    private static func indexOfPercent25(_ text: UnsafeBufferPointer<UInt8>) -> Int? {
        guard text.count >= 3 else { return nil }
        for index in 0...(text.count - 3)
        where text[index] == UInt8(ascii: "%") && text[index + 1] == UInt8(ascii: "2") && text[index + 2] == UInt8(ascii: "5") {
            return index
        }
        return nil
    }

    /// Bytes Go's `shouldEscape(_, encodeHost)` lets through unescaped.
    private static func isHostByte(_ byte: UInt8) -> Bool {
        if isASCIILetter(byte) || isASCIIDigit(byte) { return true }
        switch byte {
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
             UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
             UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "<"),
             UInt8(ascii: ">"), UInt8(ascii: "\""), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
             UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// Bytes Go's `validUserinfo` accepts (it refuses every non-ASCII character).
    private static func isUserinfoByte(_ byte: UInt8) -> Bool {
        if isASCIILetter(byte) || isASCIIDigit(byte) { return true }
        switch byte {
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "~"),
             UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
             UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
             UInt8(ascii: "="), UInt8(ascii: "%"), UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }

    private static func isASCIILetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    private static func isASCIIDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
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
