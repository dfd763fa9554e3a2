import Synchronization

/// What an open connection speaks, as the server counts it.
public enum OpenConnectionKind: String, Sendable, CaseIterable {
    /// Accepted on a TLS listener, handshake not finished: no protocol yet.
    case tlsHandshake = "tls-handshake"
    /// HTTP/1.x, including a cleartext connection whose first bytes have not arrived.
    case http1 = "http/1.1"
    /// HTTP/2: ALPN `h2`, or h2c by prior knowledge or `Upgrade: h2c`.
    case http2 = "h2"

    init(_ protocol: ConnectionProtocol) {
        self = `protocol` == .http2 ? .http2 : .http1
    }
}

/// The server's open connections by kind. Each connection moves its own count when it
/// opens, changes protocol and closes, so reading the figures never visits connections
/// (whose state belongs to their queues).
final class OpenConnectionCounts: Sendable {
    private let counts = Mutex([OpenConnectionKind: Int]())

    func opened(_ kind: OpenConnectionKind) {
        counts.withLock { $0[kind, default: 0] += 1 }
    }

    func changed(from old: OpenConnectionKind, to new: OpenConnectionKind) {
        guard old != new else { return }
        counts.withLock {
            $0[old, default: 0] -= 1
            $0[new, default: 0] += 1
        }
    }

    func closed(_ kind: OpenConnectionKind) {
        counts.withLock { $0[kind, default: 0] -= 1 }
    }

    /// Every kind, zeros included, so a scrape always sees the same series.
    var snapshot: [(kind: OpenConnectionKind, count: Int)] {
        let counts = counts.withLock { $0 }
        return OpenConnectionKind.allCases.map { ($0, counts[$0, default: 0]) }
    }
}
