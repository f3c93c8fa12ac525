@testable import FunnelDomain
import Testing

/// Intent as enrichment judges it, with the committed lists (deploy/data/: the e-mail lists,
/// competitors.txt, analyst-firms.txt, partners.txt) read the way funnel-enrich reads them.
@Suite struct IntentTests {
    static let intents: IntentDirectory = {
        do {
            return IntentDirectory(
                competitors: try IntentList.parse(EmailListsTests.text("competitors.txt"), file: "competitors.txt"),
                analystFirms: try IntentList.parse(EmailListsTests.text("analyst-firms.txt"), file: "analyst-firms.txt"),
                partners: try IntentList.parse(EmailListsTests.text("partners.txt"), file: "partners.txt"))
        } catch {
            fatalError("deploy/data/ intent lists do not load: \(error)")
        }
    }()

    /// A labelled lead: what was typed into the form, and the intent and evidence expected.
    struct Case: CustomTestStringConvertible, Sendable {
        var email: String?
        var first: String? = nil
        var last: String? = nil
        var title: String? = nil
        var company: String? = nil
        var companyDomain: String? = nil
        var phone: String? = nil
        var country: String? = nil
        var text: String? = nil
        var intent: Intent
        var reason: String?

        var testDescription: String { "\(email ?? "-") \(title ?? "") → \(intent.rawValue)" }

        var lead: LeadCaptured {
            LeadCaptured(leadID: "lead-1", email: email, firstName: first, lastName: last, jobTitle: title, company: company,
                         companyDomain: companyDomain, country: country, phone: phone,
                         attributes: text.map { ["message": $0] }, capturedAt: "2026-12-07T10:00:00Z")
        }
    }

