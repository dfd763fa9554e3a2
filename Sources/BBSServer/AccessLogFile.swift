import BBSLog
import BBSPosix
import Dispatch
import Foundation
import Synchronization

/// The `access_log_path` file. Request completions only append their line to a buffer
/// under a short lock; a background queue writes the buffer out at most `flushInterval`
/// later, so a slow disk never delays an answer. If the disk stalls so long that
/// `maxBufferedBytes` pile up, further lines are dropped and counted (`droppedLines`)
/// rather than letting memory grow. `reopen()` (on SIGHUP) starts writing to whatever file
/// is at the path now, for log rotation by rename.
final class AccessLogFile: Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var flushScheduled = false
        var file: OpenFile?
        /// Where the next write goes (the file's size when opened: appending).
        var offset = 0
        var dropped = 0
        var reportedFailure = false
    }

    let path: String
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "bbs.access-log", qos: .utility)
    private let flushInterval: DispatchTimeInterval
    private let maxBufferedBytes: Int
    private let logger: Logger

    /// Opens (creating it and its directory if needed) `path` for appending.
    init(path: String, logger: Logger, flushInterval: DispatchTimeInterval = .milliseconds(100),
         maxBufferedBytes: Int = 8 << 20) throws {
        self.path = path
        self.logger = logger
        self.flushInterval = flushInterval
        self.maxBufferedBytes = maxBufferedBytes
        let (file, size) = try Self.open(path)
        state.withLock { state in
            state.file = file
            state.offset = size
        }
    }

    /// Lines dropped because the buffer was full.
    var droppedLines: Int { state.withLock { $0.dropped } }

    /// A `LogSink` writer: queues `line` and a newline.
    func append(_ line: String) {
        let schedule: Bool = state.withLock { state in
            guard state.buffer.count + line.utf8.count < maxBufferedBytes else {
                state.dropped += 1
                return false
            }
            state.buffer.append(contentsOf: line.utf8)
            state.buffer.append(0x0A)
            defer { state.flushScheduled = true }
            return !state.flushScheduled
        }
        if schedule { queue.asyncAfter(deadline: .now() + flushInterval) { [self] in flush() } }
    }

    /// Writes what is buffered now (and waits for it).
    func flushNow() { queue.sync { flush() } }

    /// Closes the file and opens the path again (after a rotation moved it away).
    func reopen() {
        queue.sync {
            flush()
            do {
                let (file, size) = try Self.open(path)
                let old = state.withLock { state in
                    defer {
                        state.file = file
                        state.offset = size
                        state.reportedFailure = false
                    }
                    return state.file
                }
                try? old?.close()
                logger.info("access-log-reopened", ["path": path])
            } catch {
                logger.error("access-log-reopen-failed", ["path": path, "error": "\(error)"])
            }
        }
    }

    /// Writes what is buffered and closes the file; later lines are dropped.
    func close() {
        queue.sync {
            flush()
            let file = state.withLock { state in
                defer { state.file = nil }
                return state.file
            }
            try? file?.close()
        }
    }

    private func flush() {
        dispatchPrecondition(condition: .onQueue(queue))
        let (bytes, file, offset) = state.withLock { state in
            let taken = (state.buffer, state.file, state.offset)
            state.offset += state.buffer.count
            state.buffer = []
            state.flushScheduled = false
            return taken
        }
        guard let file, !bytes.isEmpty else { return }
        do {
            try bytes.withUnsafeBytes { try file.writeAll($0, at: offset) }
        } catch {
            let report = state.withLock { state in
                defer { state.reportedFailure = true }
                return !state.reportedFailure
            }
            if report { logger.error("access-log-write-failed", ["path": path, "error": "\(error)"]) }
        }
    }

    private static func open(_ path: String) throws -> (OpenFile, Int) {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileSystem.createDirectory(directory) }
        let file = try OpenFile.open(path, [.write, .create])
        do {
            return (file, try file.size())
        } catch {
            try? file.close()
            throw error
        }
    }
}
