import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import Testing
import FunnelDevKit
import FunnelTestSupport

/// Open pixel, click redirect and one-click unsubscribe against a real funnel-ingest and broker.
/// "No event" is checked without waiting for nothing: after the requests that must not record,
/// a valid marker is recorded for the same lead (same partition, so in order), and the lead's
/// events up to the marker are read.
@Suite("Ingest tracking and consent links: real funnel-ingest, real broker", .serialized, .timeLimit(.minutes(4)), IngestAuthScope())
struct IngestTrackingTests {
    var fixture: IngestAuthFixture { IngestAuthFixture.current! }
    let signer = try! TrackingSigner(secrets: [IngestAuthFixture.trackingSecret])
    var future: Int64 { Int64(Date().timeIntervalSince1970) + 3600 }
    func aLead() -> String { "lead-track-\(UUID().uuidString.prefix(8).lowercased())" }

    func get(_ path: String) async throws -> Reply {
        let r = try await HTTPProbe.request(port: fixture.port, method: "GET", path: path)
        return Reply(status: r.status, headers: r.headers, body: r.body)
    }

    func postForm(_ path: String, _ body: String, contentType: String = "application/x-www-form-urlencoded") async throws -> Reply {
        let r = try await HTTPProbe.request(port: fixture.port, method: "POST", path: path, headers: ["Content-Type": contentType], json: Data(body.utf8))
        return Reply(status: r.status, headers: r.headers, body: r.body)
    }

    /// The lead's activity events, oldest first, up to and including the one with id `marker`.
    func activities(of lead: String, until marker: String) async throws -> [[String: Any]] {
        try await fixture.events(on: TopicCatalog.activity, lead: lead) { _, event in event["id"] as? String == marker }
    }

    /// Records an open for `lead` and returns its event id (the marker).
    func marker(_ lead: String) async throws -> String {
        let token = try signer.sign(TrackingToken(kind: .open, leadID: lead, expires: future, campaign: "marker"))
        #expect(try await get("/t/o/\(token)").status == 200)
        return EventID.derive("tracking", token)
    }

    @Test("open pixel: a 43-byte GIF, not cached; one email_open with the campaign; loading it again is the same event, byte for byte")
    func openPixel() async throws {
        let lead = aLead()
        let token = try signer.sign(TrackingToken(kind: .open, leadID: lead, expires: future, campaign: "nurture-default/intro"))
        let first = try await get("/t/o/\(token)")
        #expect(first.status == 200)
        #expect(first.headers["content-type"] == "image/gif")
        #expect(first.headers["cache-control"] == "no-store, max-age=0")
        #expect(first.headers["content-length"] == "43" && first.body.hasPrefix("GIF89a"))
        #expect(try await get("/t/o/\(token)").status == 200)
        let events = try await activities(of: lead, until: try await marker(lead))
        #expect(events.count == 3)
        let id = EventID.derive("tracking", token)
        #expect(events.prefix(2).map { $0["id"] as? String } == [id, id], "the same token yields the same event id")
        #expect(NSDictionary(dictionary: events[0]) == NSDictionary(dictionary: events[1]), "and the same event: the first hit's time")
        let data = try #require(events[0]["data"] as? [String: Any])
        #expect(data["type"] as? String == "email_open")
        #expect(data["lead_id"] as? String == lead)
        #expect((data["attributes"] as? [String: String]) == ["campaign": "nurture-default/intro"])
        #expect(events[0]["source"] as? String == "funnel-ingest/tracking")
    }

    @Test("click: 302 to the signed target and an email_click with that URL")
    func click() async throws {
        let lead = aLead()
        let target = "https://acme.example/pricing?plan=team&utm_source=email"
        let token = try signer.sign(TrackingToken(kind: .click, leadID: lead, expires: future, url: target))
        let r = try await get("/t/c/\(token)")
        #expect(r.status == 302)
        #expect(r.headers["location"] == target)
        let events = try await activities(of: lead, until: try await marker(lead))
        #expect(events.count == 2)
        let data = try #require(events[0]["data"] as? [String: Any])
        #expect(data["type"] as? String == "email_click")
        #expect(data["url"] as? String == target)
    }

