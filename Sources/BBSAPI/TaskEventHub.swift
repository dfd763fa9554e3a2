import BBSLog
import BBSModels
import Foundation
import HTTPServer
import ProtoWire
import Synchronization
import TaskCore

/// The task event stream (events.md): every committed change, once durable and in commit
/// order, goes to every subscriber of `/v1/events/tasks.r1` (tasks as stored) and of the
/// deprecated `/v1/events/tasks` (tasks down-converted to V2), as server-sent events:
///
///     id: <n, per connection from 0>\n
///     event: task_created | task_changed | task_removed\n
///     data: <base64 of the event's protobuf>\n
///     \n
///
/// one record per HTTP chunk (or h2 DATA frame). Each event is encoded once per format;
/// only the `id:` line is per subscriber. A subscriber that stops reading keeps at most
/// `maxBufferedBytes` unsent; past that it is ended with the terminal chunk ("slow
/// consumer", as the reference drops a subscriber 1024 events behind), so it can never
/// slow writers or other subscribers. Shutdown ends every stream the same way, which Go
/// clients read as EOF and resubscribe.
public final class TaskEventHub: Sendable {
    /// How the tasks inside events are shaped for a route.
    public enum Format: Sendable {
        /// `/v1/events/tasks.r1`: as stored.
        case v3
        /// `/v1/events/tasks`: image layers down-converted (versions.md §4.1).
        case v2
    }

    private struct State {
        var subscribers: [ObjectIdentifier: Subscriber] = [:]
        var closed = false
        /// Events published and not yet fanned out, with their publication numbers.
        var pending: [(number: UInt64, transition: TaskTransition)] = []
        /// Events published so far; a subscriber sees those numbered from the count at the
        /// time it subscribed.
        var published: UInt64 = 0
        var draining = false
    }
    private let state = Mutex(State())
    private let maxBufferedBytes: Int
    private let logger: Logger
    /// Fan-out runs here, off the commit path: `publish` only queues, so a thousand
    /// subscribers cost the writers nothing.
    private let fanout = DispatchQueue(label: "bbs.events.fanout")

    public init(maxBufferedBytes: Int = 1 << 20, logger: Logger) {
        self.maxBufferedBytes = maxBufferedBytes
        self.logger = logger
    }

    /// Queues `commit` for every current subscriber. Called by the store in commit order,
    /// on its completion queue; returns at once.
    public func publish(_ commit: TaskStore.Commit) {
        if case .unchanged = commit.transition { return }
        let schedule: Bool = state.withLock { state in
            state.published += 1
            guard !state.subscribers.isEmpty else { return false }
            state.pending.append((state.published, commit.transition))
            if state.draining { return false }
            state.draining = true
            return true
        }
        if schedule { fanout.async { [self] in drain() } }
    }

    /// Sends every pending event to every subscriber, batch by batch, in publication
    /// order. Each event is encoded once per format; subscribers are served in parallel
    /// (each one only ever by one thread at a time, so its records stay in order).
    private func drain() {
        while true {
            let taken: ([(number: UInt64, transition: TaskTransition)], [Subscriber])? = state.withLock { state in
                guard !state.pending.isEmpty else {
                    state.draining = false
                    return nil
                }
                defer { state.pending.removeAll(keepingCapacity: true) }
                return (state.pending, Array(state.subscribers.values))
            }
            guard let (batch, subscribers) = taken else { return }
            var encodedByFormat: [Format: [EncodedEvent]] = [:]
            for format in Set(subscribers.map(\.format)) {
                encodedByFormat[format] = batch.compactMap { item in
                    Event(item.transition).map { EncodedEvent(number: item.number, body: $0.sseBody(format: format)) }
                }
            }
            let encoded = encodedByFormat
            let lanes = min(subscribers.count, 8)
            DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                for index in stride(from: lane, to: subscribers.count, by: lanes) {
                    let subscriber = subscribers[index]
                    if !subscriber.send(encoded[subscriber.format] ?? [], limit: maxBufferedBytes) {
                        logger.info("dropped-slow-subscriber", ["buffered_bytes_limit": String(maxBufferedBytes)])
                        remove(subscriber)
                    }
                }
            }
        }
    }

    /// The number of open streams (metrics).
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// The HTTP answer to a subscription: the subscriber is registered before the head is
    /// written, so no event committed after this call is missed.
    public func subscribe(format: Format) -> HTTPResponse {
        let subscriber: Subscriber? = state.withLock { state in
            guard !state.closed else { return nil }
            let subscriber = Subscriber(format: format, firstEvent: state.published + 1)
            state.subscribers[ObjectIdentifier(subscriber)] = subscriber
            return subscriber
        }
        guard let subscriber else {
            // The reference answers 500 once its hub is closed (shutting down).
            return HTTPResponse(status: 500)
        }
        let headers: HTTPHeaders = [
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache, no-store, must-revalidate",
            "Connection": "keep-alive",
        ]
        return HTTPResponse(status: 200, headers: headers, body: .stream { [self] writer in
            writer.onClose { [self] in remove(subscriber) }
            subscriber.attach(writer)
        })
    }

    /// Ends every stream cleanly and refuses new subscriptions.
    public func close() {
        let subscribers = state.withLock { state in
            state.closed = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }

    private func remove(_ subscriber: Subscriber) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: ObjectIdentifier(subscriber)) }
        subscriber.finish()
    }
}

