import BBSPosix
import Dispatch
import Glibc
import Synchronization
import Testing

@testable import HTTPServer

// The event loop that runs each lane: work queued from other threads runs in order on the
// loop's own thread, a registered descriptor's owner hears of readiness only for what it
// asked, timers fire when due and not when replaced, and a deregistered owner hears nothing.

/// Records what the loop tells it, with the loop's thread check at each call.
private final class Recorder: EventLoopHandler, @unchecked Sendable {
    let loop: EventLoop
    private let calls = Mutex<[String]>([])
    var onReadable: () -> Void = {}
    init(loop: EventLoop) { self.loop = loop }
    func eventLoopReadable() { record("readable"); onReadable() }
    func eventLoopWritable() { record("writable") }
    func eventLoopTimerFired() { record("timer") }
    private func record(_ call: String) {
        #expect(loop.inLoop)
        calls.withLock { $0.append(call) }
    }
    var seen: [String] { calls.withLock { $0 } }
}

/// A connected pair of Unix stream sockets, non-blocking, closed at the end.
private struct SocketPair: ~Copyable {
    let ours: Int32, theirs: Int32
    init() {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        (ours, theirs) = (fds[0], fds[1])
    }
    func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { write(theirs, $0.baseAddress, $0.count) } }
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while read(ours, &buffer, buffer.count) > 0 {}
    }
    deinit { close(ours); close(theirs) }
}

/// Waits (on the test's thread) until `condition` holds, or gives up after 5 s.
private func eventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<500 {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

@Suite struct EventLoopTests {
    @Test func workFromOtherThreadsRunsInOrderOnTheLoopsThread() {
        let loop = EventLoop(label: "test")
        defer { loop.stop() }
        let order = Mutex<[Int]>([])
        for index in 0..<1000 {
            loop.async {
                #expect(loop.inLoop)
                order.withLock { $0.append(index) }
            }
        }
        loop.sync {}
        #expect(order.withLock { $0 } == Array(0..<1000))
        #expect(!loop.inLoop)
    }

    @Test func syncReturnsTheValueAndRethrowsTheError() {
        struct Refused: Error {}
        let loop = EventLoop(label: "test")
        defer { loop.stop() }
        #expect(loop.sync { 6 * 7 } == 42)
        #expect(throws: Refused.self) { try loop.sync { () throws(Refused) in throw Refused() } }
    }

    @Test func aReadableDescriptorIsReportedOnlyWhileReadingIsWanted() throws {
        let loop = EventLoop(label: "test")
        defer { loop.stop() }
        let pair = SocketPair()
        let recorder = Recorder(loop: loop)
        let tag = try loop.sync { () throws(SystemCallError) in
            try loop.register(pair.ours, interest: [], handler: recorder)
        }
        pair.send("hello")
        usleep(50_000)
        loop.sync {}
        #expect(recorder.seen.isEmpty, "no interest: nothing reported")

        // Level-triggered: reported once per loop pass until read dry.
        recorder.onReadable = { pair.drain() }
        try loop.sync { () throws(SystemCallError) in try loop.setInterest(tag, .readable) }
        #expect(eventually { recorder.seen == ["readable"] })

        // Deregistered: more input is not reported.
        loop.sync { loop.deregister(tag) }
        pair.send("more")
        usleep(50_000)
        loop.sync {}
        #expect(recorder.seen == ["readable"])
    }

    @Test func writableIsReportedWhenAskedFor() throws {
        let loop = EventLoop(label: "test")
        defer { loop.stop() }
        let pair = SocketPair()
        let recorder = Recorder(loop: loop)
        let tag = try loop.sync { () throws(SystemCallError) in
            try loop.register(pair.ours, interest: .writable, handler: recorder)
        }
        #expect(eventually { recorder.seen.contains("writable") })
        loop.sync { loop.deregister(tag) }
    }

    @Test func aTimerFiresWhenDueAndAReplacedOrCancelledOneDoesNot() throws {
        let loop = EventLoop(label: "test")
        defer { loop.stop() }
        let pair = SocketPair()
        let first = Recorder(loop: loop), second = Recorder(loop: loop)
        let (a, b) = try loop.sync { () throws(SystemCallError) in
            (try loop.register(pair.ours, interest: [], handler: first),
             try loop.register(pair.theirs, interest: [], handler: second))
        }
        let now = DispatchTime.now().uptimeNanoseconds
        loop.sync {
            loop.setTimer(a, now + 20_000_000)
            loop.setTimer(a, now + 60_000_000)  // replaces the 20 ms one
            loop.setTimer(b, now + 20_000_000)
            loop.setTimer(b, nil)  // cancelled
        }
        usleep(40_000)
        loop.sync {}
        #expect(first.seen.isEmpty, "the replaced deadline does not fire")
        #expect(eventually { first.seen == ["timer"] })
        usleep(50_000)
        #expect(first.seen == ["timer"], "a timer fires once")
        #expect(second.seen.isEmpty)
        loop.sync {
            loop.deregister(a)
            loop.deregister(b)
        }
    }

    @Test func theDeadlineHeapPopsInDeadlineOrder() {
        var heap = DeadlineHeap()
        let deadlines: [UInt64] = [50, 10, 40, 10, 30, 20, 60, 0]
        for (tag, deadline) in deadlines.enumerated() { heap.push(deadline: deadline, tag: UInt64(tag)) }
        #expect(heap.earliest == 0)
        #expect(heap.popDue(now: 5).map { $0.0 } == 0)
        #expect(heap.popDue(now: 5) == nil, "nothing else is due at 5")
        var popped: [UInt64] = []
        while let (deadline, _) = heap.popDue(now: .max) { popped.append(deadline) }
        #expect(popped == [10, 10, 20, 30, 40, 50, 60])
        #expect(heap.count == 0)
    }
}
