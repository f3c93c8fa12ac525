import FunnelDomain
import FunnelKafka
import FunnelRuntime

/// funnel-route's pool side: assignment commands (keyed by pool) and `funnel reps` controls →
/// answers keyed by lead, each pool's distribution state in the table `funnel.route.pools.v1`.
///
/// One replica owns a pool's partition, so a pool's round robin and counters are global
/// however many replicas run, and its only writer is the replica that owns it. The decisions
/// are ``RoutingConfig/decide(_:state:at:)``'s (pure), made at the request's event time.
///
/// - A request seen recently (its id is in the pool's state) is answered once only.
/// - A pool with nobody available forwards the request to its fallback pool (a new command
///   keyed by that pool) or answers with its fallback queue.
/// - Answers and forwards take ids derived from the request and their content: a replay that
///   read the controls and the requests in another order says so with another id (and the lead
///   side hands a second answer back), never the same id with other bytes.
public struct PoolProcessor: KeyedProcessor {
    public typealias Value = PoolState
    public static let service = "funnel-route"
    public static let changelogTopic = TopicCatalog.changelog(service: "route", store: "pools")

    public let routing: RoutingConfig
    public let table = TableDefinition(service: "route", store: "pools", inputs: [TopicCatalog.assignments, TopicCatalog.reps])

    public init(routing: RoutingConfig) { self.routing = routing }

    public func encode(_ value: PoolState) -> [UInt8] { value.encoded() }
    public func decode(_ bytes: ArraySlice<UInt8>) throws -> PoolState { try PoolState(decoding: bytes) }

    public func process(_ message: ConsumerMessage, in partition: TablePartition<PoolState>) throws(StageFailure) -> [ProducerMessage] {
        if message.topic == TopicCatalog.reps {
            let control = try StageIO.decode(RepControl.self, message).data
            guard let pool = routing.pools[control.pool] else {
                throw StageFailure(field: "data.pool", reason: "no pool '\(control.pool)' in routing.yaml \(routing.version)")
            }
            guard pool.members.contains(where: { $0.rep == control.rep }) else {
                throw StageFailure(field: "data.rep", reason: "'\(control.rep)' is not a member of pool '\(control.pool)' in routing.yaml \(routing.version)")
            }
            partition.update(control.pool) { state in
                if state == nil { state = PoolState() }
                state!.align(with: pool)
                state!.apply(control)
            }
            return []
        }
        let event = try StageIO.decode(AssignmentCommand.self, message)
        let command = event.data
        guard let pool = routing.pools[command.pool] else {
            throw StageFailure(field: "data.pool", reason: "no pool '\(command.pool)' in routing.yaml \(routing.version)")
        }
        guard let time = Timestamp.milliseconds(command.at) else { throw StageFailure(field: "data.at", reason: "not a date-time") }
        return partition.update(command.pool) { state -> [ProducerMessage] in
            if state == nil { state = PoolState() }
            state!.align(with: pool)
            guard state!.markSeen(event.id) else { return [] } // re-delivered or re-sent: answered already
            switch command.kind {
            case .release:
                state!.release(command.rep ?? "")
                return []
            case .assign:
                switch routing.decide(pool, state: &state!, at: time, excluding: command.exclude) {
                case .owner(let rep, let reason):
                    return [answer(command, pool: pool.name, owner: rep, queue: nil, reason: reason,
                                   sequence: state!.members.reduce(0) { $0 + $1.assigned })]
                case .queue(let queue, let reason):
                    return [answer(command, pool: pool.name, owner: nil, queue: queue, reason: reason)]
                case .forward(let next, let reason):
                    let hops = (command.hops ?? 0) + 1
                    guard hops <= routing.pools.count else { // routing.yaml forbids loops; a guard all the same
                        return [answer(command, pool: pool.name, owner: nil, queue: "unassigned", reason: reason + "; too many fallbacks")]
                    }
                    var forwarded = command
                    forwarded.pool = next
                    forwarded.hops = hops
                    let bytes = EventCoding.encodeContentAddressed(forwarded, deriving: [command.requestID, "forward", String(hops)],
                                                                   source: Self.service, type: TopicCatalog.assignments,
                                                                   time: command.at, subject: command.leadID).bytes
                    return [ProducerMessage(topic: TopicCatalog.assignments, key: next, value: bytes)]
                }
            }
        }
    }

    private func answer(_ command: AssignmentCommand, pool: String, owner: String?, queue: String?, reason: String,
                        sequence: Int64? = nil) -> ProducerMessage {
        let answer = AssignmentAnswer(leadID: command.leadID, requestID: command.requestID, pool: pool, owner: owner, queue: queue,
                                      reason: reason, at: command.at, sequence: sequence)
        return StageIO.contentAddressedOutput(answer, topic: TopicCatalog.assigned, leadID: command.leadID,
                                              deriving: [command.requestID, "answer"], source: Self.service, time: command.at)
    }
}
