import Foundation
@testable import FunnelDomain
import Testing

/// Enrichment's country: given, else the phone's calling code, else company data, else the
/// ccTLD of the company's domain or a corporate address; `country_source` says which.
@Suite("Country inference")
struct CountryInferenceTests {
    static let emails = EmailDirectory(freeDomains: ["gmail.com", "web.de"], disposableDomains: ["mailinator.com", "trash.de"],
                                       rolePrefixes: ["info"])
    static let companies = CompanyDirectory([CompanyInfo(domain: "known.example", country: "CH")])

    static func enrich(email: String? = nil, phone: String? = nil, country: String? = nil, domain: String? = nil) -> LeadEnriched {
        let lead = LeadCaptured(leadID: "lead-1", email: email, companyDomain: domain, country: country, phone: phone,
                                capturedAt: "2026-12-07T10:00:00Z")
        return Enricher.enrich(lead, emails: emails, companies: companies, at: "2026-12-07T10:00:01Z")
    }

    /// (label, lead, country, source)
    static let cases: [(String, LeadEnriched, String?, CountrySource?)] = [
        ("given wins over phone and domain", enrich(email: "a@acme.fr", phone: "+4930123456", country: "AT"), "AT", .given),
        ("given is upper-cased", enrich(email: "a@acme.example", country: "at"), "AT", .given),
        ("phone before domain", enrich(email: "a@acme.fr", phone: "+4930123456"), "DE", .phone),
        ("company file before domain", enrich(email: "a@known.example", domain: "known.example"), "CH", .company),
        ("corporate address ccTLD", enrich(email: "ada@acme.de"), "DE", .domain),
        ("co.uk is GB", enrich(email: "ada@acme.co.uk"), "GB", .domain),
        ("com.au is AU", enrich(email: "ada@acme.com.au"), "AU", .domain),
        ("role address is a company address", enrich(email: "info@acme.nl"), "NL", .domain),
        ("company domain", enrich(email: "ada@gmail.com", domain: "acme.se"), "SE", .domain),
        ("company domain before address", enrich(email: "ada@acme.fr", domain: "acme.it"), "IT", .domain),
        ("generic TLD company domain, then the address's ccTLD", enrich(email: "ada@acme.fr", domain: "acme.com"), "FR", .domain),
        ("free-mail ccTLD says nothing", enrich(email: "ada@web.de"), nil, nil),
        ("disposable ccTLD says nothing", enrich(email: "ada@trash.de"), nil, nil),
        ("generic-use ccTLD io", enrich(email: "ada@acme.io"), nil, nil),
        ("generic-use ccTLD co", enrich(email: "ada@acme.co"), nil, nil),
        ("generic-use ccTLD ai", enrich(email: "ada@acme.ai", domain: "acme.tv"), nil, nil),
        ("generic TLD", enrich(email: "ada@acme.com"), nil, nil),
        ("nothing at all", enrich(phone: "030 1234567"), nil, nil),
    ]

    @Test("country and country_source", arguments: cases)
    func inference(_ sample: (String, LeadEnriched, String?, CountrySource?)) {
        let (label, enriched, country, source) = sample
        #expect(enriched.profile.country == country, "\(label)")
        #expect(enriched.countrySource == source, "\(label)")
    }

    @Test("ccTLDs: one probe on the last label; generic-use ones and non-countries give nothing")
    func ccTLDs() {
        #expect(CountryFromDomain.country(of: "acme.de") == "DE")
        #expect(CountryFromDomain.country(of: "a.b.acme.co.uk") == "GB")
        #expect(CountryFromDomain.country(of: "acme.gb") == "GB")
        #expect(CountryFromDomain.country(of: "acme.eu") == nil, "EU is not a country")
        #expect(CountryFromDomain.country(of: "acme.org") == nil)
        #expect(CountryFromDomain.country(of: "acme.de.") == nil)
        #expect(CountryFromDomain.country(of: "localhost") == nil)
        for tld in ["io", "co", "ai", "me", "tv", "cc", "ly", "fm", "gg", "ws", "to", "sh", "so", "la", "nu"] {
            #expect(CountryFromDomain.country(of: "acme." + tld) == nil, "\(tld)")
        }
    }

    @Test("the README lists exactly the generic-use ccTLDs the code skips")
    func readmeList() throws {
        let readme = try String(contentsOfFile: #filePath.components(separatedBy: "/Tests/")[0] + "/README.md", encoding: .utf8)
        let start = try #require(readme.range(of: "(`CountryFromDomain.genericUseCCTLDs`: "))
        let end = try #require(readme[start.upperBound...].range(of: ":"))
        let listed = readme[start.upperBound..<end.lowerBound].split(separator: "`").filter { $0.allSatisfy(\.isLetter) && !$0.isEmpty }
        #expect(Set(listed.map(String.init)) == CountryFromDomain.genericUseCCTLDs)
    }

    @Test("a provider's company country replaces a ccTLD guess, not a given country")
    func providerCountry() {
        let record = CompanyCacheRecord(domain: "acme.de", provider: "clearbit", company: CompanyInfo(domain: "acme.de", country: "AT"),
                                        fetchedAt: 0, expiresAt: 1)
        let guessed = ProviderEnrichment.apply(company: record, to: Self.enrich(email: "ada@acme.de"))
        #expect(guessed.profile.country == "AT" && guessed.countrySource == .company)
        let given = ProviderEnrichment.apply(company: record, to: Self.enrich(email: "ada@acme.de", country: "DE"))
        #expect(given.profile.country == "DE" && given.countrySource == .given)
    }

    @Test("country_source is written and read back (JSONEncoder, the fast decoder), and absent when nil")
    func roundTrip() throws {
        let enriched = Self.enrich(email: "ada@acme.de")
        let event = CloudEvent(id: "e1", source: "test", type: TopicCatalog.enriched, time: enriched.enrichedAt,
                               subject: enriched.leadID, data: enriched)
        let bytes = try JSONEncoder().encode(event)
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""country_source":"domain""#))
        let fast = bytes.withUnsafeBytes { FastJSON.enrichedEvent($0) }
        #expect(fast?.data.countrySource == .domain)
        let none = try JSONEncoder().encode(Self.enrich(email: "ada@acme.com"))
        #expect(!String(decoding: none, as: UTF8.self).contains("country_source"))
    }
}
