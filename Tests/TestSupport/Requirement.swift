import Foundation

/// What a test needs from outside the package, and the one place that decides whether a test
/// that needs it runs: `@Suite(.enabled(if: Requirement.database.testsRun))`.
///
/// Invariant: under `CI=true` every test runs, so a missing database, a missing `../shared`
/// or a missing executable fails the suite instead of skipping most of it; elsewhere (a plain
/// `swift test` on a laptop) a test whose requirement is not met is skipped.
public enum Requirement: Sendable, CaseIterable {
    /// A PostgreSQL server from libpq's environment (`PGHOST`, `PGPORT` or `PGDATABASE`), as `jobs/test` sets up.
    case database
    /// `../shared/real-dumps`: exports written by a real InfluxDB.
    case sharedDumps
    /// The built `telemetry-migrate` executable.
    case executable

    /// True under `CI=true` (or `CI=1`), as CI systems set it.
    public static var isCI: Bool {
        ["true", "1"].contains(ProcessInfo.processInfo.environment["CI"]?.lowercased() ?? "")
    }

    public var isMet: Bool {
        switch self {
        case .database:
            let env = ProcessInfo.processInfo.environment
            return env["PGHOST"] != nil || env["PGPORT"] != nil || env["PGDATABASE"] != nil
        case .sharedDumps: return FileManager.default.fileExists(atPath: Package.sharedRealDumps.path)
        case .executable: return FileManager.default.isExecutableFile(atPath: Package.executable)
        }
    }

    /// Whether tests that need this run: when it is met, and always under CI.
    public var testsRun: Bool { isMet || Self.isCI }

    /// Throws a clear failure when this is not met (for a test that runs under CI without it).
    public func check() throws {
        guard !isMet else { return }
        throw TestFailure("\(self) is required and missing (CI=true runs every test: configure it rather than skipping)")
    }
}
