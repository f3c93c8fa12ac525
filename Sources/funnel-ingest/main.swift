import FunnelRuntime

/// funnel-ingest: the public HTTP entry. Validates, assigns lead ids, and replies 202 only
/// after Kafka acknowledged every event of the request.
await ServiceMain.run(service: "funnel-ingest", defaultPort: 8080) { context, router in
    IngestRoutes(context: context).register(on: router)
    context.health.setReady(true)
    return []
}
