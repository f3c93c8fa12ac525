import Foundation
import FunnelDomain
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

/// Hostile and malformed requests against a real `funnel-ingest`: each case asserts the exact
/// status and the field its error names (the fixture of IngestAuthTests: real broker, real keys).
@Suite("Ingest: hostile input over HTTP", .serialized, .timeLimit(.minutes(4)), IngestAuthScope())
struct IngestHostileTests {
    var fixture: IngestAuthFixture { IngestAuthFixture.current! }
    static func x(_ n: Int) -> String { String(repeating: "x", count: n) }
    static let ok = #""email":"h@hostile.example""#

    /// (endpoint, raw body, status, a field the errors must name)
    static let cases: [(String, String, Int, String)] = [
        ("leads", "{}", 400, "email"),
        ("leads", #"{"email":"x"}"#, 400, "email"),
        ("leads", #"{"email":null,"phone":null}"#, 400, "email"),
        ("leads", #"{"email":5}"#, 400, "email"),
        ("leads", #"{"email":"<script>@x"}"#, 400, "email"),
        ("leads", #"{"email":"a@b@c.example"}"#, 400, "email"),
        ("leads", "{\(ok),\"employees\":\"many\"}", 400, "employees"),
        ("leads", "{\(ok),\"employees\":-5}", 400, "employees"),
        ("leads", "{\(ok),\"employees\":1.5}", 400, "employees"),
        ("leads", "{\(ok),\"country\":\"Atlantis\"}", 400, "country"),
        ("leads", "{\(ok),\"country\":49}", 400, "country"),
        ("leads", "{\(ok),\"first_name\":\"\(x(101))\"}", 400, "first_name"),
        ("leads", "{\(ok),\"last_name\":\"\(x(101))\"}", 400, "last_name"),
        ("leads", "{\(ok),\"job_title\":\"\(x(201))\"}", 400, "job_title"),
        ("leads", "{\(ok),\"company\":\"\(x(201))\"}", 400, "company"),
        ("leads", "{\(ok),\"company_domain\":\"\(x(254))\"}", 400, "company_domain"),
        ("leads", "{\(ok),\"industry\":\"\(x(101))\"}", 400, "industry"),
        ("leads", #"{"phone":"abc"}"#, 400, "phone"),
        ("leads", "{\(ok),\"phone\":\"\(String(repeating: "1", count: 33))\"}", 400, "phone"),
        ("leads", "{\(ok),\"source\":\"\(x(101))\"}", 400, "source"),
        ("leads", "{\(ok),\"campaign\":\"\(x(101))\"}", 400, "campaign"),
        ("leads", "{\(ok),\"consent\":\"yes\"}", 400, "consent"),
        ("leads", "{\(ok),\"consent\":{\"email\":\"yes\"}}", 400, "consent.email"),
        ("leads", "{\(ok),\"attributes\":[]}", 400, "attributes"),
        ("leads", "{\(ok),\"attributes\":{\"a\":1}}", 400, "attributes.a"),
        ("leads", "{\(ok),\"attributes\":{\(( 0..<51).map { "\"k\($0)\":\"v\"" }.joined(separator: ","))}}", 400, "attributes"),
        ("leads", "{\(ok),\"attributes\":{\"note\":\"\(x(1001))\"}}", 400, "attributes.note"),
        ("leads", "{\(ok),\"attributes\":{\"\":\"v\"}}", 400, "attributes"),
        ("leads", "{\(ok),\"attributes\":{\"a\":{\"b\":{\"c\":{\"d\":1}}}}}", 400, "attributes.a"),
        ("leads", "[]", 400, ""),
        ("leads", "[{}]", 400, "[0].email"),
        ("leads", "[5, \"x\"]", 400, "[1]"),
        ("leads", #""just a string""#, 400, ""),
        ("leads", "nul", 400, ""),
        ("leads", #"{"email":"a@b.example""#, 400, ""),
        ("leads", #"{"email":"a@b.example"}}"#, 400, ""),
        ("leads", String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000), 400, ""),
        ("leads", "{\"email\":\"\u{0}@b.example\"}", 400, ""),
        ("activities", "{}", 400, "type"),
        ("activities", "{\(ok),\"type\":\"teleport\"}", 400, "type"),
        ("activities", "{\(ok),\"type\":5}", 400, "type"),
        ("activities", "{\(ok),\"type\":\"email_sent\"}", 400, "type"),
        ("activities", #"{"type":"page_view"}"#, 400, "lead_id"),
        ("activities", #"{"email":"nope","type":"page_view"}"#, 400, "email"),
        ("activities", "{\(ok),\"type\":\"page_view\",\"occurred_at\":\"yesterday\"}", 400, "occurred_at"),
        ("activities", "{\(ok),\"type\":\"page_view\",\"url\":\"https://x.example/\(x(2049))\"}", 400, "url"),
        ("activities", "{\(ok),\"type\":\"page_view\",\"attributes\":{\"a\":1}}", 400, "attributes.a"),
        ("activities", "{\(ok),\"type\":\"page_view\",\"attributes\":{\"d\":\"\(x(1001))\"}}", 400, "attributes.d"),
        ("outcomes", "{}", 400, "outcome"),
        ("outcomes", "{\(ok),\"outcome\":\"maybe\"}", 400, "outcome"),
        ("outcomes", "{\(ok),\"outcome\":\"won\",\"amount\":-1}", 400, "amount"),
        ("outcomes", "{\(ok),\"outcome\":\"won\",\"amount\":\"ten\"}", 400, "amount"),
        ("outcomes", "{\(ok),\"outcome\":\"won\",\"currency\":\"EURO\"}", 400, "currency"),
        ("outcomes", #"{"outcome":"won"}"#, 400, "lead_id"),
        ("outcomes", "{\"lead_id\":\"\(x(129))\",\"outcome\":\"lost\"}", 400, "lead_id"),
        ("outcomes", "{\(ok),\"outcome\":\"lost\",\"reason\":\"\(x(1001))\"}", 400, "reason"),
        ("outcomes", "{\(ok),\"outcome\":\"lost\",\"reason\":\"\(x(1_500_000))\"}", 400, "reason"),
        ("outcomes", "{\(ok),\"outcome\":\"won\",\"currency\":\"€€€\"}", 400, "currency"),
        ("outcomes", "{\(ok),\"outcome\":\"won\",\"currency\":\"ßab\"}", 400, "currency"),
        ("outcomes", "{\(ok),\"outcome\":\"won\",\"currency\":\"ßa\"}", 400, "currency"),
        ("outcomes", "{\(ok),\"outcome\":\"won\",\"currency\":\"ﬃ\"}", 400, "currency"),
        ("leads", "[" + Array(repeating: "{\(ok)}", count: 1001).joined(separator: ",") + "]", 413, ""),
        // Input hygiene (issue 17 item 6). Control characters, as JSON escapes, in every text field:
        ("leads", #"{\#(ok),"first_name":"Ada\u0000"}"#, 400, "first_name"),
        ("leads", #"{\#(ok),"last_name":"\u001b[2JLovelace"}"#, 400, "last_name"),
        ("leads", #"{\#(ok),"job_title":"VP\nSales"}"#, 400, "job_title"),
        ("leads", #"{\#(ok),"company":"Acme\u007f"}"#, 400, "company"),
        ("leads", #"{\#(ok),"company":"Acme\u0085Corp"}"#, 400, "company"),
        ("leads", #"{\#(ok),"industry":"soft\tware"}"#, 400, "industry"),
        ("leads", #"{\#(ok),"source":"web\u0007"}"#, 400, "source"),
        ("leads", #"{\#(ok),"campaign":"spring\r"}"#, 400, "campaign"),
        ("leads", #"{"email":"ada\u0000@hostile.example"}"#, 400, "email"),
        ("leads", #"{"email":"ada@hostile.example\u001b"}"#, 400, "email"),
        ("leads", #"{"phone":"+49 30\u0000 1234567"}"#, 400, "phone"),
        ("leads", #"{\#(ok),"company_domain":"acme\u0000.example"}"#, 400, "company_domain"),
        ("leads", #"{\#(ok),"country":"D\u0000"}"#, 400, "country"),
        ("leads", #"{\#(ok),"attributes":{"utm\u0001":"x"}}"#, 400, "attributes"),
        ("leads", #"{\#(ok),"attributes":{"note":"a\u0000b"}}"#, 400, "attributes.note"),
        ("activities", #"{\#(ok),"type":"page_view","url":"https://x.example/\n"}"#, 400, "url"),
        ("activities", #"{"lead_id":"lead-4617d6144834188ce68\u0000","type":"page_view"}"#, 400, "lead_id"),
        ("activities", #"{\#(ok),"type":"page_view","attributes":{"k":"\u001b"}}"#, 400, "attributes.k"),
        ("outcomes", #"{\#(ok),"outcome":"lost","reason":"gone\u0000"}"#, 400, "reason"),
        ("outcomes", #"{\#(ok),"outcome":"lost","reason":"a\u000bb"}"#, 400, "reason"),
        ("outcomes", #"{\#(ok),"outcome":"accepted","bant":{"budget":{"met":true,"note":"\u001b"}}}"#, 400, "bant.budget.note"),
        ("outcomes", #"{\#(ok),"outcome":"won","currency":"EU\u0000"}"#, 400, "currency"),
        // E-mail syntax (RFC 5321/5322, unquoted form):
        ("leads", #"{"email":"ada..l@hostile.example"}"#, 400, "email"),
        ("leads", #"{"email":".ada@hostile.example"}"#, 400, "email"),
        ("leads", #"{"email":"\"ada l\"@hostile.example"}"#, 400, "email"),
        ("leads", #"{"email":"ada(x)@hostile.example"}"#, 400, "email"),
        ("leads", "{\"email\":\"\(x(65))@hostile.example\"}", 400, "email"),
        ("leads", #"{"email":"ada@hostile_x.example"}"#, 400, "email"),
        ("leads", #"{"email":"ada@hostile"}"#, 400, "email"),
        ("leads", #"{"email":"ada@hostile.example."}"#, 400, "email"),
        ("leads", #"{"email":"ada@-hostile.example"}"#, 400, "email"),
        ("leads", #"{"email":"ada@hostile.c0m"}"#, 400, "email"),
        ("leads", #"{"email":"ada@[192.0.2.1]"}"#, 400, "email"),
        ("leads", #"{"email":"ädä@hostile.example"}"#, 400, "email"),
        ("leads", #"{"email":"ada@host\u200bile.example"}"#, 400, "email"),
        ("activities", #"{"email":"ada@@hostile.example","type":"page_view"}"#, 400, "email"),
        ("activities", #"{"lead_id":"lead-4617d6144834188ce681","email":"nope","type":"page_view"}"#, 400, "email"),
        // company_domain: a host name
        ("leads", #"{\#(ok),"company_domain":"https://acme.example/"}"#, 400, "company_domain"),
        ("leads", #"{\#(ok),"company_domain":"acme.example/about"}"#, 400, "company_domain"),
        ("leads", #"{\#(ok),"company_domain":"acme.example:8080"}"#, 400, "company_domain"),
        ("leads", #"{\#(ok),"company_domain":"acme..example"}"#, 400, "company_domain"),
        ("leads", #"{\#(ok),"company_domain":"acme.example."}"#, 400, "company_domain"),
        ("leads", #"{\#(ok),"company_domain":"acme"}"#, 400, "company_domain"),
        ("leads", #"{\#(ok),"company_domain":"acme_corp.example"}"#, 400, "company_domain"),
        ("leads", #"{\#(ok),"company_domain":"acme example"}"#, 400, "company_domain"),
        // country: assigned ISO 3166-1 codes and country names only; ambiguous names are refused
        ("leads", #"{\#(ok),"country":"XX"}"#, 400, "country"),
        ("leads", #"{\#(ok),"country":"zz"}"#, 400, "country"),
        ("leads", #"{\#(ok),"country":"AA"}"#, 400, "country"),
        ("leads", #"{\#(ok),"country":"QM"}"#, 400, "country"),
        ("leads", #"{\#(ok),"country":"XA"}"#, 400, "country"),
        ("leads", #"{\#(ok),"country":"Congo"}"#, 400, "country"),
        ("leads", #"{\#(ok),"country":"Korea"}"#, 400, "country"),
        ("leads", #"{\#(ok),"country":"EU"}"#, 400, "country"),
        ("leads", #"{\#(ok),"country":"ﬁ"}"#, 400, "country"),
        // lead_id: lead- and 20 lower-case hex digits
        ("activities", #"{"lead_id":"lead-feedback-1","type":"page_view"}"#, 400, "lead_id"),
        ("activities", #"{"lead_id":"lead-4617d6144834188ce68","type":"page_view"}"#, 400, "lead_id"),
        ("outcomes", #"{"lead_id":"LEAD-4617D6144834188CE681","outcome":"won"}"#, 400, "lead_id"),
        ("outcomes", #"{"lead_id":"lead-4617d6144834188ce681x","outcome":"won"}"#, 400, "lead_id"),
        // Duplicate keys: rejected naming the key (JSONDecoder would silently keep the first value)
        ("leads", #"{"email":"first@hostile.example","email":"second@hostile.example"}"#, 400, "email"),
        ("leads", #"{"email":"first@hostile.example","em\u0061il":"second@hostile.example"}"#, 400, "email"),
        ("leads", #"{\#(ok),"attributes":{"k":"1","k":"2"}}"#, 400, "attributes.k"),
        ("leads", #"{\#(ok),"consent":{"email":false,"email":true}}"#, 400, "consent.email"),
        ("leads", #"[{"email":"a@hostile.example","country":"DE","country":"FR"},{"email":"x"}]"#, 400, "[0].country"),
        ("activities", #"{\#(ok),"type":"page_view","type":"unsubscribe"}"#, 400, "type"),
        ("outcomes", #"{\#(ok),"outcome":"lost","outcome":"won"}"#, 400, "outcome"),
        ("activities", "[" + Array(repeating: "{}", count: 1001).joined(separator: ",") + "]", 413, ""),
    ]

    @Test("each hostile request gets the exact status and names the field", arguments: cases.indices)
    func hostile(_ index: Int) async throws {
        let (endpoint, body, status, field) = Self.cases[index]
        let r = try await HTTPProbe.request(port: fixture.port, method: "POST", path: "/v1/\(endpoint)",
                                            headers: ["Authorization": "Bearer \(fixture.admin)"], json: Data(body.utf8))
        let reply = Reply(status: r.status, headers: r.headers, body: r.body)
        #expect(reply.status == status, "\(endpoint) \(body.prefix(80)): \(reply.body.prefix(300))")
        #expect(reply.errors.contains { $0["field"] == field }, "\(endpoint) \(body.prefix(80)): \(reply.errors)")
        #expect(reply.errors.allSatisfy { !($0["reason"] ?? "").isEmpty })
    }

    /// Request targets (path and query): over 8192 bytes is a 414 naming no field, before
    /// authentication and routing; over NIO's 80 KiB head limit a 431. (method, target, status)
    static let targets: [(String, String, Int)] = [
        ("GET", "/healthz?" + x(8192 - 9), 200), // exactly 8192 bytes
        ("GET", "/healthz?" + x(8192 - 8), 414),
        ("POST", "/v1/leads?" + x(9000), 414), // no API key: the 414 comes first
        ("POST", "/v1/imports?map=" + x(9000), 414),
        ("GET", "/t/o/" + x(10_000), 414),
        ("POST", "/u/" + x(10_000), 414),
        ("GET", "/metrics?" + String(repeating: "%00", count: 3000), 414),
        ("GET", "/healthz?" + x(80 * 1024 - 100), 414), // the longest head NIO lets through
        // Over 80 KiB of request head, NIO's decoder refuses it before any handler sees it: 431, closed.
        ("GET", "/" + x(100_000), 431),
        ("POST", "/v1/leads?" + x(1_000_000), 431),
    ]

    @Test("each request target over the documented length is answered 414 (431 past the 80 KiB head limit)", arguments: targets.indices)
    func longTarget(_ index: Int) async throws {
        let (method, target, status) = Self.targets[index]
        let r = try await HTTPProbe.request(port: fixture.port, method: method, path: target,
                                            json: method == "POST" ? Data(#"{"email":"long@hostile.example"}"#.utf8) : nil)
        let reply = Reply(status: r.status, headers: r.headers, body: r.body)
        #expect(reply.status == status, "\(method) \(target.prefix(40))… (\(target.utf8.count) bytes): \(reply.body.prefix(200))")
        if status == 414 {
            #expect(reply.errors == [["field": "", "reason": "request target (path and query) longer than 8192 bytes"]], "\(reply.body)")
        } else if status == 431 {
            #expect(reply.errors == [["field": "", "reason": "request head (request line and headers) larger than 81920 bytes"]], "\(reply.body)")
            #expect(reply.headers["connection"] == "close", "\(reply.headers)")
        }
    }

    @Test("after a 414 the connection goes on: its body is dropped and the next pipelined request is answered")
    func longTargetPipelined() async throws {
        let body = #"{"email":"after-414@hostile.example"}"#
        func request(_ target: String, close: Bool = false) -> String {
            "POST \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(fixture.admin)\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n" + body
        }
        let replies = try await HTTPProbe.raw(port: fixture.port, Data((request("/v1/leads?" + Self.x(9000)) + request("/v1/leads", close: true)).utf8))
        let statuses = replies.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
        #expect(statuses == [414, 202], "\(replies.prefix(600))")
    }

    @Test("accepted as documented: blank optional fields are absent, IDN domains become A-labels, multi-line text keeps its breaks")
    func storedForms() async throws {
        let auth = ["Authorization": "Bearer \(fixture.admin)"]
        let tag = UUID().uuidString.prefix(8).lowercased()
        let stored = "hygiene-\(tag)@xn--bcher-kva.example"
        let lead: [String: Any] = [
            "email": "  Hygiene-\(tag)@Bu\u{0308}cher.Example\n", "first_name": "", "last_name": "   ", "job_title": "\t", "company": "",
            "company_domain": "München.Example", "industry": "", "country": "", "phone": " ", "source": "", "campaign": "\u{3000}",
            "attributes": ["note": "line one\nline two\r\n\tindented", "empty": ""],
        ]
        let reply = try await fixture.post("/v1/leads", lead, headers: auth)
        #expect(reply.status == 202, "\(reply.body)")
        let leadID = try #require(try reply.results().first?["lead_id"] as? String)
        #expect(leadID == EventID.lead(forContact: stored))
        let data = try #require(try await fixture.event(on: TopicCatalog.captured, lead: leadID)["data"] as? [String: Any])
        #expect(data["email"] as? String == stored)
        #expect(data["company_domain"] as? String == "xn--mnchen-3ya.example")
        for field in ["first_name", "last_name", "job_title", "company", "industry", "country", "phone", "source", "campaign"] {
            #expect(data[field] == nil, "\(field) is absent, not \(String(describing: data[field]))")
        }
        #expect(data["attributes"] as? [String: String] == ["note": "line one\nline two\r\n\tindented", "empty": ""])

        // The same person by the A-label spelling: the same lead. Blank url and occurred_at are absent.
        let activity = try await fixture.post("/v1/activities", ["email": stored, "type": "page_view", "url": "", "occurred_at": " "], headers: auth)
        #expect(activity.status == 202, "\(activity.body)")
        #expect(try activity.results().first?["lead_id"] as? String == leadID)
        let outcome = try await fixture.post("/v1/outcomes", ["lead_id": " \(leadID) ", "outcome": "meeting", "reason": "", "currency": "",
                                                              "bant": NSNull(), "email": ""], headers: auth)
        #expect(outcome.status == 202, "\(outcome.body)")
        #expect(try outcome.results().first?["lead_id"] as? String == leadID)
        let outcomeData = try #require(try await fixture.event(on: TopicCatalog.outcome, lead: leadID)["data"] as? [String: Any])
        #expect(outcomeData["reason"] == nil && outcomeData["currency"] == nil, "\(outcomeData)")
    }

    /// CSV imports: (query, content type, body, status, a field the errors must name; nil: none).
    static let importCases: [(String, String, String, Int, String?)] = [
        ("", "text/csv", "", 400, ""),
        ("", "text/csv", "email\n", 400, ""),
        ("", "text/csv", "\n\n\n", 400, ""),
        ("", "text/csv", "name,company\nAda,Acme\n", 400, "header"),
        ("", "text/csv", "email,E-Mail\na@x.example,b@x.example\n", 400, "header"),
        ("", "text/csv", "email\ra@x.example\r", 400, "header"),
        ("", "text/csv", String(repeating: "c,", count: 600) + "email\na\n", 400, "header"),
        ("?map=Nope:email", "text/csv", "email\na@x.example\n", 400, "map"),
        ("?map=email:shoe_size", "text/csv", "email\na@x.example\n", 400, "map"),
        ("?map=email", "text/csv", "email\na@x.example\n", 400, "map"),
        ("?map=:email", "text/csv", "email\na@x.example\n", 400, "map"),
        ("", "text/csv", "email\nnot-an-email\n", 400, "email"),
        ("", "text/csv", "email\n<script>alert(1)</script>\n", 400, "email"),
        ("", "text/csv", "email,employees\na@x.example,many\n", 400, "employees"),
        ("", "text/csv", "email,employees\na@x.example,-3\n", 400, "employees"),
        ("", "text/csv", "email,employees\na@x.example,2.5\n", 400, "employees"),
        ("", "text/csv", "email,country\na@x.example,Atlantis\n", 400, "country"),
        ("", "text/csv", "email,country\na@x.example,Congo\n", 400, "country"),
        ("", "text/csv", "email,country\na@x.example,Deutschland\n", 200, nil),
        ("", "text/csv", "phone\nabc\n", 400, "phone"),
        ("", "text/csv", "email,first_name\na@x.example,\(x(101))\n", 400, "first_name"),
        ("", "text/csv", "email,job_title\na@x.example,\(x(201))\n", 400, "job_title"),
        ("", "text/csv", "email,consent_email\na@x.example,maybe\n", 400, "consent_email"),
        ("", "text/csv", "email,name\na@x.example\n", 400, "row"),
        ("", "text/csv", "email,name\na@x.example,b,c\n", 400, "row"),
        ("", "text/csv", "email\n\"unterminated@x.example\n", 400, "row"),
        ("", "text/csv", "email,note\na@x.example,\(x(70_000))\n", 400, "row"),
        ("", "text/csv", "email,attributes.note\na@x.example,\(x(1001))\n", 400, "attributes.note"),
        ("", "text/csv", "email," + (0..<51).map { "attributes.k\($0)" }.joined(separator: ",") + "\na@x.example" + String(repeating: ",v", count: 51) + "\n", 400, "attributes"),
        ("", "text/csv", "email\ngood@hostile.example\nbad\n", 200, "email"),
        // Input hygiene: the rows go through the rules of POST /v1/leads.
        ("", "text/csv", "email,country\na@x.example,XX\n", 400, "country"),
        ("", "text/csv", "email,company_domain\na@x.example,https://acme.example/\n", 400, "company_domain"),
        ("", "text/csv", "email,first_name\na@x.example,\"Ada\u{1B}[31m\"\n", 400, "first_name"),
        ("", "text/csv", "email,job_title\na@x.example,\"VP\nSales\"\n", 400, "job_title"),
        ("", "text/csv", "email\nada..x@x.example\n", 400, "email"),
        ("?source=web%01", "text/csv", "email\na@x.example\n", 400, "source"),
        ("", "text/csv", "email,attributes.note\nmultiline@hostile.example,\"line one\nline two\"\n", 200, nil),
        ("", "text/csv", "email,company_domain,country\nidn@bücher.example,münchen.example,de\n", 200, nil),
        ("", "text/csv", "email,job_title\nformula@hostile.example,\"=HYPERLINK(\"\"http://evil.example\"\")\"\n", 200, nil),
        ("", "text/csv", "email,company\nhtml@hostile.example,<b onmouseover=alert(1)>Acme</b>\n", 200, nil),
        ("", "text/csv; charset=utf-8", "\u{FEFF}Email\nbom@hostile.example\n", 200, nil),
        ("", "application/json", "email\na@x.example\n", 415, "Content-Type"),
        ("", "", "email\na@x.example\n", 415, "Content-Type"),
        ("", "text/plain", "email\na@x.example\n", 415, "Content-Type"),
    ]

    @Test("each hostile CSV import gets the exact status and names the field", arguments: importCases.indices)
    func hostileImport(_ index: Int) async throws {
        let (query, type, body, status, field) = Self.importCases[index]
        let r = try await HTTPProbe.request(port: fixture.port, method: "POST", path: "/v1/imports\(query)",
                                            headers: ["Authorization": "Bearer \(fixture.admin)", "Content-Type": type], json: Data(body.utf8))
        let reply = Reply(status: r.status, headers: r.headers, body: r.body)
        let report = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any] ?? [:]
        let fields = (report["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
        #expect(reply.status == status, "import \(query) \(body.prefix(60)): \(reply.body.prefix(300))")
        if let field { #expect(fields.contains(field), "import \(body.prefix(60)): \(fields)") }
        else if status == 200 { #expect(fields.isEmpty && report["accepted"] as? Int == 1, "stored as data: \(reply.body.prefix(300))") }
        else { #expect(!fields.isEmpty) }
    }

    /// Tracking links: (method, path, form body, status, field).
    static var trackingCases: [(String, String, String?, Int, String)] {
        let signer = try! TrackingSigner(secrets: [IngestAuthFixture.trackingSecret])
        let stranger = try! TrackingSigner(secrets: [x(40)])
        let hour = Int64(Date().timeIntervalSince1970) + 3600
        let open = try! signer.sign(TrackingToken(kind: .open, leadID: "lead-hostile", expires: hour))
        let unsubscribe = try! signer.sign(TrackingToken(kind: .unsubscribe, leadID: "lead-hostile", expires: hour))
        let expired = try! signer.sign(TrackingToken(kind: .click, leadID: "lead-hostile", expires: 1, url: "https://acme.example/"))
        return [
            ("GET", "/t/o/AAAA", nil, 404, "token"),
            ("GET", "/t/o/a.b", nil, 404, "token"),
            ("GET", "/t/c/%00.%00", nil, 404, "token"),
            ("GET", "/t/c/" + x(5000), nil, 404, "token"),
            ("GET", "/t/c/" + open, nil, 404, "token"),
            ("GET", "/t/o/" + (try! stranger.sign(TrackingToken(kind: .open, leadID: "lead-hostile", expires: hour))), nil, 404, "token"),
            ("GET", "/t/c/" + expired, nil, 410, "token"),
            ("GET", "/u/" + open, nil, 404, "token"),
            ("POST", "/u/" + open, "List-Unsubscribe=One-Click", 404, "token"),
            ("POST", "/u/" + unsubscribe, "", 400, "List-Unsubscribe"),
            ("POST", "/u/" + unsubscribe, "List-Unsubscribe=One-Click&List-Unsubscribe=No", 200, ""),
            ("POST", "/u/" + unsubscribe, "List-Unsubscribe=%4Fne-Click", 200, ""),
            ("POST", "/u/" + unsubscribe, "List-Unsubscribe=one-click", 400, "List-Unsubscribe"),
        ]
    }

    @Test("each hostile tracking request gets the exact status and names the field", arguments: 0..<13)
    func hostileTracking(_ index: Int) async throws {
        let (method, path, body, status, field) = Self.trackingCases[index]
        let r = try await HTTPProbe.request(port: fixture.port, method: method, path: path,
                                            headers: body == nil ? [:] : ["Content-Type": "application/x-www-form-urlencoded"],
                                            json: body.map { Data($0.utf8) })
        let reply = Reply(status: r.status, headers: r.headers, body: r.body)
        #expect(reply.status == status, "\(method) \(path.prefix(40)): \(reply.body.prefix(200))")
        if status >= 400 { #expect(reply.errors.contains { $0["field"] == field }, "\(reply.errors)") }
        #expect(reply.headers["location"] == nil, "never a redirect")
    }

    @Test("invalid UTF-8 in a CSV row: that row is rejected by line, the others are imported")
    func invalidUTF8Import() async throws {
        var body = Data("email,company\nutf8-ok@hostile.example,Acme\nutf8-bad@hostile.example,".utf8)
        body += Data([0xC3, 0x28]) + Data("\n".utf8)
        let r = try await HTTPProbe.request(port: fixture.port, method: "POST", path: "/v1/imports",
                                            headers: ["Authorization": "Bearer \(fixture.admin)", "Content-Type": "text/csv"], json: body)
        #expect(r.status == 200, "\(r.body)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])
        #expect(report["accepted"] as? Int == 1)
        let errors = try #require(report["errors"] as? [[String: Any]])
        #expect(errors.count == 1 && errors[0]["line"] as? Int == 3 && errors[0]["field"] as? String == "row"
                && errors[0]["reason"] as? String == "field 2 is not valid UTF-8", "\(errors)")
    }

    /// The event endpoints are answered before the router, on the connection's event loop:
    /// pipelined requests to both must be answered in order, on one connection.
    @Test("pipelined requests on one connection: replies in request order, event endpoints and router routes mixed")
    func pipelined() async throws {
        func request(_ method: String, _ path: String, _ body: String? = nil, key: Bool = true,
                     contentType: String = "application/json", expectContinue: Bool = false, close: Bool = false) -> String {
            var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            if key { head += "Authorization: Bearer \(fixture.admin)\r\n" }
            if let body { head += "Content-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n" }
            if expectContinue { head += "Expect: 100-continue\r\n" }
            if close { head += "Connection: close\r\n" }
            return head + "\r\n" + (body ?? "")
        }
        func statuses(_ text: String) -> [Int] {
            text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
        }
        func exchange(_ requests: [String]) async throws -> String {
            try await HTTPProbe.raw(port: fixture.port, Data(requests.joined().utf8))
        }
        let lead = #"{"email":"pipe@hostile.example"}"#
        // Rejected by the body (400), by the headers before the body is read (401, 415), accepted
        // (202), and router routes (200), in one stream.
        let replies = try await exchange([
            request("POST", "/v1/leads", lead),
            request("GET", "/healthz"),
            request("POST", "/v1/leads", #"{"email":"x"}"#),
            request("POST", "/v1/activities", "{}"),
            request("POST", "/v1/leads", lead, key: false),
            request("POST", "/v1/leads/?utm=1", lead),
            request("POST", "/v1/outcomes", #"{"email":"pipe@hostile.example","outcome":"won"}"#),
            request("POST", "/v1/leads", lead, contentType: "text/plain"),
            request("GET", "/readyz", close: true),
        ])
        #expect(statuses(replies) == [202, 200, 400, 400, 401, 202, 202, 415, 200], "\(replies)")

        // A body over the limit is read to its end and answered 413; the next request still gets its reply.
        let maxBody = 5 * 1024 * 1024 // IngestRoutes.maxBody
        let afterOversized = try await exchange([request("POST", "/v1/leads", "[" + String(repeating: " ", count: maxBody) + "]"),
                                                 request("GET", "/healthz", close: true)])
        #expect(statuses(afterOversized) == [413, 200], "\(afterOversized.prefix(400))")
        #expect(afterOversized.contains(#"{"errors":[{"field":"","reason":"body larger than 5242880 bytes"}]}"#))

        // `Expect: 100-continue`: 100 once the headers pass, then the reply; a rejected key gets no 100.
        #expect(statuses(try await exchange([request("POST", "/v1/leads", lead, expectContinue: true, close: true)])) == [100, 202])
        #expect(statuses(try await exchange([request("POST", "/v1/leads", lead, key: false, expectContinue: true, close: true)])) == [401])

        // A client that shuts its sending side down after the request still gets the whole reply.
        let batch = "[" + (0..<500).map { #"{"email":"half-\#($0)@hostile.example"}"# }.joined(separator: ",") + "]"
        let halfClosed = try await HTTPProbe.raw(port: fixture.port, Data(request("POST", "/v1/leads", batch).utf8), halfClose: true)
        #expect(statuses(halfClosed) == [202] && halfClosed.components(separatedBy: #""status":"accepted""#).count == 501)

        // After a reply to `Connection: close`, a request pipelined behind it is not answered.
        #expect(statuses(try await exchange([request("POST", "/v1/leads", lead, close: true), request("GET", "/healthz")])) == [202])
        // Many pipelined requests answered at once (401s) behind one the router answers: all in order.
        let many = try await exchange([request("GET", "/healthz")] + Array(repeating: request("POST", "/v1/leads", lead, key: false), count: 2000)
                                      + [request("GET", "/readyz", close: true)])
        #expect(statuses(many) == [200] + Array(repeating: 401, count: 2000) + [200])
    }

    @Test("invalid UTF-8 in the body: 400, not a crash")
    func invalidUTF8() async throws {
        let body = Data([0x7B, 0x22, 0x65, 0x6D, 0x61, 0x69, 0x6C, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x40, 0x78, 0x22, 0x7D]) // {"email":"\xC3(@x"}
        let r = try await HTTPProbe.request(port: fixture.port, method: "POST", path: "/v1/leads",
                                            headers: ["Authorization": "Bearer \(fixture.admin)"], json: body)
        #expect(r.status == 400)
        #expect(fixture.ingest.isRunning)
    }
}
