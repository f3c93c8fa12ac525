import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// funnel-enrich: captured → enriched. Normalises the profile, classifies the e-mail address
/// (corporate, free, disposable, role) and looks up company data by domain.
await ServiceMain.run(service: "funnel-enrich", defaultPort: 8081) { context, _ in
    let env = context.environment
    let emails = EmailDirectory(
        freeDomains: Set(try env.readList("data/free-email-domains.txt")),
        disposableDomains: Set(try env.readList("data/disposable-email-domains.txt")),
        rolePrefixes: Set(try env.readList("data/role-prefixes.txt")))
    let companies = CompanyDirectory(try CompanyFile.parse(env.readConfigFile("data/companies.csv")))
    context.logger.info("reference data loaded", metadata: [
        "free_domains": "\(emails.freeDomains.count)", "disposable_domains": "\(emails.disposableDomains.count)",
        "companies": "\(companies.byDomain.count)"])
    return [context.stage(topics: [TopicCatalog.captured]) {
        { message throws(StageFailure) in
            let event = try StageIO.decode(LeadCaptured.self, message)
            // The captured event's time, not the wall clock: re-enriching an input yields the same bytes.
            let time = event.data.capturedAt
            let enriched = Enricher.enrich(event.data, emails: emails, companies: companies, at: time)
            return [StageIO.output(enriched, topic: TopicCatalog.enriched, leadID: event.subject, from: event.id,
                                   purpose: "enriched", source: "funnel-enrich", time: time)]
        }
    }]
}
