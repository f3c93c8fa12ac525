import Foundation

/// `deploy/enrichment.yaml`: the HTTP data providers funnel-enrich may call and the shared
/// company cache. Parsed through ``ConfigNode``: every error is `enrichment.yaml:LINE: field: reason`,
/// unknown keys are errors. API keys are never in the file: a provider names the environment
/// variable that holds its key (`api_key: { env: CLEARBIT_KEY }`).
public struct EnrichmentConfig: Sendable, Equatable {
    public static let fileName = "enrichment.yaml"

    public var version: String
    /// How long a cached provider answer (found or not found) is used, in milliseconds.
    public var cacheTTLMilliseconds: Int64
    /// Every provider in the file, enabled or not, in file order.
    public var providers: [ProviderConfig]

    public init(version: String, cacheTTLMilliseconds: Int64, providers: [ProviderConfig]) {
        self.version = version; self.cacheTTLMilliseconds = cacheTTLMilliseconds; self.providers = providers
    }

    /// The first enabled provider of `kind` (one of each kind is consulted).
    public func provider(_ kind: ProviderConfig.Kind) -> ProviderConfig? {
        providers.first { $0.enabled && $0.kind == kind }
    }

    /// No provider is enabled: funnel-enrich runs offline, as before.
    public var isOffline: Bool { !providers.contains(where: \.enabled) }

    public static let disabled = EnrichmentConfig(version: "none", cacheTTLMilliseconds: 86_400_000, providers: [])
}

/// One provider: what it looks up, how to call it and how to read its answer.
public struct ProviderConfig: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Company by domain (`{domain}` in the URL).
        case company
        /// Person / contact by e-mail (`{email}`) or by name and company (`{first_name}`,
        /// `{last_name}`, `{company}`, `{domain}`).
        case person
    }

    /// Label of the provider's metrics and the `contact_source` / `company_source` value.
    public var name: String
    public var kind: Kind
    public var enabled: Bool
    public var url: URLTemplate
    /// Where the key goes: a header (`Authorization`) with an optional prefix (`Bearer `).
    public var apiKey: APIKey?
    public var timeoutMilliseconds: Int64
    /// Calls per second (token bucket of `burst` tokens); nil: unlimited.
    public var ratePerSecond: Double?
    public var burst: Int
    public var retries: RetryPolicy
    public var breaker: BreakerPolicy
    /// Answer field → JSON path in the provider's answer (`company.metrics.employees`).
    public var fields: [String: String]
    /// HTTP statuses that mean "the provider knows nothing of it" (cached as not found).
    public var notFoundStatuses: Set<Int>

    public struct APIKey: Sendable, Equatable {
        /// The environment variable holding the key (the key is never in the file).
        public var env: String
        public var header: String
        public var prefix: String
        public init(env: String, header: String = "Authorization", prefix: String = "Bearer ") {
            self.env = env; self.header = header; self.prefix = prefix
        }
    }

    /// The fields a provider's mapping may fill, per kind.
    public static func targets(_ kind: Kind) -> Set<String> {
        switch kind {
        case .company: ["name", "employees", "industry", "country"]
        case .person: ["email", "phone", "job_title"]
        }
    }

    public init(name: String, kind: Kind, enabled: Bool, url: URLTemplate, apiKey: APIKey? = nil,
                timeoutMilliseconds: Int64 = 2000, ratePerSecond: Double? = nil, burst: Int = 1,
                retries: RetryPolicy = RetryPolicy(), breaker: BreakerPolicy = BreakerPolicy(),
                fields: [String: String], notFoundStatuses: Set<Int> = [404]) {
        self.name = name; self.kind = kind; self.enabled = enabled; self.url = url; self.apiKey = apiKey
        self.timeoutMilliseconds = timeoutMilliseconds; self.ratePerSecond = ratePerSecond; self.burst = burst
        self.retries = retries; self.breaker = breaker; self.fields = fields; self.notFoundStatuses = notFoundStatuses
    }
}

extension EnrichmentConfig {
    /// Parses and checks the whole file (providers disabled are checked too).
    public static func parse(yaml: String, file: String = fileName) throws(ConfigFileError) -> EnrichmentConfig {
        let root = try ConfigNode.parse(yaml: yaml, file: file)
        var version: String?
        var ttl: Int64 = 86_400_000
        var providers: [ProviderConfig] = []
        for (key, node) in try root.entries(allowed: ["version", "cache", "providers"]) {
            switch key {
            case "version": version = try node.nonEmptyString()
            case "cache":
                for (k, v) in try node.entries(allowed: ["ttl"]) where k == "ttl" { ttl = try v.duration() }
            default:
                for item in try node.items() {
                    let provider = try parseProvider(item)
                    if providers.contains(where: { $0.name == provider.name }) {
                        throw try item.required("name").error("duplicate provider name '\(provider.name)'")
                    }
                    providers.append(provider)
                }
            }
        }
        guard let version else { throw root.error("missing key 'version'") }
        return EnrichmentConfig(version: version, cacheTTLMilliseconds: ttl, providers: providers)
    }

