/// The SQL type family of a column: decides how a filter value is checked, bound and cast,
/// and how a value is written to JSON.
public enum ColumnKind: String, Sendable {
    case integer, text, timestamp

    /// The PostgreSQL type a bound text parameter is cast to.
    var sqlType: String {
        switch self {
        case .integer: "bigint"
        case .text: "text"
        case .timestamp: "timestamp"
        }
    }
}

public struct Column: Sendable, Hashable {
    public let name: String
    public let kind: ColumnKind
}

/// A table served by the API. Invariant: every identifier that reaches SQL comes from
/// `table` or `columns` (a fixed whitelist), never from a request.
public struct Resource: Sendable {
    /// The URL segment and table name.
    public let name: String
    public let primaryKey: String
    /// Every column, in the order they appear in a JSON object.
    public let columns: [Column]
    /// The permission `DELETE` of one object needs, or nil when `DELETE` is not allowed (405).
    public let deletePermission: Permission?
    /// The columns' JSON keys, quoted once (`ResponseBody`).
    let rowKeys: RowKeys

    init(name: String, primaryKey: String, columns: [Column], deletePermission: Permission?) {
        self.name = name
        self.primaryKey = primaryKey
        self.columns = columns
        self.deletePermission = deletePermission
        rowKeys = RowKeys(columns)
    }

    public func column(named name: String) -> Column? {
        columns.first { $0.name == name }
    }

    var table: String { name }
    var selectList: String { columns.map(\.name).joined(separator: ", ") }

    private static let audit: [Column] = [
        Column(name: "created_at", kind: .timestamp), Column(name: "created_by", kind: .text),
        Column(name: "modified_at", kind: .timestamp), Column(name: "modified_by", kind: .text),
    ]

    public static let productMigrationHistory = Resource(
        name: "product_migration_history",
        primaryKey: "product_migration_history_id",
        columns: [
            Column(name: "product_migration_history_id", kind: .integer),
            Column(name: "product_imei", kind: .text),
            Column(name: "latest_migration_timestamp", kind: .timestamp),
            Column(name: "last_migrated_at", kind: .timestamp),
        ] + audit,
        deletePermission: nil)

    public static let rtcConnectionHistory = Resource(
        name: "rtc_connection_history",
        primaryKey: "rtc_connection_history_id",
        columns: [
            Column(name: "rtc_connection_history_id", kind: .integer),
            Column(name: "product_imei", kind: .text),
            Column(name: "connection_status", kind: .text),
            Column(name: "connection_status_time", kind: .timestamp),
            Column(name: "connection_status_reason", kind: .text),
            Column(name: "connection_status_info", kind: .text),
            Column(name: "latest_message_time", kind: .timestamp),
        ] + audit,
        deletePermission: .system)

    /// Every served resource, by URL segment.
    public static let all: [String: Resource] = [
        productMigrationHistory.name: productMigrationHistory,
        rtcConnectionHistory.name: rtcConnectionHistory,
    ]
}
