/// A small JSON parser for the hot paths: behavioural events (`funnel.lead.activity.v1`) are
/// the bulk of the scorer's input, and request bodies the bulk of the ingest's work. It handles well-formed input only; anything unusual
/// (a duplicate key, a type the payload does not expect, invalid JSON) returns nil and the
/// caller falls back to `JSONDecoder`, which produces the precise field error. So both paths
/// accept exactly the same events.
public enum FastJSON {
    /// Not `indirect`: objects and arrays already hold their children out of line, and an
    /// indirect enum would box every value (one allocation per string or number).
    public enum Value: Sendable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
        case object([(String, Value)])
        case array([Value])

        public subscript(key: String) -> Value? {
            guard case .object(let fields) = self else { return nil }
            return fields.first { $0.0 == key }?.1
        }
        public var string: String? { if case .string(let s) = self { s } else { nil } }
        public var number: Double? { if case .number(let d) = self { d } else { nil } }
    }

    /// The value of well-formed JSON (strict grammar, UTF-8 checked), or nil for anything
    /// else, including what this parser leaves to `JSONDecoder` (duplicate keys, `\u` escapes,
    /// nesting deeper than 32).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Value? {
        var parser = Parser(bytes: bytes.bindMemory(to: UInt8.self))
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipSpace()
        return parser.index == parser.bytes.count ? value : nil
    }

    /// JSON's number grammar: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?` (Double alone
    /// would take `01`, `+1` or `1.`).
    static func isJSONNumber(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        func digits() -> Int { let start = i; while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }; return i - start }
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count else { return false }
        if b[i] == 0x30 { i += 1 } else if digits() == 0 { return false }
        if i < b.count, b[i] == UInt8(ascii: ".") { i += 1; guard digits() > 0 else { return false } }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == b.count
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        mutating func skipSpace() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 { index += 1 }
        }

        mutating func value(depth: Int) -> Value? {
            guard depth < 32 else { return nil }
            skipSpace()
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var fields: [(String, Value)] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(fields) }
                while true {
                    skipSpace()
                    guard let key = string() else { return nil }
                    // Duplicates and very wide objects are left to JSONDecoder: the scan for a
                    // duplicate stays small (a hostile body of 400k keys would make it quadratic).
                    guard fields.count < 64, !fields.contains(where: { $0.0 == key }) else { return nil }
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                    index += 1
                    guard let v = value(depth: depth + 1) else { return nil }
                    fields.append((key, v))
                    skipSpace()
                    guard index < bytes.count else { return nil }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(fields) }
                    return nil
                }
            case UInt8(ascii: "["):
                index += 1
                var items: [Value] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                while true {
                    guard let v = value(depth: depth + 1) else { return nil }
                    items.append(v)
                    skipSpace()
                    guard index < bytes.count else { return nil }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                    return nil
                }
            case UInt8(ascii: "\""):
                return string().map(Value.string)
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            default:
                return number()
            }
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let n = word.utf8CodeUnitCount
            guard index + n <= bytes.count else { return false }
            for i in 0..<n where bytes[index + i] != word.utf8Start[i] { return false }
            index += n
            return true
        }

        mutating func number() -> Value? {
            let start = index
            while index < bytes.count, let c = Optional(bytes[index]),
                  (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                index += 1
            }
            guard index > start, FastJSON.isJSONNumber(UnsafeBufferPointer(rebasing: bytes[start..<index])) else { return nil }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            return Double(text).map(Value.number)
        }

        /// A string without escapes is sliced directly; escapes other than the simple ones
        /// (and any control character) make it give up.
        mutating func string() -> String? {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            index += 1
            let start = index
            var plain = true, ascii = true
            let base = bytes.baseAddress!
            while index < bytes.count {
                index = JSONScan.plainRun(base, from: index, to: bytes.count, stopAtNonASCII: ascii)
                guard index < bytes.count else { break }
                let c = bytes[index]
                if c == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    if plain { return String(utf8: slice, knownASCII: ascii) }
                    return unescape(slice)
                }
                if c < 0x20 { return nil }
                if c >= 0x80 { ascii = false }
                if c == UInt8(ascii: "\\") { plain = false; index += 2; continue }
                index += 1
            }
            return nil
        }

        func unescape(_ slice: UnsafeBufferPointer<UInt8>) -> String? {
            var out: [UInt8] = []
            out.reserveCapacity(slice.count)
            var i = 0
            while i < slice.count {
                let c = slice[i]
                guard c == UInt8(ascii: "\\") else { out.append(c); i += 1; continue }
                guard i + 1 < slice.count else { return nil }
                switch slice[i + 1] {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                default: return nil // \u escapes: JSONDecoder handles surrogates and the rest
                }
                i += 2
            }
            return out.withUnsafeBufferPointer { String(utf8: $0) }
        }
    }
}

