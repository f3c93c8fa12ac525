import Foundation

/// `deploy/followup.yaml`: the nurture sequences, the pressure rules (consent, frequency cap,
/// quiet hours) and the reps' alert addresses. Parsed through ``ConfigNode``: every error is
/// `followup.yaml:LINE: path: reason`, unknown keys are errors.
public struct FollowupConfig: Sendable, Equatable {
    /// Stamped on every e-mail command; change it with every edit.
    public var version: String
    /// Sequences in file order: a lead entering nurture joins the first whose entry criteria match.
    public var sequences: [FollowupSequence]
    /// At most `emails` marketing e-mails per lead in any rolling `days` days, across sequences.
    public var frequencyCap: FrequencyCap
    /// No marketing e-mail in these hours of the lead's local time (nil: any time).
    public var quietHours: QuietHours?
    /// Whether a lead without a recorded consent (`consent` absent) may be e-mailed.
    /// `consent.email == false` is never e-mailed, whatever this says.
    public var mailWithoutConsent: Bool
    /// Days a tracking (open, click) link works; unsubscribe links work `unsubscribeLinkDays`.
    public var trackingLinkDays: Int
    public var unsubscribeLinkDays: Int
    /// Rep alerts (hot leads, SLA reminders): the template and each rep's address.
    public var alerts: Alerts

    public struct FrequencyCap: Sendable, Equatable {
        public var emails: Int
        public var days: Int
        public init(emails: Int, days: Int) { self.emails = emails; self.days = days }
        public var windowMilliseconds: Int64 { Int64(days) * 86_400_000 }
    }

    /// Quiet hours `start` (minutes after local midnight) to `end` (next morning when smaller).
    public struct QuietHours: Sendable, Equatable {
        public var start: Int
        public var end: Int
        public init(start: Int, end: Int) { self.start = start; self.end = end }
    }

    public struct Alerts: Sendable, Equatable {
        public var template: String
        /// rep id (as in routing.yaml) → address.
        public var reps: [String: Rep]
        /// Where alerts for a rep without an address go (nil: not sent, counted).
        public var fallback: String?
        public struct Rep: Sendable, Equatable {
            public var email: String
            public var name: String?
            public init(email: String, name: String? = nil) { self.email = email; self.name = name }
        }
        public init(template: String, reps: [String: Rep] = [:], fallback: String? = nil) {
            self.template = template; self.reps = reps; self.fallback = fallback
        }
    }

    public init(version: String, sequences: [FollowupSequence], frequencyCap: FrequencyCap = .init(emails: 3, days: 7),
                quietHours: QuietHours? = .init(start: 20 * 60, end: 8 * 60), mailWithoutConsent: Bool = true,
                trackingLinkDays: Int = 90, unsubscribeLinkDays: Int = 365, alerts: Alerts = Alerts(template: "rep-alert")) {
        self.version = version; self.sequences = sequences; self.frequencyCap = frequencyCap; self.quietHours = quietHours
        self.mailWithoutConsent = mailWithoutConsent; self.trackingLinkDays = trackingLinkDays
        self.unsubscribeLinkDays = unsubscribeLinkDays; self.alerts = alerts
    }

    /// Every template name the configuration uses (checked against `deploy/templates/` at start).
    public var templateNames: Set<String> {
        Set(sequences.flatMap { $0.steps.map(\.template) } + [alerts.template])
    }

    /// The first sequence whose entry criteria `entry` meets.
    public func sequence(for entry: FollowupEntry) -> FollowupSequence? {
        sequences.first { $0.entry.matches(entry) }
    }

    public func sequence(named name: String) -> FollowupSequence? { sequences.first { $0.name == name } }
}

/// A nurture sequence: who enters, the steps, and when a lead leaves.
public struct FollowupSequence: Sendable, Equatable {
    public var name: String
    public var entry: EntryCriteria
    public var steps: [Step]
    /// After the last step, send it again after this delay, until the lead exits (nil: stop).
    public var repeatLast: Delay?
    public var exit: ExitCriteria

    public struct Step: Sendable, Equatable {
        public var name: String
        public var template: String
        /// Delay after the previous step (after entry for the first).
        public var delay: Delay
        public init(name: String, template: String, delay: Delay) { self.name = name; self.template = template; self.delay = delay }
    }

