import Yams

/// A nurture sequence (`deploy/followup.yaml`).
public struct FollowupSequence: Codable, Sendable, Equatable {
    public struct Step: Codable, Sendable, Equatable {
        public var name: String
        public var template: String
        public var afterDays: Int
        enum CodingKeys: String, CodingKey { case name, template, afterDays = "after_days" }
    }
    public var sequence: String
    public var steps: [Step]

    public static func parse(yaml: String) throws -> FollowupSequence {
        try YAMLDecoder().decode(FollowupSequence.self, from: yaml)
    }
}
