import Hummingbird

/// `funnel_http_request_duration_seconds{route,code}`: every HTTP request a process answers, by
/// route and status code, timed from its head to its reply (the count per label set is the
/// request rate; `code=~"5.."` the server errors).
///
/// `route` is the route's pattern as registered (`/v1/leads`, `/t/c/{token}`, `/metrics`), never
/// the raw path, so no client can create series; `code` is the numeric status. Requests for a
/// path no route matches are not counted (Hummingbird answers them 404 before any middleware).
public enum HTTPMetrics {
    public static let name = "funnel_http_request_duration_seconds"
    static let help = "HTTP requests by route pattern and status code, from request head to response head."
    /// Up to 30 s: funnel-ingest waits for Kafka's acknowledgement (10 s by default) before it answers.
    public static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    /// The histogram of one route and status code.
    public static func histogram(_ metrics: MetricsRegistry, route: String, code: Int) -> MetricsRegistry.Histogram {
        metrics.histogram(name, help: help, labels: ["route": route, "code": String(code)], buckets: buckets)
    }
}

/// Times the router's requests into ``HTTPMetrics`` (added before any route: Hummingbird applies
/// a middleware only to the routes registered after it).
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: MetricsRegistry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            observe(context, code: Int(response.status.code), since: started)
            return response
        } catch {
            // Turned into a response by the router: its status, or 500 for anything else.
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            observe(context, code: Int(status.code), since: started)
            throw error
        }
    }

    private func observe(_ context: Context, code: Int, since started: ContinuousClock.Instant) {
        HTTPMetrics.histogram(metrics, route: context.endpointPath ?? "unknown", code: code)
            .observe((ContinuousClock.now - started).seconds)
    }
}
