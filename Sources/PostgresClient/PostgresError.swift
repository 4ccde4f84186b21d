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
    /// The five-character SQLSTATE, e.g. `"23505"`; nil when libpq itself failed.
    public var sqlState: String?
    /// The server's primary message or libpq's message.
    public var message: String
    public var detail: String?
    public var hint: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
    }

    /// `PostgreSQL error 23505: duplicate key value ... (Key ... already exists.)`
    public var description: String {
        var text: String
        switch kind {
        case .connection: text = "cannot connect to PostgreSQL"
        case .connectionLost: text = "connection to PostgreSQL lost"
        case .query, .copy: text = "PostgreSQL error"
        }
        if let sqlState { text += " " + sqlState }
        text += ": " + message
        if let detail, !detail.isEmpty { text += " (" + detail + ")" }
        return text
    }

    /// True when the SQLSTATE is `code` (see `SQLState`).
    public func isSQLState(_ code: String) -> Bool { sqlState == code }
}

/// SQLSTATE codes the project matches on.
public enum SQLState {
    public static let uniqueViolation = "23505"
    public static let foreignKeyViolation = "23503"
    public static let checkViolation = "23514"
    public static let notNullViolation = "23502"
    public static let undefinedTable = "42P01"
    public static let syntaxError = "42601"
    public static let readOnlyTransaction = "25006"
    public static let serializationFailure = "40001"
    public static let deadlockDetected = "40P01"
    public static let adminShutdown = "57P01"
    public static let queryCanceled = "57014"
}
