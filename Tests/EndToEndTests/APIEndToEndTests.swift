import Foundation
import PostgresClient
import Testing
import TestSupport

/// `telemetry-migrate serve` as an operator runs it: the built binary.
@Suite(.enabled(if: Requirement.database.testsRun))
struct APIEndToEndTests {
    /// Finding 6: serve never applies the schema; on a database without it (or too old)
    /// it exits 2 and says what to run, leaving the database untouched.
    @Test func serveRefusesAnOldSchemaWithoutChangingIt() throws {
        let database = try TestDatabase.create(label: "serveold")
        defer { database.drop() }
        let empty = run(Package.executable, ["serve", "--port", "0", "--database-url", database.url])
        #expect(empty.status == 2)
        #expect(empty.stderr.contains("schema is at version 0") && empty.stderr.contains("schema apply"), "\(empty.stderr)")
        #expect(try database.psql("SELECT to_regclass('migrate_schema_version') IS NULL").hasPrefix("t"))

        let applied = run(Package.executable, ["schema", "apply", "--database-url", database.url])
        #expect(applied.status == 0, "\(applied.stderr)")
        try database.psql("DELETE FROM migrate_schema_version WHERE version >= 4")
        let old = run(Package.executable, ["serve", "--port", "0", "--database-url", database.url])
        #expect(old.status == 2)
        #expect(old.stderr.contains("schema is at version 3"), "\(old.stderr)")
    }

    @Test func serveValidatesItsLimits() {
        for arguments in [["--acquire-timeout", "0"], ["--idle-timeout", "-1"], ["--statement-timeout", "-5"], ["--token-cache", "61"]] {
            let result = run(Package.executable, ["serve", "--port", "0"] + arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(arguments[0]), "\(arguments): \(result.stderr)")
        }
    }
}
