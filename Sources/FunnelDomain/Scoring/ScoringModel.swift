import Foundation
import Yams

/// A versioned, declarative scoring model (`deploy/scoring-model.yaml`). Pure data; the
/// ``Scorer`` evaluates it. The README documents every key with a worked example.
public struct ScoringModel: Codable, Sendable, Equatable {
    /// Stamped on every scored event; change it with every edit.
    public var version: String
    /// MQL at or above `threshold`; an MQL stays one until its total drops below `release`.
    public var mql: MQLRule
    /// How often (in event time) leads whose bands change only because time passed are re-scored.
    public var sweepIntervalHours: Double
    /// The primary score.
    public var primary: ScoreDefinition
    /// Further named scores (e.g. one per product line), computed side by side.
    public var scores: [ScoreDefinition]

    public struct MQLRule: Codable, Sendable, Equatable {
        public var threshold: Double
        public var release: Double
    }

    /// Fit points needed for grades A, B, C (below C is D).
    public struct Grades: Codable, Sendable, Equatable {
        public var a: Double
        public var b: Double
        public var c: Double
    }

    /// Interest points at or above which interest is `high` or `medium` (else `low`).
    public struct InterestBands: Codable, Sendable, Equatable {
        public var high: Double
        public var medium: Double
    }

    /// One score: fit, interest and negative rules with their bands.
    public struct ScoreDefinition: Codable, Sendable, Equatable {
        public var name: String
        public var grades: Grades
        public var interestBands: InterestBands
        /// Default half-life of interest points, in days (`nil`: no decay).
        public var halfLifeDays: Double?
        public var fit: [ProfileRule]
        public var interest: [ActivityRule]
        public var negative: [NegativeRule]
    }

    /// A rule on a profile field: exactly one of `equals`, `in`, `regex`, `range` (inclusive).
    public struct ProfileRule: Codable, Sendable, Equatable {
        public var name: String
        public var field: String
        public var equals: String?
        public var `in`: [String]?
        public var regex: String?
        public var range: [Double]?
        public var points: Double
    }

    /// Points per activity of a type, decayed by age, summed within a window and capped.
    public struct ActivityRule: Codable, Sendable, Equatable {
        public var name: String
        public var activity: ActivityType
        public var points: Double
        public var cap: Double?
        /// Only activities at most this old count.
        public var windowDays: Double?
        /// Overrides the score's half-life for this rule (0: no decay).
        public var halfLifeDays: Double?
        /// Only activities whose `duration_seconds` attribute is at least this (visit duration).
        public var minDurationSeconds: Int?

        enum CodingKeys: String, CodingKey {
            case name, activity, points, cap, windowDays = "window_days", halfLifeDays = "half_life_days"
            case minDurationSeconds = "min_duration_seconds"
        }
    }

    /// A negative signal: a profile condition (`field` + `equals`/`in`/`regex`) or an
    /// activity (`activity`, optionally within `window_days`); `points` or `disqualify`.
    public struct NegativeRule: Codable, Sendable, Equatable {
        public var name: String
        public var field: String?
        public var equals: String?
        public var `in`: [String]?
        public var regex: String?
        public var activity: ActivityType?
        public var windowDays: Double?
        public var points: Double?
        public var disqualify: String?

        enum CodingKeys: String, CodingKey {
            case name, field, equals, `in`, regex, activity, windowDays = "window_days", points, disqualify
        }
    }

    /// Profile fields a rule may test (plus any key of the lead's `attributes`).
    public static let fields: Set<String> = [
        "job_title", "seniority", "department", "company", "company_domain", "employees", "company_size",
        "industry", "country", "region", "email_class", "address_type", "email_domain", "source", "campaign",
        "intent", "intent_reason", "account_id", "match",
    ]

    public var mqlThreshold: Double { mql.threshold }
    /// Rules in all scores.
    public var ruleCount: Int { allScores.reduce(0) { $0 + $1.fit.count + $1.interest.count + $1.negative.count } }
    /// Every score, the primary one first.
    public var allScores: [ScoreDefinition] { [primary] + scores }
}

// MARK: - Parsing with located errors

extension ScoringModel {
    /// What is wrong with a model, where: `file:line: path: reason`.
    public struct ModelError: Error, CustomStringConvertible, Equatable {
        public var file: String
        public var line: Int?
        public var path: String
        public var reason: String
        public var description: String {
            "\(file)\(line.map { ":\($0)" } ?? ""): \(path.isEmpty ? "" : path + ": ")\(reason)"
        }
    }

