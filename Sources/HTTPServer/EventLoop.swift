import BBSPosix
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What an `EventLoop` calls a registered descriptor's owner with, on the loop's thread.
protocol EventLoopHandler: AnyObject {
    /// Input is waiting (or the peer closed, or the socket failed: a read tells which).
    func eventLoopReadable()
    /// There is room to send (or the socket failed).
    func eventLoopWritable()
    /// The deadline set with `setTimer` has come.
    func eventLoopTimerFired()
}

/// A serial queue with its own thread and its own epoll set: the thread waits in
/// `epoll_wait`, does the I/O of the descriptors that are ready itself, fires the
/// timers that are due, and runs the closures other threads queued with `async`.
///
/// Why not Dispatch sources: libdispatch on Linux routes every readiness event through
/// its manager thread (epoll there, then a hand-off to a worker, `ioctl(FIONREAD)`, an
/// `epoll_ctl` to re-arm, an eventfd write back to the manager). Profiled, that was about
/// a quarter of the server's CPU per point read and one extra context switch per request.
/// Here a ready socket is read on the thread that learned it was ready, and interest is
/// level-triggered and changed only when a connection's wishes change.
///
/// Everything a connection on this loop owns is used on the loop's thread only (the
/// connections assert it with `preconditionInLoop`); other threads reach it with `async`.
final class EventLoop: @unchecked Sendable {
    // Invariant: `registrations`, `timers` and `nextTag` are used only on the loop's
    // thread; `inbox` is the only state other threads touch.

    private struct Inbox {
        var work: [@Sendable () -> Void] = []
        /// The thread is in (or about to enter) `epoll_wait` with a timeout: `async`
        /// must wake it through the eventfd.
        var sleeping = false
        var stopping = false
    }

    private struct Registration {
        let fd: Int32
        var interest: EpollInterest
        let handler: any EventLoopHandler
        /// The timer deadline on the uptime clock (ns), if armed.
        var timer: UInt64?
    }

    let label: String
    private let epoll: Epoll
    private let wakeUp: EventFD
    private let inbox = Mutex(Inbox())
    private let thread = Atomic<UInt>(0)
    private var registrations: [UInt64: Registration] = [:]
    /// (deadline, tag) of armed timers; an entry whose registration has another deadline
    /// (re-armed or cancelled) is skipped when it comes up.
    private var timers = DeadlineHeap()
    private var nextTag: UInt64 = 1

    /// The tag of the wake-up eventfd's registration.
    private static let wakeUpTag: UInt64 = 0

