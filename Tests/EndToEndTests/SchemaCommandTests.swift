import PostgresClient
import TelemetrySchema
import TestSupport
import Testing

/// `telemetry-migrate schema apply`, run as a process.
@Suite("schema apply command", .enabled(if: Requirement.database.testsRun))
struct SchemaCommandTests {
    @Test func appliesThenReportsUpToDate() throws {
        let database = try TestDatabase.create(label: "cli")
        defer { database.drop() }
        let first = run(Package.executable, ["schema", "apply", "--database-url", database.url])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("applied schema version 1"))
        #expect(first.stdout.contains("applied schema version 4"))
        let second = run(Package.executable, ["schema", "apply", "--database-url", database.url])
        #expect(second.status == 0)
        #expect(second.stdout.contains("schema is up to date (version \(Schema.latestVersion))"))
        #expect(try database.psql("SELECT count(*) FROM migrate_schema_version").trimmingCharacters(in: .whitespacesAndNewlines)
            == "\(Schema.migrations.count)")
    }

    @Test func readsDATABASE_URLWhenNoOptionIsGiven() throws {
        let database = try TestDatabase.create(label: "cli")
        defer { database.drop() }
        let result = run(Package.executable, ["schema", "apply"], environment: ["DATABASE_URL": database.url])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try database.psql("SELECT to_regclass('telemetry') IS NOT NULL").hasPrefix("t"))
    }

    @Test func anUnreachableDatabaseExitsWith2WithoutThePassword() {
        let result = run(Package.executable, ["schema", "apply", "--database-url", "postgresql://u:hunter2@127.0.0.1:1/x"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("127.0.0.1"))
        #expect(result.stderr.contains("u:***@"))
        #expect(!result.stderr.contains("hunter2"))
        #expect(!result.stdout.contains("hunter2"))
    }
}
