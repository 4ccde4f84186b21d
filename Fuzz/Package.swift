// swift-tools-version:6.0
// libFuzzer targets for the readers of untrusted bytes. Built and run by `jobs/fuzz`, which
// passes `-sanitize=fuzzer,address` to every Swift target (coverage in the code under test).
// Each target's main.swift hands its `LLVMFuzzerTestOneInput` to libFuzzer (FuzzDriver).
import PackageDescription

let package = Package(
    name: "telemetry-migrate-fuzz",
    dependencies: [.package(name: "telemetry-migrate", path: "..")],
    targets: [
        .target(name: "FuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["FuzzDriver", .product(name: "DumpReader", package: "telemetry-migrate")]),
        .executableTarget(name: "fuzz-lineprotocol", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "fuzz-csv", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "fuzz-gzip", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "fuzz-query", dependencies: [
            "FuzzDriver", .product(name: "SmartSolarAPI", package: "telemetry-migrate"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
