import Synchronization

// The three metric kinds the server keeps. Each one is a final class updated with relaxed
// atomics only: no lock, no allocation and no label lookup on the hot path. Callers
// resolve labelled children once (`MetricFamily.labels`) and keep the object.

/// A metric the registry can write in the Prometheus text format.
public protocol Metric: AnyObject, Sendable {
    /// `counter`, `gauge` or `histogram` (the `# TYPE` line).
    static var prometheusType: String { get }
    /// Appends this metric's sample lines. `labels` is the rendered label set without
    /// braces (`route="/v1/ping",outcome="success"`), empty for none.
    func writeSamples(name: String, labels: String, into output: inout String)
}

/// A count that only goes up (requests served, records written).
public final class Counter: Metric {
    public static let prometheusType = "counter"
    private let count = Atomic<UInt64>(0)

    public init() {}

    public func increment(by amount: UInt64 = 1) {
        count.wrappingAdd(amount, ordering: .relaxed)
    }

    public var value: UInt64 { count.load(ordering: .relaxed) }

    public func writeSamples(name: String, labels: String, into output: inout String) {
        PrometheusText.appendSample(name, labels: labels, value: String(value), into: &output)
    }
}

/// A value that goes up and down (requests in flight).
public final class Gauge: Metric {
    public static let prometheusType = "gauge"
    private let current = Atomic<Int64>(0)

    public init() {}

    public func set(_ value: Int64) { current.store(value, ordering: .relaxed) }
    public func increment(by amount: Int64 = 1) { current.wrappingAdd(amount, ordering: .relaxed) }
    public func decrement(by amount: Int64 = 1) { current.wrappingSubtract(amount, ordering: .relaxed) }

    public var value: Int64 { current.load(ordering: .relaxed) }

    public func writeSamples(name: String, labels: String, into output: inout String) {
        PrometheusText.appendSample(name, labels: labels, value: String(value), into: &output)
    }
}

/// A distribution over fixed buckets (latencies, batch sizes).
///
/// Values are observed as integers in a unit fine enough for them (nanoseconds for
/// durations, records for batch sizes) and exposed divided by `scale` (1e9 turns
/// nanoseconds into the seconds Prometheus expects), so an observation is integer
/// compares and two atomic adds: the bucket's count and the sum. Bucket counts are kept
/// per bucket and made cumulative at scrape time.
public final class Histogram: Metric, @unchecked Sendable {
    // Unchecked: `counts` is allocated and initialized in `init`, never reallocated,
    // accessed only through its atomics, and freed in `deinit`.
    public static let prometheusType = "histogram"

    /// Upper bounds in exposed units, ascending; the `+Inf` bucket is implicit.
    public let upperBounds: [Double]
    /// Observed units per exposed unit.
    public let scale: Double
    /// `upperBounds` in observed units.
    private let integerBounds: [UInt64]
    /// One count per bound, then the `+Inf` bucket.
    private let counts: UnsafeMutablePointer<Atomic<UInt64>>
    private let sum = Atomic<UInt64>(0)

    /// - Parameters:
    ///   - upperBounds: ascending, finite bucket bounds in exposed units.
    ///   - scale: observed units per exposed unit (1e9 for nanoseconds exposed as seconds).
    public init(upperBounds: [Double], scale: Double = 1) {
        precondition(!upperBounds.isEmpty, "a histogram needs at least one bucket")
        precondition(zip(upperBounds, upperBounds.dropFirst()).allSatisfy { $0 < $1 }, "bucket bounds must ascend")
        precondition(upperBounds.allSatisfy { $0.isFinite && $0 >= 0 }, "bucket bounds must be finite and >= 0")
        precondition(scale > 0, "scale must be positive")
        self.upperBounds = upperBounds
        self.scale = scale
        // Rounded to nearest: 0.00025 * 1e9 is 249999.99999999997 in binary floating point.
        integerBounds = upperBounds.map { UInt64(($0 * scale).rounded()) }
        counts = .allocate(capacity: upperBounds.count + 1)
        for index in 0...upperBounds.count { (counts + index).initialize(to: Atomic(0)) }
    }

    deinit {
        counts.deinitialize(count: upperBounds.count + 1)
        counts.deallocate()
    }

    /// Records one value, in observed units. A value equal to a bound falls in that
    /// bound's bucket (`le` is "less than or equal").
    public func observe(_ value: UInt64) {
        var index = 0
        while index < integerBounds.count && value > integerBounds[index] { index += 1 }
        counts[index].wrappingAdd(1, ordering: .relaxed)
        sum.wrappingAdd(value, ordering: .relaxed)
    }

    /// What a scrape sees: cumulative counts per bound (`+Inf` last, which is the total).
    public struct Snapshot: Sendable, Equatable {
        public var cumulativeCounts: [UInt64]
        /// The sum of observed values, in exposed units.
        public var sum: Double
        public var count: UInt64 { cumulativeCounts.last ?? 0 }
    }

    public var snapshot: Snapshot {
        var cumulative: [UInt64] = []
        cumulative.reserveCapacity(upperBounds.count + 1)
        var running: UInt64 = 0
        for index in 0...upperBounds.count {
            running &+= counts[index].load(ordering: .relaxed)
            cumulative.append(running)
        }
        return Snapshot(cumulativeCounts: cumulative, sum: Double(sum.load(ordering: .relaxed)) / scale)
    }

    public func writeSamples(name: String, labels: String, into output: inout String) {
        let snapshot = self.snapshot
        let separator = labels.isEmpty ? "" : ","
        for (index, bound) in upperBounds.enumerated() {
            PrometheusText.appendSample(name + "_bucket", labels: labels + separator + "le=\"" + PrometheusText.format(bound) + "\"",
                                        value: String(snapshot.cumulativeCounts[index]), into: &output)
        }
        PrometheusText.appendSample(name + "_bucket", labels: labels + separator + "le=\"+Inf\"",
                                    value: String(snapshot.count), into: &output)
        PrometheusText.appendSample(name + "_sum", labels: labels, value: PrometheusText.format(snapshot.sum), into: &output)
        PrometheusText.appendSample(name + "_count", labels: labels, value: String(snapshot.count), into: &output)
    }

    /// Bucket bounds for request and I/O latencies in seconds: 100 µs to 10 s.
    public static let latencyBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]
}
