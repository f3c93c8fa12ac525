// swift-tools-version: 6.1
import PackageDescription
import Foundation

/// Executables find the newer librdkafka runtime (installed by scripts/bootstrap.sh into
/// `.funnel/lib`) through an rpath, so `swift run`, `swift test` and `funnel dev` need no
/// environment variables. Debian's 2.0.2 is only used for headers and the link step.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
let runtimeLibraryPath: [LinkerSetting] = [
    .unsafeFlags([
        "-Xlinker", "-rpath", "-Xlinker", "\(packageRoot)/.funnel/lib",
        "-Xlinker", "-rpath", "-Xlinker", "$ORIGIN/../lib/funnel",
    ]),
]

/// Release builds optimise across our own modules: the stateful runtime is generic
/// (`StatefulStage<P>`, `TablePartition<Value>`) and its hot paths are specialised for each
/// stage's processor only when the compiler may see their bodies from the stage's module.
let crossModule: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "Funnel",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "funnel", targets: ["funnel"]),
        .executable(name: "funnel-ingest", targets: ["funnel-ingest"]),
        .executable(name: "funnel-enrich", targets: ["funnel-enrich"]),
        .executable(name: "funnel-score", targets: ["funnel-score"]),
        .executable(name: "funnel-route", targets: ["funnel-route"]),
        .executable(name: "funnel-followup", targets: ["funnel-followup"]),
        .library(name: "FunnelKafka", targets: ["FunnelKafka"]),
        .library(name: "FunnelDomain", targets: ["FunnelDomain"]),
        .library(name: "FunnelRuntime", targets: ["FunnelRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // librdkafka's C API. Only FunnelKafka (and the C baseline used by the benchmark) import it.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // Bare librdkafka loops, the yardstick for `funnel bench kafka`.
        .target(name: "CKafkaBaseline", dependencies: ["CRdKafka"]),

        // The Kafka wrapper: producer, consumer (AsyncSequence), admin, configuration, errors.
        .target(
            name: "FunnelKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: crossModule,
            linkerSettings: runtimeLibraryPath
        ),
        // The domain: events, codecs, stages, scoring and routing rules. Pure Swift, no I/O.
        .target(name: "FunnelDomain", dependencies: [
            .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: crossModule),
        // What every process shares: configuration, JSON logs, metrics, HTTP health, the stage
        // runner, checkpoints, and keyed state with durable timers (State/).
        .target(
            name: "FunnelRuntime",
            dependencies: [
                "FunnelKafka", "FunnelDomain",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ],
            swiftSettings: crossModule
        ),
        // A small SMTP client on SwiftNIO (pool, STARTTLS, AUTH, retries): funnel-followup's mail edge.
        .target(name: "FunnelSMTP", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Logging", package: "swift-log"),
        ]),
        // The stage processors (a folder per stage), shared by their executable and `funnel bench`.
        .target(name: "FunnelStages", dependencies: [
            "FunnelRuntime", "FunnelDomain", "FunnelKafka", "FunnelSMTP", .product(name: "Logging", package: "swift-log"),
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: crossModule),
        // Enrichment providers over HTTP (deploy/enrichment.yaml): the async-http-client edge,
        // the shared company cache (a compacted topic) and the re-enrichment loop of funnel-enrich.
        .target(name: "FunnelProviders", dependencies: [
            "FunnelRuntime", "FunnelDomain", "FunnelKafka",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // The local harness: Tansu, child processes, the five-process pipeline, HTTP probes.
        // Used by `funnel dev`, `funnel bench` and the tests; no service links it.
        .target(name: "FunnelDevKit", dependencies: ["FunnelRuntime", "FunnelKafka", "FunnelDomain"]),

        .executableTarget(
            name: "funnel",
            dependencies: [
                "FunnelRuntime", "FunnelKafka", "FunnelDomain", "FunnelStages", "FunnelDevKit", "CKafkaBaseline", "FunnelSMTP", "FunnelProviders",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(name: "funnel-ingest", dependencies: [
            "FunnelRuntime", "FunnelDomain", "FunnelKafka",
            .product(name: "Crypto", package: "swift-crypto"), .product(name: "Yams", package: "Yams"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
        ]),
        .executableTarget(name: "funnel-enrich", dependencies: ["FunnelRuntime", "FunnelDomain", "FunnelKafka", "FunnelProviders"]),
        .executableTarget(name: "funnel-score", dependencies: ["FunnelRuntime", "FunnelDomain", "FunnelStages"]),
        .executableTarget(name: "funnel-route", dependencies: ["FunnelRuntime", "FunnelDomain", "FunnelKafka", "FunnelStages"]),
        .executableTarget(name: "funnel-followup", dependencies: ["FunnelRuntime", "FunnelDomain", "FunnelKafka", "FunnelStages", "FunnelSMTP"]),

        // Helpers every integration suite shares (client settings, a collector, a time guard).
        .target(name: "FunnelTestSupport", dependencies: ["FunnelDevKit", "FunnelKafka"], path: "Tests/FunnelTestSupport"),
        .testTarget(name: "FunnelDomainTests", dependencies: ["FunnelDomain"]),
        .testTarget(name: "FunnelKafkaTests", dependencies: ["FunnelKafka", "FunnelRuntime", "FunnelDevKit", "FunnelTestSupport"]),
        .testTarget(name: "FunnelRuntimeTests", dependencies: [
            "FunnelRuntime", "FunnelDomain", "FunnelKafka", "FunnelDevKit", "FunnelTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "FunnelSMTPTests", dependencies: ["FunnelSMTP", "FunnelDevKit", "FunnelTestSupport"]),
        .testTarget(name: "FunnelStagesTests", dependencies: [
            "FunnelStages", "FunnelRuntime", "FunnelDomain", "FunnelKafka", "FunnelDevKit", "FunnelTestSupport", "FunnelSMTP",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "FunnelProvidersTests", dependencies: [
            "FunnelProviders", "FunnelRuntime", "FunnelDomain", "FunnelKafka", "FunnelDevKit", "FunnelTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .testTarget(name: "FunnelPipelineTests", dependencies: [
            "FunnelRuntime", "FunnelStages", "FunnelDomain", "FunnelKafka", "FunnelDevKit", "FunnelTestSupport", "FunnelSMTP",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
