import FunnelRuntime
import Testing

/// Log redaction: personal data masked, diagnostics left alone.
@Suite("Log redaction")
struct RedactTests {
    @Test("e-mail addresses and phone numbers are masked, with their surrounding punctuation kept", arguments: [
        ("lead ada.lovelace@acme.example bounced", "lead <email> bounced"),
        ("to \"ada+test@acme.co.uk\",", "to \"<email>\","),
        ("call +49 30 1234567 or +4930123456789", "call +49 30 1234567 or <phone>"),
        ("(030) 1234-5678", "(030) <phone>"),
        ("phone 01711234567", "phone <phone>"),
    ])
    func masked(_ c: (String, String)) {
        #expect(Redact.personalData(c.0) == c.1)
    }

    @Test("diagnostics stay readable: topic[partition]@offset, offsets, counts, rates", arguments: [
        "fetch funnel.lead.scored.v1[3]@1234567 failed",
        "read 12345678 records in 2.5 s",
        "rate 1000000.0 per second",
        "user@localhost", // no dot in the domain: not an address we store
    ])
    func kept(_ text: String) {
        #expect(Redact.personalData(text) == text)
    }

    @Test("metadata: plain numbers are diagnostics unless the key names personal data")
    func metadata() {
        #expect(Redact.metadataValue(key: "per_second", "1000000.0") == "1000000.0")
        #expect(Redact.metadataValue(key: "offset", "12345678") == "12345678")
        #expect(Redact.metadataValue(key: "phone", "4930123456") == "<phone>")
        #expect(Redact.metadataValue(key: "email", "a@b.example") == "<email>")
        #expect(Redact.metadataValue(key: "error", "delivery to a@b.example failed") == "delivery to <email> failed")
        #expect(Redact.metadataValue(key: "contact", "+4930123456789") == "<phone>")
        #expect(Redact.metadataValue(key: "contact", "04930123456789") == "<phone>")
    }
}
