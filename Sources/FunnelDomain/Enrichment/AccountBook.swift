/// The accounts funnel-enrich matches leads against: the rows of `accounts.csv` and the
/// records a CRM sync writes to `funnel.enrich.accounts.v1`. A CRM record replaces the file's
/// row with the same id; deleting it (a tombstone) brings that row back. When two accounts
/// claim one domain, the CRM's wins (lowest id first), then the file's (file order).
public struct AccountBook: Sendable {
    public let file: [Account]
    public private(set) var crm: [String: Account] = [:]

    public init(file: [Account] = []) { self.file = file }

    /// Adds or replaces the CRM's account `account.id`.
    public mutating func put(_ account: Account) { crm[account.id] = account }

    /// Forgets the CRM's account `id`; returns whether it was there.
    @discardableResult
    public mutating func remove(id: String) -> Bool { crm.removeValue(forKey: id) != nil }

    /// The matcher over both sources (built in a fixed order: the same records, the same matches).
    public func directory() -> AccountDirectory {
        let fromCRM = crm.values.sorted { $0.id < $1.id }
        return AccountDirectory(fromCRM + file.filter { crm[$0.id] == nil })
    }

    /// How many accounts the matcher holds, by source (`file` rows the CRM replaced are not counted).
    public var counts: (file: Int, crm: Int) { (file.count { crm[$0.id] == nil }, crm.count) }
}
