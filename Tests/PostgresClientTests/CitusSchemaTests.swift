import PostgresClient
import TelemetrySchema
import TestSupport
import Testing

/// Schema version 5 (docs/citus.md): on a database with the citus extension the tables are
/// distributed by `product_imei`, co-located, `product` a reference table; on a plain
/// PostgreSQL nothing changes. Runs on both targets (`jobs/test` and `jobs/test --citus`).
@Suite("Schema on Citus and on plain PostgreSQL", .enabled(if: Requirement.database.testsRun))
struct CitusSchemaTests {
    /// Table → Citus table type (`distributed`, `reference`, ...); empty on a plain database.
    static func layout(_ db: PostgresConnection) throws -> [String: String] {
        guard try CitusLayout.isCitus(db) else { return [:] }
        var map = [String: String]()
        for row in try db.query("""
            SELECT logicalrelid::regclass::text, CASE WHEN partmethod = 'h' THEN 'distributed'
                   WHEN repmodel = 't' THEN 'reference' ELSE 'local' END FROM pg_dist_partition
            """) {
            map[row.string(0) ?? ""] = row.string(1)
        }
        return map
    }

    static func primaryKey(_ db: PostgresConnection, _ table: String) throws -> String? {
        try db.query("""
            SELECT string_agg(a.attname, ',' ORDER BY array_position(c.conkey, a.attnum))
            FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
            WHERE c.conrelid = $1::regclass AND c.contype = 'p'
            """, [.text(table)]).first?.string(0)
    }

    @Test func theTargetGetsItsLayout() throws {
        try withDatabase("layout") { _, db in
            try Schema.apply(on: db)
            let layout = try Self.layout(db)
            let history = try Self.primaryKey(db, "product_migration_history")
            if TestDatabase.target == CitusCluster.targetName {
                #expect(layout["telemetry"] == "distributed")
                #expect(layout["product_migration_history"] == "distributed")
                #expect(layout["rtc_connection_history"] == "distributed")
                #expect(layout["product"] == "reference")
                #expect(layout["migrate_run"] == nil && layout["migrate_dump"] == nil && layout["api_token"] == nil)
                #expect(history == "product_migration_history_id,product_imei")
                #expect(try Self.primaryKey(db, "rtc_connection_history") == "rtc_connection_history_id,product_imei")
                let colocated = try db.query("""
                    SELECT count(DISTINCT colocationid) FROM pg_dist_partition
                    WHERE logicalrelid::regclass::text IN ('telemetry', 'product_migration_history', 'rtc_connection_history')
                    """)[0].int64(0)
                #expect(colocated == 1)
            } else {
                #expect(layout.isEmpty)
                #expect(history == "product_migration_history_id")
                #expect(try db.query("SELECT migrate_citus_layout()")[0].string(0) == "not a citus database")
            }
            #expect(try Schema.apply(on: db) == [])
        }
    }

    /// A database used before version 5 (its tables local, with rows) is carried to the
    /// same layout, rows kept; ids still find their row and stay unique.
    @Test func anExistingDatabaseIsCarriedOver() throws {
        try withDatabase("carry") { _, db in
            try db.executeScript("""
                CREATE TABLE migrate_schema_version (version int PRIMARY KEY, description text NOT NULL,
                    applied_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'))
                """)
            for migration in Schema.migrations where migration.version < 5 {
                try db.executeScript(migration.sql)
                try db.execute("INSERT INTO migrate_schema_version (version, description) VALUES ($1, 'old')",
                               [.int(Int64(migration.version))])
            }
            try db.executeScript("""
                INSERT INTO product (product_imei) SELECT lpad(g::text, 15, '0') FROM generate_series(1, 50) g;
                INSERT INTO product_migration_history (product_imei, latest_migration_timestamp, last_migrated_at)
                    SELECT product_imei, '2024-10-01', '2024-10-02' FROM product;
                INSERT INTO telemetry SELECT product_imei, 'voltage', '2024-10-01', 1, NULL FROM product;
                INSERT INTO rtc_connection_history (product_imei, connection_status, connection_status_time, connection_status_reason)
                    SELECT product_imei, 'online', '2024-10-01', 'unknown' FROM product
                """)
            #expect(try Schema.apply(on: db) == Schema.migrations.map(\.version).filter { $0 >= 5 })
            let counts = try db.query("""
                SELECT (SELECT count(*) FROM product), (SELECT count(*) FROM product_migration_history),
                       (SELECT count(*) FROM telemetry), (SELECT count(*) FROM rtc_connection_history),
                       (SELECT product_imei FROM product_migration_history WHERE product_migration_history_id = 7)
                """)[0]
            #expect(counts.int64(0) == 50 && counts.int64(1) == 50 && counts.int64(2) == 50 && counts.int64(3) == 50)
            #expect(counts.string(4) == "000000000000007")
            let orphan = postgresError {
                try db.execute("""
                    INSERT INTO product_migration_history (product_imei, latest_migration_timestamp, last_migrated_at)
                    VALUES ('000000000000051', '2024-10-01', '2024-10-01')
                    """)
            }
            #expect(orphan?.sqlState == "23503")  // no such product: the foreign key still holds
            let layout = try Self.layout(db)
            if TestDatabase.target == CitusCluster.targetName {
                #expect(layout["telemetry"] == "distributed" && layout["product_migration_history"] == "distributed")
                #expect(layout["product"] == "reference")
            } else {
                #expect(layout.isEmpty)
            }
        }
    }
}