    /// `0h`, `36h`, `3d`, `2 business days` (Monday to Friday, counted in the lead's time zone);
    /// `30s` and `15m` for demos and tests.
    public struct Delay: Sendable, Equatable {
        public var milliseconds: Int64
        public var businessDays: Int
        public init(milliseconds: Int64 = 0, businessDays: Int = 0) { self.milliseconds = milliseconds; self.businessDays = businessDays }
        public static func hours(_ n: Int) -> Delay { Delay(milliseconds: Int64(n) * 3_600_000) }
        public static func days(_ n: Int) -> Delay { Delay(milliseconds: Int64(n) * 86_400_000) }

        /// `from` plus the delay; business days skip Saturdays and Sundays in `zone`.
        public func after(_ from: Int64, in zone: TimeZone) -> Int64 {
            var t = from + milliseconds
            var remaining = businessDays
            while remaining > 0 {
                t += 86_400_000
                if WorkingHours.local(t, in: zone).weekday <= 5 { remaining -= 1 }
            }
            return t
        }
    }

    /// Entry: the stage entered (always nurture today), where it came from, the score's quadrant
    /// and grade, the lead's source and campaign. An absent criterion matches anything.
    public struct EntryCriteria: Sendable, Equatable {
        public var stages: Set<Stage> = [.nurture]
        public var from: Set<Stage>?
        public var quadrants: Set<String>?
        public var grades: Set<String>?
        public var sources: Set<String>?
        public var campaigns: Set<String>?
        public init() {}

        public func matches(_ e: FollowupEntry) -> Bool {
            guard stages.contains(e.stage) else { return false }
            if let from { guard let f = e.from, from.contains(f) else { return false } }
            if let quadrants { guard let q = e.quadrant, quadrants.contains(q) else { return false } }
            if let grades { guard let g = e.grade, grades.contains(g) else { return false } }
            if let sources { guard let s = e.source, sources.contains(s) else { return false } }
            if let campaigns { guard let c = e.campaign, campaigns.contains(c) else { return false } }
            return true
        }
    }

    /// Exit: the lead reaches one of these stages, or one of these activities arrives.
    public struct ExitCriteria: Sendable, Equatable {
        public var stages: Set<Stage> = [.mql, .sal, .sql, .customer, .lost, .disqualified]
        public var activities: Set<ActivityType> = [.emailReply, .unsubscribe, .emailBounced]
        public init() {}
    }

    public init(name: String, entry: EntryCriteria = .init(), steps: [Step], repeatLast: Delay? = nil, exit: ExitCriteria = .init()) {
        self.name = name; self.entry = entry; self.steps = steps; self.repeatLast = repeatLast; self.exit = exit
    }
}

/// What a lead's entry into a stage offers the entry criteria.
public struct FollowupEntry: Sendable, Equatable {
    public var stage: Stage
    public var from: Stage?
    public var quadrant: String?
    public var grade: String?
    public var source: String?
    public var campaign: String?
    public init(stage: Stage, from: Stage? = nil, quadrant: String? = nil, grade: String? = nil, source: String? = nil, campaign: String? = nil) {
        self.stage = stage; self.from = from; self.quadrant = quadrant; self.grade = grade; self.source = source; self.campaign = campaign
    }
}

// MARK: Parsing