    init(label: String) {
        self.label = label
        do {
            epoll = try Epoll()
            wakeUp = try EventFD()
            try epoll.add(wakeUp.rawValue, interest: .readable, tag: Self.wakeUpTag)
        } catch {
            fatalError("\(label): cannot create the event loop: \(error)")
        }
        var id = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&id, nil, { context in
            let loop = Unmanaged<EventLoop>.fromOpaque(context!).takeRetainedValue()
            loop.run()
            return nil
        }, context)
        precondition(created == 0, "\(label): pthread_create failed (\(created))")
        pthread_detach(id)
        thread.store(UInt(id), ordering: .releasing)
    }

    // MARK: - Any thread

    /// Runs `work` on the loop's thread, after what is already queued.
    func async(execute work: @escaping @Sendable () -> Void) {
        let wake = inbox.withLock { inbox in
            inbox.work.append(work)
            guard inbox.sleeping else { return false }
            inbox.sleeping = false
            return true
        }
        if wake { wakeUp.signal() }
    }

    /// Runs `body` on the loop's thread and waits for it (tests and start-up only; never
    /// from the loop's own thread).
    func sync<Value, Failure: Error>(execute body: () throws(Failure) -> Value) throws(Failure) -> Value {
        preconditionNotInLoop()
        let result = withoutActuallyEscaping(body) { body in
            let call = UncheckedCall { () -> Result<Value, Failure> in
                do throws(Failure) { return .success(try body()) } catch { return .failure(error) }
            }
            let done = DispatchSemaphore(value: 0)
            async {
                call.run()
                done.signal()
            }
            done.wait()
            return call.result!
        }
        return try result.get()
    }

    var inLoop: Bool { pthread_self() == pthread_t(thread.load(ordering: .acquiring)) }

    func preconditionInLoop(file: StaticString = #fileID, line: UInt = #line) {
        precondition(inLoop, "\(label): called off the event loop's thread", file: file, line: line)
    }

    func preconditionNotInLoop(file: StaticString = #fileID, line: UInt = #line) {
        precondition(!inLoop, "\(label): would wait for itself", file: file, line: line)
    }

    /// Ends the thread once the work queued so far has run. Registered descriptors stay
    /// open: their owners close them.
    func stop() {
        inbox.withLock { $0.stopping = true }
        wakeUp.signal()
    }

    // MARK: - The loop's thread

    /// Watches `fd` for `interest` and calls `handler` when it is ready; returns the tag
    /// that names the registration from now on.
    func register(_ fd: Int32, interest: EpollInterest, handler: any EventLoopHandler) throws(SystemCallError) -> UInt64 {
        preconditionInLoop()
        let tag = nextTag
        nextTag += 1
        try epoll.add(fd, interest: interest, tag: tag)
        registrations[tag] = Registration(fd: fd, interest: interest, handler: handler)
        return tag
    }

    /// Changes what the registration is watched for (a system call only when it changes).
    func setInterest(_ tag: UInt64, _ interest: EpollInterest) throws(SystemCallError) {
        preconditionInLoop()
        guard let registration = registrations[tag], registration.interest != interest else { return }
        try epoll.modify(registration.fd, interest: interest, tag: tag)
        registrations[tag]?.interest = interest
    }

    /// Forgets the registration (before its descriptor is closed); its timer is cancelled
    /// and no further call reaches its handler.
    func deregister(_ tag: UInt64) {
        preconditionInLoop()
        guard let registration = registrations.removeValue(forKey: tag) else { return }
        try? epoll.remove(registration.fd)
    }

    /// Arms the registration's timer for `deadline` (uptime ns), replacing the previous
    /// one; nil cancels it.
    func setTimer(_ tag: UInt64, _ deadline: UInt64?) {
        preconditionInLoop()
        guard registrations[tag] != nil else { return }
        registrations[tag]?.timer = deadline
        if let deadline { timers.push(deadline: deadline, tag: tag) }
        // Superseded entries wait in the heap until their deadline; with many short-lived
        // connections and long timeouts they would pile up, so rebuild from the live ones.
        if timers.count > 2 * registrations.count + 1024 {
            timers = DeadlineHeap()
            for (tag, registration) in registrations {
                if let deadline = registration.timer { timers.push(deadline: deadline, tag: tag) }
            }
        }
    }

    private func run() {
        while true {
            let timeout = millisecondsToNextTimer()
            let (stopping, mayWait) = inbox.withLock { inbox -> (Bool, Bool) in
                if inbox.stopping && inbox.work.isEmpty { return (true, false) }
                let mayWait = inbox.work.isEmpty
                inbox.sleeping = mayWait
                return (false, mayWait)
            }
            if stopping { return }
            do {
                try epoll.wait(timeoutMilliseconds: mayWait ? timeout : 0) { event in
                    if event.tag == Self.wakeUpTag {
                        wakeUp.drain()
                        return
                    }
                    // The handler of one event may close another connection: look the
                    // registration up again before each call.
                    if event.isReadable, let registration = registrations[event.tag],
                       registration.interest.contains(.readable) {
                        registration.handler.eventLoopReadable()
                    }
                    if event.isWritable, let registration = registrations[event.tag],
                       registration.interest.contains(.writable) {
                        registration.handler.eventLoopWritable()
                    }
                }
            } catch {
                fatalError("\(label): \(error)")
            }
            fireDueTimers()
            let work = inbox.withLock { inbox -> [@Sendable () -> Void] in
                inbox.sleeping = false
                defer { inbox.work.removeAll(keepingCapacity: true) }
                return inbox.work
            }
            for item in work { item() }
        }
    }

    /// -1 (wait indefinitely) without timers; otherwise rounded up, so the loop does not
    /// wake a moment early and spin.
    private func millisecondsToNextTimer() -> Int32 {
        guard let next = timers.earliest else { return -1 }
        let now = DispatchTime.now().uptimeNanoseconds
        guard next > now else { return 0 }
        return Int32(clamping: (next - now + 999_999) / 1_000_000)
    }

    private func fireDueTimers() {
        let now = DispatchTime.now().uptimeNanoseconds
        guard let next = timers.earliest, next <= now else { return }
        while let (deadline, tag) = timers.popDue(now: now) {
            guard let registration = registrations[tag], registration.timer == deadline else { continue }
            registrations[tag]?.timer = nil
            registration.handler.eventLoopTimerFired()
        }
    }
}

/// A non-escaping closure carried to the loop's thread by `EventLoop.sync`, which waits
/// for it: it never outlives the call.
private final class UncheckedCall<Result>: @unchecked Sendable {
    private var body: (() -> Result)?
    var result: Result?
    init(body: @escaping () -> Result) { self.body = body }
    /// Runs the body and lets go of it before the waiting caller resumes
    /// (`withoutActuallyEscaping` checks that nothing still holds it).
    func run() {
        result = body?()
        body = nil
    }
}

/// A binary min-heap of (deadline, tag).
struct DeadlineHeap {
    private var entries: [(deadline: UInt64, tag: UInt64)] = []

    var earliest: UInt64? { entries.first?.deadline }
    var count: Int { entries.count }

    mutating func push(deadline: UInt64, tag: UInt64) {
        entries.append((deadline, tag))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    mutating func popDue(now: UInt64) -> (UInt64, UInt64)? {
        guard let first = entries.first, first.deadline <= now else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < entries.count && entries[left].deadline < entries[smallest].deadline { smallest = left }
                if right < entries.count && entries[right].deadline < entries[smallest].deadline { smallest = right }
                if smallest == parent { break }
                entries.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return (first.deadline, first.tag)
    }
}