extension FastJSON {
    /// `CloudEvent<LeadActivity>` from well-formed JSON, or nil (then use `JSONDecoder`).
    static func activityEvent(_ bytes: UnsafeRawBufferPointer) -> CloudEvent<LeadActivity>? {
        event(bytes) { data in
            guard let leadID = data["lead_id"]?.string, let typeName = data["type"]?.string,
                  let activityType = ActivityType(rawValue: typeName), let occurredAt = data["occurred_at"]?.string,
                  let url = optionalString(data["url"]), let activitySource = optionalString(data["source"]),
                  let attributes = optionalStringMap(data["attributes"]) else { return nil }
            return LeadActivity(leadID: leadID, type: activityType, url: url, occurredAt: occurredAt,
                                source: activitySource, attributes: attributes)
        }
    }

    /// `CloudEvent<LeadEnriched>` from well-formed JSON, or nil (then use `JSONDecoder`).
    static func enrichedEvent(_ bytes: UnsafeRawBufferPointer) -> CloudEvent<LeadEnriched>? {
        event(bytes) { data in
            guard let leadID = data["lead_id"]?.string, let profileValue = data["profile"],
                  let profile = leadCaptured(profileValue),
                  let className = data["email_class"]?.string, let emailClass = EmailClass(rawValue: className),
                  case .bool(let contactAvailable)? = data["contact_available"],
                  let company = optionalObject(data["company"], companyInfo),
                  let enrichedAt = data["enriched_at"]?.string,
                  let intentName = optionalString(data["intent"]), let intentReason = optionalString(data["intent_reason"]),
                  let accountID = optionalString(data["account_id"]), let accountOwner = optionalString(data["account_owner"]),
                  let matchName = optionalString(data["match"]), let matchConfidence = optionalNumber(data["match_confidence"])
            else { return nil }
            var enriched = LeadEnriched(leadID: leadID, profile: profile, emailClass: emailClass, contactAvailable: contactAvailable,
                                        company: company, enrichedAt: enrichedAt)
            if let intentName { guard let known = Intent(rawValue: intentName) else { return nil }; enriched.intent = known }
            if let matchName { guard let known = AccountMatchKind(rawValue: matchName) else { return nil }; enriched.match = known }
            enriched.intentReason = intentReason
            enriched.accountID = accountID
            enriched.accountOwner = accountOwner
            enriched.matchConfidence = matchConfidence
            // A value of another type or an unknown name: not for this reader (the full decoder names the field).
            guard let enrichmentName = optionalString(data["enrichment"]), let contactSource = optionalString(data["contact_source"]),
                  let companySource = optionalString(data["company_source"]), let countrySourceName = optionalString(data["country_source"])
            else { return nil }
            if let enrichmentName { guard let known = EnrichmentStatus(rawValue: enrichmentName) else { return nil }; enriched.enrichment = known }
            if let countrySourceName { guard let known = CountrySource(rawValue: countrySourceName) else { return nil }; enriched.countrySource = known }
            enriched.contactSource = contactSource
            enriched.companySource = companySource
            return enriched
        }
    }

