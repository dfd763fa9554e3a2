// The one place where Swift code calls libc for I/O. Every call goes through `systemCall`
// (or `nonBlockingSystemCall`), which retries EINTR and turns -1 into a typed error that
// names the call, so callers never read `errno` themselves.
//
// Files.swift (the write-ahead log's needs) and Sockets.swift (the HTTP server's) build
// on these two helpers.

#if canImport(Glibc)
import Glibc
#endif

/// A system call that failed: which call, and its errno.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    public let call: String
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// The outcome of a call on a non-blocking descriptor: done, or "try again when ready"
/// (EAGAIN/EWOULDBLOCK), which is a normal result rather than an error.
public enum NonBlockingResult<Value: Sendable>: Sendable {
    case done(Value)
    case wouldBlock
}

/// Runs `body` (a libc call returning -1 on failure), retrying while it fails with EINTR.
@discardableResult
public func systemCall<Result: FixedWidthInteger>(
    _ name: String, _ body: () -> Result
) throws(SystemCallError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemCallError(call: name, errno: code)
    }
}

/// As `systemCall`, for non-blocking descriptors: EAGAIN/EWOULDBLOCK become `.wouldBlock`.
public func nonBlockingSystemCall<Result: FixedWidthInteger & Sendable>(
    _ name: String, _ body: () -> Result
) throws(SystemCallError) -> NonBlockingResult<Result> {
    while true {
        let result = body()
        if result != -1 { return .done(result) }
        let code = errno
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        throw SystemCallError(call: name, errno: code)
    }
}
