import Foundation
@testable import FunnelDomain
import Testing

/// deploy/enrichment.yaml and the pure parts of provider enrichment: breaker, rate limit,
/// backoff, URL templates, field mapping, and how answers change the enriched event.
@Suite struct EnrichmentProvidersTests {
    static let deployFile = #filePath.components(separatedBy: "/Tests/")[0] + "/deploy/enrichment.yaml"

    static let companyYAML = """
        version: "t1"
        providers:
          - name: co
            kind: company
            enabled: true
            url: "http://127.0.0.1:1/company?domain={domain}"
            fields: { name: name, employees: metrics.employees }
          - name: pe
            kind: person
            enabled: true
            url: "http://127.0.0.1:1/person?first={first_name}&last={last_name}&domain={domain}"
            fields: { email: person.email }
        """

    // MARK: the file

    @Test func theShippedFileParsesWithEveryProviderDisabled() throws {
        let config = try EnrichmentConfig.parse(yaml: String(contentsOfFile: Self.deployFile, encoding: .utf8))
        #expect(config.isOffline)
        #expect(config.providers.count == 2)
        #expect(Set(config.providers.map(\.kind)) == [.company, .person])
        #expect(config.cacheTTLMilliseconds == 7 * 86_400_000)
        let company = try #require(config.providers.first { $0.kind == .company })
        #expect(company.timeoutMilliseconds == 2000)
        #expect(company.apiKey?.env == "ACME_COMPANY_API_KEY")
        #expect(company.breaker == BreakerPolicy(failureThreshold: 5, coolDownMilliseconds: 30_000))
        #expect(company.retries == RetryPolicy(maxRetries: 2, baseMilliseconds: 200, maxMilliseconds: 5000))
        #expect(company.ratePerSecond == 10)
    }

    @Test func defaultsApplyWhenOmitted() throws {
        let config = try EnrichmentConfig.parse(yaml: Self.companyYAML)
        let company = try #require(config.provider(.company))
        #expect(company.timeoutMilliseconds == 2000)
        #expect(company.notFoundStatuses == [404])
        #expect(company.ratePerSecond == nil)
        #expect(config.provider(.person)?.url.variables == ["first_name", "last_name", "domain"])
    }

