import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// File descriptors: the soft limit raised to the hard one at start (as Go's runtime does
/// since 1.19), and the API listener's connections capped so that a reserve always stays
/// for the write-ahead log (its next segment, snapshots), the access log, outbound calls
/// and the health listener. Without the cap, idle clients can take the last descriptor
/// just as the log needs one, and a log that fails stays failed until a restart.
struct DescriptorBudget: Equatable, Sendable {
    /// The soft RLIMIT_NOFILE in effect (after raising).
    let limit: Int
    /// Descriptors the server holds besides client connections (measured, plus the
    /// listeners' own event loops still to be opened).
    let inUse: Int
    /// Kept free for the log, snapshots, the access log, outbound calls.
    let reserve: Int
    /// Connections the health listener may hold.
    let healthConnections: Int
    /// Connections the API listener may hold (never more than `configured`).
    let apiConnections: Int

    /// The split of `limit` descriptors when `inUse` are taken: the reserve is 10% of what
    /// is left, at least 64 (or half of what is left when that is small); the health
    /// listener gets up to 64 of the rest's share, the API listener the remainder (at
    /// least 1), at most `configured`.
    init(limit: Int, inUse: Int, configured: Int, healthListener: Bool) {
        self.limit = limit
        self.inUse = inUse
        let available = max(0, limit - inUse)
        reserve = max(available / 10, min(64, available / 2))
        let rest = available - reserve
        healthConnections = healthListener ? max(1, min(64, rest / 8)) : 0
        apiConnections = max(1, min(configured, rest - healthConnections))
    }

    /// Raises the soft RLIMIT_NOFILE to the hard limit (to `/proc/sys/fs/nr_open` when
    /// the hard limit is unlimited). Returns the soft limit in effect afterwards.
    @discardableResult
    static func raiseSoftLimit() -> Int {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return 1024 }
        var target = limits.rlim_max
        if target == rlim_t.max {
            let text = (try? String(contentsOfFile: "/proc/sys/fs/nr_open", encoding: .utf8)) ?? ""
            target = rlim_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1 << 20
        }
        if target > limits.rlim_cur {
            var raised = limits
            raised.rlim_cur = target
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        return limits.rlim_cur == rlim_t.max ? Int.max : Int(clamping: limits.rlim_cur)
    }

    /// Descriptors open in this process now (`/proc/self/fd`; 16 when it cannot be read).
    static func openDescriptors() -> Int {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return 16 }
        return max(0, entries.count - 1)  // the directory listing's own descriptor
    }
}
