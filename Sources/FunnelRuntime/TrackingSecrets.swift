import Foundation
import FunnelDomain

/// The tracking-link secret shared by funnel-ingest (verifies) and funnel-followup (signs).
public enum TrackingSecrets {
    /// Secrets from `FUNNEL_TRACKING_SECRET` (or the file named by `FUNNEL_TRACKING_SECRET_FILE`)
    /// and, during a rotation, `FUNNEL_TRACKING_SECRET_PREVIOUS` (still verifies, never signs).
    /// Nil when none is configured.
    public static func signer(environment: [String: String]) throws -> TrackingSigner? {
        var current = environment["FUNNEL_TRACKING_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
        if current == nil, let path = environment["FUNNEL_TRACKING_SECRET_FILE"], !path.isEmpty {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError("FUNNEL_TRACKING_SECRET_FILE: cannot read \(path)")
            }
            current = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let current else { return nil }
        let previous = environment["FUNNEL_TRACKING_SECRET_PREVIOUS"].flatMap { $0.isEmpty ? nil : $0 }
        do { return try TrackingSigner(secrets: [current] + (previous.map { [$0] } ?? [])) } catch {
            throw ConfigError("FUNNEL_TRACKING_SECRET: \(error)")
        }
    }
}
