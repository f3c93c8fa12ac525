import Yams

/// A versioned scoring model (`deploy/scoring-model.yaml`). Pure data; see ``Scorer``.
public struct ScoringModel: Codable, Sendable, Equatable {
    public var version: String
    /// Total at or above which a lead is marketing qualified.
    public var mqlThreshold: Double
    /// Fit points needed for grades A, B, C (below C is D).
    public var grades: Grades
    /// Interest points at or above which interest counts as high (for the quadrant).
    public var highInterest: Double
    public var fit: [ProfileRule]
    public var interest: [ActivityRule]
    public var negative: [NegativeRule]

    public struct Grades: Codable, Sendable, Equatable {
        public var a: Double
        public var b: Double
        public var c: Double
    }

    /// A rule on a profile field: `equals`, `in`, `regex` or `range` (inclusive).
    public struct ProfileRule: Codable, Sendable, Equatable {
        public var name: String
        public var field: String
        public var equals: String?
        public var `in`: [String]?
        public var regex: String?
        public var range: [Double]?
        public var points: Double
    }

    /// Points per activity of a type, capped per type.
    public struct ActivityRule: Codable, Sendable, Equatable {
        public var name: String
        public var activity: ActivityType
        public var points: Double
        public var cap: Double?
    }

    /// A negative signal: a profile condition or an activity; points or outright disqualification.
    public struct NegativeRule: Codable, Sendable, Equatable {
        public var name: String
        public var field: String?
        public var equals: String?
        public var `in`: [String]?
        public var regex: String?
        public var activity: ActivityType?
        public var points: Double?
        public var disqualify: String?
    }

    enum CodingKeys: String, CodingKey {
        case version, mqlThreshold = "mql_threshold", grades, highInterest = "high_interest", fit, interest, negative
    }

    /// Parses and checks a model; errors name the field.
    public static func parse(yaml: String) throws -> ScoringModel {
        let model = try YAMLDecoder().decode(ScoringModel.self, from: yaml)
        for (i, rule) in model.fit.enumerated() {
            let conditions = [rule.equals != nil, rule.in != nil, rule.regex != nil, rule.range != nil].filter { $0 }.count
            guard conditions == 1 else { throw ModelError("fit[\(i)] (\(rule.name)): exactly one of equals, in, regex, range") }
            if let regex = rule.regex, (try? Regex(regex)) == nil { throw ModelError("fit[\(i)] (\(rule.name)): invalid regex") }
            if let range = rule.range, range.count != 2 { throw ModelError("fit[\(i)] (\(rule.name)): range needs [min, max]") }
        }
        for (i, rule) in model.negative.enumerated() {
            guard (rule.field != nil) != (rule.activity != nil) else { throw ModelError("negative[\(i)] (\(rule.name)): exactly one of field, activity") }
            guard (rule.points != nil) != (rule.disqualify != nil) else { throw ModelError("negative[\(i)] (\(rule.name)): exactly one of points, disqualify") }
        }
        return model
    }

    public struct ModelError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
