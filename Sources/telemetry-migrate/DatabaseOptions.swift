import ArgumentParser
import Foundation
import Migration
import PostgresClient

/// Where the database is: `--database-url`, else `DATABASE_URL`, else libpq's own `PG*`
/// variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSERVICE`, ...).
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"),
            help: ArgumentHelp("PostgreSQL URL (postgresql://user@host:5432/db) or libpq conninfo; default: $DATABASE_URL, else libpq's PG* variables. Prefer PGPASSWORD or ~/.pgpass to a password in the URL.",
                               valueName: "url"))
    var databaseURL: String?

    /// The connection string to use; nil means libpq's `PG*` environment. An empty value counts as absent.
    var connectionString: String? {
        if let databaseURL, !databaseURL.isEmpty { return databaseURL }
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty { return url }
        return nil
    }

    /// Where the tool connects, safe to print (password removed).
    var target: String {
        connectionString.map(redactedConnectionString) ?? "libpq environment (PG* variables)"
    }

    /// Connects, or prints why not (password removed) and exits with 2: an unreachable or
    /// misconfigured database is a configuration error (DESIGN.md).
    func connect(applicationName: String) throws -> PostgresConnection {
        try open(applicationName) { fail("telemetry-migrate: \($0)\n  database: \(target)", code: .usage) }
    }

    /// Connects, or throws why not naming the target (password removed), for a run to report:
    /// a `--workers` run's further connections.
    func connectForRun(applicationName: String) throws -> PostgresConnection {
        try open(applicationName) { UsageError("another connection for --workers: \($0) (database: \(target))") }
    }

    /// Connects; a connection error becomes what `failure` makes of it.
    private func open(_ applicationName: String, failure: (PostgresError) -> Error) throws -> PostgresConnection {
        do {
            return try PostgresConnection(url: connectionString, applicationName: applicationName)
        } catch let error as PostgresError {
            throw failure(error)
        }
    }
}