    @Test(arguments: [
        ("version: v\nproviders:\n  - name: a\n    kind: company\n    url: \"http://x/{domain}\"\n    fields: { name: n }\n    colour: red\n",
         "enrichment.yaml:7: providers[0].colour: unknown key"),
        ("version: v\nproviders:\n  - name: a\n    kind: company\n    url: \"http://x/{email}\"\n    fields: { name: n }\n",
         "enrichment.yaml:5: providers[0].url: unknown variable {email}"),
        ("version: v\nproviders:\n  - name: a\n    kind: planet\n    url: \"http://x/{domain}\"\n    fields: { name: n }\n",
         "enrichment.yaml:4: providers[0].kind: expected company or person"),
        ("version: v\nproviders:\n  - name: a\n    kind: company\n    url: \"http://x/{domain}\"\n    timeout: soon\n    fields: { name: n }\n",
         "enrichment.yaml:6: providers[0].timeout: expected a duration"),
        ("version: v\nproviders:\n  - name: a\n    kind: company\n    url: \"http://x/{domain}\"\n    api_key: { env: sk_live_123 }\n    fields: { name: n }\n",
         "enrichment.yaml:6: providers[0].api_key.env: the NAME of an environment variable"),
        ("version: v\nproviders:\n  - name: a\n    kind: company\n    url: \"http://x/{domain}\"\n    fields: { email: e }\n",
         "enrichment.yaml:6: providers[0].fields.email: unknown key"),
        ("version: v\nproviders:\n  - name: a\n    kind: company\n    url: \"ftp://x/{domain}\"\n    fields: { name: n }\n",
         "enrichment.yaml:5: providers[0].url: must start with http"),
        ("version: v\nproviders:\n  - name: a\n    kind: company\n    url: \"http://x/{domain}\"\n    breaker: { failures: 0 }\n    fields: { name: n }\n",
         "enrichment.yaml:6: providers[0].breaker.failures: must be an integer >= 1"),
        ("providers: []\n", "enrichment.yaml:1: missing key 'version'"),
    ])
    func badFilesNameLineFieldAndReason(yaml: String, expected: String) {
        #expect {
            _ = try EnrichmentConfig.parse(yaml: yaml)
        } throws: { error in
            "\(error)".hasPrefix(expected)
        }
    }

    // MARK: breaker, rate limit, backoff (time passed in)

    @Test func breakerOpensAfterNFailuresProbesAfterCoolDownAndClosesOnSuccess() {
        var breaker = CircuitBreaker(policy: BreakerPolicy(failureThreshold: 3, coolDownMilliseconds: 10_000))
        var allowed = false // (a mutating call cannot stand inside #expect)
        for t in [0, 1, 2] as [Int64] {
            allowed = breaker.allow(now: t)
            #expect(allowed)
            breaker.recordFailure(now: t)
        }
        #expect(breaker.state == .open)
        allowed = breaker.allow(now: 5_000)
        #expect(!allowed)
        allowed = breaker.allow(now: 10_001)
        #expect(!allowed)   // opened at 2: open until 10 002
        allowed = breaker.allow(now: 10_002)
        #expect(allowed)    // the probe
        #expect(breaker.state == .halfOpen)
        allowed = breaker.allow(now: 10_003)
        #expect(!allowed)   // one probe at a time
        breaker.recordSuccess()
        #expect(breaker.state == .closed)
        allowed = breaker.allow(now: 10_004)
        #expect(allowed)
    }

    @Test func aFailedProbeOpensTheBreakerForAnotherCoolDown() {
        var breaker = CircuitBreaker(policy: BreakerPolicy(failureThreshold: 1, coolDownMilliseconds: 1000))
        var allowed = false // (a mutating call cannot stand inside #expect)
        breaker.recordFailure(now: 0)
        allowed = breaker.allow(now: 1000)
        #expect(allowed)
        breaker.recordFailure(now: 1000)
        #expect(breaker.state == .open)
        allowed = breaker.allow(now: 1999)
        #expect(!allowed)
        allowed = breaker.allow(now: 2000)
        #expect(allowed)
    }

    @Test func successesResetTheConsecutiveCount() {
        var breaker = CircuitBreaker(policy: BreakerPolicy(failureThreshold: 2, coolDownMilliseconds: 1000))
        breaker.recordFailure(now: 0)
        breaker.recordSuccess()
        breaker.recordFailure(now: 1)
        #expect(breaker.state == .closed)
    }

    @Test func tokenBucketLetsABurstThroughThenSpacesCalls() {
        var bucket = TokenBucket(ratePerSecond: 2, burst: 2)
        let waits = [bucket.reserve(now: 0), bucket.reserve(now: 0), bucket.reserve(now: 0), bucket.reserve(now: 0), bucket.reserve(now: 10_000)]
        #expect(waits == [0, 0, 500, 1000, 0]) // a burst, then spaced and queued behind the previous waiter; refilled later (capped)
    }

    @Test func backoffDoublesUpToTheCapAndRetryAfterWins() {
        let policy = RetryPolicy(maxRetries: 5, baseMilliseconds: 100, maxMilliseconds: 1000)
        #expect((1...5).map { policy.delay(attempt: $0) } == [100, 200, 400, 800, 1000])
        #expect(policy.delay(attempt: 1, retryAfterMilliseconds: 700) == 700)
        #expect(policy.delay(attempt: 1, retryAfterMilliseconds: 60_000) == 1000)
        #expect(RetryPolicy.retryAfter(" 3 ") == 3000)
        #expect(RetryPolicy.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == nil)
        #expect(RetryPolicy.isRetryable(status: 429) && RetryPolicy.isRetryable(status: 503))
        #expect(!RetryPolicy.isRetryable(status: 404) && !RetryPolicy.isRetryable(status: 400))
    }

    // MARK: URL templates and answers

    @Test func urlTemplatesPercentEncodeAndNeedEveryVariable() throws {
        let template = try URLTemplate("https://p/x?f={first_name}&d={domain}", allowed: URLTemplate.variables(.person))
        #expect(template.expand(["first_name": "Zoë & Co", "domain": "acme.io"]) == "https://p/x?f=Zo%C3%AB%20%26%20Co&d=acme.io")
        #expect(template.expand(["first_name": "A"]) == nil)
    }

    @Test func fieldMappingReadsDottedPathsAndArrayIndexes() {
        let body = Array(#"{"name":"Acme","metrics":{"employees":250},"emails":[{"value":"a@acme.io"}],"geo":{"cc":null}}"#.utf8)
        let fields = FieldMapping.extract(body, mapping: ["name": "name", "employees": "metrics.employees",
                                                          "email": "emails.0.value", "country": "geo.cc", "industry": "nope.x"])
        #expect(fields == ["name": "Acme", "employees": "250", "email": "a@acme.io"])
        #expect(FieldMapping.extract(Array("<html>".utf8), mapping: ["name": "name"]) == nil)
    }

    // MARK: the enriched event

    static let emails = EmailDirectory(freeDomains: ["gmail.com"], disposableDomains: ["mailinator.com"], rolePrefixes: ["info"])

    static func enriched(email: String?, company: String? = nil, domain: String? = nil, first: String? = "Ada", last: String? = "Lovelace") -> LeadEnriched {
        let lead = LeadCaptured(leadID: "lead-1", email: email, firstName: first, lastName: last, company: company, companyDomain: domain,
                                capturedAt: "2026-12-07T10:00:00Z")
        return Enricher.enrich(lead, emails: emails, companies: CompanyDirectory([]), at: lead.capturedAt)
    }

    @Test func atTheStageACacheHitIsCompleteAMissIsPartialAndNothingToAskIsNone() throws {
        let config = try EnrichmentConfig.parse(yaml: Self.companyYAML)
        let record = CompanyCacheRecord(domain: "acme.io", provider: "co", company: CompanyInfo(domain: "acme.io", name: "Acme", employees: 250),
                                        fetchedAt: 1, expiresAt: 2)
        let hit = ProviderEnrichment.atStage(Self.enriched(email: "ada@acme.io"), config: config) { $0 == "acme.io" ? record : nil }
        #expect(hit.enrichment == .complete)
        #expect(hit.company?.name == "Acme" && hit.profile.employees == 250 && hit.companySource == "co")
        let miss = ProviderEnrichment.atStage(Self.enriched(email: "ada@other.io"), config: config) { _ in nil }
        #expect(miss.enrichment == .partial && miss.company == nil)
        let free = ProviderEnrichment.atStage(Self.enriched(email: "ada@gmail.com"), config: config) { _ in nil }
        #expect(free.enrichment == EnrichmentStatus.none)
    }

    @Test func aLeadWithoutContactButWithACompanyIsLookedUpByThePersonProvider() throws {
        let config = try EnrichmentConfig.parse(yaml: Self.companyYAML)
        let lead = Self.enriched(email: "x@mailinator.com", company: "Acme", domain: "acme.io")
        #expect(!lead.contactAvailable)
        #expect(ProviderEnrichment.personQuery(lead, config: config) == ["email": "x@mailinator.com", "first_name": "Ada", "last_name": "Lovelace",
                                                                            "company": "Acme", "domain": "acme.io"])
        let found = ProviderEnrichment.apply(person: .found(["email": "Ada.Lovelace@ACME.io"]), provider: "pe", to: lead, emails: Self.emails)
        #expect(found.contactAvailable && found.contactSource == "pe")
        #expect(found.profile.email == "ada.lovelace@acme.io" && found.emailClass == .corporate)
        let notFound = ProviderEnrichment.apply(person: .notFound, provider: "pe", to: lead, emails: Self.emails)
        #expect(!notFound.contactAvailable && notFound.contactSource == nil)
        // A disposable address found is no contact info either.
        let disposable = ProviderEnrichment.apply(person: .found(["email": "y@mailinator.com"]), provider: "pe", to: lead, emails: Self.emails)
        #expect(!disposable.contactAvailable)
        // Without a company there is nothing to ask; with contact info nothing to find.
        #expect(ProviderEnrichment.personQuery(Self.enriched(email: "x@mailinator.com"), config: config) == nil)
        #expect(ProviderEnrichment.personQuery(Self.enriched(email: "ada@acme.io"), config: config) == nil)
    }

    @Test func cacheRecordsExpireAndRoundTrip() throws {
        let record = try #require(CompanyCacheRecord.from(.found(["name": "Acme", "employees": "250.0", "country": "de"]), domain: "acme.io",
                                                          provider: "co", now: 1000, ttl: 500))
        #expect(record.company == CompanyInfo(domain: "acme.io", name: "Acme", employees: 250, country: "DE"))
        #expect(record.isFresh(now: 1499) && !record.isFresh(now: 1500))
        #expect(CompanyCacheRecord.decode(record.encoded()) == record)
        #expect(CompanyCacheRecord.from(.notFound, domain: "x.io", provider: "co", now: 0, ttl: 1)?.company == nil)
        #expect(CompanyCacheRecord.from(.failed(.timeout), domain: "x.io", provider: "co", now: 0, ttl: 1) == nil)
    }

    @Test func theNewFieldsRoundTripThroughBothDecoders() throws {
        var lead = Self.enriched(email: "ada@acme.io")
        lead.enrichment = .partial
        lead.contactSource = "pe"
        lead.companySource = "co"
        let event = CloudEvent(id: "e1", source: "t", type: TopicCatalog.enriched, time: lead.enrichedAt, subject: lead.leadID, data: lead)
        let bytes = EventCoding.encode(event)
        let decoded = try bytes.withUnsafeBytes { EventDecoder.decode(LeadEnriched.self, from: $0, expectedType: TopicCatalog.enriched) }.get()
        #expect(decoded.data == lead)
        let foundation = try JSONDecoder().decode(CloudEvent<LeadEnriched>.self, from: Data(bytes))
        #expect(foundation.data == lead)
    }
}
