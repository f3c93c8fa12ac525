import AsyncHTTPClient
import NIOCore

/// The HTTP client of the provider calls: one per process, never shut down (it lives as long as
/// the process). Its pool does not cap the connections per host the way the shared client does
/// (8): the calls in flight are bounded by the re-enrichment loop (`FUNNEL_ENRICH_CONCURRENCY`).
public enum ProviderHTTP {
    public static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
