import FunnelDomain
import Testing

@Suite("Topic catalogue")
struct TopicCatalogTests {
    @Test("every topic named in the brief is in the catalogue, once")
    func briefTopics() {
        let names = TopicCatalog.all().map(\.name)
        #expect(Set(names).count == names.count)
        for topic in ["funnel.lead.captured.v1", "funnel.lead.activity.v1", "funnel.lead.enriched.v1",
                      "funnel.lead.scored.v1", "funnel.lead.routed.v1", "funnel.lead.stage-changed.v1",
                      "funnel.lead.outcome.v1", "funnel.deadletter.v1"] {
            #expect(names.contains(topic), "\(topic) missing")
        }
    }

    @Test("state topics are compacted and follow funnel.<service>.<store>.v1")
    func changelogs() {
        let compacted = TopicCatalog.all().filter(\.isCompacted)
        #expect(!compacted.isEmpty)
        for topic in compacted {
            let parts = topic.name.split(separator: ".")
            #expect(parts.count == 4 && parts[0] == "funnel" && parts[3] == "v1", "\(topic.name)")
        }
        #expect(TopicCatalog.all().filter { $0.name.hasPrefix("funnel.lead.") }.allSatisfy { !$0.isCompacted })
    }

    @Test("partition counts follow the requested scale")
    func partitions() {
        #expect(TopicCatalog.all(partitions: 12).first { $0.name == TopicCatalog.scored }?.partitions == 12)
        #expect(TopicCatalog.all(partitions: 12).first { $0.name == TopicCatalog.deadLetter }?.partitions == 3)
        #expect(TopicCatalog.all().first { $0.name == TopicCatalog.deadLetter }?.configs["retention.ms"] == "2592000000")
    }

    @Test("stage names are the public contract's")
    func stages() {
        #expect(Stage.allCases.map(\.rawValue) == ["captured", "identified", "mql", "sal", "sql", "customer", "lost", "nurture", "disqualified"])
    }
}