    /// The YAML layout: the primary score's keys sit at the top level.
    private struct File: Decodable {
        var version: String
        var mql: MQLRule
        var sweepIntervalHours: Double?
        var grades: Grades
        var interestBands: InterestBands
        var halfLifeDays: Double?
        var fit: [ProfileRule]?
        var interest: [ActivityRule]?
        var negative: [NegativeRule]?
        var scores: [Named]?

        struct Named: Decodable {
            var name: String
            var grades: Grades?
            var interestBands: InterestBands?
            var halfLifeDays: Double?
            var fit: [ProfileRule]?
            var interest: [ActivityRule]?
            var negative: [NegativeRule]?
            enum CodingKeys: String, CodingKey {
                case name, grades, interestBands = "interest_bands", halfLifeDays = "half_life_days", fit, interest, negative
            }
        }
        enum CodingKeys: String, CodingKey {
            case version, mql, sweepIntervalHours = "sweep_interval_hours", grades, interestBands = "interest_bands"
            case halfLifeDays = "half_life_days", fit, interest, negative, scores
        }
    }

    /// Parses and checks a model. Errors name `file`, the line and the field.
    public static func parse(yaml: String, file: String = "scoring-model.yaml") throws(ModelError) -> ScoringModel {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            let line = (error as? YamlError).flatMap(YAMLLocation.line(of:))
            throw ModelError(file: file, line: line, path: "", reason: "not valid YAML: \(error)")
        }
        func fail(_ path: [CodingKey], _ reason: String) -> ModelError {
            ModelError(file: file, line: root.flatMap { YAMLLocation.line(of: path, in: $0) },
                       path: YAMLLocation.describe(path), reason: reason)
        }
        let decoded: File
        do { decoded = try YAMLDecoder().decode(File.self, from: yaml) } catch let error as DecodingError {
            switch error {
            case .keyNotFound(let key, let context): throw fail(context.codingPath, "missing key '\(key.stringValue)'")
            case .typeMismatch(let type, let context): throw fail(context.codingPath, "expected \(Self.typeName(type)): \(context.debugDescription)")
            case .valueNotFound(let type, let context): throw fail(context.codingPath, "expected \(Self.typeName(type))")
            case .dataCorrupted(let context): throw fail(context.codingPath, context.debugDescription)
            @unknown default: throw fail([], "\(error)")
            }
        } catch { throw fail([], "\(error)") }