    static let cases: [Case] = [
        // spam: signatures that stand on their own
        Case(email: "test@test.com", first: "Test", intent: .spam, reason: "test address (test@test)"),
        Case(email: "asdf@asdf.de", intent: .spam, reason: "test address (asdf@asdf)"),
        Case(email: "foo@bar.com", first: "Jane", intent: .spam, reason: "test address (foo@bar)"),
        Case(email: "qwerty@zxcvb.com", intent: .spam, reason: "keyboard-mash address"),
        Case(email: "aaaa@acme.example", first: "Ann", intent: .spam, reason: "repeated characters in the address"),
        Case(email: "jane@acme.example", first: "Sdfgh", last: "Jones", intent: .spam, reason: "keyboard-mash name"),
        Case(email: "jane@gmail.com", first: "Xkcdfg", intent: .spam, reason: "keyboard-mash name"),
        Case(email: "jane@gmail.com", first: "Hjkl", last: "Zxcvb", intent: .spam, reason: "keyboard-mash name"),
        Case(email: "jane@gmail.com", first: "Aaaaa", last: "Smith", intent: .spam, reason: "repeated characters in the name"),
        Case(email: "jane@gmail.com", first: "Test", last: "Test", intent: .spam, reason: "placeholder name"),
        Case(email: "j.doe@gmail.com", first: "Jane", phone: "+4930123456", country: "US", intent: .spam,
             reason: "phone country code does not match country US"),
        Case(email: "j.doe@gmail.com", phone: "+12125550123", country: "CA", intent: .spam,
             reason: "phone country code does not match country CA"),
        // look-alikes of spam that stay buyers
        Case(email: "m.wertheimer@acme.example", first: "Max", last: "Wertheimer", title: "CTO", intent: .buyer),
        Case(email: "h.hertz@acme.example", first: "Heinrich", last: "Hertz", intent: .buyer),
        Case(email: "aaron@acme.example", first: "Aaron", last: "Ng", intent: .buyer),
        Case(email: "test.engineer@acme.example", title: "Test Engineer", intent: .buyer),
        Case(email: "s.sample@acme.example", first: "Sue", last: "Sample", intent: .buyer),
        Case(email: "d.bar@acme.example", first: "Dana", last: "Bar", intent: .buyer),
        Case(email: "g.brzeczyszczykiewicz@acme.example", first: "Grzegorz", last: "Brzęczyszczykiewicz", intent: .buyer),
        Case(email: "llwyd@acme.example", first: "Rhys", last: "Llwyd", intent: .buyer),
        Case(email: "ada@acme.example", phone: "+4930123456", country: "US", intent: .buyer), // corporate: people travel
        Case(email: "ada@gmail.com", phone: "+4930123456", country: "DE", intent: .buyer),
        Case(email: "ada@gmail.com", phone: "+14165550123", country: "CA", intent: .buyer),
        // competitors: by domain (and parent domain), by company name without legal suffixes
        Case(email: "kim@rivalfunnel.example", title: "Head of Growth", intent: .competitor, reason: "competitor domain rivalfunnel.example"),
        Case(email: "kim@eu.leadsuite.example", intent: .competitor, reason: "competitor domain leadsuite.example"),
        Case(email: "kim@gmail.com", company: "LeadSuite, Inc.", intent: .competitor, reason: "competitor name Lead Suite"),
        Case(email: "kim@gmail.com", company: "Rival Funnel GmbH", intent: .competitor, reason: "competitor name Rival Funnel"),
        Case(email: "kim@gmail.com", companyDomain: "pipelinepro.example", intent: .competitor, reason: "competitor domain pipelinepro.example"),
        // look-alikes of competitors
        Case(email: "kim@notrivalfunnel.example", intent: .buyer),
        Case(email: "kim@rivalfunnel.example.com", intent: .buyer),
        Case(email: "kim@gmail.com", company: "Rival Funnels Marketing", intent: .buyer),
        // analyst firms: by domain and name; a title only when it says industry analyst
        Case(email: "jane@gartner.com", title: "VP Analyst", intent: .analyst, reason: "analyst firm domain gartner.com"),
        Case(email: "jane@uk.idc.com", title: "Research Manager", intent: .analyst, reason: "analyst firm domain idc.com"),
        Case(email: "jane@gmail.com", company: "Forrester Research, Inc.", intent: .analyst, reason: "analyst firm name Forrester Research"),
        Case(email: "jane@gmail.com", company: "Frost and Sullivan", intent: .analyst, reason: "analyst firm name Frost & Sullivan"),
        Case(email: "jane@gmail.com", title: "Independent Industry Analyst", intent: .analyst, reason: "title: industry analyst"),
        // an "Analyst" at a buyer company is a buyer
        Case(email: "jane@acme.example", title: "Data Analyst", intent: .buyer),
        Case(email: "jane@globex.example", title: "Senior Business Analyst", intent: .buyer),
        Case(email: "jane@acme.example", title: "Analyst Relations Manager", intent: .buyer),
        Case(email: "jane@gmail.com", title: "Financial Analyst", company: "Gartner Plumbing", intent: .buyer),
        // partners: list, partnership titles and form text
        Case(email: "bob@growthagency.example", intent: .partner, reason: "partner domain growthagency.example"),
        Case(email: "bob@gmail.com", company: "Integrate IT Ltd", intent: .partner, reason: "partner name Integrate IT"),
        Case(email: "bob@acme.example", title: "Channel Partner Manager", intent: .partner, reason: "title: channel partner"),
        Case(email: "bob@acme.example", title: "Head of Alliances", intent: .partner, reason: "title: alliances"),
        Case(email: "bob@acme.example", text: "We would like to become a reseller in Benelux", intent: .partner, reason: "form text: reseller"),
        // a partner of a law firm or a consultancy is a buyer
        Case(email: "bob@smithlaw.example", title: "Partner", intent: .buyer),
        Case(email: "bob@consult.example", title: "Managing Partner", intent: .buyer),
        // students: academic domains and titles
        Case(email: "jo@stanford.edu", intent: .student, reason: "academic domain (.edu)"),
        Case(email: "jo@ox.ac.uk", title: "DPhil Student", intent: .student, reason: "academic domain (.ac.uk)"),
        Case(email: "jo@uw.edu.pl", intent: .student, reason: "academic domain (.edu.pl)"),
        Case(email: "jo@student.unimelb.edu.au", intent: .student, reason: "academic domain (.edu.au)"),
        Case(email: "sam.student@gmail.com", title: "Student", intent: .student, reason: "title: student"),
        Case(email: "sam@gmail.com", title: "Marketing Intern", intent: .student, reason: "title: intern"),
        Case(email: "sam@gmail.com", title: "PhD Candidate", intent: .student, reason: "title: phd candidate"),
        // university staff, and titles that only look like students'
        Case(email: "it.director@stanford.edu", title: "IT Director", intent: .buyer),
        Case(email: "prof@mit.edu", title: "Professor of Marketing", intent: .buyer),
        Case(email: "sam@edtech.example", title: "Student Success Manager", intent: .buyer),
        Case(email: "sam@acme.example", title: "Internal Communications Specialist", intent: .buyer),
        Case(email: "sam@acme.edu.example", intent: .buyer),
        // job seekers: titles and form text
        Case(email: "pat@gmail.com", title: "Looking for new opportunities", intent: .jobSeeker, reason: "title: looking for"),
        Case(email: "pat@gmail.com", title: "Open to Work", intent: .jobSeeker, reason: "title: open to work"),
        Case(email: "pat@gmail.com", title: "Unemployed", intent: .jobSeeker, reason: "title: unemployed"),
        Case(email: "pat@gmail.com", title: "Seeking a marketing role", intent: .jobSeeker, reason: "title: seeking"),
        Case(email: "pat@gmail.com", text: "Please find my CV attached", intent: .jobSeeker, reason: "form text: my cv"),
        Case(email: "pat@gmail.com", text: "Are you hiring engineers in Berlin?", intent: .jobSeeker, reason: "form text: are you hiring"),
        // recruiters buy, and "looking for" a product is a buyer's text
        Case(email: "pat@acme.example", title: "Talent Acquisition Manager", intent: .buyer),
        Case(email: "pat@acme.example", title: "Head of Recruiting", intent: .buyer),
        Case(email: "pat@acme.example", text: "We are looking for a CRM for 40 sales reps", intent: .buyer),
        // plain buyers
        Case(email: "vera.vp@acme-software.example", first: "Vera", title: "VP Engineering", intent: .buyer),
        Case(email: "freelancer@gmail.com", title: "Freelance Consultant", intent: .buyer),
        Case(email: nil, phone: "+4930123456", intent: .buyer),
    ]

