import Synchronization

/// Metrics of one kind that differ by label values (`bbs_requests_total` by route and
/// outcome). `labels(...)` returns the child for a set of values, creating it on first
/// use under the family's lock; callers on hot paths resolve their children once and keep
/// them, so serving a request never looks a label set up.
public final class MetricFamily<Child: Metric>: Sendable {
    public let name: String
    public let labelNames: [String]
    private let make: @Sendable () -> Child
    private let children = Mutex<[[String]: (labels: String, metric: Child)]>([:])

    init(name: String, labelNames: [String], make: @escaping @Sendable () -> Child) {
        self.name = name
        self.labelNames = labelNames
        self.make = make
    }

    /// The child for `values` (one per label name, in order).
    public func labels(_ values: [String]) -> Child {
        precondition(values.count == labelNames.count, "\(name): \(values.count) label values for \(labelNames)")
        return children.withLock { children in
            if let existing = children[values] { return existing.metric }
            let child = make()
            children[values] = (PrometheusText.labels(labelNames, values), child)
            return child
        }
    }

    public func labels(_ values: String...) -> Child { labels(values) }

    /// Children sorted by label values, so expositions are stable.
    func writeSamples(into output: inout String) {
        let sorted = children.withLock { children in
            children.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.value)
        }
        for child in sorted { child.metric.writeSamples(name: name, labels: child.labels, into: &output) }
    }
}

/// A value computed when scraped (tasks by state, open connections): one sample per
/// label-value set.
public struct CollectedSample: Sendable, Equatable {
    public var labelValues: [String]
    public var value: Double

    public init(_ labelValues: [String], _ value: Double) {
        self.labelValues = labelValues
        self.value = value
    }

    /// A sample of a metric without labels.
    public init(_ value: Double) {
        self.init([], value)
    }
}

/// Every metric of the process, in registration order, and their exposition.
///
/// Registration happens at startup; a name registered twice, or an invalid metric or label
/// name, is a programming error and traps. Scrapes may run concurrently with updates: each
/// sample is read atomically, a scrape as a whole is not a snapshot (as in every
/// Prometheus client).
public final class MetricsRegistry: Sendable {
    private struct Entry: Sendable {
        let name: String
        let help: String
        let type: String
        let write: @Sendable (inout String) -> Void
    }
    private let entries = Mutex<[Entry]>([])

    public init() {}

    public enum CollectedType: String, Sendable {
        case counter, gauge
    }

    // MARK: - Registration

    public func counter(_ name: String, help: String) -> Counter {
        counterFamily(name, help: help, labelNames: []).labels([])
    }

    public func gauge(_ name: String, help: String) -> Gauge {
        gaugeFamily(name, help: help, labelNames: []).labels([])
    }

    /// - Parameters:
    ///   - upperBounds: bucket bounds in exposed units (seconds for latencies).
    ///   - scale: observed units per exposed unit (1e9 when observing nanoseconds).
    public func histogram(_ name: String, help: String, upperBounds: [Double], scale: Double = 1) -> Histogram {
        histogramFamily(name, help: help, labelNames: [], upperBounds: upperBounds, scale: scale).labels([])
    }

    public func counterFamily(_ name: String, help: String, labelNames: [String]) -> MetricFamily<Counter> {
        family(name, help: help, labelNames: labelNames) { Counter() }
    }

    public func gaugeFamily(_ name: String, help: String, labelNames: [String]) -> MetricFamily<Gauge> {
        family(name, help: help, labelNames: labelNames) { Gauge() }
    }

    public func histogramFamily(_ name: String, help: String, labelNames: [String], upperBounds: [Double],
                                scale: Double = 1) -> MetricFamily<Histogram> {
        // Checked here, at registration, rather than when the first child is made.
        _ = Histogram(upperBounds: upperBounds, scale: scale)
        return family(name, help: help, labelNames: labelNames) { Histogram(upperBounds: upperBounds, scale: scale) }
    }

    /// Registers values computed at each scrape by `samples` (which must be quick and
    /// return one sample per label-value set, `labelNames.count` values each).
    public func collect(_ name: String, help: String, type: CollectedType, labelNames: [String] = [],
                        _ samples: @escaping @Sendable () -> [CollectedSample]) {
        checkNames(name, labelNames)
        register(Entry(name: name, help: help, type: type.rawValue) { output in
            for sample in samples() where sample.labelValues.count == labelNames.count {
                PrometheusText.appendSample(name, labels: PrometheusText.labels(labelNames, sample.labelValues),
                                            value: PrometheusText.format(sample.value), into: &output)
            }
        })
    }

    private func family<Child: Metric>(_ name: String, help: String, labelNames: [String],
                                       make: @escaping @Sendable () -> Child) -> MetricFamily<Child> {
        checkNames(name, labelNames)
        let family = MetricFamily(name: name, labelNames: labelNames, make: make)
        register(Entry(name: name, help: help, type: Child.prometheusType) { family.writeSamples(into: &$0) })
        return family
    }

    private func checkNames(_ name: String, _ labelNames: [String]) {
        precondition(PrometheusText.isValidMetricName(name), "invalid metric name \(name)")
        for label in labelNames {
            precondition(PrometheusText.isValidLabelName(label), "\(name): invalid label name \(label)")
        }
        precondition(Set(labelNames).count == labelNames.count, "\(name): repeated label name in \(labelNames)")
    }

    private func register(_ entry: Entry) {
        entries.withLock { entries in
            precondition(!entries.contains { $0.name == entry.name }, "metric \(entry.name) registered twice")
            entries.append(entry)
        }
    }

    // MARK: - Exposition

    /// Every metric in the text format (version 0.0.4), families in registration order.
    public func exposition() -> String {
        let entries = self.entries.withLock { $0 }
        var output = ""
        output.reserveCapacity(4096)
        for entry in entries {
            PrometheusText.appendHeader(name: entry.name, help: entry.help, type: entry.type, into: &output)
            entry.write(&output)
        }
        return output
    }
}
