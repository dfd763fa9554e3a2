import BBSLog
import BBSPosix
import Dispatch
import Foundation
import Synchronization
@testable import BBSWAL

/// A fresh directory for one test, removed afterwards.
func withLogDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = NSTemporaryDirectory() + "bbs-wal-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path + "/wal")
}

struct Replayed: Equatable, CustomStringConvertible {
    let type: UInt8
    let payload: [UInt8]
    var description: String { "(\(type), \(payload.count) bytes)" }
}

extension WriteAheadLog.Options {
    /// Small segments, so tests do not preallocate 64 MiB each.
    static func testing(segmentBytes: Int = 1 << 20) -> Self {
        var options = Self()
        options.segmentBytes = segmentBytes
        return options
    }
}

/// Opens the log in `directory` and returns it with the records it replayed.
func openLog(_ directory: String, _ options: WriteAheadLog.Options = .testing(),
             logger: Logger = .discarding) throws -> (WriteAheadLog, [Replayed]) {
    var replayed: [Replayed] = []
    let log = try WriteAheadLog(directory: directory, options: options, logger: logger) { type, payload in
        replayed.append(Replayed(type: type, payload: payload))
    }
    return (log, replayed)
}

/// Replays the log in `directory` (open, then close).
func replay(_ directory: String, _ options: WriteAheadLog.Options = .testing()) throws -> [Replayed] {
    let (log, replayed) = try openLog(directory, options)
    log.close()
    return replayed
}

/// Deterministic payload bytes for record `index`.
func payload(_ index: Int, count: Int = 40) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: index &* 31 &+ $0 &* 7 &+ 1) }
}

extension WriteAheadLog {
    /// Waits until `sequence` is durable (or the log reports why not).
    func durable(_ sequence: UInt64) async -> Result<Void, any Error> {
        await withCheckedContinuation { continuation in
            whenDurable(sequence) { continuation.resume(returning: $0) }
        }
    }

    /// Appends `record` and waits until it is durable, so that it is written by a batch
    /// of its own.
    @discardableResult
    func appendDurably(_ record: Replayed) async throws -> UInt64 {
        let sequence = try append(type: record.type, payload: record.payload)
        try await durable(sequence).get()
        return sequence
    }
}

/// Records 1...count as `Replayed` values of varied types.
func records(_ range: ClosedRange<Int>, count: Int = 40) -> [Replayed] {
    range.map { Replayed(type: UInt8(truncatingIfNeeded: $0 % 7 + 1), payload: payload($0, count: count)) }
}

/// Fault injection that can be armed to fail one kind of step, or to hold the writer at
/// a step until released, and counts the steps it saw.
final class FaultGate: Sendable {
    private struct State {
        var counts: [WriteAheadLog.FaultPoint: Int] = [:]
        var failing: WriteAheadLog.FaultPoint?
        var holding: WriteAheadLog.FaultPoint?
    }
    private let state = Mutex(State())
    private let entered = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)

    struct InjectedFailure: Error, CustomStringConvertible {
        let point: WriteAheadLog.FaultPoint
        var description: String { "injected failure at \(point)" }
    }

    var injection: @Sendable (WriteAheadLog.FaultPoint) throws -> Void {
        { [self] point in try step(point) }
    }

    private func step(_ point: WriteAheadLog.FaultPoint) throws {
        let (fail, hold) = state.withLock { state in
            state.counts[point, default: 0] += 1
            let hold = state.holding == point
            if hold { state.holding = nil }
            return (state.failing == point, hold)
        }
        if hold {
            entered.signal()
            released.wait()
        }
        if fail { throw InjectedFailure(point: point) }
    }

    func count(_ point: WriteAheadLog.FaultPoint) -> Int { state.withLock { $0.counts[point] ?? 0 } }
    func fail(at point: WriteAheadLog.FaultPoint?) { state.withLock { $0.failing = point } }

    /// The next time the writer reaches `point` it stops there until `release`.
    func hold(at point: WriteAheadLog.FaultPoint) { state.withLock { $0.holding = point } }
    /// Blocks until the writer is held.
    func waitUntilHeld() { entered.wait() }
    func release() { released.signal() }
}

// MARK: - Damaging files

func filePath(_ directory: String, _ name: String) -> String { directory + "/" + name }

func fileSize(_ path: String) throws -> Int {
    let file = try OpenFile.open(path)
    defer { try? file.close() }
    return try file.size()
}

func readFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
    let file = try OpenFile.open(path, .write)
    defer { try? file.close() }
    try bytes.withUnsafeBytes { try file.writeAll($0, at: offset) }
}

/// Creates or replaces the file at `path` with `bytes`.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func flipByte(_ path: String, at offset: Int) throws {
    var byte = try readFile(path)[offset]
    byte ^= 0x5A
    try overwrite(path, at: offset, with: [byte])
}

func truncateFile(_ path: String, to length: Int) throws {
    let file = try OpenFile.open(path, .write)
    defer { try? file.close() }
    try file.truncate(to: length)
}

func directoryNames(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
}

/// Where each record is, from `inspect`.
func recordLocations(_ directory: String) throws -> [WriteAheadLog.Record] {
    var found: [WriteAheadLog.Record] = []
    _ = try WriteAheadLog.inspect(directory: directory) { found.append($0) }
    return found
}
