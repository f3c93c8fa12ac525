import Foundation
import FunnelDomain
import FunnelRuntime
import Testing

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
        ("leads", "{\(ok),\"country\":\"Deutschland\"}", 400, "country"),
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

    @Test("invalid UTF-8 in the body: 400, not a crash")
    func invalidUTF8() async throws {
        let body = Data([0x7B, 0x22, 0x65, 0x6D, 0x61, 0x69, 0x6C, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x40, 0x78, 0x22, 0x7D]) // {"email":"\xC3(@x"}
        let r = try await HTTPProbe.request(port: fixture.port, method: "POST", path: "/v1/leads",
                                            headers: ["Authorization": "Bearer \(fixture.admin)"], json: body)
        #expect(r.status == 400)
        #expect(fixture.ingest.isRunning)
    }
}
