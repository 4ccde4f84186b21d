import ArgumentParser
import Foundation
import Logging
import PostgresClient
import SmartSolarAPI
import TelemetrySchema

extension TelemetryMigrate {
    /// `telemetry-migrate serve`: the SMART Solar API read endpoints over HTTP.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the SMART Solar API endpoints for product_migration_history and rtc_connection_history.",
            discussion: """
                Endpoints (JSON; header `Authorization: Token token=<64 characters>`, see `token create`):
                  GET    /v1/product_migration_history[/<id>]   permission OVERVIEW
                  GET    /v1/rtc_connection_history[/<id>]      permission OVERVIEW
                  DELETE /v1/rtc_connection_history/<id>        permission SYSTEM (204)
                Lists take Flask-Restless's `q` (JSON: filters, order_by, limit, offset, group_by,
                single) and `page` / `results_per_page` (default 10, at most 100).
                serve never changes the schema (its role needs no DDL rights, see docs/api.md):
                it checks that the schema is at version 4 or later and exits 2 if not
                (run `telemetry-migrate schema apply` first).
                Limits: every statement --statement-timeout ms, lock waits --lock-timeout ms,
                a request waits at most --acquire-timeout s for a connection (then 503 with
                Retry-After), an idle or half-sent HTTP connection is closed after --idle-timeout s.

                Examples:
                  telemetry-migrate serve --database-url postgresql://api@db/smartsolar
                  DATABASE_URL=postgresql://localhost/smartsolar \\
                    telemetry-migrate serve --host 0.0.0.0 --port 8080 --pool-size 16
                  TOKEN=$(telemetry-migrate token create \\
                            --user ops@example.com --permission OVERVIEW)
                  API=http://127.0.0.1:8080/v1
                  curl -H "Authorization: Token token=$TOKEN" \\
                    "$API/product_migration_history?results_per_page=50&page=2"
                  curl -G -H "Authorization: Token token=$TOKEN" \\
                    "$API/rtc_connection_history" --data-urlencode \\
                    'q={"filters":[{"name":"connection_status","op":"==","val":"offline"}],
                        "order_by":[{"field":"connection_status_time","direction":"desc"}]}'
                """)

        @Option(help: "Address to listen on (loopback by default; 0.0.0.0 for every interface).")
        var host = "127.0.0.1"

        @Option(help: "Port to listen on (0 picks a free port, printed on stdout).")
        var port = 8080

        @OptionGroup var database: DatabaseOptions

        @Option(help: "PostgreSQL connections serving requests (requests beyond wait their turn).")
        var poolSize = 8

        @Option(help: "statement_timeout of every query, in milliseconds (then 503).")
        var statementTimeout = 5_000

        @Option(help: "lock_timeout of every query, in milliseconds (then 503).")
        var lockTimeout = 1_000

        @Option(help: "Seconds a request may wait for a free database connection (then 503 with Retry-After).")
        var acquireTimeout = 2.0

        @Option(help: "Seconds after which an idle or half-sent HTTP connection is closed.")
        var idleTimeout = 10.0

        @Option(help: "Seconds a validated token is remembered (0: check the database on every request).")
        var tokenCache = 5.0

        func validate() throws {
            guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
            guard (1...256).contains(poolSize) else { throw ValidationError("--pool-size must be 1...256") }
            guard statementTimeout >= 0, lockTimeout >= 0 else { throw ValidationError("--statement-timeout and --lock-timeout must be >= 0") }
            guard acquireTimeout > 0, acquireTimeout <= 600 else { throw ValidationError("--acquire-timeout must be in (0, 600]") }
            guard idleTimeout > 0, idleTimeout <= 3600 else { throw ValidationError("--idle-timeout must be in (0, 3600]") }
            guard tokenCache >= 0, tokenCache <= 60 else { throw ValidationError("--token-cache must be 0...60") }
        }

        func run() async throws {
            let limits = PoolLimits(statementTimeoutMs: statementTimeout, lockTimeoutMs: lockTimeout,
                                    acquireTimeout: .milliseconds(Int64(acquireTimeout * 1000)))
            let configuration = APIServerConfiguration(
                host: host, port: port, databaseURL: database.connectionString, poolSize: poolSize, limits: limits,
                idleTimeout: .milliseconds(Int64(idleTimeout * 1000)), tokenCacheSeconds: tokenCache)
            do {
                try await APIServer(configuration: configuration).run(handleSignals: true) { port in
                    FileHandle.standardOutput.write(Data("listening on http://\(host):\(port)\n".utf8))
                }
            } catch let error as PostgresError {
                throw fail("serve: \(error)", code: .usage)
            } catch let error as SchemaTooOld {
                throw fail("serve: \(error)", code: .usage)
            }
        }
    }
}


/// Connects once and applies the schema (idempotent), so that `api_token` exists (used by
/// `token create`, not by `serve`); an unreachable database exits with 2, its message
/// without the password.
func applySchemaForAPI(_ database: DatabaseOptions) throws {
    let connection = try database.connect(applicationName: "telemetry-migrate serve")
    defer { connection.close() }
    do {
        _ = try Schema.apply(on: connection)
    } catch let error as PostgresError {
        throw fail("telemetry-migrate: \(error)", code: .usage)
    }
}
