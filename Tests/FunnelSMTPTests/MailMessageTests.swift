import Foundation
@testable import FunnelSMTP
import Testing

@Suite("MailMessage rendering")
struct MailMessageTests {
    @Test func renderingIsDeterministic() throws {
        let message = try TestSupport.message()
        let first = try message.rendered()
        let second = try message.rendered()
        #expect(first == second)
        var copy = message
        copy.messageID = "msg-2@funnel.local"
        #expect(try copy.rendered() != first, "boundary and Message-ID follow the messageID")
    }

    @Test func singlePartGolden() throws {
        let message = MailMessage(
            from: try MailAddress("a@funnel.local"),
            to: [try MailAddress("b@example.com", displayName: "Bee, Esq.")],
            subject: "Hi",
            text: "Line one\nx = 1 \n",
            messageID: "id1@funnel.local",
            date: 0)
        let expected = """
        Date: Thu, 01 Jan 1970 00:00:00 +0000\r
        From: a@funnel.local\r
        To: "Bee, Esq." <b@example.com>\r
        Subject: Hi\r
        Message-ID: <id1@funnel.local>\r
        MIME-Version: 1.0\r
        Content-Type: text/plain; charset=UTF-8\r
        Content-Transfer-Encoding: quoted-printable\r
        \r
        Line one\r
        x =3D 1=20\r

        """
        #expect(TestSupport.text(try message.rendered()) == expected)
    }

