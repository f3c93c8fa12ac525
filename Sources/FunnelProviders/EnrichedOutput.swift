import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// The enriched event as a message. Without providers its id derives from the captured
/// event's id (as always); with providers its content depends on the cache and on when a
/// provider answered (with CRM accounts, on the accounts topic when it was read), so the id
/// also derives from the content: one id never carries two contents,
/// and a replay that finds the same answers yields the same id and bytes.
public enum EnrichedOutput {
    public static func message(_ lead: LeadEnriched, leadID: String, from inputID: String, purpose: String, time: String,
                               contentAddressed: Bool) -> ProducerMessage {
        guard contentAddressed else {
            return StageIO.output(lead, topic: TopicCatalog.enriched, leadID: leadID, from: inputID, purpose: purpose,
                                  source: "funnel-enrich", time: time)
        }
        // One pass: the payload's bytes (JSONEncoder's, see `FastJSONEncodable`) are hashed where
        // they are written; the id is the one derived from the input, purpose and that hash as before.
        return StageIO.contentAddressedOutput(lead, topic: TopicCatalog.enriched, leadID: leadID, deriving: [inputID, purpose],
                                              source: "funnel-enrich", time: time)
    }
}

/// The provider part of funnel-enrich's stage: applied to what `Enricher.enrich` made.
public struct ProviderStage: Sendable {
    public let config: EnrichmentConfig
    public let cache: CompanyCache?
    public let metrics: ProviderMetrics?

    public init(config: EnrichmentConfig, cache: CompanyCache?, metrics: ProviderMetrics?) {
        self.config = config; self.cache = cache; self.metrics = metrics
    }

    /// The enriched event for a captured event: `none` offline; else the company answered from
    /// the shared cache (`complete`) or left to the re-enrichment loop (`partial`). Never waits.
    /// - Parameter contentAddressed: the event depends on more than its input even offline (the
    ///   CRM's accounts): its id also derives from its content.
    public func output(_ enriched: LeadEnriched, leadID: String, from inputID: String, time: String,
                       contentAddressed: Bool = false) -> ProducerMessage {
        var lead = enriched
        guard !config.isOffline else {
            lead.enrichment = EnrichmentStatus.none
            return EnrichedOutput.message(lead, leadID: leadID, from: inputID, purpose: "enriched", time: time,
                                          contentAddressed: contentAddressed)
        }
        lead = ProviderEnrichment.atStage(lead, config: config) { domain in
            let record = cache?.fresh(domain)
            metrics?.cache(hit: record != nil)
            return record
        }
        if let status = lead.enrichment { metrics?.enriched(status, stage: "stage") }
        return EnrichedOutput.message(lead, leadID: leadID, from: inputID, purpose: "enriched", time: time, contentAddressed: true)
    }
}
