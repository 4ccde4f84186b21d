import Hummingbird
import Logging
import PostgresClient

/// Settings of `telemetry-migrate serve`.
public struct APIServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (reported through `onListening`).
    public var port: Int
    /// nil: libpq's `PG*` environment.
    public var databaseURL: String?
    /// Connections to PostgreSQL, hence requests served concurrently by the database.
    public var poolSize: Int

    public init(host: String = "127.0.0.1", port: Int = 8080, databaseURL: String? = nil, poolSize: Int = 8) {
        self.host = host
        self.port = port
        self.databaseURL = databaseURL
        self.poolSize = poolSize
    }
}

/// The SMART Solar API server: Hummingbird 2 over a `ConnectionPool`.
public struct APIServer: Sendable {
    public let configuration: APIServerConfiguration
    public let logger: Logger

    public init(configuration: APIServerConfiguration, logger: Logger = Logger(label: "smartsolar.api")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Serves until the task is cancelled or, with `handleSignals`, until SIGTERM/SIGINT
    /// (graceful shutdown). Checks the database first: a wrong URL or a missing table throws
    /// before the port is bound. `onListening` receives the bound port.
    public func run(handleSignals: Bool = false,
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let pool = ConnectionPool(url: configuration.databaseURL, size: configuration.poolSize)
        defer { pool.close() }
        try await pool.withConnection { connection in
            // One table a statement: on Citus a join of a local table with distributed ones is refused.
            for table in ["api_token", "product_migration_history", "rtc_connection_history"] {
                _ = try connection.query("SELECT 1 FROM \(table) LIMIT 0")
            }
        }
        let requestedPort = configuration.port
        let logger = self.logger
        let app = Application(
            responder: APIResponder(pool: pool, logger: logger),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? requestedPort
                logger.info("listening", metadata: ["port": "\(port)"])
                await onListening(port)
            },
            logger: logger)
        if handleSignals {
            try await app.runService()
        } else {
            try await app.run()
        }
    }
}
