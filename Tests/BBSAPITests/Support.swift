import BBSLog
import BBSMetrics
import BBSModels
import BBSWAL
import Dispatch
import Foundation
import HTTPServer
import Synchronization
@testable import BBSAPI
@testable import TaskCore

/// A journal in memory whose records are durable at once; like the real log it completes
/// waiters on its own serial queue, never inline.
final class MemoryJournal: TaskJournal {
    private let completions = DispatchQueue(label: "memory-journal.completions")
    private let sequence = Mutex<UInt64>(0)

    func append(type: UInt8, payload: [UInt8]) throws -> UInt64 {
        sequence.withLock { $0 += 1; return $0 }
    }
    func whenDurable(_ sequence: UInt64, _ completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        completions.async { completion(.success(())) }
    }
    var durableSequence: UInt64 { sequence.withLock { $0 } }
    var bytesSinceSnapshot: Int { 0 }
    func beginSnapshot() throws -> JournalSnapshotPoint { JournalSnapshotPoint(lastSequence: durableSequence, nextSegment: 1) }
    func writeSnapshot(at point: JournalSnapshotPoint,
                       _ produce: (_ emit: (UInt8, [UInt8]) throws -> Void) throws -> Void) throws {}
    func close() {}
}

func makeStore() -> TaskStore {
    TaskStore(recovered: TaskStoreRecovery(), journal: MemoryJournal(), machine: TaskStateMachine(maxTaskRetries: 3),
              clock: { 1_700_000_000_000_000_000 }, logger: .discarding)
}

extension HTTPResponder {
    /// The answer to `request` (waits for it).
    func answer(_ request: HTTPRequest) async -> HTTPResponse {
        await withCheckedContinuation { continuation in
            respond(to: request) { continuation.resume(returning: $0) }
        }
    }
}

extension HTTPResponse {
    var bodyBytes: [UInt8] {
        if case .bytes(let bytes) = body { return bytes }
        return []
    }
    var bodyText: String { String(decoding: bodyBytes, as: UTF8.self) }
}

/// A JSON request, as curl sends it.
func jsonRequest(_ path: String, _ body: String, headers: [(String, String)] = []) -> HTTPRequest {
    HTTPRequest(method: "POST", path: path, headers: HTTPHeaders([("Content-Type", "application/json")] + headers),
                body: Array(body.utf8), remoteAddress: "127.0.0.1:50000")
}

/// The value of the sample `name{labels}` in an exposition (labels written as in it).
func sample(_ exposition: String, _ name: String, _ labels: String = "") -> Double? {
    let prefix = labels.isEmpty ? name + " " : name + "{" + labels + "} "
    for line in exposition.split(separator: "\n") where line.hasPrefix(prefix) {
        return Double(line.dropFirst(prefix.count))
    }
    return nil
}

/// A stream writer that keeps what is written, for responses with a streamed body.
final class RecordingStreamWriter: HTTPBodyStreamWriter {
    private struct State {
        var chunks: [[UInt8]] = []
        var ended: String?
        var handlers: [@Sendable () -> Void] = []
    }
    private let state = Mutex(State())
    private let buffered: Int
    private let onEnd: @Sendable (String) -> Void

    /// - Parameters:
    ///   - closed: the peer is already gone (writes fail).
    ///   - bufferedBytes: what `bufferedBytes` reports (a reader that does not read).
    init(closed: Bool = false, bufferedBytes: Int = 0, onEnd: @escaping @Sendable (String) -> Void) {
        buffered = bufferedBytes
        self.onEnd = onEnd
        if closed { state.withLock { $0.ended = "closed" } }
    }

    var chunks: [[UInt8]] { state.withLock { $0.chunks } }

    func write(_ chunk: [UInt8]) -> Bool {
        state.withLock { state in
            guard state.ended == nil else { return false }
            state.chunks.append(chunk)
            return true
        }
    }
    func finish() { end("finished") }
    func abort() { end("aborted") }
    var bufferedBytes: Int { buffered }

    func onClose(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            if state.ended != nil { return true }
            state.handlers.append(handler)
            return false
        }
        if now { handler() }
    }

    private func end(_ how: String) {
        let handlers: [@Sendable () -> Void]? = state.withLock { state in
            // A stream closed by the peer is ended by whoever noticed first.
            if let ended = state.ended, ended != "closed" { return nil }
            state.ended = how
            defer { state.handlers = [] }
            return state.handlers
        }
        guard let handlers else { return }
        for handler in handlers { handler() }
        onEnd(how)
    }
}
