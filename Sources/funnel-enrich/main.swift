import Foundation
import FunnelDomain
import FunnelKafka
import FunnelProviders
import FunnelRuntime

/// funnel-enrich: captured → enriched. Normalises the profile, classifies the e-mail address
/// (corporate, free, disposable, role) and looks up company data by domain.
await ServiceMain.run(service: "funnel-enrich", defaultPort: 8081) { context, _ in
    let env = context.environment
    // The lists (deploy/data/README.md): read here, checked by the domain; a malformed line stops
    // the process at start with `data/<file>:<line>: reason`.
    let loadStart = ContinuousClock.now
    func list(_ name: String) throws -> String { try env.readConfigFile("data/" + name) }
    let emails = EmailDirectory(
        freeDomains: try ReferenceList.domains(list("free-email-domains.txt"), file: "data/free-email-domains.txt"),
        disposableDomains: try ReferenceList.domains(list("disposable-email-domains.txt"),
                                                     file: "data/disposable-email-domains.txt"),
        rolePrefixes: try ReferenceList.localParts(list("role-prefixes.txt"), file: "data/role-prefixes.txt"))
    let loadTime = ContinuousClock.now - loadStart
    let loadMilliseconds = loadTime.components.seconds * 1000 + loadTime.components.attoseconds / 1_000_000_000_000_000
    let companies = CompanyDirectory(try CompanyFile.parse(env.readConfigFile("data/companies.csv")))
    // Intent lists and known accounts (README "Enrichment"); errors name file:line at start.
    let intents = try IntentDirectory.load(directory: "data/", read: list)
    // Known accounts: the file's, and the CRM's from funnel.enrich.accounts.v1 (the stage starts
    // once that topic was read to its end; /readyz `accounts` until then).
    let accountFile = try AccountFile.parse(list("accounts.csv"), file: "data/accounts.csv")
    let accounts = try AccountsView(file: accountFile, context: context)
    let accountsView = accounts.view(context: context)
    context.logger.info("reference data loaded", metadata: [
        "free_domains": "\(emails.freeDomains.count)", "disposable_domains": "\(emails.disposableDomains.count)",
        "role_prefixes": "\(emails.rolePrefixes.count)", "lists_load_ms": "\(loadMilliseconds)",
        "companies": "\(companies.byDomain.count)", "accounts": "\(accountFile.count)",
        "competitors": "\(intents.competitors.domains.count + intents.competitors.names.count)"])
    // HTTP providers (deploy/enrichment.yaml; all disabled as shipped): the cache and the re-enrichment loop.
    let providers = try ProviderSetup(context: context, emails: emails)
    let stage = context.stage(topics: [TopicCatalog.captured]) {
        { message throws(StageFailure) in
            let event = try StageIO.decode(LeadCaptured.self, message)
            // The captured event's time, not the wall clock: re-enriching an input yields the same bytes.
            let time = event.data.capturedAt
            let known = accounts.published
            let enriched = Enricher.enrich(event.data, emails: emails, companies: companies, intents: intents,
                                           accounts: known.directory, at: time)
            return [providers.stage.output(enriched, leadID: event.subject, from: event.id, time: time, contentAddressed: known.fromCRM)]
        }
    }
    return providers.services + [accountsView, accounts.gate(stage, view: accountsView)]
}