    /// `CloudEvent<LeadScored>` from well-formed JSON, or nil (then use `JSONDecoder`): the
    /// router's main input.
    static func scoredEvent(_ bytes: UnsafeRawBufferPointer) -> CloudEvent<LeadScored>? {
        event(bytes) { d in
            guard let leadID = d["lead_id"]?.string, let model = d["model"]?.string, let total = d["total"]?.number,
                  let fit = d["fit"]?.number, let interest = d["interest"]?.number, let grade = d["grade"]?.string,
                  let quadrant = d["quadrant"]?.string, case .array(let ruleValues)? = d["rules"],
                  let disqualification = optionalString(d["disqualification"]),
                  case .bool(let profileKnown)? = d["profile_known"], case .bool(let contactAvailable)? = d["contact_available"],
                  let emailClassName = optionalString(d["email_class"]),
                  let accountOwner = optionalString(d["account_owner"]), let source = optionalString(d["source"]),
                  let campaign = optionalString(d["campaign"]), let scoredAt = d["scored_at"]?.string,
                  let mql = optionalBool(d["mql"]), let interestBand = optionalString(d["interest_band"]),
                  let country = optionalString(d["country"]), let employees = optionalInt(d["employees"]),
                  let industry = optionalString(d["industry"]), let accountTier = optionalString(d["account_tier"]),
                  let intentName = optionalString(d["intent"]),
                  total.isFinite, fit.isFinite, interest.isFinite else { return nil }
            var emailClass: EmailClass?
            if let name = emailClassName { guard let known = EmailClass(rawValue: name) else { return nil }; emailClass = known }
            var rules: [RuleContribution] = []
            rules.reserveCapacity(ruleValues.count)
            for r in ruleValues {
                guard case .object = r, let rule = r["rule"]?.string, let category = r["category"]?.string,
                      let points = r["points"]?.number, points.isFinite, let events = optionalInt(r["events"]) else { return nil }
                rules.append(RuleContribution(rule: rule, category: category, points: points, events: events))
            }
            var scores: [NamedScore]?
            switch d["scores"] {
            case nil, .null?: scores = nil
            case .array(let values)?:
                var named: [NamedScore] = []
                for v in values {
                    guard case .object = v, let name = v["name"]?.string, let t = v["total"]?.number, let f = v["fit"]?.number,
                          let i = v["interest"]?.number, let g = v["grade"]?.string, let q = v["quadrant"]?.string,
                          let b = v["interest_band"]?.string, t.isFinite, f.isFinite, i.isFinite else { return nil }
                    named.append(NamedScore(name: name, total: t, fit: f, interest: i, grade: g, quadrant: q, interestBand: b))
                }
                scores = named
            default: return nil
            }
            var scored = LeadScored(leadID: leadID, model: model, total: total, fit: fit, interest: interest, grade: grade,
                                    quadrant: quadrant, rules: rules, disqualification: disqualification, profileKnown: profileKnown,
                                    contactAvailable: contactAvailable, emailClass: emailClass, accountOwner: accountOwner,
                                    source: source, campaign: campaign, scoredAt: scoredAt)
            scored.mql = mql
            scored.interestBand = interestBand
            scored.scores = scores
            scored.country = country
            scored.employees = employees
            scored.industry = industry
            scored.accountTier = accountTier
            if let intentName { guard let known = Intent(rawValue: intentName) else { return nil }; scored.intent = known }
            return scored
        }
    }

    /// `CloudEvent<AssignmentCommand>` (funnel-route's internal topic), or nil.
    static func assignmentCommandEvent(_ bytes: UnsafeRawBufferPointer) -> CloudEvent<AssignmentCommand>? {
        event(bytes) { d in
            guard let kindName = d["kind"]?.string, let kind = AssignmentCommand.Kind(rawValue: kindName), let pool = d["pool"]?.string,
                  let leadID = d["lead_id"]?.string, let requestID = d["request_id"]?.string, let rep = optionalString(d["rep"]),
                  let at = d["at"]?.string, let priorityName = optionalString(d["priority"]), let rule = optionalString(d["rule"]),
                  let hops = optionalInt(d["hops"]), let exclude = optionalString(d["exclude"]) else { return nil }
            var priority: RoutingRule.Priority?
            if let name = priorityName { guard let known = RoutingRule.Priority(rawValue: name) else { return nil }; priority = known }
            return AssignmentCommand(kind: kind, pool: pool, leadID: leadID, requestID: requestID, rep: rep, at: at,
                                     priority: priority, rule: rule, hops: hops, exclude: exclude)
        }
    }

