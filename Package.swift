// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "telemetry-migrate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "telemetry-migrate", targets: ["telemetry-migrate"]),
        // For the fuzz package (Fuzz/), which depends on this one by path.
        .library(name: "DumpReader", targets: ["DumpReader"]),
        .library(name: "SmartSolarAPI", targets: ["SmartSolarAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // The only C modules. Exactly one Swift target imports each.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),

        // UTC time arithmetic and formats shared by every layer; no dependencies.
        .target(name: "TelemetryCore"),
        // bytes -> gzip members -> lines -> points or rejects. The only user of CZlib.
        .target(name: "DumpReader", dependencies: ["CZlib", "TelemetryCore"]),
        // A small synchronous layer over libpq. The only user of CLibPQ.
        .target(name: "PostgresClient", dependencies: ["CLibPQ", "TelemetryCore"]),
        // Versioned, idempotent schema migrations.
        .target(name: "TelemetrySchema", dependencies: ["PostgresClient"]),
        // The nightly / backfill / dry-run engine and its report.
        .target(name: "Migration", dependencies: [
            "DumpReader", "PostgresClient", "TelemetrySchema", "TelemetryCore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The SMART Solar API read endpoints.
        .target(name: "SmartSolarAPI", dependencies: [
            "PostgresClient", "TelemetrySchema", "TelemetryCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "telemetry-migrate", dependencies: [
            "DumpReader", "PostgresClient", "TelemetrySchema", "Migration", "SmartSolarAPI", "TelemetryCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: [
            // Release builds on Linux link the Swift runtime, stdlib and Foundation in: the millions
            // of calls a dump makes into the runtime (retain, release, uniqueness checks) skip the
            // PLT, and start-up skips resolving its symbols (docs/benchmarks.md). The flag is needed
            // at compile time too, for the static libraries' autolink entries.
            .unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release)),
        ], linkerSettings: [
            .unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release)),
        ]),

        // Test helpers: a throwaway database per test, running the built executable.
        .target(name: "TestSupport", dependencies: ["PostgresClient", "TelemetryCore"], path: "Tests/TestSupport"),
        .testTarget(name: "DumpReaderTests", dependencies: [
            "DumpReader", "TelemetryCore", "TestSupport",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "PostgresClientTests", dependencies: ["PostgresClient", "TelemetrySchema", "TestSupport"]),
        .testTarget(name: "MigrationTests", dependencies: ["Migration", "DumpReader", "PostgresClient", "TelemetrySchema", "TestSupport"]),
        // Every test that runs the built `telemetry-migrate` (argument-parser's ExampleTests
        // pattern): commands, jobs/ wrappers, kills, reports, exit codes, against a real PostgreSQL.
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "PostgresClient", "TelemetryCore", "Migration"]),
        .testTarget(name: "APITests", dependencies: [
            "SmartSolarAPI", "PostgresClient", "TelemetrySchema", "TestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
