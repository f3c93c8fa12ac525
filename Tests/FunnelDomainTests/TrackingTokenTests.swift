import Foundation
@testable import FunnelDomain
import Testing

@Suite("Tracking tokens: signed, expiring, not forgeable")
struct TrackingTokenTests {
    static let secret = String(repeating: "s3cret-", count: 6)
    let signer = try! TrackingSigner(secrets: [Self.secret])
    let click = TrackingToken(kind: .click, leadID: "lead-1", expires: 2_000, url: "https://acme.example/pricing?a=1&b=2", campaign: "nurture/intro")

    @Test("a signed token verifies to the same content until it expires, then is expired (not forged)")
    func roundTrip() throws {
        let text = try signer.sign(click)
        #expect(signer.verify(Substring(text), now: 1_000) == .valid(click))
        #expect(signer.verify(Substring(text), now: 2_000) == .valid(click), "valid up to and including the expiry second")
        #expect(signer.verify(Substring(text), now: 2_001) == .expired(click))
        #expect(text.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }, "URL-safe: \(text)")
        for kind in TrackingToken.Kind.allCases where kind != .click {
            let token = TrackingToken(kind: kind, leadID: "lead-2", expires: 5, campaign: nil)
            #expect(signer.verify(Substring(try signer.sign(token)), now: 0) == .valid(token))
        }
    }

    @Test("any altered byte, another secret, or garbage is forged")
    func forged() throws {
        let text = try signer.sign(click)
        var altered = 0
        for index in text.indices where text[index] != "." {
            var bytes = Array(text)
            bytes[text.distance(from: text.startIndex, to: index)] = text[index] == "A" ? "B" : "A"
            if signer.verify(Substring(String(bytes)), now: 0) == .forged { altered += 1 }
        }
        #expect(altered == text.count - 1, "every single-character change is rejected")
        // The payload of another target with the original signature (a redirect hijack).
        let other = TrackingToken(kind: .click, leadID: "lead-1", expires: 2_000, url: "https://evil.example/", campaign: "nurture/intro")
        let hijack = String(try signer.sign(other).split(separator: ".")[0]) + "." + String(text.split(separator: ".")[1])
        #expect(signer.verify(Substring(hijack), now: 0) == .forged)
        let stranger = try TrackingSigner(secrets: [String(repeating: "x", count: 32)])
        #expect(signer.verify(Substring(try stranger.sign(click)), now: 0) == .forged)
        for garbage in ["", ".", "abc", "a.b.c", "%%%.%%%", String(repeating: "A", count: 5000) + ".AA"] {
            #expect(signer.verify(Substring(garbage), now: 0) == .forged, "\(garbage.prefix(20))")
        }
    }

    @Test("rotation: the previous secret still verifies, the new one signs")
    func rotation() throws {
        let old = try signer.sign(click)
        let rotated = try TrackingSigner(secrets: [String(repeating: "n", count: 40), Self.secret])
        #expect(rotated.verify(Substring(old), now: 0) == .valid(click))
        #expect(signer.verify(Substring(try rotated.sign(click)), now: 0) == .forged, "the old signer does not know the new secret")
    }

    @Test("signing refuses what could not round-trip or would redirect anywhere")
    func signingErrors() throws {
        #expect(throws: TrackingSigner.SigningError.invalidField("secret", "must be at least 32 bytes (e.g. `openssl rand -hex 32`)")) {
            try TrackingSigner(secrets: ["short"])
        }
        for url in ["javascript:alert(1)", "/relative", "ftp://acme.example/x", "https://"] {
            var token = click
            token.url = url
            #expect(throws: TrackingSigner.SigningError.invalidField("url", "a click link needs an absolute http(s) URL")) { try signer.sign(token) }
        }
        var long = click
        long.url = "https://acme.example/" + String(repeating: "x", count: 2100)
        #expect(throws: TrackingSigner.SigningError.invalidField("url", "must be at most 2048 characters")) { try signer.sign(long) }
        var newline = click
        newline.campaign = "a\nb"
        #expect(throws: TrackingSigner.SigningError.invalidField("campaign", "must not contain a line break")) { try signer.sign(newline) }
        #expect(throws: TrackingSigner.SigningError.invalidField("url", "only click links carry a URL")) {
            try signer.sign(TrackingToken(kind: .open, leadID: "l", expires: 1, url: "https://a.example/"))
        }
    }

    @Test("links: pixel, click and the RFC 8058 unsubscribe headers point at the base URL")
    func links() throws {
        let links = TrackingLinks(baseURL: "https://in.acme.example/", signer: signer)
        #expect(try links.openPixel(leadID: "lead-1", campaign: nil, expires: 9).hasPrefix("https://in.acme.example/t/o/"))
        #expect(try links.click(leadID: "lead-1", url: "https://acme.example/", campaign: nil, expires: 9).hasPrefix("https://in.acme.example/t/c/"))
        let unsubscribe = try links.unsubscribe(leadID: "lead-1", campaign: "c", expires: 9)
        #expect(unsubscribe.url.hasPrefix("https://in.acme.example/u/"))
        #expect(unsubscribe.headers.map(\.name) == ["List-Unsubscribe", "List-Unsubscribe-Post"])
        #expect(unsubscribe.headers[0].value == "<\(unsubscribe.url)>")
        #expect(unsubscribe.headers[1].value == "List-Unsubscribe=One-Click")
    }

    @Test("base64url: the same text as Foundation's base64 with the URL alphabet and no padding, and back, for every length")
    func base64url() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...70 {
            let data = Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let expected = data.base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            let text = TrackingSigner.base64url(data)
            #expect(text == expected, "length \(length)")
            #expect(TrackingSigner.unbase64url(Substring(text)) == data, "length \(length)")
        }
        #expect(TrackingSigner.unbase64url("abcde") == nil, "no encoding is 5 characters long")
        #expect(TrackingSigner.unbase64url("ab+c") == nil && TrackingSigner.unbase64url("ab=") == nil)
    }
}
