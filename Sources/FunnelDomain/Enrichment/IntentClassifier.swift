/// Finds a lead's ``Intent`` from its normalised profile (pure; no I/O). The first that applies:
///
/// 1. `spam` — ``SpamSignature``: test addresses, keyboard-mash or repeated-character names, a
///    phone whose country code contradicts `country` on a non-company address.
/// 2. `competitor` — the e-mail or company domain (or a parent domain), or the company name, is
///    on `competitors.txt`.
/// 3. `analyst` — the same against `analyst-firms.txt`, or a title naming an industry analyst.
///    An "Analyst" title alone is a job at a buyer company and stays `buyer`.
/// 4. `partner` — the same against `partners.txt`, or a title or form text asking for a partnership
///    (`Channel Partner Manager`, "become a reseller"); a bare "Partner" title (law firms,
///    consultancies) stays `buyer`.
/// 5. `student` — an academic e-mail domain (`.edu`, `.edu.<cc>`, `.ac.<cc>`, `edu.<cc>`) unless
///    the title is staff with seniority (an IT director at a university buys), or a student title
///    (`Student`, `Intern`, `PhD candidate`) unless it is a manager's (`Student Success Manager`).
/// 6. `job_seeker` — a title or form text looking for work (`Looking for opportunities`,
///    `Open to work`, "my CV").
/// 7. `buyer` otherwise.
public enum IntentClassifier {
    public static func classify(_ profile: LeadCaptured, emailClass: EmailClass, emailDomain: String?,
                                directory: IntentDirectory) -> IntentFinding {
        if let spam = SpamSignature.find(profile, emailClass: emailClass) { return IntentFinding(.spam, spam) }
        let domains = [emailDomain, profile.companyDomain].compactMap { $0 }
        let name = profile.company.map(CompanyName.init)
        func listed(_ list: IntentList, _ what: String) -> String? {
            for domain in domains { if let hit = list.domain(covering: domain) { return "\(what) domain \(hit)" } }
            if let name, let hit = list.name(matching: name) { return "\(what) name \(hit)" }
            return nil
        }
        if let hit = listed(directory.competitors, "competitor") { return IntentFinding(.competitor, hit) }
        if let hit = listed(directory.analystFirms, "analyst firm") { return IntentFinding(.analyst, hit) }
        let title = profile.jobTitle.map(TitleWords.init)
        if let title, let cue = title.firstPhrase(of: analystTitles) { return IntentFinding(.analyst, "title: \(cue)") }
        if let hit = listed(directory.partners, "partner") { return IntentFinding(.partner, hit) }
        if let title, let cue = title.firstPhrase(of: partnerTitles) { return IntentFinding(.partner, "title: \(cue)") }
        let text = formText(profile)
        if let cue = text?.firstPhrase(of: partnerText) { return IntentFinding(.partner, "form text: \(cue)") }
        let staff = title.map { $0.containsAny(seniorWords) } ?? false
        if let academic = emailDomain.flatMap(academicSuffix), !staff { return IntentFinding(.student, "academic domain (\(academic))") }
        if let title, !staff, let cue = title.firstPhrase(of: studentTitles) { return IntentFinding(.student, "title: \(cue)") }
        if let title, let cue = title.firstPhrase(of: jobSeekerTitles) { return IntentFinding(.jobSeeker, "title: \(cue)") }
        if let cue = text?.firstPhrase(of: jobSeekerText) { return IntentFinding(.jobSeeker, "form text: \(cue)") }
        return .buyer
    }

    /// `.edu`, `.edu.au`, `.ac.uk`, `edu.pl`-style suffixes of an academic domain, or nil.
    public static func academicSuffix(_ domain: String) -> String? {
        let labels = domain.split(separator: ".")
        guard labels.count >= 2, let last = labels.last else { return nil }
        if last == "edu" { return ".edu" }
        let second = labels[labels.count - 2]
        if last.count == 2, second == "edu" || second == "ac" { return ".\(second).\(last)" }
        return nil
    }

    /// Attribute values a form may carry free text in (`message`, `comment`, …).
    static func formText(_ profile: LeadCaptured) -> TitleWords? {
        guard let attributes = profile.attributes, !attributes.isEmpty else { return nil }
        let text = ["message", "comment", "comments", "notes", "note", "inquiry", "enquiry", "inquiry_type", "reason", "subject", "interest"]
            .compactMap { attributes[$0] }.joined(separator: " . ")
        return text.isEmpty ? nil : TitleWords(text)
    }

    static let seniorWords: Set<String> = [
        "manager", "director", "head", "chief", "vp", "president", "professor", "dean", "officer", "cio", "cto", "ceo", "cfo",
        "administrator", "coordinator", "founder", "owner",
    ]
    static let analystTitles: Phrases = ["industry analyst", "analyst firm"]
    static let partnerTitles: Phrases = ["channel partner", "partner manager", "partnerships", "partnership", "alliances", "alliance manager",
                                "reseller", "channel manager"]
    static let partnerText: Phrases = ["become a partner", "partner program", "partnership", "reseller", "resell", "white label", "referral partner"]
    static let studentTitles: Phrases = ["student", "intern", "internship", "undergraduate", "phd candidate", "phd student", "doctoral candidate",
                                "mba candidate", "graduate student", "trainee", "apprentice"]
    static let jobSeekerTitles: Phrases = ["looking for", "seeking", "job seeker", "jobseeker", "open to work", "unemployed", "between jobs",
                                  "job hunting", "career change", "available for", "actively looking"]
    static let jobSeekerText: Phrases = ["my cv", "my resume", "my résumé", "job application", "apply for", "applying for", "open position",
                                "job opening", "vacancy", "vacancies", "are you hiring", "looking for a job", "internship"]
}

/// A text as lower-case words, to find phrases on word boundaries (`intern` is not in `internal`).
struct TitleWords {
    let words: [Substring]

    init(_ text: String) {
        words = text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) })
    }

    func containsAny(_ set: Set<String>) -> Bool {
        words.contains { set.contains(String($0)) }
    }

    /// The first of `phrases` that occurs as whole words, in the order given.
    func firstPhrase(of phrases: Phrases) -> String? {
        for (text, parts) in phrases.items where parts.count <= words.count {
            for start in 0...(words.count - parts.count) where words[start] == parts[0] {
                if parts.indices.allSatisfy({ words[start + $0] == parts[$0] }) { return text }
            }
        }
        return nil
    }
}

/// Cue phrases split into words once (a list literal: `["looking for", "open to work"]`).
struct Phrases: ExpressibleByArrayLiteral, Sendable {
    let items: [(text: String, words: [Substring])]

    init(arrayLiteral elements: String...) {
        items = elements.map { ($0, $0.split(separator: " ")) }
    }
}