extension FollowupConfig {
    /// Parses and checks `followup.yaml`; errors name the file, line and field.
    public static func parse(yaml: String, file: String = "followup.yaml") throws(ConfigFileError) -> FollowupConfig {
        let root = try ConfigNode.parse(yaml: yaml, file: file)
        var config = FollowupConfig(version: "", sequences: [])
        var sawSequences = false
        for (key, node) in try root.entries(allowed: ["version", "sequences", "frequency_cap", "quiet_hours", "consent", "links", "alerts"]) {
            switch key {
            case "version": config.version = try node.nonEmptyString()
            case "sequences":
                sawSequences = true
                for item in try node.items() { config.sequences.append(try parseSequence(item)) }
                if config.sequences.isEmpty { throw node.error("at least one sequence is needed") }
                var names = Set<String>()
                for (index, s) in config.sequences.enumerated() where !names.insert(s.name).inserted {
                    throw try node.items()[index].error("duplicate sequence name '\(s.name)'")
                }
            case "frequency_cap":
                var cap = FrequencyCap(emails: 3, days: 7)
                for (k, v) in try node.entries(allowed: ["emails", "days"]) {
                    if k == "emails" { cap.emails = try v.int(min: 1) } else { cap.days = try v.int(min: 1) }
                }
                config.frequencyCap = cap
            case "quiet_hours":
                if case .scalar(let s) = node.node, ["off", "none", "false"].contains(s.string.lowercased()) { config.quietHours = nil; break }
                var start: Int?, end: Int?
                for (k, v) in try node.entries(allowed: ["start", "end"]) {
                    let minutes = try clockTime(v)
                    if k == "start" { start = minutes } else { end = minutes }
                }
                guard let start, let end else { throw node.error("needs start and end (e.g. { start: \"20:00\", end: \"08:00\" }) or off") }
                guard start != end else { throw node.error("start and end must differ") }
                config.quietHours = QuietHours(start: start, end: end)
            case "consent":
                for (_, v) in try node.entries(allowed: ["mail_without_consent"]) { config.mailWithoutConsent = try v.bool() }
            case "links":
                for (k, v) in try node.entries(allowed: ["tracking_days", "unsubscribe_days"]) {
                    if k == "tracking_days" { config.trackingLinkDays = try v.int(min: 1) } else {
                        config.unsubscribeLinkDays = try v.int(min: 30) // CAN-SPAM: an opt-out works 30 days at least
                    }
                }
            case "alerts": config.alerts = try parseAlerts(node)
            default: break
            }
        }
        if config.version.isEmpty { throw root.error("missing key 'version'") }
        if !sawSequences { throw root.error("missing key 'sequences'") }
        return config
    }