        let primary = ScoreDefinition(name: "primary", grades: decoded.grades, interestBands: decoded.interestBands,
                                      halfLifeDays: decoded.halfLifeDays, fit: decoded.fit ?? [],
                                      interest: decoded.interest ?? [], negative: decoded.negative ?? [])
        let named = (decoded.scores ?? []).map {
            ScoreDefinition(name: $0.name, grades: $0.grades ?? decoded.grades, interestBands: $0.interestBands ?? decoded.interestBands,
                            halfLifeDays: $0.halfLifeDays ?? decoded.halfLifeDays, fit: $0.fit ?? [],
                            interest: $0.interest ?? [], negative: $0.negative ?? [])
        }
        let model = ScoringModel(version: decoded.version, mql: decoded.mql, sweepIntervalHours: decoded.sweepIntervalHours ?? 1,
                                 primary: primary, scores: named)
        if let problem = model.problems().first { throw fail(problem.path, problem.reason) }
        return model
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type, is Int.Type: "a number"
        case is String.Type: "a string"
        case is Array<Any>.Type: "a list"
        default: "\(type)"
        }
    }

    /// Semantic checks beyond the types, each with the path of the offending key.
    func problems() -> [(path: [CodingKey], reason: String)] {
        var out: [(path: [CodingKey], reason: String)] = []
        func key(_ s: String) -> CodingKey { YAMLLocation.Key(s) }
        func index(_ i: Int) -> CodingKey { YAMLLocation.Key(i) }
        if version.isEmpty { out.append(([key("version")], "must not be empty")) }
        if mql.release > mql.threshold { out.append(([key("mql"), key("release")], "must not exceed mql.threshold (\(mql.threshold))")) }
        if sweepIntervalHours <= 0 { out.append(([key("sweep_interval_hours")], "must be > 0")) }
        var names = Set<String>()
        for (s, score) in allScores.enumerated() {
            let base: [CodingKey] = s == 0 ? [] : [key("scores"), index(s - 1)]
            if s > 0 && !names.insert(score.name).inserted { out.append((base + [key("name")], "duplicate score name '\(score.name)'")) }
            let g = score.grades
            if !(g.a >= g.b && g.b >= g.c) { out.append((base + [key("grades")], "needs a >= b >= c")) }
            if score.interestBands.high < score.interestBands.medium { out.append((base + [key("interest_bands")], "needs high >= medium")) }
            if let h = score.halfLifeDays, h < 0 { out.append((base + [key("half_life_days")], "must be >= 0")) }
            var ruleNames = Set<String>()
            for (i, rule) in score.fit.enumerated() {
                let at = base + [key("fit"), index(i)]
                if !ruleNames.insert(rule.name).inserted { out.append((at + [key("name")], "duplicate rule name '\(rule.name)'")) }
                let conditions = [rule.equals != nil, rule.in != nil, rule.regex != nil, rule.range != nil].filter { $0 }.count
                if conditions != 1 { out.append((at, "rule '\(rule.name)' needs exactly one of equals, in, regex, range")) }
                if !Self.isKnownField(rule.field) { out.append((at + [key("field")], "unknown field '\(rule.field)' (known: \(Self.fields.sorted().joined(separator: ", ")), or attributes.NAME)")) }
                if let regex = rule.regex, (try? NSRegularExpression(pattern: regex)) == nil { out.append((at + [key("regex")], "invalid regular expression")) }
                if let range = rule.range, range.count != 2 || range[0] > range[1] { out.append((at + [key("range")], "needs [min, max] with min <= max")) }
            }
            for (i, rule) in score.interest.enumerated() {
                let at = base + [key("interest"), index(i)]
                if !ruleNames.insert(rule.name).inserted { out.append((at + [key("name")], "duplicate rule name '\(rule.name)'")) }
                if let cap = rule.cap, cap < 0 { out.append((at + [key("cap")], "must be >= 0")) }
                if let w = rule.windowDays, w <= 0 { out.append((at + [key("window_days")], "must be > 0")) }
                if let h = rule.halfLifeDays, h < 0 { out.append((at + [key("half_life_days")], "must be >= 0")) }
            }
            for (i, rule) in score.negative.enumerated() {
                let at = base + [key("negative"), index(i)]
                if !ruleNames.insert(rule.name).inserted { out.append((at + [key("name")], "duplicate rule name '\(rule.name)'")) }
                if (rule.field != nil) == (rule.activity != nil) { out.append((at, "rule '\(rule.name)' needs exactly one of field, activity")) }
                if (rule.points != nil) == (rule.disqualify != nil) { out.append((at, "rule '\(rule.name)' needs exactly one of points, disqualify")) }
                if let field = rule.field {
                    if !Self.isKnownField(field) { out.append((at + [key("field")], "unknown field '\(field)'")) }
                    let conditions = [rule.equals != nil, rule.in != nil, rule.regex != nil].filter { $0 }.count
                    if conditions != 1 { out.append((at, "rule '\(rule.name)' needs exactly one of equals, in, regex")) }
                }
                if let regex = rule.regex, (try? NSRegularExpression(pattern: regex)) == nil { out.append((at + [key("regex")], "invalid regular expression")) }
                if let reason = rule.disqualify {
                    for field in Self.placeholders(reason) where !Self.isKnownField(field) {
                        out.append((at + [key("disqualify")], "unknown field '{\(field)}' in the reason"))
                    }
                }
            }
        }
        return out
    }

    /// The `{field}` placeholders of a disqualification reason (`"competitor: {intent_reason}"`).
    static func placeholders(_ text: String) -> [String] {
        var out: [String] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return out
    }

    static func isKnownField(_ field: String) -> Bool {
        fields.contains(field) || (field.hasPrefix("attributes.") && field.count > "attributes.".count)
    }
}

/// Finds the line of a key path in a composed YAML document.
enum YAMLLocation {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(_ string: String) { stringValue = string }
        init(_ int: Int) { stringValue = "\(int)"; intValue = int }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { self.init(intValue) }
    }

    /// `fit[2].points`
    static func describe(_ path: [CodingKey]) -> String {
        var out = ""
        for key in path {
            if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : "." + key.stringValue }
        }
        return out
    }

    /// The 1-based line of the deepest node of `path` that exists in `root`.
    static func line(of path: [CodingKey], in root: Node) -> Int? {
        var node = root
        var line = node.mark?.line
        for key in path {
            if let i = key.intValue, case .sequence(let seq) = node, i < seq.count {
                node = seq[i]
            } else if case .mapping(let map) = node, let pair = map.first(where: { $0.key.string == key.stringValue }) {
                line = pair.key.mark?.line ?? line
                node = pair.value
                continue
            } else {
                break
            }
            line = node.mark?.line ?? line
        }
        return line
    }

    static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }
}