    @Test("at least 60 labelled leads, every intent among them, and buyer look-alikes")
    func coverage() {
        #expect(Self.cases.count >= 60)
        #expect(Set(Self.cases.map(\.intent)) == Set(Intent.allCases))
        #expect(Self.cases.filter { $0.intent == .buyer }.count >= 20)
    }

    @Test("each labelled lead gets its intent and evidence", arguments: cases)
    func labelled(_ c: Case) {
        let enriched = Enricher.enrich(c.lead, emails: EmailListsTests.directory, companies: CompanyDirectory([]),
                                       intents: Self.intents, at: "2026-12-07T10:00:00Z")
        #expect(enriched.intent == c.intent)
        #expect(enriched.intentReason == c.reason)
    }

    @Test("the evidence carries no personal data beyond the signature's own")
    func evidenceHasNoPersonalData() {
        for c in Self.cases {
            let finding = IntentClassifier.classify(c.lead, emailClass: EmailListsTests.directory.classify(c.email),
                                                    emailDomain: c.email?.split(separator: "@").last.map(String.init),
                                                    directory: Self.intents)
            // Spam evidence names the signature (`test address (test@test)`), which is the junk itself.
            guard let reason = finding.reason, finding.intent != .spam else { continue }
            for personal in [c.first, c.last, c.phone, c.text].compactMap({ $0 }) {
                #expect(!reason.lowercased().contains(personal.lowercased()), "\(reason) names \(personal)")
            }
            if let email = c.email { #expect(!reason.contains(email)) }
        }
    }

    @Test("academic suffixes: .edu, .edu.<cc>, .ac.<cc>; not .edu or .ac elsewhere")
    func academic() {
        #expect(IntentClassifier.academicSuffix("cs.stanford.edu") == ".edu")
        #expect(IntentClassifier.academicSuffix("cam.ac.uk") == ".ac.uk")
        #expect(IntentClassifier.academicSuffix("u-tokyo.ac.jp") == ".ac.jp")
        #expect(IntentClassifier.academicSuffix("uw.edu.pl") == ".edu.pl")
        #expect(IntentClassifier.academicSuffix("edu.example") == nil)
        #expect(IntentClassifier.academicSuffix("ac.example.com") == nil)
        #expect(IntentClassifier.academicSuffix("teach.com") == nil)
    }

    @Test("intent lists: domains and names; a bad line is file:line: reason")
    func listErrors() throws {
        let list = try IntentList.parse("# c\nrival.example\n\nname: Rival, Inc.\n", file: "competitors.txt")
        #expect(list.domains == ["rival.example"])
        #expect(list.name(matching: CompanyName("RIVAL LLC")) == "Rival, Inc.")
        #expect(list.domain(covering: "mail.rival.example") == "rival.example")
        #expect(list.domain(covering: "rival.example.org") == nil)
        func error(_ text: String) -> String? {
            do { _ = try IntentList.parse(text, file: "competitors.txt"); return nil } catch { return error.description }
        }
        #expect(error("ok.example\nRival Funnel\n") == "competitors.txt:2: one entry per line, found 'Rival Funnel'")
        #expect(error("# c\nname:\n") == "competitors.txt:2: 'name:' without a name")
        #expect(error("name: " + String(repeating: "x", count: 201)) == "competitors.txt:1: a name is at most 200 characters")
        #expect(error("name: ---\n") == "competitors.txt:1: '---' has nothing left once legal suffixes and punctuation are removed")
        #expect(error("a\nb\nnot_a_domain.example\n")?.hasPrefix("competitors.txt:1: 'a' is not a domain name") == true)
    }

    @Test("keyboard mash: rows of keys and vowel-less runs, never a real name")
    func keyboardMash() {
        for mash in ["asdf", "qwerty", "Zxcvbn", "hjkl", "xkcdfg", "Fdsa"] { #expect(SpamSignature.isKeyboardMash(mash), "\(mash)") }
        for name in ["Wertheimer", "Hertz", "Azer", "Llwyd", "Nguyen", "Schwarzkopf", "Brzęczyszczykiewicz", "Ng", "Tsz"] {
            #expect(!SpamSignature.isKeyboardMash(name), "\(name)")
        }
    }
}
