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

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard (1...256).contains(poolSize) else { throw ValidationError("--pool-size must be 1...256") }
    }

    func run() async throws {
        try applySchemaForAPI(database)
        let server = APIServer(configuration: .init(host: host, port: port, databaseURL: database.connectionString, poolSize: poolSize))
        do {
            try await server.run(handleSignals: true) { port in
                FileHandle.standardOutput.write(Data("listening on http://\(host):\(port)\n".utf8))
            }
        } catch let error as PostgresError {
            throw fail("serve: \(error)", code: .usage)
        }
    }
}

/// Connects once and applies the schema (idempotent), so that `api_token` exists; an
/// unreachable database exits with 2, its message without the password.
func applySchemaForAPI(_ database: DatabaseOptions) throws {
    let connection = try database.connect(applicationName: "telemetry-migrate serve")
    defer { connection.close() }
    do {
        _ = try Schema.apply(on: connection)
    } catch let error as PostgresError {
        throw fail("telemetry-migrate: \(error)", code: .usage)
    }
}
