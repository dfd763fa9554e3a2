// TCP sockets for the HTTP server: addresses, a descriptor type, and the calls the
// listener and connections make. Every call goes through `systemCall` /
// `nonBlockingSystemCall` (SystemCall.swift), so EINTR is retried, EAGAIN is a value
// (`.wouldBlock`) and every other failure is a `SystemCallError` naming the call.
//
// Sockets are created non-blocking and close-on-exec. `import Glibc` has no `accept4`,
// so an accepted socket gets both flags through `fcntl` right after `accept`.
// Sends use MSG_NOSIGNAL: writing to a peer that has gone away returns EPIPE instead of
// raising SIGPIPE, which would kill the process.

#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address with a port, as the kernel takes it.
public struct SocketAddress: Sendable, CustomStringConvertible {
    private var storage: sockaddr_storage
    private let length: socklen_t

    /// Wraps a kernel-filled address of `length` bytes.
    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    init(pointer: UnsafePointer<sockaddr>, length: socklen_t) {
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: Int(length)))
        }
        self.init(storage: storage, length: length)
    }

    /// `AF_INET` or `AF_INET6`.
    public var family: Int32 { Int32(storage.ss_family) }

    public var port: Int {
        withUnsafeBytes(of: storage) { raw in
            switch family {
            case AF_INET: Int(UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port))
            case AF_INET6: Int(UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port))
            default: 0
            }
        }
    }

    /// The numeric host (`127.0.0.1`, `::1`).
    public var host: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok: Bool = withUnsafeBytes(of: storage) { raw in
            switch family {
            case AF_INET:
                var address = raw.load(as: sockaddr_in.self).sin_addr
                return inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil
            case AF_INET6:
                var address = raw.load(as: sockaddr_in6.self).sin6_addr
                return inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil
            default:
                return false
            }
        }
        guard ok else { return "" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `host:port`, with the host in brackets for IPv6 (`[::1]:8889`).
    public var description: String {
        family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Calls `body` with the address as the kernel wants it.
    public func withSocketAddress<Result>(
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemCallError) -> Result
    ) throws(SystemCallError) -> Result {
        var copy = storage
        return try withUnsafeMutablePointer(to: &copy) { pointer throws(SystemCallError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(SystemCallError) in
                try body(address, length)
            }
        }
    }

    /// The stream-socket addresses for `host` (a name or a numeric IPv4/IPv6 address)
    /// and `port`, in the resolver's order of preference. `passive` asks for addresses to
    /// listen on: an empty host then means every local address.
    public static func resolve(host: String, port: Int, passive: Bool = true) throws(AddressResolutionError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard status == 0 else {
            throw AddressResolutionError(host: host, code: status)
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let info = entry {
            if let address = info.pointee.ai_addr,
               info.pointee.ai_family == AF_INET || info.pointee.ai_family == AF_INET6 {
                addresses.append(SocketAddress(pointer: address, length: info.pointee.ai_addrlen))
            }
            entry = info.pointee.ai_next
        }
        guard !addresses.isEmpty else { throw AddressResolutionError(host: host, code: EAI_NONAME) }
        return addresses
    }
}

/// A host name that did not resolve (getaddrinfo's own error codes are not errnos).
public struct AddressResolutionError: Error, Hashable, Sendable, CustomStringConvertible {
    public let host: String
    public let code: Int32

    public var description: String {
        "cannot resolve \"\(host)\": \(String(cString: gai_strerror(code)))"
    }
}

/// Which direction(s) `shutdown` ends.
public enum SocketShutdown: Sendable {
    case read, write, both

    var how: Int32 {
        switch self {
        case .read: Int32(SHUT_RD)
        case .write: Int32(SHUT_WR)
        case .both: Int32(SHUT_RDWR)
        }
    }
}

/// A TCP socket's descriptor. A plain value: whoever creates or accepts one closes it,
/// exactly once.
public struct SocketDescriptor: Hashable, Sendable {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// A new non-blocking, close-on-exec stream socket for `family`.
    public static func makeStream(family: Int32) throws(SystemCallError) -> SocketDescriptor {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return SocketDescriptor(rawValue: try systemCall("socket") { socket(family, type, 0) })
    }

    /// A listening socket bound to `address`, with SO_REUSEADDR so a restarted server can
    /// bind while old connections sit in TIME_WAIT. `v6Only` sets IPV6_V6ONLY on an IPv6
    /// socket before binding (false: `::` also accepts IPv4, dual stack); nil leaves the
    /// system default.
    public static func listen(on address: SocketAddress, backlog: Int32,
                              v6Only: Bool? = nil) throws(SystemCallError) -> SocketDescriptor {
        let descriptor = try makeStream(family: address.family)
        do {
            try descriptor.setOption(level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            if let v6Only, address.family == AF_INET6 {
                try descriptor.setOption(level: Int32(IPPROTO_IPV6), name: IPV6_V6ONLY, value: v6Only ? 1 : 0)
            }
            _ = try address.withSocketAddress { pointer, length throws(SystemCallError) in
                try systemCall("bind") { bind(descriptor.rawValue, pointer, length) }
            }
            try systemCall("listen") { Glibc.listen(descriptor.rawValue, backlog) }
        } catch {
            descriptor.close()
            throw error
        }
        return descriptor
    }

    /// Takes one pending connection: `.wouldBlock` when none is waiting. The new socket
    /// is non-blocking and close-on-exec.
    public func accept() throws(SystemCallError) -> NonBlockingResult<(SocketDescriptor, SocketAddress)> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutablePointer(to: &storage) { pointer throws(SystemCallError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(SystemCallError) in
                try nonBlockingSystemCall("accept") { Glibc.accept(rawValue, address, &length) }
            }
        }
        guard case .done(let raw) = result else { return .wouldBlock }
        let accepted = SocketDescriptor(rawValue: raw)
        do {
            try accepted.setNonBlocking()
            try systemCall("fcntl") { fcntl(raw, F_SETFD, FD_CLOEXEC) }
        } catch {
            accepted.close()
            throw error
        }
        return .done((accepted, SocketAddress(storage: storage, length: length)))
    }

    /// Connects to `address`. On a blocking socket this waits for the handshake; on a
    /// non-blocking one it returns `.wouldBlock` while the handshake is in progress.
    public func connect(to address: SocketAddress) throws(SystemCallError) -> NonBlockingResult<Void> {
        let result = try address.withSocketAddress { pointer, length throws(SystemCallError) in
            do throws(SystemCallError) {
                return try nonBlockingSystemCall("connect") { Glibc.connect(rawValue, pointer, length) }
            } catch where error.errno == EINPROGRESS {
                return .wouldBlock
            }
        }
        if case .wouldBlock = result { return .wouldBlock }
        return .done(())
    }

    /// Reads into `buffer`: `.done(0)` is end of stream.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> NonBlockingResult<Int> {
        try nonBlockingSystemCall("read") { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Sends what the kernel takes of `bytes` (possibly fewer than all of them).
    /// A vanished peer is EPIPE or ECONNRESET, never SIGPIPE.
    public func send(_ bytes: UnsafeRawBufferPointer) throws(SystemCallError) -> NonBlockingResult<Int> {
        try nonBlockingSystemCall("send") {
            Glibc.send(rawValue, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        }
    }

    public func shutdown(_ direction: SocketShutdown) throws(SystemCallError) {
        try systemCall("shutdown") { Glibc.shutdown(rawValue, direction.how) }
    }

    /// Closes the descriptor. Errors are not reported: after `close` the descriptor is
    /// gone whatever it returns (retrying on EINTR could close a reused number).
    public func close() {
        _ = Glibc.close(rawValue)
    }

    public func setNonBlocking() throws(SystemCallError) {
        let flags = try systemCall("fcntl") { fcntl(rawValue, F_GETFL) }
        try systemCall("fcntl") { fcntl(rawValue, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Sets an integer socket option.
    public func setOption(level: Int32, name: Int32, value: Int32) throws(SystemCallError) {
        var value = value
        try systemCall("setsockopt") {
            setsockopt(rawValue, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Reads an integer socket option.
    public func option(level: Int32, name: Int32) throws(SystemCallError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        try systemCall("getsockopt") { getsockopt(rawValue, level, name, &value, &length) }
        return value
    }

    /// Waits until the socket is readable (`forWriting` false) or writable, at most
    /// `timeoutMilliseconds`: false when the time ran out first. Errors and hang-ups
    /// count as ready (the next read, send or `pendingError` reports them).
    public func wait(forWriting: Bool, timeoutMilliseconds: Int32) throws(SystemCallError) -> Bool {
        var entry = pollfd(fd: rawValue, events: Int16(forWriting ? POLLOUT : POLLIN), revents: 0)
        let ready = try systemCall("poll") { poll(&entry, 1, timeoutMilliseconds) }
        return ready > 0
    }

    /// The error of a non-blocking `connect` once the socket is writable (SO_ERROR):
    /// 0 when connected.
    public func pendingError() throws(SystemCallError) -> Int32 {
        try option(level: SOL_SOCKET, name: SO_ERROR)
    }

    /// Turns off Nagle's algorithm: small responses leave at once instead of waiting for
    /// the peer's delayed acknowledgement.
    public func setNoDelay() throws(SystemCallError) {
        try setOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
    }

    /// Enables TCP keep-alive probes after `idleSeconds` of silence, repeated every
    /// `idleSeconds` (as Go's `SetKeepAlivePeriod`).
    public func setKeepAlive(idleSeconds: Int32) throws(SystemCallError) {
        try setOption(level: SOL_SOCKET, name: SO_KEEPALIVE, value: 1)
        try setOption(level: Int32(IPPROTO_TCP), name: TCP_KEEPIDLE, value: idleSeconds)
        try setOption(level: Int32(IPPROTO_TCP), name: TCP_KEEPINTVL, value: idleSeconds)
    }

    /// The address the socket is bound to (the chosen port after binding port 0).
    public func localAddress() throws(SystemCallError) -> SocketAddress {
        try address(call: "getsockname") { getsockname($0, $1, $2) }
    }

    /// The address of the connected peer.
    public func remoteAddress() throws(SystemCallError) -> SocketAddress {
        try address(call: "getpeername") { getpeername($0, $1, $2) }
    }

    private func address(
        call: String,
        _ fill: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) throws(SystemCallError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        try withUnsafeMutablePointer(to: &storage) { pointer throws(SystemCallError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(SystemCallError) in
                _ = try systemCall(call) { fill(rawValue, address, &length) }
            }
        }
        return SocketAddress(storage: storage, length: length)
    }
}
