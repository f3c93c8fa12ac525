import Foundation
import Testing
@testable import FunnelDomain

/// The field-specific readers of `funnel report` and `funnel backtest` (``SkimmedStage``,
/// ``SkimmedOutcome``, ``SkimmedActivity``) against the full decoder on the same bytes:
/// whatever a reader accepts, the full decoder accepts with the same values; what it rejects,
/// the reader leaves to it (nil).
@Suite("Skimmed events: the fast readers accept nothing the full decoder rejects")
struct SkimmedEventTests {
    static let lead = "lead-0001"
    static let at = "2026-11-02T10:00:00.000Z"

    static func envelope(_ type: String, _ data: String, id: String = "e-1", subject: String = lead) -> String {
        #"{"data":\#(data),"datacontenttype":"application/json","dataschema":"https://funnel.dev/schemas/\#(type).json","id":"\#(id)","#
            + #""source":"test","specversion":"1.0","subject":"\#(subject)","time":"\#(at)","type":"\#(type)"}"#
    }

    /// Payload variants: valid ones, and ones the full decoder rejects or that need its care.
    static let stageData = [
        #"{"campaign":"c-1","from":null,"lead_id":"lead-0001","occurred_at":"\#(at)","owner":null,"reason":"captured","score":null,"source":"ads","to":"captured"}"#,
        #"{"from":"mql","lead_id":"lead-0001","occurred_at":"\#(at)","owner":"rep-1","reason":"accepted","to":"sal","seconds_to_accept":42,"pool":"p"}"#,
        #"{"from":"mql","lead_id":"lead-0001","occurred_at":"\#(at)","reason":"x","to":"sal","seconds_to_accept":4.0}"#,
        #"{"from":"mql","lead_id":"lead-0001","occurred_at":"\#(at)","reason":"x","to":"sal","seconds_to_accept":"4"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","reason":"x","to":"sal","bant":null}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","reason":"x","to":"sal","score":{"total":70,"grade":"B","quadrant":"hot","model":"m"}}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","reason":"x","to":"bogus"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"yesterday","reason":"x","to":"sal"}"#,
        #"{"lead_id":"lead-0002","occurred_at":"\#(at)","reason":"x","to":"sal"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","reason":"caf\u00e9","to":"sal"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","reason":"café","to":"sal"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","reason":"x","to":"sal","to":"mql"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","to":"sal"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","reason":"x","to":"sal","extra":[1,{"a":2}]}"#,
    ]

    static let outcomeData = [
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","outcome":"won","amount":12000,"currency":"EUR"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","outcome":"won","amount":1.5e3,"currency":"eur"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","outcome":"won","amount":-1}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","outcome":"won","amount":"12"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","outcome":"won","currency":"€€€"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","outcome":"rejected"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","outcome":"rejected","reason":"spam"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","outcome":"rejected","reason":"meh"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","outcome":"accepted","bant":null}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","outcome":"accepted","bant":{"need":{"met":true}}}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","outcome":"maybe"}"#,
    ]

    static let activityData = [
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","type":"page_view","url":"https://example.com/a"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","type":"page_view","attributes":{"duration_seconds":"30"}}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","type":"page_view","attributes":{"duration_seconds":"abc"}}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","type":"page_view","attributes":{"duration_seconds":30}}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","type":"page_view","attributes":{"":"v"}}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","type":"page_view","url":7}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","type":"page_view","source":"\#(String(repeating: "s", count: 101))"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","type":"teleport"}"#,
        #"{"lead_id":"lead-0001","occurred_at":"\#(at)","type":"demo_request","url":"https:\/\/example.com"}"#,
    ]

    /// The verdict of the full decoder, and of the fast reader (nil: left to the full decoder).
    static func check<P: Validatable, Fast>(_ type: P.Type, _ topic: String, _ data: [String], fast: (UnsafeRawBufferPointer) -> Fast?,
                                            same: (CloudEvent<P>, Fast) -> Bool) -> Int {
        var taken = 0
        for d in data {
            for json in [envelope(topic, d), envelope(topic, d, id: ""), envelope(topic, d).replacingOccurrences(of: "1.0", with: "0.3")] {
                let bytes = Array(json.utf8)
                let full = EventDecoder.decode(type, from: bytes, expectedType: topic)
                guard let skimmed = bytes.withUnsafeBytes(fast) else { continue }
                taken += 1
                guard case .success(let event) = full else { Issue.record("accepted what the full decoder rejects: \(json)"); continue }
                #expect(same(event, skimmed), "\(json)")
            }
        }
        return taken
    }

    @Test("stage changes")
    func stages() {
        let taken = Self.check(StageChanged.self, TopicCatalog.stageChanged, Self.stageData, fast: SkimmedStage.init) { e, s in
            s.leadID == e.data.leadID && s.from == e.data.from && s.to == e.data.to && s.at == Timestamp.milliseconds(e.data.occurredAt)
                && s.idHash == FNV1a.hash(e.id) && s.reason == e.data.reason && s.owner == e.data.owner && s.source == e.data.source
                && s.campaign == e.data.campaign && s.secondsToAccept == e.data.secondsToAccept
        }
        #expect(taken == 2)
    }

    @Test("outcomes")
    func outcomes() {
        let taken = Self.check(LeadOutcome.self, TopicCatalog.outcome, Self.outcomeData, fast: SkimmedOutcome.init) { e, s in
            s.leadID == e.data.leadID && s.outcome == e.data.outcome && s.time == Timestamp.milliseconds(e.data.occurredAt)
                && s.idHash == FNV1a.hash(e.id) && s.amount == e.data.amount && s.currency == e.data.currency
        }
        #expect(taken == 4)
    }

    @Test("activities")
    func activities() {
        let taken = Self.check(LeadActivity.self, TopicCatalog.activity, Self.activityData, fast: SkimmedActivity.init) { e, s in
            s.leadID == e.subject && s.record == BacktestHistory.record(e.data, eventID: e.id)
        }
        #expect(taken == 3)
    }
}