    static func parseSequence(_ node: ConfigNode) throws(ConfigFileError) -> FollowupSequence {
        var sequence = FollowupSequence(name: "", steps: [])
        for (key, value) in try node.entries(allowed: ["name", "when", "steps", "repeat_last_every", "exit"]) {
            switch key {
            case "name": sequence.name = try value.nonEmptyString()
            case "when": sequence.entry = try parseEntry(value)
            case "steps":
                var names = Set<String>()
                for item in try value.items() {
                    var step = FollowupSequence.Step(name: "", template: "", delay: .init())
                    var sawDelay = false
                    for (k, v) in try item.entries(allowed: ["name", "template", "delay"]) {
                        switch k {
                        case "name": step.name = try v.nonEmptyString()
                        case "template":
                            step.template = try v.nonEmptyString()
                            guard step.template.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                                throw v.error("a template name is letters, digits, '-' and '_' (the file is templates/NAME.subject.mustache …)")
                            }
                        default:
                            step.delay = try parseDelay(v)
                            sawDelay = true
                        }
                    }
                    if step.name.isEmpty { throw item.error("missing key 'name'") }
                    if step.template.isEmpty { throw item.error("missing key 'template'") }
                    if !sawDelay { throw item.error("missing key 'delay' (e.g. 0h, 3d, 2 business days)") }
                    if !names.insert(step.name).inserted { throw item.error("duplicate step name '\(step.name)'") }
                    sequence.steps.append(step)
                }
                if sequence.steps.isEmpty { throw value.error("at least one step is needed") }
            case "repeat_last_every":
                let delay = try parseDelay(value)
                guard delay.milliseconds > 0 || delay.businessDays > 0 else { throw value.error("must be longer than 0") }
                sequence.repeatLast = delay
            default:
                var exit = FollowupSequence.ExitCriteria()
                for (k, v) in try value.entries(allowed: ["stages", "activities"]) {
                    if k == "stages" { exit.stages = try stages(v) } else {
                        var set = Set<ActivityType>()
                        for s in try v.strings() {
                            guard let type = ActivityType(rawValue: s) else { throw v.error("unknown activity '\(s)'") }
                            set.insert(type)
                        }
                        exit.activities = set
                    }
                }
                // Consent always wins: an unsubscribe or a hard bounce ends every sequence.
                exit.activities.formUnion([.unsubscribe, .emailBounced])
                sequence.exit = exit
            }
        }
        if sequence.name.isEmpty { throw node.error("missing key 'name'") }
        if sequence.steps.isEmpty { throw node.error("missing key 'steps'") }
        return sequence
    }

    static func parseEntry(_ node: ConfigNode) throws(ConfigFileError) -> FollowupSequence.EntryCriteria {
        var entry = FollowupSequence.EntryCriteria()
        for (key, value) in try node.entries(allowed: ["stage", "from", "quadrant", "grade", "source", "campaign"]) {
            switch key {
            case "stage":
                entry.stages = try stages(value)
                guard entry.stages == [.nurture] else { throw value.error("sequences start when a lead enters nurture (stage: nurture)") }
            case "from": entry.from = try stages(value)
            case "quadrant":
                let q = Set(try value.strings())
                if let bad = q.first(where: { !["hot", "fit", "engaged", "cold"].contains($0) }) {
                    throw value.error("unknown quadrant '\(bad)' (hot, fit, engaged, cold)")
                }
                entry.quadrants = q
            case "grade":
                let g = Set(try value.strings())
                if let bad = g.first(where: { !["A", "B", "C", "D"].contains($0) }) { throw value.error("unknown grade '\(bad)' (A, B, C, D)") }
                entry.grades = g
            case "source": entry.sources = Set(try value.strings())
            default: entry.campaigns = Set(try value.strings())
            }
        }
        return entry
    }

    static func stages(_ node: ConfigNode) throws(ConfigFileError) -> Set<Stage> {
        var out = Set<Stage>()
        for s in try node.strings() {
            guard let stage = Stage(rawValue: s) else {
                throw node.error("unknown stage '\(s)' (\(Stage.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            out.insert(stage)
        }
        return out
    }

    /// `30s`, `15m`, `12h`, `3d`, `2 business days`, `1 business day`.
    static func parseDelay(_ node: ConfigNode) throws(ConfigFileError) -> FollowupSequence.Delay {
        let text = try node.nonEmptyString().lowercased()
        let parts = text.split(separator: " ")
        if parts.count == 3, parts[1] == "business", let n = Int(parts[0]), n >= 0, parts[2] == "days" || parts[2] == "day" {
            return .init(businessDays: n)
        }
        if parts.count == 1, let unit = text.last, let n = Int64(text.dropLast()), n >= 0, n <= 100_000 {
            switch unit {
            case "s": return .init(milliseconds: n * 1000)
            case "m": return .init(milliseconds: n * 60_000)
            case "h": return .init(milliseconds: n * 3_600_000)
            case "d": return .init(milliseconds: n * 86_400_000)
            default: break
            }
        }
        throw node.error("'\(text)' is not a delay (30s, 15m, 36h, 3d, 2 business days)")
    }

    /// `"20:00"` → 1200.
    static func clockTime(_ node: ConfigNode) throws(ConfigFileError) -> Int {
        let parts = try node.string().split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) else {
            throw node.error("expected a time of day HH:MM")
        }
        return h * 60 + m
    }

    static func parseAlerts(_ node: ConfigNode) throws(ConfigFileError) -> Alerts {
        var alerts = Alerts(template: "rep-alert")
        for (key, value) in try node.entries(allowed: ["template", "reps", "fallback"]) {
            switch key {
            case "template": alerts.template = try value.nonEmptyString()
            case "fallback":
                let address = try value.nonEmptyString()
                guard Check.isEmail(address) else { throw value.error("'\(address)' is not an e-mail address") }
                alerts.fallback = address
            default:
                for (rep, entry) in try value.entries() {
                    var email = "", name: String?
                    for (k, v) in try entry.entries(allowed: ["email", "name"]) {
                        if k == "email" { email = try v.nonEmptyString() } else { name = try v.nonEmptyString() }
                    }
                    guard Check.isEmail(email) else { throw entry.error("needs an e-mail address (email: …)") }
                    alerts.reps[rep] = Alerts.Rep(email: email, name: name)
                }
            }
        }
        return alerts
    }
}
