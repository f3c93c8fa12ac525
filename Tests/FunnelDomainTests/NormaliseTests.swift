@testable import FunnelDomain
import Testing

/// Normalisation: the e-mail's identity (the lead id), names, country from phone, domain from a
/// website.
@Suite struct NormaliseTests {
    @Test("identity folds +tags everywhere and Gmail's dots; the stored address is left alone", arguments: [
        ("ada.love+news@gmail.com", "adalove@gmail.com"),
        ("a.d.a.love@googlemail.com", "adalove@gmail.com"),
        ("adalove@gmail.com", "adalove@gmail.com"),
        ("ada+q4-webinar@acme.example", "ada@acme.example"),
        ("ada.love@acme.example", "ada.love@acme.example"),      // dots matter outside Gmail
        ("ada.love+x+y@acme.example", "ada.love@acme.example"),
        ("+tagonly@acme.example", "+tagonly@acme.example"),        // a local part that starts with + is not a tag
        ("ada@gmail.com.", "ada@gmail.com"),
        ("not-an-address", "not-an-address"),
    ])
    func identity(_ address: String, _ expected: String) {
        #expect(EmailAddress.identity(address) == expected)
    }

    @Test("one person, one lead id, however the address was decorated")
    func leadIDStable() {
        let ids = ["ada.love@gmail.com", "adalove+news@gmail.com", "Ada.Love+x@googlemail.com".lowercased()]
            .map { EventID.lead(forContact: EmailAddress.identity($0)) }
        #expect(Set(ids).count == 1)
        #expect(EventID.lead(forContact: EmailAddress.identity("ada.love@acme.example"))
            != EventID.lead(forContact: EmailAddress.identity("adalove@acme.example")))
    }

    @Test("names: one-case words re-cased, mixed case kept, particles, apostrophes, hyphens, Mc", arguments: [
        ("ada LOVELACE", "Ada Lovelace"),
        ("  ada   lovelace ", "Ada Lovelace"),
        ("mcdonald", "McDonald"),
        ("MCDONALD", "McDonald"),
        ("McDonald", "McDonald"),
        ("MacKenzie", "MacKenzie"),
        ("DeVries", "DeVries"),
        ("VAN DER BERG", "van der Berg"),
        ("van der berg", "van der Berg"),
        ("van der Berg", "van der Berg"),
        ("Van Morrison", "Van Morrison"),
        ("ludwig VAN beethoven", "Ludwig van Beethoven"),
        ("o'neil", "O'Neil"),
        ("O'NEIL", "O'Neil"),
        ("jean-luc", "Jean-Luc"),
        ("ÉLODIE", "Élodie"),
        ("de la cruz", "de la Cruz"),
    ])
    func names(_ given: String, _ expected: String) {
        #expect(Normalise.name(given) == expected)
    }

    @Test("blank names are absent")
    func blankName() {
        #expect(Normalise.name("   ") == nil)
        #expect(Normalise.name(nil) == nil)
    }

    @Test("country from an E.164 prefix; +1 split by area code; unknown or national numbers give none", arguments: [
        ("+4930123456", "DE"),
        ("+441234567890", "GB"),
        ("+35312345678", "IE"),
        ("+33123456789", "FR"),
        ("+14165550123", "CA"),
        ("+12125550123", "US"),
        ("+18765550123", nil),   // Jamaica: not a country Funnel knows
        ("+79161234567", nil),   // +7 is not in the table
        ("030123456", nil),      // national: no prefix to read
        ("+1212", nil),
    ] as [(String, String?)])
    func countryFromPhone(_ phone: String, _ expected: String?) {
        #expect(Normalise.country(fromPhone: phone) == expected)
    }

    @Test("a website's domain: scheme, www, path, port, user and trailing dot removed", arguments: [
        ("https://www.Acme.example/about?x=1", "acme.example"),
        ("acme.example", "acme.example"),
        ("http://user@shop.acme.example:8080/", "shop.acme.example"),
        ("WWW.GLOBEX.EXAMPLE.", "globex.example"),
        ("www.example", "www.example"),
        ("not a url", nil),
        ("localhost", nil),
        ("https://", nil),
    ] as [(String, String?)])
    func website(_ given: String, _ expected: String?) {
        #expect(Normalise.domain(fromWebsite: given) == expected)
    }

    @Test("the enricher fills country from the phone and the company domain from a website, keeping what was given")
    func enricher() {
        let emails = EmailDirectory(freeDomains: ["gmail.com"], disposableDomains: [], rolePrefixes: [])
        func enrich(_ lead: LeadCaptured) -> LeadCaptured {
            Enricher.enrich(lead, emails: emails, companies: CompanyDirectory([]), at: "2026-12-07T10:00:00Z").profile
        }
        let phoneOnly = enrich(LeadCaptured(leadID: "l", firstName: "ADA", lastName: "o'neil", phone: "+4930123456",
                                            capturedAt: "2026-12-07T10:00:00Z"))
        #expect(phoneOnly.country == "DE" && phoneOnly.firstName == "Ada" && phoneOnly.lastName == "O'Neil")
        let given = enrich(LeadCaptured(leadID: "l", email: "a@gmail.com", country: "at", phone: "+4930123456",
                                        capturedAt: "2026-12-07T10:00:00Z"))
        #expect(given.country == "AT")
        let website = enrich(LeadCaptured(leadID: "l", email: "a@gmail.com", attributes: ["website": "https://www.globex.example/"],
                                          capturedAt: "2026-12-07T10:00:00Z"))
        #expect(website.companyDomain == "globex.example")
        let url = enrich(LeadCaptured(leadID: "l", email: "a@acme.example", companyDomain: "WWW.Initech.example",
                                      capturedAt: "2026-12-07T10:00:00Z"))
        #expect(url.companyDomain == "initech.example")
        let fromEmail = enrich(LeadCaptured(leadID: "l", email: "Ada+x@Acme.example", capturedAt: "2026-12-07T10:00:00Z"))
        #expect(fromEmail.email == "ada+x@acme.example", "stored as given (lower case), the +tag kept")
        #expect(fromEmail.companyDomain == "acme.example")
    }
}
