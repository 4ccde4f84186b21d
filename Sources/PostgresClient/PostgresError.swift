/// A failure of the database layer, safe to print: `message` and `description` never contain
/// a password or a connection string (libpq's connection messages are scrubbed before they
/// get here).
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// The connection could not be established.
        case connection
        /// The server rejected a statement; `sqlState` says why.
        case query
        /// A `COPY FROM STDIN` failed (the server's error, or the writer's body threw).
        case copy
        /// The connection broke (backend terminated, network gone, connection closed).
        case connectionLost
    }

    public var kind: Kind
    /// The SQLSTATE, e.g. `.uniqueViolation`; nil when libpq itself failed.
    public var sqlState: SQLState?
    /// The server's primary message or libpq's message.
    public var message: String
    public var detail: String?
    public var hint: String?
    /// A Citus coordinator re-raised a shard's COPY error as `XX000` without its SQLSTATE, and
    /// the message is none whose code `SQLState.lostByCitus` restores: the shard's code is unknown.
    public var codeLostOnShard: Bool

    public init(kind: Kind, sqlState: SQLState? = nil, message: String, detail: String? = nil, hint: String? = nil,
                codeLostOnShard: Bool = false) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.codeLostOnShard = codeLostOnShard
    }

    /// `PostgreSQL error 23505: duplicate key value ... (Key ... already exists.)`
    public var description: String {
        var text: String
        switch kind {
        case .connection: text = "cannot connect to PostgreSQL"
        case .connectionLost: text = "connection to PostgreSQL lost"
        case .query, .copy: text = "PostgreSQL error"
        }
        if let sqlState { text += " " + sqlState.rawValue }
        text += ": " + message
        if let detail, !detail.isEmpty { text += " (" + detail + ")" }
        return text
    }

    /// True when the server refused a row for its data: a data exception (class 22), a
    /// program limit (class 54) or a CHECK constraint (23514). Such an error names a row,
    /// not the connection or the statement, so the row can be set aside. Also true for a
    /// shard's COPY error whose code Citus dropped (`codeLostOnShard`): it may be one of those,
    /// and the isolation, which probes rows on the coordinator where codes survive, tells; when
    /// it finds no row, the dump fails after one more write on the staged strategy.
    public var refusesData: Bool {
        guard kind == .query || kind == .copy, let sqlState else { return false }
        return sqlState.isDataException || sqlState.isProgramLimit || sqlState == .checkViolation || codeLostOnShard
    }
}

/// A SQLSTATE: five characters, the first two its class (as postgres-nio's `PSQLError.Code`).
/// A string literal is a code, so `error.sqlState == "23505"` still reads; prefer the names.
public struct SQLState: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    /// The class: the first two characters.
    public var codeClass: Substring { rawValue.prefix(2) }
    /// Class 08: the connection failed.
    public var isConnectionException: Bool { codeClass == "08" }
    /// Class 22: the data does not fit (bad encoding, value out of range, ...).
    public var isDataException: Bool { codeClass == "22" }
    /// Class 23: a constraint refused the row.
    public var isIntegrityConstraintViolation: Bool { codeClass == "23" }
    /// Class 54: a program limit (an index row too large, too many columns, ...).
    public var isProgramLimit: Bool { codeClass == "54" }

    public static let characterNotInRepertoire: SQLState = "22021"
    public static let notNullViolation: SQLState = "23502"
    public static let foreignKeyViolation: SQLState = "23503"
    public static let uniqueViolation: SQLState = "23505"
    public static let checkViolation: SQLState = "23514"
    public static let activeSQLTransaction: SQLState = "25001"
    public static let readOnlyTransaction: SQLState = "25006"
    public static let inFailedSQLTransaction: SQLState = "25P02"
    public static let serializationFailure: SQLState = "40001"
    public static let deadlockDetected: SQLState = "40P01"
    public static let syntaxError: SQLState = "42601"
    public static let undefinedTable: SQLState = "42P01"
    public static let lockNotAvailable: SQLState = "55P03"
    public static let queryCanceled: SQLState = "57014"
    public static let adminShutdown: SQLState = "57P01"
    public static let crashShutdown: SQLState = "57P02"
    public static let cannotConnectNow: SQLState = "57P03"
    public static let programLimitExceeded: SQLState = "54000"
    public static let internalError: SQLState = "XX000"

    /// The code of a row's error that a Citus coordinator lost on the way back, from its message.
    ///
    /// Citus 13.2 re-raises an error a worker reports during a COPY into a distributed table
    /// (the job's COPY, and an `INSERT ... SELECT`, which Citus runs as a COPY to the shards)
    /// as `XX000` with the worker's message and detail, dropping the SQLSTATE. PostgreSQL raises
    /// these messages with exactly one code each and never as `XX000`, so for the codes the
    /// job acts on (the direct path's fallback, refused rows) the message says which it was.
    static func lostByCitus(message: String) -> SQLState? {
        if message.hasPrefix("duplicate key value violates unique constraint") { return .uniqueViolation }
        if message.hasPrefix("new row for relation "), message.contains(" violates check constraint ") { return .checkViolation }
        if message.hasPrefix("null value in column "), message.contains(" violates not-null constraint") { return .notNullViolation }
        if message.hasPrefix("index row size "), message.contains(" exceeds ") { return .programLimitExceeded }
        return nil
    }
}
