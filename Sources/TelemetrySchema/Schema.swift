import PostgresClient

/// One step of the schema: applied once, in order, and recorded in `migrate_schema_version`.
public struct SchemaMigration: Sendable {
    public let version: Int
    public let description: String
    /// `;`-separated DDL, run without parameters.
    public let sql: String

    public init(version: Int, description: String, sql: String) {
        self.version = version
        self.description = description
        self.sql = sql
    }
}

/// The database schema of DESIGN.md, as versioned migrations.
///
/// Invariants: versions are 1, 2, 3, ... without gaps; a published migration is never edited
/// (add a new one instead); every statement stays valid on tables distributed by
/// `product_imei` (Citus), so every unique key of `telemetry` includes `product_imei`.
/// All times are UTC `timestamp` (without time zone).
public enum Schema {
    /// Key of the transaction-level advisory lock that serialises `apply` (ASCII "tmschema").
    public static let advisoryLockKey: Int64 = 0x746D_7363_6865_6D61

    public static let migrations: [SchemaMigration] = [version1, version2, version3, version4, CitusLayout.version5]

    public static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Applies the missing migrations in one transaction, under a transaction-level advisory
    /// lock, so concurrent applies are safe (the second waits, then finds nothing to do).
    /// Returns the versions applied now (empty when the schema was up to date).
    ///
    /// Invariant: an up-to-date schema gets no DDL, so every run may apply it with a role
    /// that has no `CREATE` on the schema (docs/postgres.md; `CREATE TABLE IF NOT EXISTS`
    /// checks that privilege even when the table exists).
    @discardableResult
    public static func apply(on connection: PostgresConnection) throws -> [Int] {
        try connection.transaction {
            try connection.execute("SELECT pg_advisory_xact_lock($1::bigint)", [.int(advisoryLockKey)])
            if try !versionTableExists(on: connection) {
                try connection.executeScript("""
                    CREATE TABLE IF NOT EXISTS migrate_schema_version (
                        version int PRIMARY KEY,
                        description text NOT NULL,
                        applied_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
                    )
                    """)
            }
            let applied = Set(try appliedVersions(on: connection))
            var appliedNow: [Int] = []
            for migration in migrations where !applied.contains(migration.version) {
                try connection.executeScript(migration.sql)
                try connection.execute(
                    "INSERT INTO migrate_schema_version (version, description) VALUES ($1, $2)",
                    [.int(Int64(migration.version)), .text(migration.description)])
                appliedNow.append(migration.version)
            }
            // A database that got the citus extension after version 5 is laid out now (idempotent).
            if !appliedNow.contains(CitusLayout.version5.version) { try CitusLayout.applyIfCitus(on: connection) }
            return appliedNow
        }
    }

    /// Versions recorded in the database, ascending; empty when the schema was never applied.
    /// Read-only, so a dry run may call it.
    public static func appliedVersions(on connection: PostgresConnection) throws -> [Int] {
        guard try versionTableExists(on: connection) else { return [] }
        return try connection.query("SELECT version FROM migrate_schema_version ORDER BY version")
            .compactMap { $0.int64(0).map(Int.init) }
    }

    private static func versionTableExists(on connection: PostgresConnection) throws -> Bool {
        try connection.query("SELECT to_regclass('migrate_schema_version') IS NOT NULL").first?.bool(0) == true
    }

    /// Versions of `migrations` not yet applied.
    public static func pendingVersions(on connection: PostgresConnection) throws -> [Int] {
        let applied = Set(try appliedVersions(on: connection))
        return migrations.map(\.version).filter { !applied.contains($0) }
    }
}