    @Test func headersAndParts() throws {
        let text = TestSupport.text(try TestSupport.message().rendered())
        #expect(text.hasPrefix("Date: Sat, 06 Dec 2025 05:46:40 +0000\r\n"))
        #expect(text.contains("\r\nFrom: Funnel Team <nurture@funnel.local>\r\n"))
        #expect(text.contains("\r\nTo: Lead <lead@example.com>\r\n"))
        #expect(text.contains("\r\nMessage-ID: <msg-1@funnel.local>\r\n"))
        #expect(text.contains("\r\nList-Unsubscribe: <https://funnel.local/u/abc>\r\n"))
        #expect(text.contains("\r\nMIME-Version: 1.0\r\n"))
        let boundary = MailMessage.boundary(for: "msg-1@funnel.local")
        #expect(text.contains("Content-Type: multipart/alternative;\r\n boundary=\"\(boundary)\"\r\n"))
        #expect(text.contains("--\(boundary)\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHello there,\r\n.leading dot line\r\nBye\r\n--\(boundary)\r\n"))
        #expect(text.contains("Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Hello <b>there</b></p>\r\n--\(boundary)--\r\n"))
        // CRLF only: no bare LF
        let bytes = Array(text.utf8)
        for (i, b) in bytes.enumerated() where b == 10 { #expect(i > 0 && bytes[i - 1] == 13) }
    }

    @Test func nonASCIISubjectIsEncodedAndFolded() throws {
        let subject = "Grüße aus Zürich — Ihr persönliches Angebot wartet auf Sie, jetzt zugreifen! 🎉🎉🎉"
        let message = try TestSupport.message(subject: subject)
        let text = TestSupport.text(try message.rendered())
        let headerBlock = text.components(separatedBy: "\r\n\r\n")[0]
        let lines = headerBlock.components(separatedBy: "\r\n")
        let start = try #require(lines.firstIndex(where: { $0.hasPrefix("Subject: ") }))
        var subjectLines = [lines[start]]
        for line in lines[(start + 1)...] { if line.hasPrefix(" ") { subjectLines.append(line) } else { break } }
        #expect(subjectLines.count > 1, "long subject is folded")
        var decoded = Data()
        for line in subjectLines {
            #expect(line.utf8.count <= 78)
            for word in line.split(separator: " ") where word.hasPrefix("=?") {
                #expect(word.hasPrefix("=?UTF-8?B?") && word.hasSuffix("?="))
                #expect(word.count <= 75)
                decoded.append(try #require(Data(base64Encoded: String(word.dropFirst(10).dropLast(2)))))
            }
        }
        #expect(String(decoding: decoded, as: UTF8.self) == subject)
    }

    @Test func longASCIISubjectFoldsAtSpaces() throws {
        let subject = Array(repeating: "word", count: 40).joined(separator: " ")
        let text = TestSupport.text(try TestSupport.message(subject: subject).rendered())
        let unfolded = text.replacingOccurrences(of: "\r\n ", with: " ")
        #expect(unfolded.contains("\r\nSubject: \(subject)\r\n"))
        for line in text.components(separatedBy: "\r\n") { #expect(line.utf8.count <= 78) }
    }

    @Test func quotedPrintableBody() throws {
        let body = "Prix: 100 € = cheap\n" + String(repeating: "a", count: 200) + "\ntrailing space \nlast"
        let encoded = TestSupport.text(QuotedPrintable.encode(body))
        #expect(encoded.contains("Prix: 100 =E2=82=AC =3D cheap\r\n"))
        #expect(encoded.contains("trailing space=20\r\n"))
        #expect(encoded.hasSuffix("last\r\n"))
        for line in encoded.components(separatedBy: "\r\n") { #expect(line.utf8.count <= 76) }
        // Decode soft breaks and escapes back.
        var decoded: [UInt8] = []
        let joined = Array(encoded.replacingOccurrences(of: "=\r\n", with: "").utf8)
        var i = 0
        while i < joined.count {
            if joined[i] == UInt8(ascii: "="), let v = UInt8(String(decoding: joined[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                decoded.append(v); i += 3
            } else { decoded.append(joined[i]); i += 1 }
        }
        #expect(String(decoding: decoded, as: UTF8.self) == body.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n")
    }

    /// The encoder before it became one pass: lines split into arrays first.
    static func referenceQuotedPrintable(_ text: String) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        var lines: [[UInt8]] = [[]]
        var previousCR = false
        for byte in text.utf8 {
            if byte == 10 {
                if previousCR { previousCR = false; continue }
                lines.append([])
            } else if byte == 13 {
                previousCR = true; lines.append([]); continue
            } else {
                lines[lines.count - 1].append(byte)
            }
            previousCR = false
        }
        if lines.count > 1 && lines.last!.isEmpty { lines.removeLast() }
        for line in lines {
            var length = 0
            for (index, byte) in line.enumerated() {
                let isLast = index == line.count - 1
                let literal = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "=")) || ((byte == 32 || byte == 9) && !isLast)
                let width = literal ? 1 : 3
                if length + width > (isLast ? 76 : 75) { out += [UInt8(ascii: "="), 13, 10]; length = 0 }
                if literal { out.append(byte) } else { out += [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]] }
                length += width
            }
            out += [13, 10]
        }
        return out
    }

    @Test func quotedPrintableMatchesTheReference() {
        var rng = SystemRandomNumberGenerator()
        let pieces = ["a", " ", "\t", "=", "\n", "\r", "\r\n", "é", "€", ".", String(repeating: "x", count: 80), "<a href=\"https://x\">"]
        var cases = ["", "\n", "\r", "a\n", "a\n\n", "a\r\rb", "a\n\r\nb", "trailing \n", String(repeating: "=", count: 90)]
        for _ in 0..<300 { cases.append((0..<Int.random(in: 0...40, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()) }
        for text in cases {
            #expect(QuotedPrintable.encode(text) == Self.referenceQuotedPrintable(text), "\(text.debugDescription)")
        }
    }

    @Test func nonASCIIDisplayName() throws {
        let message = MailMessage(from: try MailAddress("a@funnel.local", displayName: "Jürgen"),
                                  to: [try MailAddress("b@example.com")], subject: "x", text: "y",
                                  messageID: "i@funnel.local", date: 0)
        #expect(TestSupport.text(try message.rendered()).contains("\r\nFrom: =?UTF-8?B?SsO8cmdlbg==?= <a@funnel.local>\r\n"))
    }

    @Test func headerInjectionIsRejected() throws {
        var message = try TestSupport.message(subject: "Hi\r\nBcc: victim@example.com")
        #expect(throws: MailMessageError.headerInjection(header: "Subject")) { try message.rendered() }
        message = try TestSupport.message()
        message.extraHeaders = [("List-Unsubscribe", "<x>\nBcc: v@example.com")]
        #expect(throws: MailMessageError.headerInjection(header: "List-Unsubscribe")) { try message.rendered() }
        message.extraHeaders = [("Bad Name", "x")]
        #expect(throws: MailMessageError.invalidHeaderName("Bad Name")) { try message.rendered() }
        message.extraHeaders = [("From", "x@y")]
        #expect(throws: MailMessageError.reservedHeader("From")) { try message.rendered() }
        message.extraHeaders = []
        message.messageID = "<abc@x>"
        #expect(throws: MailMessageError.invalidMessageID) { try message.rendered() }
        message.messageID = "abc@x\r\nBcc: v"
        #expect(throws: MailMessageError.headerInjection(header: "Message-ID")) { try message.rendered() }
        #expect(throws: MailMessageError.self) { try MailAddress("a@b.c\r\nBcc: v@example.com") }
        #expect(throws: MailMessageError.self) { try MailAddress("no-at-sign") }
        #expect(throws: MailMessageError.self) { try MailAddress("two@@example.com") }
        #expect(throws: MailMessageError.self) { try MailAddress("a@b.c", displayName: "Evil\r\nBcc: v") }
    }

    @Test func dotStuffing() {
        let stuffed = dataBody(Array("a\r\n.b\r\n..c\r\n.".utf8))
        #expect(String(buffer: stuffed) == "a\r\n..b\r\n...c\r\n..\r\n.\r\n")
        #expect(String(buffer: dataBody(Array(".x\r\n".utf8))) == "..x\r\n.\r\n")
    }

    @Test func dateFormatting() {
        #expect(RFC5322Date.format(epochMilliseconds: 0) == "Thu, 01 Jan 1970 00:00:00 +0000")
        #expect(RFC5322Date.format(epochMilliseconds: 951_782_400_000) == "Tue, 29 Feb 2000 00:00:00 +0000")
        #expect(RFC5322Date.format(epochMilliseconds: 1_765_000_000_999) == "Sat, 06 Dec 2025 05:46:40 +0000")
        #expect(RFC5322Date.format(epochMilliseconds: -1) == "Wed, 31 Dec 1969 23:59:59 +0000")
    }
}
