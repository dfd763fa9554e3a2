import Dispatch
import Testing
@testable import BBSMetrics

@Suite("Prometheus text exposition")
struct ExpositionTests {
    @Test func countersGaugesAndFamiliesAreWrittenExactly() {
        let registry = MetricsRegistry()
        let requests = registry.counterFamily("bbs_requests_total", help: "Requests answered.",
                                              labelNames: ["route", "outcome"])
        let inFlight = registry.gauge("bbs_requests_in_flight", help: "Requests being served.")
        requests.labels("/v1/tasks/list.r3", "success").increment(by: 2)
        requests.labels("/v1/ping", "success").increment()
        inFlight.increment(by: 3)
        inFlight.decrement()

        #expect(registry.exposition() == """
            # HELP bbs_requests_total Requests answered.
            # TYPE bbs_requests_total counter
            bbs_requests_total{route="/v1/ping",outcome="success"} 1
            bbs_requests_total{route="/v1/tasks/list.r3",outcome="success"} 2
            # HELP bbs_requests_in_flight Requests being served.
            # TYPE bbs_requests_in_flight gauge
            bbs_requests_in_flight 2

            """)
    }

    @Test func aFamilyReturnsTheSameChildForTheSameLabels() {
        let family = MetricsRegistry().counterFamily("c", help: "h", labelNames: ["a"])
        #expect(family.labels("x") === family.labels("x"))
        #expect(family.labels("x") !== family.labels("y"))
    }

    @Test func labelValuesEscapeBackslashQuoteAndNewline() {
        let registry = MetricsRegistry()
        registry.counterFamily("c_total", help: "h", labelNames: ["v"]).labels("a\\b\"c\nd é").increment()
        #expect(registry.exposition().contains(#"c_total{v="a\\b\"c\nd é"} 1"#))
        #expect(PrometheusText.escapeLabelValue("plain") == "plain")
    }

    @Test func helpEscapesBackslashAndNewlineButNotQuotes() {
        #expect(PrometheusText.escapeHelp("a \"b\" \\ c\nd") == #"a "b" \\ c\nd"#)
        let registry = MetricsRegistry()
        _ = registry.gauge("g", help: "line one\nline two")
        #expect(registry.exposition().hasPrefix("# HELP g line one\\nline two\n# TYPE g gauge\n"))
    }

    @Test func valuesAreFormattedAsPrometheusReadsThem() {
        #expect(PrometheusText.format(3) == "3")
        #expect(PrometheusText.format(0.25) == "0.25")
        #expect(PrometheusText.format(0.0001) == "0.0001")
        #expect(PrometheusText.format(-2) == "-2")
        #expect(PrometheusText.format(.infinity) == "+Inf")
        #expect(PrometheusText.format(-.infinity) == "-Inf")
        #expect(PrometheusText.format(.nan) == "NaN")
        #expect(PrometheusText.format(1e20) == "1e+20")
    }

    @Test func collectedValuesAreComputedAtEachScrape() {
        let registry = MetricsRegistry()
        let box = CounterBox()
        registry.collect("bbs_tasks", help: "Tasks.", type: .gauge, labelNames: ["state"]) {
            [CollectedSample(["pending"], Double(box.next())), CollectedSample(["running"], 0.5)]
        }
        #expect(registry.exposition() == """
            # HELP bbs_tasks Tasks.
            # TYPE bbs_tasks gauge
            bbs_tasks{state="pending"} 1
            bbs_tasks{state="running"} 0.5

            """)
        #expect(registry.exposition().contains("bbs_tasks{state=\"pending\"} 2\n"))
    }

    @Test func nameChecks() {
        #expect(PrometheusText.isValidMetricName("bbs_wal:append_total"))
        #expect(!PrometheusText.isValidMetricName("9lives"))
        #expect(!PrometheusText.isValidMetricName("has-dash"))
        #expect(!PrometheusText.isValidMetricName(""))
        #expect(PrometheusText.isValidLabelName("route"))
        #expect(!PrometheusText.isValidLabelName("__reserved"))
        #expect(!PrometheusText.isValidLabelName("le"))
        #expect(!PrometheusText.isValidLabelName("a:b"))
    }
}

@Suite("Histograms")
struct HistogramTests {
    @Test func observationsLandInTheFirstBucketWhoseBoundIsNotBelowThem() {
        let histogram = Histogram(upperBounds: [1, 5, 10])
        for value: UInt64 in [0, 1, 2, 5, 6, 10, 11, 1000] { histogram.observe(value) }
        // le=1: 0, 1; le=5: +2, 5; le=10: +6, 10; +Inf: +11, 1000.
        #expect(histogram.snapshot == Histogram.Snapshot(cumulativeCounts: [2, 4, 6, 8], sum: 1035))
        #expect(histogram.snapshot.count == 8)
    }

    @Test func nanosecondsAreExposedAsSecondsWithExactBucketEdges() {
        let histogram = Histogram(upperBounds: Histogram.latencyBounds, scale: 1e9)
        histogram.observe(250_000)  // exactly 0.00025 s: in the le="0.00025" bucket
        histogram.observe(250_001)  // just above: the next one
        let snapshot = histogram.snapshot
        let index = try! #require(Histogram.latencyBounds.firstIndex(of: 0.00025))
        #expect(snapshot.cumulativeCounts[index - 1] == 0)
        #expect(snapshot.cumulativeCounts[index] == 1)
        #expect(snapshot.cumulativeCounts[index + 1] == 2)
        #expect(snapshot.sum == 0.000500001)
    }

    @Test func histogramSamplesAreBucketsSumAndCount() {
        let registry = MetricsRegistry()
        let family = registry.histogramFamily("bbs_request_duration_seconds", help: "Latency.",
                                              labelNames: ["route"], upperBounds: [0.001, 0.5], scale: 1e9)
        let ping = family.labels("/v1/ping")
        ping.observe(200_000)      // 0.0002 s
        ping.observe(300_000_000)  // 0.3 s
        ping.observe(2_000_000_000) // 2 s
        #expect(registry.exposition() == """
            # HELP bbs_request_duration_seconds Latency.
            # TYPE bbs_request_duration_seconds histogram
            bbs_request_duration_seconds_bucket{route="/v1/ping",le="0.001"} 1
            bbs_request_duration_seconds_bucket{route="/v1/ping",le="0.5"} 2
            bbs_request_duration_seconds_bucket{route="/v1/ping",le="+Inf"} 3
            bbs_request_duration_seconds_sum{route="/v1/ping"} 2.3002
            bbs_request_duration_seconds_count{route="/v1/ping"} 3

            """)
    }

    @Test func anUnlabelledHistogramHasOnlyTheLeLabel() {
        let registry = MetricsRegistry()
        let batch = registry.histogram("bbs_wal_batch_records", help: "Records per batch.", upperBounds: [1, 2])
        batch.observe(2)
        #expect(registry.exposition().contains("bbs_wal_batch_records_bucket{le=\"1\"} 0\nbbs_wal_batch_records_bucket{le=\"2\"} 1\nbbs_wal_batch_records_bucket{le=\"+Inf\"} 1\nbbs_wal_batch_records_sum 2\nbbs_wal_batch_records_count 1\n"))
    }

    @Test func concurrentObservationsAreAllCounted() {
        let histogram = Histogram(upperBounds: [10, 100])
        let counter = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<10_000 {
                histogram.observe(UInt64((worker * 10_000 + index) % 150))
                counter.increment()
            }
        }
        #expect(histogram.snapshot.count == 80_000)
        #expect(counter.value == 80_000)
        // 0...149 repeated: 11 of every 150 values are <= 10, 101 are <= 100.
        let rounds = UInt64(80_000 / 150), rest = 80_000 % 150
        #expect(histogram.snapshot.cumulativeCounts[0] == rounds * 11 + UInt64(min(rest, 11)))
    }
}

/// A counter a collector closure can advance.
private final class CounterBox: Sendable {
    private let counter = Counter()
    func next() -> UInt64 {
        counter.increment()
        return counter.value
    }
}
