internal import CLinuxEpoll

#if canImport(Glibc)
import Glibc
#endif

/// What a descriptor registered with an `Epoll` is watched for. Level-triggered: a
/// readable socket keeps being reported until it has been read dry.
public struct EpollInterest: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = EpollInterest(rawValue: BBS_EPOLLIN)
    public static let writable = EpollInterest(rawValue: BBS_EPOLLOUT)
}

/// One readiness report: the registration's tag and what the descriptor is ready for.
public struct EpollEvent: Sendable {
    public let tag: UInt64
    let bits: UInt32

    /// Input is waiting, or the peer closed or the socket failed (a read then says which).
    public var isReadable: Bool { bits & (BBS_EPOLLIN | BBS_EPOLLHUP | BBS_EPOLLERR | BBS_EPOLLRDHUP) != 0 }
    /// The send buffer has room, or the socket failed (a send then says how).
    public var isWritable: Bool { bits & (BBS_EPOLLOUT | BBS_EPOLLHUP | BBS_EPOLLERR) != 0 }
}

/// An epoll instance (closed on deinit).
public final class Epoll: @unchecked Sendable {
    // Sendable: epoll calls are thread-safe in the kernel; the descriptor never changes.
    public let rawValue: Int32
    private var events: UnsafeMutablePointer<bbs_epoll_event>
    private let capacity = 256

    public init() throws(SystemCallError) {
        rawValue = try systemCall("epoll_create1") { bbs_epoll_create() }
        events = .allocate(capacity: capacity)
    }

    deinit {
        _ = Glibc.close(rawValue)
        events.deallocate()
    }

    public func add(_ fd: Int32, interest: EpollInterest, tag: UInt64) throws(SystemCallError) {
        try systemCall("epoll_ctl(ADD)") { bbs_epoll_ctl(rawValue, BBS_EPOLL_CTL_ADD, fd, interest.rawValue, tag) }
    }

    public func modify(_ fd: Int32, interest: EpollInterest, tag: UInt64) throws(SystemCallError) {
        try systemCall("epoll_ctl(MOD)") { bbs_epoll_ctl(rawValue, BBS_EPOLL_CTL_MOD, fd, interest.rawValue, tag) }
    }

    public func remove(_ fd: Int32) throws(SystemCallError) {
        try systemCall("epoll_ctl(DEL)") { bbs_epoll_ctl(rawValue, BBS_EPOLL_CTL_DEL, fd, 0, 0) }
    }

    /// Waits up to `timeoutMilliseconds` (-1: no limit) and calls `body` for each event.
    /// Not reentrant: one thread waits.
    public func wait(timeoutMilliseconds: Int32, _ body: (EpollEvent) -> Void) throws(SystemCallError) {
        let count = try systemCall("epoll_wait") {
            bbs_epoll_wait(rawValue, events, Int32(capacity), timeoutMilliseconds)
        }
        for index in 0..<Int(count) {
            body(EpollEvent(tag: events[index].tag, bits: events[index].events))
        }
    }
}

/// A non-blocking eventfd: `signal` from any thread makes it readable; `drain` resets it.
public final class EventFD: @unchecked Sendable {
    public let rawValue: Int32

    public init() throws(SystemCallError) {
        rawValue = try systemCall("eventfd") { bbs_eventfd() }
    }

    deinit { _ = Glibc.close(rawValue) }

    public func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(rawValue, $0.baseAddress, 8) }
    }

    public func drain() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { Glibc.read(rawValue, $0.baseAddress, 8) }
    }
}