/// An event encoded for one route format: everything of its SSE record after the `id:`
/// line, and its publication number.
private struct EncodedEvent: Sendable {
    let number: UInt64
    let body: [UInt8]
}

/// One open stream: its id counter, and the records that arrived before the transport
/// handed over its writer.
private final class Subscriber: Sendable {
    let format: TaskEventHub.Format
    /// The publication number of the first event this subscriber sees: nothing that was
    /// published before it subscribed.
    let firstEvent: UInt64
    private struct State {
        var writer: (any HTTPBodyStreamWriter)?
        var early: [[UInt8]] = []
        var earlyBytes = 0
        var nextID = 0
        var finished = false
    }
    private let state = Mutex(State())

    init(format: TaskEventHub.Format, firstEvent: UInt64) {
        self.format = format
        self.firstEvent = firstEvent
    }

    /// Queues the records of `events` it has not seen; false when the subscriber is too
    /// far behind (or gone) and must be dropped.
    func send(_ events: [EncodedEvent], limit: Int) -> Bool {
        state.withLock { state in
            if state.finished { return false }
            if let writer = state.writer, writer.bufferedBytes > limit { return false }
            for event in events where event.number >= firstEvent {
                var record = Array("id: \(state.nextID)\n".utf8)
                record.append(contentsOf: event.body)
                state.nextID += 1
                guard let writer = state.writer else {
                    state.early.append(record)
                    state.earlyBytes += record.count
                    if state.earlyBytes > limit { return false }
                    continue
                }
                if !writer.write(record) { return false }
            }
            return true
        }
    }

    func attach(_ writer: any HTTPBodyStreamWriter) {
        let finishNow: Bool = state.withLock { state in
            state.writer = writer
            for record in state.early { _ = writer.write(record) }
            state.early = []
            return state.finished
        }
        if finishNow { writer.finish() }
    }

    func finish() {
        let writer: (any HTTPBodyStreamWriter)? = state.withLock { state in
            if state.finished { return nil }
            state.finished = true
            return state.writer
        }
        writer?.finish()
    }
}

/// A committed change as an event message.
private enum Event {
    case created(TaskRecord)
    case changed(before: TaskRecord, after: TaskRecord)
    case removed(TaskRecord)

    init?(_ transition: TaskTransition) {
        switch transition {
        case .created(let task): self = .created(task)
        case .changed(let before, let after): self = .changed(before: before, after: after)
        case .removed(let task): self = .removed(task)
        case .unchanged: return nil
        }
    }

    var name: String {
        switch self {
        case .created: return "task_created"
        case .changed: return "task_changed"
        case .removed: return "task_removed"
        }
    }

    /// The event message's protobuf bytes.
    func protobuf(format: TaskEventHub.Format) -> [UInt8] {
        var writer = ProtoWriter()
        func task(_ field: Int, _ record: TaskRecord) {
            TaskHandlers.writeTask(record, field: field, format: format == .v3 ? .v3 : .v2, into: &writer)
        }
        switch self {
        case .created(let t): task(1, t)
        case .changed(let before, let after): task(1, before); task(2, after)
        case .removed(let t): task(1, t)
        }
        return writer.bytes
    }

    /// Everything of the SSE record after the `id:` line.
    func sseBody(format: TaskEventHub.Format) -> [UInt8] {
        Array("event: \(name)\ndata: \(Data(protobuf(format: format)).base64EncodedString())\n\n".utf8)
    }
}
