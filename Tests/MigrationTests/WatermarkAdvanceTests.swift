@testable import Migration
import PostgresClient
import TelemetrySchema
import Testing
import TestSupport

/// `MigrationStore.advanceWatermarks` against the real server: W(p) := max(W(p), t), one
/// history row per IMEI, whatever the run believed about which rows exist.
@Suite(.enabled(if: Requirement.database.testsRun))
struct WatermarkAdvanceTests {
    @Test func advancesKnownRowsCreatesNewOnesAndNeverTrustsABeliefThatIsWrong() throws {
        let db = try TestDatabase.create(label: "advance")
        defer { db.drop() }
        let connection = try PostgresConnection(url: db.url)
        try Schema.apply(on: connection)
        for imei in ["100", "200", "300", "400", "500", "600", "700"] {
            try connection.execute("INSERT INTO product (product_imei) VALUES ($1)", [.text(imei)])
        }
        try connection.executeScript("""
            INSERT INTO product_migration_history (product_imei, latest_migration_timestamp, last_migrated_at)
            VALUES ('100', '2024-10-01 00:00:10', '2024-10-01'), ('200', '2024-10-01 00:00:50', '2024-10-01'),
                   ('400', '2024-10-01 00:00:30', '2024-10-01')
            """)
        let store = MigrationStore(connection: connection, unit: "all")
        try store.prepareSession(dryRun: false)
        let at = { (seconds: Int64) in 1_727_740_800_000_000 + seconds * 1_000_000 }  // µs after 2024-10-01T00:00:00Z
        try connection.transaction {
            try store.advanceWatermarks([
                WatermarkAdvance(imei: "100", time: at(20), hasRow: true),   // moves forward
                WatermarkAdvance(imei: "200", time: at(40), hasRow: true),   // never backwards
                WatermarkAdvance(imei: "300", time: at(35), hasRow: true),   // believed to exist; it does not
                WatermarkAdvance(imei: "400", time: at(55), hasRow: false),  // believed new; it exists
                WatermarkAdvance(imei: "500", time: at(58), hasRow: false),  // new
            ], actor: "test")
        }
        let rows = try db.psql("""
            SELECT product_imei, to_char(latest_migration_timestamp, 'SS'), modified_by IS NOT NULL
            FROM product_migration_history ORDER BY product_imei
            """)
        #expect(rows == "100|20|t\n200|50|t\n300|35|t\n400|55|t\n500|58|t\n")
        // Every belief right: the joined UPDATE, and the plain INSERT of a new row.
        try connection.transaction {
            try store.advanceWatermarks([WatermarkAdvance(imei: "300", time: at(36), hasRow: true),
                                         WatermarkAdvance(imei: "500", time: at(57), hasRow: true),
                                         WatermarkAdvance(imei: "700", time: at(7), hasRow: false)], actor: "test")
        }
        #expect(try db.psql("""
            SELECT string_agg(product_imei || '|' || to_char(latest_migration_timestamp, 'SS'), ' ' ORDER BY product_imei)
            FROM product_migration_history
            """) == "100|20 200|50 300|36 400|55 500|58 700|07\n")
        // Known rows right, but a row believed new exists: the plain INSERT of new rows meets it,
        // rolls back to its savepoint, and the upsert takes the new ones; the transaction goes on.
        try connection.transaction {
            try store.advanceWatermarks([WatermarkAdvance(imei: "100", time: at(25), hasRow: true),
                                         WatermarkAdvance(imei: "200", time: at(59), hasRow: false),
                                         WatermarkAdvance(imei: "600", time: at(11), hasRow: false)], actor: "test")
            try connection.execute("UPDATE product_migration_history SET modified_by = 'after' WHERE product_imei = '600'")
        }
        #expect(try db.psql("""
            SELECT string_agg(product_imei || '|' || to_char(latest_migration_timestamp, 'SS') || '|' || modified_by, ' '
                              ORDER BY product_imei)
            FROM product_migration_history
            """) == "100|25|test 200|59|test 300|36|test 400|55|test 500|58|test 600|11|after 700|07|test\n")
    }
}
