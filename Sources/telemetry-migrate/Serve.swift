import ArgumentParser
import Foundation
import Logging
import PostgresClient
import SmartSolarAPI
import TelemetrySchema

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
            The schema is applied (idempotently) before the port is bound.

            Examples:
              telemetry-migrate serve --database-url postgresql://api@db.example/smartsolar
              DATABASE_URL=postgresql://localhost/smartsolar telemetry-migrate serve --host 0.0.0.0 --port 8080
              TOKEN=$(telemetry-migrate token create --user ops@example.com --permission OVERVIEW)
              curl -H "Authorization: Token token=$TOKEN" \\
                'http://127.0.0.1:8080/v1/product_migration_history?results_per_page=50&page=2'
              curl -G -H "Authorization: Token token=$TOKEN" http://127.0.0.1:8080/v1/rtc_connection_history \\
                --data-urlencode 'q={"filters":[{"name":"connection_status","op":"==","val":"offline"}],"order_by":[{"field":"connection_status_time","direction":"desc"}]}'
            """)

    @Option(help: "Address to listen on (loopback by default; 0.0.0.0 for every interface).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free port, printed on stdout).")
    var port = 8080

    @Option(help: "PostgreSQL URL (default: $DATABASE_URL, else libpq's PG* variables). Its password is never logged.")
    var databaseURL: String?

    @Option(help: "PostgreSQL connections serving requests (requests beyond wait their turn).")
    var poolSize = 8

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard (1...256).contains(poolSize) else { throw ValidationError("--pool-size must be 1...256") }
    }

    func run() async throws {
        let url = apiDatabaseURL(databaseURL)
        try apiApplySchema(url: url)
        let server = APIServer(configuration: .init(host: host, port: port, databaseURL: url, poolSize: poolSize))
        do {
            try await server.run(handleSignals: true) { port in
                FileHandle.standardOutput.write(Data("listening on http://\(host):\(port)\n".utf8))
            }
        } catch let error as PostgresError {
            FileHandle.standardError.write(Data("serve: \(error)\n".utf8))
            throw ExitStatus.usage.exitCode
        }
    }
}

/// `--database-url`, else `$DATABASE_URL`, else nil (libpq's `PG*` environment).
func apiDatabaseURL(_ option: String?) -> String? {
    if let option, !option.isEmpty { return option }
    if let env = ProcessInfo.processInfo.environment["DATABASE_URL"], !env.isEmpty { return env }
    return nil
}

/// Connects once and applies the schema; an unreachable database is a configuration
/// error (exit 2) with a message that never holds the password.
func apiApplySchema(url: String?) throws {
    do {
        let connection = try PostgresConnection(url: url)
        defer { connection.close() }
        _ = try Schema.apply(on: connection)
    } catch let error as PostgresError {
        FileHandle.standardError.write(Data("telemetry-migrate: \(error)\n".utf8))
        throw ExitStatus.usage.exitCode
    }
}