    private static func parseProvider(_ node: ConfigNode) throws(ConfigFileError) -> ProviderConfig {
        let entries = try node.entries(allowed: ["name", "kind", "enabled", "url", "api_key", "timeout", "rate_limit",
                                                 "retries", "breaker", "fields", "not_found"])
        let nameNode = try node.required("name")
        let name = try nameNode.nonEmptyString()
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw nameNode.error("letters, digits, - and _ only (it labels metrics)")
        }
        let kindNode = try node.required("kind")
        guard let kind = ProviderConfig.Kind(rawValue: try kindNode.string()) else {
            throw kindNode.error("expected company or person")
        }
        let urlNode = try node.required("url")
        let url: URLTemplate
        let urlText = try urlNode.nonEmptyString()
        do throws(URLTemplate.Invalid) { url = try URLTemplate(urlText, allowed: URLTemplate.variables(kind)) } catch {
            throw urlNode.error(error.description)
        }
        var provider = ProviderConfig(name: name, kind: kind, enabled: false, url: url, fields: [:])
        for (key, value) in entries {
            switch key {
            case "enabled": provider.enabled = try value.bool()
            case "api_key":
                var key = ProviderConfig.APIKey(env: "")
                for (k, v) in try value.entries(allowed: ["env", "header", "prefix"]) {
                    switch k {
                    case "env":
                        key.env = try v.nonEmptyString()
                        guard key.env.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber || $0 == "_") }) else {
                            throw v.error("the NAME of an environment variable (A-Z, 0-9, _), never the key itself")
                        }
                    case "header": key.header = try v.nonEmptyString()
                    default: key.prefix = try v.string()
                    }
                }
                guard !key.env.isEmpty else { throw value.error("missing key 'env'") }
                provider.apiKey = key
            case "timeout":
                provider.timeoutMilliseconds = try value.duration()
                guard provider.timeoutMilliseconds > 0 else { throw value.error("must be longer than 0") }
            case "rate_limit":
                for (k, v) in try value.entries(allowed: ["per_second", "burst"]) {
                    if k == "per_second" {
                        let rate = try v.double()
                        guard rate > 0 else { throw v.error("must be a number > 0") }
                        provider.ratePerSecond = rate
                    } else { provider.burst = try v.int(min: 1) }
                }
            case "retries":
                for (k, v) in try value.entries(allowed: ["max", "backoff", "max_backoff"]) {
                    switch k {
                    case "max": provider.retries.maxRetries = try v.int(min: 0)
                    case "backoff": provider.retries.baseMilliseconds = try v.duration()
                    default: provider.retries.maxMilliseconds = try v.duration()
                    }
                }
            case "breaker":
                for (k, v) in try value.entries(allowed: ["failures", "cool_down"]) {
                    if k == "failures" { provider.breaker.failureThreshold = try v.int(min: 1) } else {
                        provider.breaker.coolDownMilliseconds = try v.duration()
                    }
                }
            case "fields":
                let allowed = ProviderConfig.targets(kind)
                for (k, v) in try value.entries(allowed: allowed) { provider.fields[k] = try v.nonEmptyString() }
                guard !provider.fields.isEmpty else { throw value.error("map at least one field") }
            case "not_found":
                var statuses: Set<Int> = []
                for item in try value.items() {
                    let status = try item.int(min: 100)
                    guard status < 600 else { throw item.error("an HTTP status (100-599)") }
                    statuses.insert(status)
                }
                provider.notFoundStatuses = statuses
            default: break // name, kind, url: read above
            }
        }
        guard !provider.fields.isEmpty else { throw node.error("missing key 'fields'") }
        return provider
    }
}

extension ConfigNode {
    /// A duration in milliseconds: `250ms`, `2s`, `5m`, `24h`, `7d`.
    public func duration() throws(ConfigFileError) -> Int64 {
        let text = try nonEmptyString()
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            if let value = Int64(number), value >= 0 { return value * factor }
        }
        throw error("expected a duration such as 250ms, 2s, 5m, 24h or 7d")
    }
}
