/// An absolute `http` or `https` URL as the client needs it: where to connect, what to
/// put in `Host` and the request line, and the credentials of its userinfo. Parsed by
/// hand (RFC 3986's authority and path), because Foundation's `URL` is not available to
/// this module and the client needs only this much.
///
///     HTTPClientURL(string: "https://user:pa%40ss@[::1]:8443/cb?x=1")
///     // scheme "https", host "::1", port 8443, target "/cb?x=1", user "user", password "pa@ss"
public struct HTTPClientURL: Sendable, Equatable, CustomStringConvertible {
    /// `http` or `https`, lowercase.
    public var scheme: String
    /// The host without IPv6 brackets.
    public var host: String
    public var port: Int
    /// The request target: path (at least `/`) and query; no fragment.
    public var target: String
    /// Userinfo, percent-decoded: sent as Basic authorization.
    public var user: String?
    public var password: String?

    public var isTLS: Bool { scheme == "https" }

    /// `Host`'s value: the host (bracketed if IPv6), and the port unless the scheme's default.
    public var authority: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return port == (isTLS ? 443 : 80) ? bracketed : "\(bracketed):\(port)"
    }

    /// The URL without userinfo, for logs and errors.
    public var description: String { "\(scheme)://\(authority)\(target)" }

    /// Nil unless `string` is an absolute http(s) URL with a host and a valid port.
    /// Spaces and control characters anywhere make it invalid (as Go's `url.Parse`).
    public init?(string: String) {
        guard !string.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }),
              let schemeEnd = string.range(of: "://") else { return nil }
        let scheme = string[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        var rest = string[schemeEnd.upperBound...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        let path = rest[authorityEnd...]

        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                guard let user = Self.percentDecoded(userinfo[..<colon]),
                      let password = Self.percentDecoded(userinfo[userinfo.index(after: colon)...]) else { return nil }
                self.user = user
                self.password = password
            } else {
                guard let user = Self.percentDecoded(userinfo) else { return nil }
                self.user = user
            }
        }

        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        if let portText, !portText.isEmpty {
            guard portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber), portText.count <= 5,
                  let port = Int(portText), (1...65535).contains(port) else { return nil }
            self.port = port
        } else {
            port = defaultPort
        }
        self.scheme = scheme
        self.host = String(host)
        target = path.isEmpty ? "/" : path.hasPrefix("?") ? "/" + path : String(path)
    }

    /// The URL a `Location` value names, relative to this one (RFC 3986 §5.2, without
    /// dot-segment removal): absolute, scheme-relative (`//host/p`), absolute-path
    /// (`/p`), query-only (`?q`) or relative to this path's directory. Nil if invalid.
    public func resolving(_ reference: String) -> HTTPClientURL? {
        if reference.contains("://"),
           let colon = reference.firstIndex(of: ":"),
           !reference[..<colon].contains("/") {
            return HTTPClientURL(string: reference)
        }
        if reference.hasPrefix("//") { return HTTPClientURL(string: scheme + ":" + reference) }
        // Credentials do not follow a redirect (Go sets Authorization from each request's
        // own URL), so the base has no userinfo.
        let base = "\(scheme)://\(authority)"
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "/"
        if reference.hasPrefix("/") { return HTTPClientURL(string: base + reference) }
        if reference.hasPrefix("?") { return HTTPClientURL(string: base + path + reference) }
        if reference.isEmpty { return HTTPClientURL(string: base + target) }
        let directory = path.lastIndex(of: "/").map { path[...$0] } ?? "/"
        return HTTPClientURL(string: base + directory + reference)
    }

    /// `%XX` escapes decoded as UTF-8; nil for a malformed escape.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(ASCII.hexValue),
                      let low = iterator.next().flatMap(ASCII.hexValue) else { return nil }
                bytes.append(UInt8(high << 4 | low))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