    /// `CloudEvent<AssignmentAnswer>` (funnel-route's internal topic), or nil.
    static func assignmentAnswerEvent(_ bytes: UnsafeRawBufferPointer) -> CloudEvent<AssignmentAnswer>? {
        event(bytes) { d in
            guard let leadID = d["lead_id"]?.string, let requestID = d["request_id"]?.string, let pool = d["pool"]?.string,
                  let owner = optionalString(d["owner"]), let queue = optionalString(d["queue"]), let reason = d["reason"]?.string,
                  let at = d["at"]?.string, let sequence = optionalInt(d["sequence"]) else { return nil }
            return AssignmentAnswer(leadID: leadID, requestID: requestID, pool: pool, owner: owner, queue: queue, reason: reason,
                                    at: at, sequence: sequence.map(Int64.init))
        }
    }

    /// A stage change (`funnel report` reads millions); events with BANT go to JSONDecoder.
    static func stageChangedEvent(_ bytes: UnsafeRawBufferPointer) -> CloudEvent<StageChanged>? {
        event(bytes) { d in
            guard let leadID = d["lead_id"]?.string, let toName = d["to"]?.string, let to = Stage(rawValue: toName),
                  let fromName = optionalString(d["from"]), let reason = d["reason"]?.string,
                  let owner = optionalString(d["owner"]), let source = optionalString(d["source"]),
                  let campaign = optionalString(d["campaign"]), let occurredAt = d["occurred_at"]?.string,
                  let routingVersion = optionalString(d["routing_version"]), let pool = optionalString(d["pool"]),
                  let secondsToAccept = optionalInt(d["seconds_to_accept"]), d["bant"] == nil else { return nil }
            var from: Stage?
            if let fromName { guard let known = Stage(rawValue: fromName) else { return nil }; from = known }
            var score: ScoreSnapshot?
            switch d["score"] {
            case nil, .null?: score = nil
            case .object?:
                let v = d["score"]!
                guard let total = v["total"]?.number, total.isFinite, let grade = v["grade"]?.string,
                      let quadrant = v["quadrant"]?.string, let model = v["model"]?.string else { return nil }
                score = ScoreSnapshot(total: total, grade: grade, quadrant: quadrant, model: model)
            default: return nil
            }
            var changed = StageChanged(leadID: leadID, from: from, to: to, reason: reason, owner: owner, score: score,
                                       source: source, campaign: campaign, occurredAt: occurredAt)
            changed.routingVersion = routingVersion
            changed.pool = pool
            changed.secondsToAccept = secondsToAccept
            return changed
        }
    }

    /// An optional boolean.
    static func optionalBool(_ value: Value?) -> Bool?? {
        optional(value) { v in if case .bool(let b) = v { b } else { nil } }
    }

    /// The CloudEvents envelope around a payload read by `payload` (nil: not for this parser).
    private static func event<P>(_ bytes: UnsafeRawBufferPointer, _ payload: (Value) -> P?) -> CloudEvent<P>? {
        guard let root = parse(bytes), case .object = root,
              let specversion = root["specversion"]?.string, let id = root["id"]?.string, let source = root["source"]?.string,
              let type = root["type"]?.string, let time = root["time"]?.string, let subject = root["subject"]?.string,
              let contentType = root["datacontenttype"]?.string, let schema = root["dataschema"]?.string,
              let dataValue = root["data"], case .object = dataValue, let data = payload(dataValue) else { return nil }
        var event = CloudEvent(id: id, source: source, type: type, time: time, subject: subject, data: data)
        event.specversion = specversion
        event.datacontenttype = contentType
        event.dataschema = schema
        return event
    }