    @Test("forged, altered, foreign, wrong-kind and expired tokens: 404 or 410 with the token named, and no event")
    func badTokens() async throws {
        let lead = aLead()
        let valid = try signer.sign(TrackingToken(kind: .click, leadID: lead, expires: future, url: "https://acme.example/"))
        let evil = try signer.sign(TrackingToken(kind: .click, leadID: lead, expires: future, url: "https://evil.example/"))
        let stranger = try TrackingSigner(secrets: [String(repeating: "z", count: 32)])
        let unknown: [(String, String)] = [
            ("/t/c/" + String(evil.split(separator: ".")[0]) + "." + String(valid.split(separator: ".")[1]), "another target under a valid signature"),
            ("/t/c/" + valid.dropLast(2) + (valid.hasSuffix("AA") ? "BA" : "AA"), "altered signature"),
            ("/t/c/" + (try stranger.sign(TrackingToken(kind: .click, leadID: lead, expires: future, url: "https://acme.example/"))), "signed with another secret"),
            ("/t/c/not-a-token", "garbage"),
            ("/t/o/" + valid, "a click token used as a pixel"),
            ("/u/" + valid, "a click token used to unsubscribe"),
        ]
        for (path, what) in unknown {
            let r = try await get(path)
            #expect(r.status == 404, "\(what): \(r.body)")
            #expect(r.errors == [["field": "token", "reason": "unknown link"]], "\(what)")
            #expect(r.headers["location"] == nil, "\(what): no redirect")
        }
        let expiredAt = Int64(Date().timeIntervalSince1970) - 60
        for kind in TrackingToken.Kind.allCases {
            let token = try signer.sign(TrackingToken(kind: kind, leadID: lead, expires: expiredAt, url: kind == .click ? "https://acme.example/" : nil))
            let path = ["o": "/t/o/", "c": "/t/c/", "u": "/u/"][kind.rawValue]! + token
            let r = kind == .unsubscribe ? try await postForm(path, "List-Unsubscribe=One-Click") : try await get(path)
            #expect(r.status == 410, "expired \(kind): \(r.body)")
            #expect(r.errors == [["field": "token", "reason": "link expired"]])
        }
        let events = try await activities(of: lead, until: try await marker(lead))
        #expect(events.count == 1, "only the marker was recorded: \(events.map { ($0["data"] as? [String: Any])?["type"] ?? "?" })")
    }

    @Test("unsubscribe: GET shows a confirmation form and records nothing; RFC 8058 one-click POST records one unsubscribe")
    func unsubscribe() async throws {
        let lead = aLead()
        let token = try signer.sign(TrackingToken(kind: .unsubscribe, leadID: lead, expires: future, campaign: "nurture-default"))
        let page = try await get("/u/\(token)")
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.body.contains("<form method=\"post\" action=\"/u/\(token)\">"))
        #expect(page.body.contains("name=\"List-Unsubscribe\" value=\"One-Click\""))

        for (body, type) in [("", "application/x-www-form-urlencoded"), ("List-Unsubscribe=Yes", "application/x-www-form-urlencoded"),
                             ("List-Unsubscribe=One-Click", "application/json"), ("{}", "text/plain")] {
            let r = try await postForm("/u/\(token)", body, contentType: type)
            #expect(r.status == 400, "\(body) as \(type)")
            #expect(r.errors == [["field": "List-Unsubscribe", "reason": "POST a form with List-Unsubscribe=One-Click (RFC 8058)"]])
        }
        let done = try await postForm("/u/\(token)", "List-Unsubscribe=One-Click")
        #expect(done.status == 200, "\(done.body)")
        #expect(done.body.contains("Unsubscribed"))
        let boundary = "b0undary"
        let multipart = "--\(boundary)\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--\(boundary)--\r\n"
        #expect(try await postForm("/u/\(token)", multipart, contentType: "multipart/form-data; boundary=\(boundary)").status == 200)

        let events = try await activities(of: lead, until: try await marker(lead))
        let id = EventID.derive("tracking", token)
        #expect(events.map { $0["id"] as? String } == [id, id, events.last?["id"] as? String],
                "the GET and the bad POSTs recorded nothing; both one-click POSTs are one event id")
        let data = try #require(events[0]["data"] as? [String: Any])
        #expect(data["type"] as? String == "unsubscribe")
        #expect((data["attributes"] as? [String: String]) == ["campaign": "nurture-default"])
    }
}
