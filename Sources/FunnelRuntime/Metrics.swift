import Foundation
import Synchronization

/// A small Prometheus registry: counters, gauges and histograms with fixed labels,
/// rendered in the text exposition format at `/metrics`.
public final class MetricsRegistry: Sendable {
    private struct Series {
        var help: String
        var type: String
        var values: [String: Double] = [:]          // labels → value (counters, gauges)
        var buckets: [Double] = []
        var histograms: [String: Histogram] = [:]    // labels → histogram
    }
    private let series = Mutex<[String: Series]>([:])
    private let gauges = Mutex<[String: @Sendable () -> Double]>([:])
    /// Families read at scrape time: name → (label name, values by label value).
    private let families = Mutex<[String: (label: String, read: @Sendable () -> [String: Double])]>([:])

    public init() {}

    public static let latencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    /// A counter resolved once (name and labels), for per-message use: incrementing it takes
    /// one uncontended lock and no label rendering.
    public final class Counter: Sendable {
        private let count = Mutex<Double>(0)
        public func increment(by value: Double = 1) { count.withLock { $0 += value } }
        var value: Double { count.withLock { $0 } }
    }
    private let counters = Mutex<[String: Counter]>([:])

    /// The counter `name{labels}` (the same handle for the same name and labels).
    public func counter(_ name: String, help: String, labels: [String: String] = [:]) -> Counter {
        let key = Self.render(labels)
        let handle = counters.withLock { all in
            if let known = all[name + key] { return known }
            let created = Counter()
            all[name + key] = created
            return created
        }
        series.withLock { all in
            if all[name] == nil { all[name] = Series(help: help, type: "counter") }
            if all[name]!.values[key] == nil { all[name]!.values[key] = 0 }
        }
        return handle
    }

    public func increment(_ name: String, help: String, labels: [String: String] = [:], by value: Double = 1) {
        let key = Self.render(labels)
        series.withLock { all in
            all[name, default: Series(help: help, type: "counter")].values[key, default: 0] += value
        }
    }

    public func observe(_ name: String, help: String, labels: [String: String] = [:], _ value: Double, buckets: [Double] = latencyBuckets) {
        histogram(name, help: help, labels: labels, buckets: buckets).observe(value)
    }

    /// A histogram resolved once (name and labels), for per-message use (see ``Counter``).
    public final class Histogram: Sendable {
        struct Counts {
            var buckets: [Int]
            var sum = 0.0
            var count = 0
        }
        let bounds: [Double]
        private let counts: Mutex<Counts>
        init(bounds: [Double]) {
            self.bounds = bounds
            counts = Mutex(Counts(buckets: Array(repeating: 0, count: bounds.count)))
        }
        public func observe(_ value: Double) {
            counts.withLock { c in
                for (i, bound) in bounds.enumerated() where value <= bound { c.buckets[i] += 1 }
                c.sum += value
                c.count += 1
            }
        }
        var snapshot: Counts { counts.withLock { $0 } }
    }

    /// The histogram `name{labels}` (the same handle for the same name and labels).
    public func histogram(_ name: String, help: String, labels: [String: String] = [:], buckets: [Double] = latencyBuckets) -> Histogram {
        let key = Self.render(labels)
        return series.withLock { all in
            if let known = all[name]?.histograms[key] { return known }
            if all[name] == nil { all[name] = Series(help: help, type: "histogram", buckets: buckets) }
            let created = Histogram(bounds: all[name]!.buckets)
            all[name]!.histograms[key] = created
            return created
        }
    }

    /// A gauge whose value is read at scrape time.
    public func gauge(_ name: String, help: String, labels: [String: String] = [:], _ read: @escaping @Sendable () -> Double) {
        readAtScrape(name, type: "gauge", help: help, labels: labels, read)
    }

    /// A counter kept elsewhere (a client library's), read at scrape time.
    public func counter(_ name: String, help: String, labels: [String: String] = [:], _ read: @escaping @Sendable () -> Double) {
        readAtScrape(name, type: "counter", help: help, labels: labels, read)
    }

