extension EmailAddress {
    /// The form of a stored (canonical, lower-case) address that names the person, for the lead
    /// id: a `+tag` is dropped on every domain (RFC 5233 sub-addressing: `ada+news@acme.example`
    /// reaches `ada@acme.example`), and on Gmail the dots of the local part too, with
    /// `googlemail.com` read as `gmail.com` (`A.da.Love+x@googlemail.com` → `adalove@gmail.com`).
    /// The address itself is stored and mailed as given; only the id folds these.
    public static func identity(_ address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return address }
        var local = address[..<at]
        var domain = address[address.index(after: at)...]
        if domain.last == "." { domain = domain.dropLast() }
        if let plus = local.firstIndex(of: "+"), plus != local.startIndex { local = local[..<plus] }
        if domain == "gmail.com" || domain == "googlemail.com" {
            domain = "gmail.com"
            let undotted = local.filter { $0 != "." }
            return undotted.isEmpty ? address : undotted + "@gmail.com"
        }
        return local + "@" + domain
    }
}
