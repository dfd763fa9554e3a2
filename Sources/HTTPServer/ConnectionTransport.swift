// The seam between a connection's byte transport and the protocol spoken over it.
//
//     socket  <->  SocketConnection  <->  [TLS engine, later]  <->  HTTP1Connection / [h2, later]
//                  (ConnectionTransport)                           (ConnectionHandler)
//
// A protocol handler sees only plaintext bytes and asks its transport to send bytes,
// pause reading, keep a deadline, or close. A TLS layer will be a handler to the socket
// and a transport to the protocol handler at once (OpenSSL memory BIOs in between), and
// protocol selection (ALPN, the h2 preface) will choose which handler to put on top.
// Both sides live on the connection's serial queue; nothing here is thread-safe.

/// How a transport ends a connection.
enum ConnectionCloseMode: Sendable {
    /// Send everything queued, half-close, read and drop whatever the peer still sends
    /// for a short while, then close. Closing with unread input makes the kernel send a
    /// reset, which can destroy the last response before the peer reads it (RFC 9112 §9.6).
    case graceful
    /// Close at once, dropping what is queued: the peer sees the stream cut.
    case immediate
}

/// What a protocol handler may ask of the bytes beneath it.
protocol ConnectionTransport: AnyObject {
    /// Appends bytes to send; nothing leaves before `flush`. Ignored once closing.
    func enqueue(_ write: (inout [UInt8]) -> Void)
    /// Starts sending what is queued. Returns at once; what the kernel does not take now
    /// is sent when the socket becomes writable.
    func flush()
    /// Bytes queued and not yet taken by the kernel.
    var pendingOutboundBytes: Int { get }
    /// Whether the handler wants input now; false pauses reading (backpressure).
    func setReading(_ enabled: Bool)
    /// The handler's deadline on the `DispatchTime` uptime clock, in nanoseconds; nil for
    /// none. When it passes, the transport calls `transportDeadlinePassed` once.
    func setDeadline(_ uptimeNanoseconds: UInt64?)
    func close(_ mode: ConnectionCloseMode)
    /// The protocol spoken over this connection is now `protocol` (ALPN settled it, or a
    /// cleartext connection turned out to be h2c). Only counted, for the server's
    /// open-connections figures; a TLS layer passes it down to the socket.
    func protocolChosen(_ protocol: ConnectionProtocol)
}

/// What a transport tells the protocol handler above it.
protocol ConnectionHandler: AnyObject {
    /// The transport is ready; called once, before any other call.
    func transportStarted()
    /// Bytes from the peer; valid only during the call.
    func transportReceived(_ bytes: UnsafeRawBufferPointer)
    /// The peer will send nothing more (it may still read).
    func transportReceivedEnd()
    /// The kernel took `byteCount` queued bytes.
    func transportWrote(byteCount: Int)
    /// The deadline set with `setDeadline` has passed.
    func transportDeadlinePassed()
    /// The connection is closed, whatever the reason; no more calls follow.
    func transportClosed()
    /// The server is stopping: finish what is in progress, take nothing new, then close.
    func shutdownGracefully()
}
