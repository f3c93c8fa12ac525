import Foundation
import FunnelDomain
import FunnelKafka
import FunnelRuntime
import FunnelStages
import Logging
import Testing

/// GDPR erasure (`funnel.lead.erased.v1`) in each stateful stage: the lead's state goes, the
/// changelog gets a deletion marker (what a restore reads as absent), follow-up keeps only a
/// suppression with the salted hash of the address, route gives the owner's slot back.
@Suite("Erasure in the stateful stages")
struct ErasureTests {
    static func erased(_ lead: String, id: String = "erase-1", at time: String = "2026-12-02T12:00:00Z") -> ConsumerMessage {
        let event = CloudEvent(id: id, source: "test", type: TopicCatalog.erased, time: time, subject: lead,
                               data: LeadErased(leadID: lead, requestedAt: time, requestedBy: "test"))
        return ConsumerMessage(topic: TopicCatalog.erased, partition: 0, offset: 0, key: Array(lead.utf8), value: EventCoding.encode(event))
    }

    /// The last changelog record of `key` in a checkpoint.
    static func record(_ checkpoint: [Int32: [ProducerMessage]], _ key: String) throws -> TableRecord {
        let message = try #require(checkpoint.values.flatMap { $0 }.last { $0.key == Array(key.utf8) })
        return try TableRecord(decoding: message.value ?? [])
    }