    private static func leadCaptured(_ v: Value) -> LeadCaptured? {
        guard case .object = v, let leadID = v["lead_id"]?.string, let capturedAt = v["captured_at"]?.string,
              let email = optionalString(v["email"]), let firstName = optionalString(v["first_name"]),
              let lastName = optionalString(v["last_name"]), let jobTitle = optionalString(v["job_title"]),
              let company = optionalString(v["company"]), let companyDomain = optionalString(v["company_domain"]),
              let employees = optionalInt(v["employees"]), let industry = optionalString(v["industry"]),
              let country = optionalString(v["country"]), let phone = optionalString(v["phone"]),
              let source = optionalString(v["source"]), let campaign = optionalString(v["campaign"]),
              let consent = optionalObject(v["consent"], { c -> LeadCaptured.Consent? in
                  guard case .bool(let email)? = c["email"] else { return nil }
                  return LeadCaptured.Consent(email: email)
              }),
              let attributes = optionalStringMap(v["attributes"]) else { return nil }
        return LeadCaptured(leadID: leadID, email: email, firstName: firstName, lastName: lastName, jobTitle: jobTitle,
                            company: company, companyDomain: companyDomain, employees: employees, industry: industry,
                            country: country, phone: phone, source: source, campaign: campaign, consent: consent,
                            attributes: attributes, capturedAt: capturedAt)
    }

    private static func companyInfo(_ v: Value) -> CompanyInfo? {
        guard let domain = v["domain"]?.string, let name = optionalString(v["name"]), let employees = optionalInt(v["employees"]),
              let industry = optionalString(v["industry"]), let country = optionalString(v["country"]),
              let owner = optionalString(v["owner"]) else { return nil }
        return CompanyInfo(domain: domain, name: name, employees: employees, industry: industry, country: country, owner: owner)
    }

    /// An optional field as `decodeIfPresent` reads it: `.some(nil)` for absent or null,
    /// `.some(x)` when `read` accepts the value, nil (not for this parser) otherwise.
    static func optional<T>(_ value: Value?, _ read: (Value) -> T?) -> T?? {
        switch value {
        case nil, .null?: return .some(nil)
        case let present?: return read(present).map { .some($0) }
        }
    }

    /// An optional object that `read` accepts (see ``optional(_:_:)``).
    static func optionalObject<T>(_ value: Value?, _ read: (Value) -> T?) -> T?? {
        optional(value) { v in
            guard case .object = v else { return nil }
            return read(v)
        }
    }

    /// An optional whole number JSONDecoder reads as `Int` exactly (below 2^53, where a
    /// Double holds every integer).
    static func optionalInt(_ value: Value?) -> Int?? {
        optional(value) { v in
            guard case .number(let d) = v, d == d.rounded(.towardZero), abs(d) < 9_007_199_254_740_992 else { return nil }
            return Int(d)
        }
    }

    /// An optional finite number.
    static func optionalNumber(_ value: Value?) -> Double?? {
        optional(value) { v in
            guard case .number(let d) = v, d.isFinite else { return nil }
            return d
        }
    }

    /// An optional object of strings.
    public static func optionalStringMap(_ value: Value?) -> [String: String]?? {
        optional(value) { v in
            guard case .object(let fields) = v else { return nil }
            var map: [String: String] = [:]
            for (k, field) in fields { guard let s = field.string else { return nil }; map[k] = s }
            return map
        }
    }

    /// An optional string.
    public static func optionalString(_ value: Value?) -> String?? {
        optional(value) { $0.string }
    }
}

extension String {
    /// The string of `bytes` if they are valid UTF-8, else nil. ASCII (checked here, or
    /// `knownASCII` from a scan the caller made) needs no validation; for the rest this calls
    /// `String(validating:as:)`, which is generic and not specialised in this module: it looked
    /// up type metadata on every call (5 % of the scorer's loop when used for every string).
    public init?(utf8 bytes: UnsafeBufferPointer<UInt8>, knownASCII: Bool = false) {
        if knownASCII || !bytes.contains(where: { $0 >= 0x80 }) {
            self = String(decoding: bytes, as: UTF8.self)
        } else if let valid = String(validating: bytes, as: UTF8.self) {
            self = valid
        } else {
            return nil
        }
    }
}
