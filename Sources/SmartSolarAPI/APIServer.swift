import Hummingbird
import Logging
import PostgresClient
import TelemetrySchema

/// Settings of `telemetry-migrate serve`.
public struct APIServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (reported through `onListening`).
    public var port: Int
    /// nil: libpq's `PG*` environment.
    public var databaseURL: String?
    /// Connections to PostgreSQL, hence requests served concurrently by the database.
    public var poolSize: Int
    /// Statement and lock time limits, and the longest wait for a connection.
    public var limits: PoolLimits
    /// An HTTP connection with no request, or with a request not fully read, for this long
    /// is closed (also a half-sent request head).
    public var idleTimeout: Duration
    /// Seconds a validated token is remembered (0: ask the database on every request).
    public var tokenCacheSeconds: Double

    public init(host: String = "127.0.0.1", port: Int = 8080, databaseURL: String? = nil, poolSize: Int = 8,
                limits: PoolLimits = PoolLimits(), idleTimeout: Duration = .seconds(10), tokenCacheSeconds: Double = 5) {
        self.host = host
        self.port = port
        self.databaseURL = databaseURL
        self.poolSize = poolSize
        self.limits = limits
        self.idleTimeout = idleTimeout
        self.tokenCacheSeconds = tokenCacheSeconds
    }
}

/// The schema in the database is older than this build needs; `schema apply` fixes it.
public struct SchemaTooOld: Error, CustomStringConvertible {
    public let found: Int
    public let needed: Int
    public var description: String {
        "the database schema is at version \(found), serve needs \(needed): run `telemetry-migrate schema apply` with a role that may change the schema"
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
    /// (graceful shutdown). Checks the database first, without changing it (no DDL rights
    /// needed): a wrong URL, a missing table or a schema older than this build throws
    /// before the port is bound. `onListening` receives the bound port.
    public func run(handleSignals: Bool = false,
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let pool = ConnectionPool(url: configuration.databaseURL, size: configuration.poolSize, limits: configuration.limits)
        defer { pool.close() }
        try await pool.withConnection { connection in try Self.checkSchema(on: connection) }
        let requestedPort = configuration.port
        let logger = self.logger
        let wrapped = logger.handler
        var requestLogger = Logger(label: logger.label) { _ in StoredMetadataLogHandler(wrapping: wrapped) }
        requestLogger.logLevel = logger.logLevel
        let responder = APIResponder(pool: pool, tokens: TokenCache(lifetime: configuration.tokenCacheSeconds),
                                     statementTimeoutMs: configuration.limits.statementTimeoutMs, logger: logger)
        let idle = configuration.idleTimeout.components
        let app = Application(
            responder: responder,
            server: .http1(configuration: .init(
                additionalChannelHandlers: [ClientWatch()],
                idleTimeout: .nanoseconds(idle.seconds * 1_000_000_000 + idle.attoseconds / 1_000_000_000))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? requestedPort
                logger.info("listening", metadata: ["port": "\(port)"])
                await onListening(port)
            },
            logger: requestLogger)
        if handleSignals {
            try await app.runService()
        } else {
            try await app.run()
        }
    }

    /// The schema version the API's queries and indexes need (`api_token`: 2, indexes: 4).
    public static let requiredSchemaVersion = 4

    /// Reads (never writes) the schema version and the three tables the API uses.
    static func checkSchema(on connection: PostgresConnection) throws {
        let found = try Schema.appliedVersions(on: connection).last ?? 0
        guard found >= requiredSchemaVersion else { throw SchemaTooOld(found: found, needed: requiredSchemaVersion) }
        // One table a statement: on Citus a join of a local table with distributed ones is refused.
        for table in ["api_token", "product_migration_history", "rtc_connection_history"] {
            _ = try connection.query("SELECT 1 FROM \(table) LIMIT 0")
        }
    }
}

/// Forwards to another handler, keeping the metadata set on it to itself until a line is
/// logged: Hummingbird sets a request id on its logger for every request, and swift-log's
/// default handler renders all its metadata as text on every such set, mostly for nothing.
struct StoredMetadataLogHandler: LogHandler {
    private var wrapped: any LogHandler
    /// Metadata set through this handler, merged into each event's (the event's own win).
    private var stored: Logger.Metadata = [:]

    init(wrapping handler: any LogHandler) {
        wrapped = handler
    }

    var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata.merging(stored) { $1 } }
        set {
            stored = newValue
            if !wrapped.metadata.isEmpty { wrapped.metadata = [:] }
        }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stored[key] ?? wrapped[metadataKey: key] }
        set { stored[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if !stored.isEmpty { event.metadata = stored.merging(event.metadata ?? [:]) { $1 } }
        wrapped.log(event: event)
    }
}
