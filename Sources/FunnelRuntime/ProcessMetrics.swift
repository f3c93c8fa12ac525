import Foundation
import FunnelKafka

/// The series every Funnel process exports besides its stages' own: readiness (as `/readyz`
/// sees it, overall and per condition), its start time and its build.
enum ProcessMetrics {
    static func register(_ metrics: MetricsRegistry, health: HealthState) {
        metrics.gauge("funnel_ready", help: "1 when /readyz answers 200 (every readiness condition holds), else 0.") {
            health.isReady ? 1 : 0
        }
        // Condition names come from the code (`broker`, `stage`, `stage <group>`, `smtp`,
        // `state-restore <changelog>`): a small, fixed set per process.
        metrics.gauges("funnel_ready_condition", help: "1 while a readiness condition of /readyz holds, else 0 (the body of /readyz says why).",
                       label: "condition") {
            health.states.mapValues { $0 ? 1 : 0 }
        }
        let started = Date().timeIntervalSince1970
        metrics.gauge("process_start_time_seconds", help: "Start time of the process since the Unix epoch in seconds.") { started }
        metrics.gauge("funnel_build_info", help: "Always 1: the Funnel version and the librdkafka version loaded at run time.",
                      labels: ["version": FunnelRuntimeInfo.version, "librdkafka": LibrdkafkaVersion.string]) { 1 }
    }
}
