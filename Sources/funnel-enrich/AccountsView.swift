import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Logging
import ServiceLifecycle
import Synchronization

/// The accounts the stage matches leads against: `accounts.csv` and the CRM's records in
/// `funnel.enrich.accounts.v1`, read whole by this replica (``TopicView``) into an
/// ``AccountBook``. The matcher (``AccountDirectory``) is rebuilt from the book when the view
/// caught up, then at most every `FUNNEL_ACCOUNTS_REFRESH_MS` (default 1000; at least five times
/// the last rebuild's duration) while CRM records arrive; the stage reads the newest one per lead.
///
/// A record that does not validate is skipped, logged with its `topic[p]@offset` and reason (no
/// values) and counted in `funnel_enrich_account_records_rejected_total`; the account keeps its
/// previous record.
final class AccountsView: Sendable {
    private let book: Mutex<Pending>
    private let current: Mutex<Published>
    private let rejected: MetricsRegistry.Counter
    private let logger: Logger
    private let refresh: Duration

    /// The book as the view fills it: `dirty` until published; `applied` counts the records
    /// (accounts and deletions) it holds.
    struct Pending {
        var book: AccountBook
        var dirty = false
        var applied = 0
    }

    /// What the stage reads: the matcher, and whether CRM records are part of it (then the
    /// enriched event's id also derives from its content: a replay after a CRM change is a new
    /// event, never the same id with other bytes); for the metrics, how many accounts it holds
    /// by source and how many records went into it.
    struct Published: Sendable {
        var directory: AccountDirectory
        var counts: (file: Int, crm: Int)
        var applied: Int
        var fromCRM: Bool { counts.crm > 0 }
    }

    init(file: [Account], context: ServiceContext) throws {
        let book = AccountBook(file: file)
        self.book = Mutex(Pending(book: book))
        self.current = Mutex(Published(directory: book.directory(), counts: book.counts, applied: 0))
        self.logger = context.logger
        self.refresh = .milliseconds(try context.environment.integer("FUNNEL_ACCOUNTS_REFRESH_MS", default: 1000, in: 10...600_000))
        rejected = context.metrics.counter("funnel_enrich_account_records_rejected_total",
                                           help: "Records of funnel.enrich.accounts.v1 skipped because they do not validate (see the log for topic[p]@offset and why).")
        context.metrics.gauges("funnel_enrich_accounts", help: "Accounts the matcher holds, by source (file: accounts.csv, crm: funnel.enrich.accounts.v1).",
                               label: "source") { [unowned self] in
            let counts = self.published.counts
            return ["file": Double(counts.file), "crm": Double(counts.crm)]
        }
        context.metrics.gauge("funnel_enrich_account_records_applied",
                              help: "Records of funnel.enrich.accounts.v1 (accounts and deletions) in the matcher the stage uses now.") { [unowned self] in
            Double(self.published.applied)
        }
    }

    /// The view that feeds the book; `/readyz` has the condition `accounts` until it caught up.
    func view(context: ServiceContext) -> TopicView {
        TopicView(topic: TopicCatalog.enrichAccounts, condition: "accounts", configuration: context.environment.kafka,
                  health: context.health, logger: context.logger) { [self] in apply($0) }
    }

    /// The matcher the stage uses now.
    var published: Published { current.withLock { $0 } }

    func apply(_ message: ConsumerMessage) {
        guard let key = message.keyString else { return reject(message, AccountRecord.missingKey) }
        guard let value = message.valueBytes else {
            book.withLock { $0.book.remove(id: key); $0.dirty = true; $0.applied += 1 }
            return
        }
        switch value.withUnsafeBytes({ AccountRecord.decode($0, key: key) }) {
        case .failure(let error): reject(message, error.description)
        case .success(let record): book.withLock { $0.book.put(record.account); $0.dirty = true; $0.applied += 1 }
        }
    }

    private func reject(_ message: ConsumerMessage, _ reason: String) {
        rejected.increment()
        logger.warning("account record skipped", metadata: ["record": "\(message.topic)[\(message.partition)]@\(message.offset)", "reason": "\(reason)"])
    }

    /// Rebuilds the matcher if records arrived since the last time; returns how long it took.
    @discardableResult
    func publish() -> Duration {
        let pending: Pending? = book.withLock { state in
            guard state.dirty else { return nil }
            state.dirty = false
            return state
        }
        guard let pending else { return .zero }
        let started = ContinuousClock.now
        let published = Published(directory: pending.book.directory(), counts: pending.book.counts, applied: pending.applied)
        current.withLock { $0 = published }
        let took = ContinuousClock.now - started
        logger.debug("accounts rebuilt", metadata: ["crm": "\(published.counts.crm)", "seconds": "\(took.seconds)"])
        return took
    }

    /// Starts `stage` once the view caught up (so no lead is matched against half the CRM's
    /// accounts), then rebuilds the matcher every `refresh` while records arrive.
    func gate(_ stage: any Service, view: TopicView) -> any Service { Gate(accounts: self, view: view, stage: stage) }

    struct Gate: Service {
        let accounts: AccountsView
        let view: TopicView
        let stage: any Service

        func run() async throws {
            while !view.isCaughtUp {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                try? await Task.sleep(for: .milliseconds(50))
            }
            accounts.book.withLock { $0.dirty = true }
            accounts.publish()
            let counts = accounts.published.counts
            accounts.logger.info("accounts ready", metadata: ["file": "\(counts.file)", "crm": "\(counts.crm)"])
            // A rebuild of 10^5 accounts takes most of a second: while a bulk load streams in,
            // rebuild at most every five rebuild times, so it never takes over a fifth of a core.
            let refresh = accounts.refresh
            let refresher = Task {
                var wait = refresh
                while !Task.isCancelled {
                    try? await Task.sleep(for: wait)
                    wait = max(refresh, accounts.publish() * 5)
                }
            }
            defer { refresher.cancel() }
            try await stage.run()
        }
    }
}