    /// A gauge family whose series are read at scrape time: `read` returns the value per value
    /// of the one label `label` (e.g. readiness per condition). Keep the label's values a small,
    /// bounded set: every value becomes a series.
    public func gauges(_ name: String, help: String, label: String, _ read: @escaping @Sendable () -> [String: Double]) {
        series.withLock { all in
            if all[name] == nil { all[name] = Series(help: help, type: "gauge") }
        }
        families.withLock { $0[name] = (label, read) }
    }

    private func readAtScrape(_ name: String, type: String, help: String, labels: [String: String], _ read: @escaping @Sendable () -> Double) {
        let key = Self.render(labels)
        series.withLock { all in
            if all[name] == nil { all[name] = Series(help: help, type: type) }
            all[name]!.values[key] = 0
        }
        gauges.withLock { $0[name + key] = read }
    }

    /// The value of a counter (sum over label sets matching `labels`), for tests and progress output.
    public func value(_ name: String, labels: [String: String] = [:]) -> Double {
        series.withLock { all in
            guard let s = all[name] else { return 0 }
            let handles = counters.withLock { $0 }
            return s.values.filter { key, _ in labels.allSatisfy { key.contains("\($0.key)=\"\($0.value)\"") } }
                .map { key, value in value + (handles[name + key]?.value ?? 0) }.reduce(0, +)
        }
    }

    /// The Prometheus text exposition.
    public func exposition() -> String {
        let readers = gauges.withLock { $0 }
        let handles = counters.withLock { $0 }
        // Read outside the registry's lock: a family's reader takes locks of its own.
        let familyValues = families.withLock { $0 }.mapValues { family in
            family.read().map { (key: Self.render([family.label: $0.key]), value: $0.value) }.sorted { $0.key < $1.key }
        }
        return series.withLock { all in
            var out = ""
            for name in all.keys.sorted() {
                let s = all[name]!
                out += "# HELP \(name) \(s.help)\n# TYPE \(name) \(s.type)\n"
                for (key, value) in familyValues[name] ?? [] {
                    out += "\(name)\(key) \(Self.number(value))\n"
                }
                for key in s.values.keys.sorted() {
                    let value = readers[name + key]?() ?? (s.values[key]! + (handles[name + key]?.value ?? 0))
                    out += "\(name)\(key) \(Self.number(value))\n"
                }
                for key in s.histograms.keys.sorted() {
                    let h = s.histograms[key]!.snapshot
                    let inner = key.isEmpty ? "" : String(key.dropFirst().dropLast()) + ","
                    for (i, bound) in s.buckets.enumerated() {
                        out += "\(name)_bucket{\(inner)le=\"\(Self.number(bound))\"} \(h.buckets[i])\n"
                    }
                    out += "\(name)_bucket{\(inner)le=\"+Inf\"} \(h.count)\n"
                    out += "\(name)_sum\(key) \(Self.number(h.sum))\n\(name)_count\(key) \(h.count)\n"
                }
            }
            return out
        }
    }

    /// Rendered label sets, memoised: the same few label sets are used for every message.
    private static let rendered = Mutex<[[String: String]: String]>([:])

    private static func render(_ labels: [String: String]) -> String {
        guard !labels.isEmpty else { return "" }
        if let known = rendered.withLock({ $0[labels] }) { return known }
        let text = renderUncached(labels)
        rendered.withLock { $0[labels] = text }
        return text
    }

    private static func renderUncached(_ labels: [String: String]) -> String {
        let inner = labels.sorted { $0.key < $1.key }.map { key, value in
            "\(key)=\"\(value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n"))\""
        }
        return "{" + inner.joined(separator: ",") + "}"
    }

    /// A sample value as the text format spells it (`+Inf`, `-Inf`, `NaN`; integers without `.0`).
    private static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
