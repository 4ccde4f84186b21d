import CLibPQ
import Foundation

/// One PostgreSQL session over libpq (blocking mode). Owns its `PGconn` and frees it on
/// deinit or `close()`.
///
/// Not thread-safe: one thread (or one task at a time) may use a connection; hand it over,
/// never share it. Every value is sent as a parameter, never spliced into SQL text.
///
/// On connect the session is set to `DateStyle=ISO, YMD`, `TimeZone=UTC` and
/// `client_encoding=UTF8`, which the typed row accessors rely on.
public final class PostgresConnection {
    /// nil after `close()`.
    private var conn: OpaquePointer?
    private let notices = NoticeSink()
    /// Passwords known to this connection, scrubbed from every libpq message.
    private let secrets: [String]
    /// Names of the statements `queryPrepared` prepared on this session, by SQL text.
    private var preparedStatements: [String: String] = [:]

    /// Receives server notices (`RAISE NOTICE`, "relation already exists, skipping", ...).
    /// nil (the default) drops them, so nothing spills on stderr.
    public var onNotice: ((String) -> Void)? {
        get { notices.handler }
        set { notices.handler = newValue }
    }

    /// Connects. `url` is a `postgresql://` URL or a libpq conninfo string; nil means libpq's
    /// `PG*` environment (`DATABASE_URL` is not read here; the CLI does that).
    /// Defaults that the URL may override: `connect_timeout=10` and TCP keepalives, so that a
    /// vanished server surfaces as an error rather than a hang.
    /// Throws `PostgresError(kind: .connection)` with libpq's message, password and conninfo scrubbed.
    public init(url: String?, applicationName: String = "telemetry-migrate") throws {
        secrets = Self.passwords(in: url)
        var parameters: [(String, String)] = [
            ("application_name", applicationName),
            ("connect_timeout", "10"),
            ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3"),
        ]
        if let url { parameters.append(("dbname", url)) }  // expanded: its keys override the defaults above
        parameters.append(("client_encoding", "UTF8"))   // after the URL: the row accessors need UTF-8
        let connection = LibPQ.connect(parameters)
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let message = connection.map { LibPQ.errorMessage($0) } ?? "out of memory"
            if let connection { PQfinish(connection) }
            var text = scrub(message, secrets: secrets)
            if let url, !url.isEmpty { text = text.replacingOccurrences(of: url, with: redactedConnectionString(url)) }
            throw PostgresError(kind: .connection, message: redactedConnectionString(text))
        }
        conn = connection
        PQsetNoticeProcessor(connection, { context, message in
            guard let context, let message else { return }
            let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
            sink.handler?(String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines))
        }, Unmanaged.passUnretained(notices).toOpaque())
        try executeScript("SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET extra_float_digits = 3")
    }

    deinit {
        if let conn { PQfinish(conn) }
    }

    /// Closes the session; later calls throw `.connectionLost`. Idempotent.
    public func close() {
        if let conn { PQfinish(conn) }
        conn = nil
    }

    /// The `PGconn`, for the cancel handle in this module only.
    var rawConnection: OpaquePointer? { conn }

    /// The server process id of this session (0 when closed).
    public var backendPID: Int32 { conn.map { PQbackendPID($0) } ?? 0 }

    /// `PQstatus == CONNECTION_OK`: false after `close()` or once the connection broke.
    public var isHealthy: Bool { conn.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// True inside a transaction block (also an aborted one).
    public var inTransaction: Bool {
        guard let conn else { return false }
        let status = PQtransactionStatus(conn)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    // MARK: Statements

    /// Runs one statement with parameters `$1, $2, ...` (sent as text, types inferred by the
    /// server; cast in SQL where needed: `$1::timestamp`). Results come back as text.
    public func query(_ sql: String, _ params: [PostgresValue] = []) throws -> PostgresRows {
        try withResult(sql, params) { LibPQ.rows(of: $0) }
    }

    /// Runs one statement like `query` and hands each row to `body` where libpq holds it,
    /// without copying the result out first: for large results read once (a run's 100,000
    /// products and watermarks), whose copy as `String`s cost a run's start tens of milliseconds.
    public func forEachRow(_ sql: String, _ params: [PostgresValue] = [], _ body: (PostgresResultRow) -> Void) throws {
        try withResult(sql, params) { result in
            for row in 0..<PQntuples(result) { body(PostgresResultRow(result: result, row: row)) }
        }
    }

    /// Like `query`, for a statement that repeats with other parameters: prepared on this
    /// session the first time (`PQprepare`, named `tm_<n>`), then run by name, so PostgreSQL
    /// parses it once and, once its plan is found not to depend on the parameters, plans it
    /// once. At most `maxPreparedStatements` texts a session; beyond, it runs as `query`.
    public func queryPrepared(_ sql: String, _ params: [PostgresValue] = []) throws -> PostgresRows {
        let connection = try live()
        var name = preparedStatements[sql]
        if name == nil, preparedStatements.count < Self.maxPreparedStatements {
            let fresh = "tm_\(preparedStatements.count)"
            try check(PQprepare(connection, fresh, sql, 0, nil)) { _ in }
            preparedStatements[sql] = fresh
            name = fresh
        }
        guard let name else { return try query(sql, params) }
        let result = try LibPQ.withCStrings(Self.texts(of: params)) { values in
            PQexecPrepared(connection, name, Int32(values.count), values.baseAddress, nil, nil, 0)
        }
        return try check(result) { LibPQ.rows(of: $0) }
    }

    /// The most statements `queryPrepared` keeps prepared on one session.
    public static let maxPreparedStatements = 64

    /// Runs one statement and returns the number of rows it affected (`PQcmdTuples`; 0 when
    /// the command reports none).
    @discardableResult
    public func execute(_ sql: String, _ params: [PostgresValue] = []) throws -> Int {
        try withResult(sql, params) { LibPQ.affectedRows(of: $0) }
    }

    /// Runs several `;`-separated statements without parameters (DDL, `SET`). Stops at the
    /// first failing statement; outside a transaction the earlier ones stay committed.
    public func executeScript(_ sql: String) throws {
        let connection = try live()
        try check(PQexec(connection, sql)) { _ in }
    }

    // MARK: Transactions

    /// `BEGIN` (or `BEGIN TRANSACTION READ ONLY`), then `body`; `COMMIT` when it returns,
    /// `ROLLBACK` and rethrow when it throws. Not reentrant: `body` must not open another.
    /// Throws when the server turned the `COMMIT` into a rollback (a statement in the
    /// transaction failed and `body` swallowed the error).
    public func transaction<T>(readOnly: Bool = false, _ body: () throws -> T) throws -> T {
        guard !inTransaction else {  // a nested BEGIN is only a warning: the inner COMMIT would end the outer transaction
            throw PostgresError(kind: .query, sqlState: .activeSQLTransaction, message: "transaction() called inside a transaction")
        }
        try executeScript(readOnly ? "BEGIN TRANSACTION READ ONLY" : "BEGIN")
        let value: T
        do {
            value = try body()
        } catch {
            if isHealthy { try? executeScript("ROLLBACK") }
            throw error
        }
        let connection = try live()
        let status = try check(PQexec(connection, "COMMIT")) { LibPQ.commandStatus(of: $0) }
        if status == "ROLLBACK" {
            throw PostgresError(kind: .query, sqlState: .inFailedSQLTransaction,
                                message: "the transaction was rolled back at COMMIT because a statement in it failed")
        }
        return value
    }

    // MARK: Advisory locks

    /// `pg_try_advisory_lock(key)`: a session-level lock, held until `advisoryUnlock` or
    /// the session ends. True when acquired.
    public func tryAdvisoryLock(_ key: Int64) throws -> Bool {
        try query("SELECT pg_try_advisory_lock($1::bigint)", [.int(key)]).first?.bool(0) ?? false
    }

    /// `pg_advisory_unlock(key)`.
    public func advisoryUnlock(_ key: Int64) throws {
        _ = try query("SELECT pg_advisory_unlock($1::bigint)", [.int(key)])
    }

    // MARK: COPY

    /// Runs `COPY ... FROM STDIN (FORMAT binary)`: writes the binary header, hands a writer to
    /// `body`, writes the trailer and ends the copy; returns the number of rows copied.
    /// When `body` throws, the copy is aborted (`PQputCopyEnd` with an error, so the server
    /// discards it) and the error is rethrown; when a send failed (the writer then throws), the
    /// connection's error is thrown. The writer flushes every ~256 KiB; the
    /// connection blocks while the server is behind (backpressure).
    /// Column types must match the table's exactly (int8 into bigint, float8 into double precision, ...).
    public func copyIn(_ sql: String, _ body: (inout BinaryCopyWriter) throws -> Void) throws -> Int {
        let connection = try live()
        try check(PQexec(connection, sql), expecting: PGRES_COPY_IN, kind: .copy) { _ in }
        let sink = CopySink { bytes in
            let sent = bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(connection, $0.baseAddress, Int32($0.count)) }
            return sent == 1 ? nil : LibPQ.errorMessage(connection)
        }
        var writer = BinaryCopyWriter(sink: sink)
        do {
            try body(&writer)
            writer.finish()
        } catch {
            _ = PQputCopyEnd(connection, "COPY aborted by the client")
            let outcome = drainResults(connection, kind: .copy)
            // A send failed: the connection's own error says why.
            if let failure = sink.failure { throw outcome.error ?? failedCall(failure, kind: .copy) }
            throw error
        }
        if let failure = sink.failure {
            _ = PQputCopyEnd(connection, "COPY aborted by the client")
            throw drainResults(connection, kind: .copy).error ?? failedCall(failure, kind: .copy)
        }
        guard PQputCopyEnd(connection, nil) == 1 else {
            throw failedCall(LibPQ.errorMessage(connection), kind: .copy)
        }
        let outcome = drainResults(connection, kind: .copy)
        if let error = outcome.error { throw error }
        return outcome.affectedRows
    }

    // MARK: Internals

    private func live() throws -> OpaquePointer {
        guard let conn else { throw PostgresError(kind: .connectionLost, message: "the connection is closed") }
        return conn
    }

    private func withResult<T>(_ sql: String, _ params: [PostgresValue], _ read: (OpaquePointer) -> T) throws -> T {
        let connection = try live()
        let result = try LibPQ.withCStrings(Self.texts(of: params)) { values in
            PQexecParams(connection, sql, Int32(values.count), nil, values.baseAddress, nil, nil, 0)
        }
        return try check(result, read)
    }

    /// The parameters' text forms (nil for NULL); a NUL byte, which libpq cannot send, throws.
    private static func texts(of params: [PostgresValue]) throws -> [String?] {
        var texts: [String?] = []
        texts.reserveCapacity(params.count)
        for param in params {
            let text = param.textValue
            if let text, text.utf8.contains(0) {
                throw PostgresError(kind: .query, sqlState: .characterNotInRepertoire, message: "a text parameter contains a NUL byte")
            }
            texts.append(text)
        }
        return texts
    }

    /// Clears `result` after reading it; throws when it is not a success (or not `expected`).
    private func check<T>(_ result: OpaquePointer?, expecting expected: ExecStatusType? = nil,
                          kind: PostgresError.Kind = .query, _ read: (OpaquePointer) -> T) throws -> T {
        guard let connection = conn else { throw PostgresError(kind: .connectionLost, message: "the connection is closed") }
        guard let result else { throw failedCall(LibPQ.errorMessage(connection), kind: kind) }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        if let expected, status == expected { return read(result) }
        switch status {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            if expected == nil { return read(result) }
            throw PostgresError(kind: kind, message: "the statement did not start COPY FROM STDIN")
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            LibPQ.abandonCopy(connection, status)
            _ = drainResults(connection, kind: kind)
            throw PostgresError(kind: kind, message: "unexpected COPY in a statement (use copyIn)")
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            throw error(from: result, kind: kind)
        default:
            throw PostgresError(kind: kind, message: "unexpected result status \(String(cString: PQresStatus(status)))")
        }
    }

    /// Reads results until libpq has none left: the last command's row count and the first error.
    private func drainResults(_ connection: OpaquePointer, kind: PostgresError.Kind) -> (affectedRows: Int, error: PostgresError?) {
        var rows = 0
        var firstError: PostgresError?
        while let result = PQgetResult(connection) {
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            switch status {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK: rows = LibPQ.affectedRows(of: result)
            case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH: LibPQ.abandonCopy(connection, status)
            default: if firstError == nil { firstError = error(from: result, kind: kind) }
            }
            if PQstatus(connection) != CONNECTION_OK { break }
        }
        if firstError == nil, PQstatus(connection) != CONNECTION_OK {
            firstError = failedCall(LibPQ.errorMessage(connection), kind: kind)
        }
        return (rows, firstError)
    }

    /// The error of a failed result, as `.connectionLost` when the connection broke with it, with
    /// the SQLSTATE a Citus coordinator dropped restored (`SQLState.lostByCitus`).
    private func error(from result: OpaquePointer, kind: PostgresError.Kind) -> PostgresError {
        let fields = LibPQ.errorFields(of: result)
        let lost = conn.map { PQstatus($0) != CONNECTION_OK } ?? true
        let message = fields.primary ?? LibPQ.resultErrorMessage(result) ?? conn.map { LibPQ.errorMessage($0) } ?? "unknown error"
        var sqlState = fields.sqlState.map(SQLState.init(rawValue:))
        var codeLostOnShard = false
        if sqlState == .internalError {
            if let code = SQLState.lostByCitus(message: message) { sqlState = code } else { codeLostOnShard = fields.function == "ReportCopyError" }
        }
        return PostgresError(kind: lost ? .connectionLost : kind, sqlState: sqlState,
                             message: scrub(message, secrets: secrets),
                             detail: fields.detail.map { scrub($0, secrets: secrets) }, hint: fields.hint,
                             codeLostOnShard: codeLostOnShard)
    }

    /// An error reported by libpq itself (no result): connection lost when the status says so.
    private func failedCall(_ message: String, kind: PostgresError.Kind) -> PostgresError {
        let lost = conn.map { PQstatus($0) != CONNECTION_OK } ?? true
        return PostgresError(kind: lost ? .connectionLost : kind, message: scrub(message, secrets: secrets))
    }

    /// The password (and ssl key password) in a URL or conninfo, and `PGPASSWORD`.
    private static func passwords(in url: String?) -> [String] {
        var found = url.map { LibPQ.passwords(inConninfo: $0) + passwordsWritten(in: $0) } ?? []
        if let env = ProcessInfo.processInfo.environment["PGPASSWORD"], !env.isEmpty { found.append(env) }
        return found
    }
}

/// The notice callback's target; outlives the `PGconn` because the connection owns both.
final class NoticeSink {
    var handler: ((String) -> Void)?
}

/// Quotes an SQL identifier (`my "table"` → `"my ""table"""`), for the rare names that
/// cannot be parameters.
public func quotedIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
