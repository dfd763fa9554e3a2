import BBSPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

// Sockets on the loopback interface. `poll` waits (with a long safety timeout) for the
// kernel to finish what a non-blocking call started, so no assertion depends on timing.

/// Waits until `socket` is ready for `events`; false only if the safety timeout passed.
private func waitFor(_ events: Int16, on socket: SocketDescriptor) -> Bool {
    var entry = pollfd(fd: socket.rawValue, events: events, revents: 0)
    return poll(&entry, 1, 10_000) == 1
}

/// A listener on `host` port 0, a connected client, and the accepted server side.
private func connectedPair(host: String = "127.0.0.1") throws -> (listener: SocketDescriptor,
                                                                  client: SocketDescriptor,
                                                                  server: SocketDescriptor,
                                                                  clientAddress: SocketAddress) {
    let listener = try SocketDescriptor.listen(on: try SocketAddress.resolve(host: host, port: 0)[0], backlog: 8)
    let bound = try listener.localAddress()
    let client = try SocketDescriptor.makeStream(family: bound.family)
    if case .wouldBlock = try client.connect(to: bound) {
        #expect(waitFor(Int16(POLLOUT), on: client))
    }
    #expect(waitFor(Int16(POLLIN), on: listener))
    guard case .done(let (server, clientAddress)) = try listener.accept() else {
        throw SystemCallError(call: "accept (test)", errno: EAGAIN)
    }
    return (listener, client, server, clientAddress)
}

private func send(_ text: String, on socket: SocketDescriptor) throws -> NonBlockingResult<Int> {
    try Array(text.utf8).withUnsafeBytes { bytes throws(SystemCallError) in try socket.send(bytes) }
}

private func read(_ socket: SocketDescriptor, count: Int = 64) throws -> NonBlockingResult<[UInt8]> {
    var buffer = [UInt8](repeating: 0, count: count)
    let result = try buffer.withUnsafeMutableBytes { bytes throws(SystemCallError) in try socket.read(into: bytes) }
    switch result {
    case .wouldBlock: return .wouldBlock
    case .done(let length): return .done(Array(buffer[..<length]))
    }
}

@Suite struct SocketAddressTests {
    @Test func numericAddresses() throws {
        let v4 = try SocketAddress.resolve(host: "127.0.0.1", port: 8889)
        #expect(v4.count == 1)
        #expect(v4[0].family == AF_INET)
        #expect(v4[0].host == "127.0.0.1")
        #expect(v4[0].port == 8889)
        #expect(v4[0].description == "127.0.0.1:8889")

        let v6 = try SocketAddress.resolve(host: "::1", port: 443)
        #expect(v6[0].family == AF_INET6)
        #expect(v6[0].description == "[::1]:443")
    }

    @Test func emptyHostMeansEveryAddress() throws {
        let any = try SocketAddress.resolve(host: "", port: 80)
        #expect(!any.isEmpty)
        #expect(any.allSatisfy { $0.host == "0.0.0.0" || $0.host == "::" })
    }

    @Test func unresolvableHostIsAnError() {
        #expect(throws: AddressResolutionError.self) {
            try SocketAddress.resolve(host: "no such host.invalid", port: 80)
        }
    }
}

@Suite struct SocketDescriptorTests {
    @Test func listenAcceptReadAndSend() throws {
        let (listener, client, server, clientAddress) = try connectedPair()
        defer { [listener, client, server].forEach { $0.close() } }

        #expect(try listener.option(level: SOL_SOCKET, name: SO_REUSEADDR) == 1)
        #expect(try listener.localAddress().port > 0)
        #expect(try client.localAddress().description == clientAddress.description)
        #expect(try server.remoteAddress().description == clientAddress.description)
        // Nothing else is waiting.
        guard case .wouldBlock = try listener.accept() else {
            Issue.record("a second connection appeared")
            return
        }

        // The accepted socket is non-blocking and close-on-exec.
        #expect(fcntl(server.rawValue, F_GETFL) & O_NONBLOCK != 0)
        #expect(fcntl(server.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        guard case .wouldBlock = try read(server) else {
            Issue.record("read without data did not report wouldBlock")
            return
        }

        guard case .done(5) = try send("hello", on: client) else {
            Issue.record("send did not take all bytes")
            return
        }
        #expect(waitFor(Int16(POLLIN), on: server))
        guard case .done(let bytes) = try read(server) else {
            Issue.record("no data")
            return
        }
        #expect(bytes == Array("hello".utf8))

        // End of stream after the peer shuts down its sending side.
        try client.shutdown(.write)
        #expect(waitFor(Int16(POLLIN), on: server))
        guard case .done(let end) = try read(server) else {
            Issue.record("no end of stream")
            return
        }
        #expect(end.isEmpty)
    }

    @Test func sendingToAClosedPeerIsAnErrorNotASignal() throws {
        let (listener, client, server, _) = try connectedPair()
        defer { [listener, server].forEach { $0.close() } }
        client.close()
        // The first send may still be accepted; the peer's reset makes a later one fail.
        var failure: SystemCallError?
        for _ in 0..<100 where failure == nil {
            do {
                _ = try send("x", on: server)
                _ = waitFor(Int16(POLLERR | POLLHUP), on: server)
            } catch let error as SystemCallError {
                failure = error
            }
        }
        #expect(failure?.call == "send")
        #expect(failure?.errno == EPIPE || failure?.errno == ECONNRESET)
    }

    @Test func options() throws {
        let (listener, client, server, _) = try connectedPair()
        defer { [listener, client, server].forEach { $0.close() } }
        try server.setNoDelay()
        #expect(try server.option(level: Int32(IPPROTO_TCP), name: TCP_NODELAY) == 1)
        try server.setKeepAlive(idleSeconds: 180)
        #expect(try server.option(level: SOL_SOCKET, name: SO_KEEPALIVE) == 1)
        #expect(try server.option(level: Int32(IPPROTO_TCP), name: TCP_KEEPIDLE) == 180)
        #expect(try server.option(level: Int32(IPPROTO_TCP), name: TCP_KEEPINTVL) == 180)
    }

    @Test func ipv6Loopback() throws {
        let (listener, client, server, clientAddress) = try connectedPair(host: "::1")
        defer { [listener, client, server].forEach { $0.close() } }
        #expect(clientAddress.family == AF_INET6)
        #expect(clientAddress.host == "::1")
    }

    @Test func bindingABusyPortFailsWithTheCallsName() throws {
        let first = try SocketDescriptor.listen(on: try SocketAddress.resolve(host: "127.0.0.1", port: 0)[0], backlog: 8)
        defer { first.close() }
        let taken = try first.localAddress()
        #expect(throws: SystemCallError(call: "bind", errno: EADDRINUSE)) {
            try SocketDescriptor.listen(on: taken, backlog: 8)
        }
    }
}