    @Test("funnel-score: the lead's facts and score are deleted; the changelog holds a deletion marker; a restore has no lead")
    func score() throws {
        let model = try ScoringModel.parse(yaml: String(contentsOfFile: ProjectPaths.configDirectory + "/scoring-model.yaml", encoding: .utf8),
                                           file: "scoring-model.yaml")
        let processor = ScoreProcessor(scorer: Scorer(model: model), logger: Logger(label: "test"))
        var changelog: [ProducerMessage] = []
        func stage() -> StatefulStage<ScoreProcessor> {
            let records = changelog
            let s = StatefulStage(processor, readChangelog: { _, body in
                for (offset, r) in records.enumerated() { body(ConsumerMessage(topic: r.topic, partition: 0, offset: Int64(offset), key: r.key, value: r.value)) }
                return records.count
            }, logger: Logger(label: "test"))
            s.assigned([TopicPartition(topic: TopicCatalog.enriched, partition: 0)])
            return s
        }
        let s = stage()
        let lead = "lead-00000000000000000001"
        let profile = LeadCaptured(leadID: lead, email: "ada@acme.example", capturedAt: "2026-12-02T10:00:00Z")
        let enriched = CloudEvent(id: "e1", source: "test", type: TopicCatalog.enriched, time: "2026-12-02T10:00:00Z", subject: lead,
                                  data: LeadEnriched(leadID: lead, profile: profile, emailClass: .corporate, contactAvailable: true, company: nil,
                                                     enrichedAt: "2026-12-02T10:00:00Z"))
        #expect(try s.process(ConsumerMessage(topic: TopicCatalog.enriched, partition: 0, offset: 0, key: Array(lead.utf8),
                                              value: EventCoding.encode(enriched))).messages.count == 1)
        changelog += s.checkpoint().values.flatMap { $0 }
        #expect(s.value(of: lead) != nil)
        #expect(stage().value(of: lead) != nil) // restored before the erasure

        #expect(try s.process(Self.erased(lead)).messages.isEmpty)
        #expect(s.value(of: lead) == nil)
        let checkpoint = s.checkpoint()
        let marker = try Self.record(checkpoint, lead)
        #expect(marker.value == nil && marker.timers.isEmpty)
        changelog += checkpoint.values.flatMap { $0 }
        #expect(stage().value(of: lead) == nil) // a restart restores nothing of the lead
    }

    @Test("funnel-route: the lifecycle is deleted and the owner's open-lead slot goes back to the pool")
    func route() throws {
        let loop = PoolRoutingTests.Loop()
        let lead = "lead-00000000000000000002"
        try loop.feed(PoolRoutingTests.scored(lead, id: "s1"))
        #expect(try loop.changes().last?.owner == "a")
        #expect(loop.pool("inbound")?.members.first?.open == 1)
        #expect(loop.leads.value(of: lead)?.lifecycle.stage == .mql)
        #expect(loop.leads.timers(of: lead).isEmpty == false) // the SLA timer

        try loop.feed(Self.erased(lead))
        #expect(loop.leads.value(of: lead) == nil && loop.leads.timers(of: lead).isEmpty)
        #expect(loop.pool("inbound")?.members.first?.open == 0) // released
        let marker = try Self.record(loop.leads.checkpoint(), lead)
        #expect(marker.value == nil && marker.timers.isEmpty)
        // The SLA timer is gone with the state: nothing fires for the lead later.
        loop.clock.advance(by: 10 * 86_400_000)
        let before = loop.published.count
        try loop.fireTimers()
        #expect(loop.published.count == before)
        // A re-delivered erase request changes nothing and releases nothing twice.
        try loop.feed(Self.erased(lead))
        #expect(loop.pool("inbound")?.members.first?.open == 0)
    }

    @Test("funnel-followup: contact and enrolment deleted, a suppression with the salted hash kept; no step after it, also after a restart or a new enrolment")
    func followup() throws {
        let t = FollowupProcessorTests()
        let lead = "lead-00000000000000000003"
        let changelog = FollowupProcessorTests.Changelog(), clock = ManualClock(FollowupProcessorTests.start)
        var s = t.stage(changelog, clock)
        _ = try s.process(t.enriched(lead))
        _ = try s.process(t.changed(lead, to: .nurture, at: FollowupProcessorTests.start, id: "c1"))
        #expect(try t.commands(s.fireDueTimers()).count == 1) // the intro went out
        changelog.append(s.checkpoint())

        #expect(try s.process(Self.erased(lead)).messages.isEmpty)
        let state = try #require(s.value(of: lead))
        #expect(state.suppression == .erased && state.contact == FollowupLeadState.Contact() && state.enrolment == nil)
        #expect(state.erasedAddressHash == Erasure.addressHash("ada@acme.example", salt: Array("funnel-erasure".utf8)))
        #expect(state.erasedAddressHash?.contains("ada") == false && state.erasedAddressHash?.count == 64)
        #expect(s.timers(of: lead).isEmpty)
        changelog.append(s.checkpoint())

        // The next step never comes, not after a restart either.
        clock.advance(by: 120 * FollowupProcessorTests.minute)
        #expect(try t.commands(s.fireDueTimers()).isEmpty)
        s = t.stage(changelog, clock)
        #expect(s.value(of: lead)?.suppression == .erased && s.value(of: lead)?.contact.email == nil)
        #expect(try t.commands(s.fireDueTimers()).isEmpty)
        // The person comes back through a form: never mailed again.
        _ = try s.process(t.enriched(lead))
        _ = try s.process(t.changed(lead, to: .nurture, at: FollowupProcessorTests.start + 200 * FollowupProcessorTests.minute, id: "c9"))
        clock.advance(by: 400 * FollowupProcessorTests.minute)
        #expect(try t.commands(s.fireDueTimers()).isEmpty)
        #expect(s.value(of: lead)?.enrolment?.status == .suppressed && s.value(of: lead)?.enrolment?.reason == "erased")
    }

    @Test("the binary state keeps the erasure across encode/decode; a record from before the field decodes as before")
    func followupStateEncoding() throws {
        var state = FollowupLeadState()
        state.suppression = .erased
        state.erasedAddressHash = "ab12"
        #expect(try FollowupLeadState(decoding: state.encoded()) == state)
        var old = FollowupLeadState()
        old.contact.email = "x@y.example"
        #expect(try FollowupLeadState(decoding: old.encoded()) == old) // no trailing field written
    }

    @Test("an erase request names a lead by e-mail (as ingest derives it) or by lead id")
    func subject() throws {
        #expect(try Erasure.leadID(for: "  Ada@Acme.Example ").get() == EventID.lead(forContact: "ada@acme.example"))
        #expect(try Erasure.leadID(for: "lead-4617d6144834188ce681").get() == "lead-4617d6144834188ce681")
        // The person, not the spelling: Gmail dots and +tags fold as at the edge.
        #expect(try Erasure.leadID(for: "A.Da+news@gmail.com").get() == Erasure.leadID(for: "ada@gmail.com").get())
        #expect((try? Erasure.leadID(for: "lead-xyz").get()) == nil)
        #expect((try? Erasure.leadID(for: "ada@").get()) == nil)
        #expect(LeadErased(leadID: "lead-4617d6144834188ce681", requestedAt: "2026-12-02T12:00:00Z", requestedBy: "x").validate().isEmpty)
        #expect(LeadErased(leadID: "nope", requestedAt: "yesterday", requestedBy: "").validate().map(\.field) == ["lead_id", "requested_at", "requested_by"])
    }
}
