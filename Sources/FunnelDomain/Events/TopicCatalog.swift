/// One topic of Funnel: its name, partition count and topic configs.
public struct TopicDefinition: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    public var configs: [String: String]
    /// What flows through it, for `funnel topics list` and the docs.
    public var summary: String

    public init(name: String, partitions: Int, configs: [String: String] = [:], summary: String) {
        self.name = name
        self.partitions = partitions
        self.configs = configs
        self.summary = summary
    }

    public var isCompacted: Bool { configs["cleanup.policy"] == "compact" }
}

/// Every topic Funnel uses; `funnel topics create` and `funnel dev` create exactly these.
public enum TopicCatalog {
    public static let captured = "funnel.lead.captured.v1"
    public static let activity = "funnel.lead.activity.v1"
    public static let enriched = "funnel.lead.enriched.v1"
    public static let scored = "funnel.lead.scored.v1"
    public static let routed = "funnel.lead.routed.v1"
    public static let stageChanged = "funnel.lead.stage-changed.v1"
    public static let outcome = "funnel.lead.outcome.v1"
    public static let deadLetter = "funnel.deadletter.v1"
    /// Erase requests (GDPR Art. 17), public: every stateful stage and any subscriber erases the lead.
    public static let erased = "funnel.lead.erased.v1"
    /// funnel-route internal: assignment requests and releases, keyed by pool.
    public static let assignments = "funnel.route.assignments.v1"
    /// funnel-route internal: the pools' answers, keyed by lead.
    public static let assigned = "funnel.route.assigned.v1"
    /// Run-time pool member controls (`funnel reps`), compacted, key `pool/rep` in the pool's partition.
    public static let reps = "funnel.route.reps.v1"
    /// funnel-followup internal: e-mails to send (sequence steps, rep alerts), keyed by lead.
    public static let outbox = "funnel.followup.outbox.v1"
    /// funnel-followup internal: the mail sender's record of what it sent (compacted, keyed by lead).
    public static let mailSent = "funnel.followup.sent.v1"
    /// funnel-enrich: provider answers by company domain (compacted, TTL in the value), shared by all replicas.
    public static let enrichCompanies = "funnel.enrich.companies.v1"
    /// funnel-enrich: known accounts a CRM sync writes (compacted, key: account id; a tombstone
    /// deletes), read whole by every replica beside `accounts.csv` (``AccountRecord``).
    public static let enrichAccounts = "funnel.enrich.accounts.v1"
    /// What `funnel deadletters replay` sent again, compacted, key: the dead letter's id.
    public static let deadLetterReplays = "funnel.deadletter.replays.v1"

    /// Dead letters: 3 partitions (keyed like their input, so a lead's letters stay in order)
    /// and 30 days of retention — time to notice, fix and replay.
    static let deadLetters = ["cleanup.policy": "delete", "retention.ms": "2592000000"]

    /// Seven days of retention for event topics.
    static let events = ["cleanup.policy": "delete", "retention.ms": "604800000"]
    /// State changelogs keep the latest value per key.
    static let changelog = ["cleanup.policy": "compact"]

    /// The name of a service's compacted state topic: `funnel.<service>.<store>.v1`.
    public static func changelog(service: String, store: String) -> String {
        "funnel.\(service).\(store).v1"
    }

    /// All topics, with partition counts scaled by `partitions` (default 6).
    public static func all(partitions: Int = 6) -> [TopicDefinition] {
        [
            TopicDefinition(name: captured, partitions: partitions, configs: events, summary: "new leads from ingest"),
            TopicDefinition(name: activity, partitions: partitions, configs: events, summary: "behavioural events (web, e-mail, follow-up steps)"),
            TopicDefinition(name: enriched, partitions: partitions, configs: events, summary: "leads with contact and company data"),
            TopicDefinition(name: scored, partitions: partitions, configs: events, summary: "scores with grade, quadrant and contributing rules"),
            TopicDefinition(name: routed, partitions: partitions, configs: events, summary: "routing decisions (owner, queue)"),
            TopicDefinition(name: stageChanged, partitions: partitions, configs: events, summary: "public lifecycle stage changes"),
            TopicDefinition(name: outcome, partitions: partitions, configs: events, summary: "sales feedback (accepted … won, lost)"),
            TopicDefinition(name: erased, partitions: partitions, configs: deadLetters, summary: "erase requests: every stage and subscriber forgets the lead (30 days)"),
            TopicDefinition(name: deadLetter, partitions: 3, configs: deadLetters, summary: "what could not be processed, with the original bytes and why (30 days)"),
            TopicDefinition(name: deadLetterReplays, partitions: 1, configs: changelog, summary: "dead letters replayed by `funnel deadletters replay`"),
            TopicDefinition(name: changelog(service: "score", store: "leads"), partitions: partitions, configs: changelog, summary: "funnel-score per-lead state"),
            TopicDefinition(name: changelog(service: "route", store: "leads"), partitions: partitions, configs: changelog, summary: "funnel-route lifecycle state"),
            TopicDefinition(name: assignments, partitions: partitions, configs: events, summary: "funnel-route: assignment requests and releases, keyed by pool"),
            TopicDefinition(name: assigned, partitions: partitions, configs: events, summary: "funnel-route: the pools' answers, keyed by lead"),
            TopicDefinition(name: reps, partitions: partitions, configs: changelog, summary: "pool member pauses and capacities set by `funnel reps`"),
            TopicDefinition(name: changelog(service: "route", store: "pools"), partitions: partitions, configs: changelog, summary: "funnel-route per-pool distribution state"),
            TopicDefinition(name: changelog(service: "followup", store: "enrolments"), partitions: partitions, configs: changelog, summary: "funnel-followup sequence enrolments and timers"),
            TopicDefinition(name: enrichCompanies, partitions: partitions, configs: changelog, summary: "funnel-enrich: company answers of HTTP providers by domain (shared cache, TTL)"),
            TopicDefinition(name: enrichAccounts, partitions: partitions, configs: changelog, summary: "funnel-enrich: known accounts written by a CRM sync (key: account id), beside accounts.csv"),
            TopicDefinition(name: outbox, partitions: partitions, configs: events, summary: "funnel-followup: e-mails to send (steps, rep alerts), keyed by lead"),
            TopicDefinition(name: mailSent, partitions: partitions, configs: changelog, summary: "funnel-followup: the recent e-mails sent per lead (duplicate guard)"),
        ]
    }
}
