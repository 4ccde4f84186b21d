import Foundation
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

    /// docs/postgres.md: once the schema is applied, the nightly's role needs no `CREATE` on
    /// the schema (every run applies it, and an up-to-date schema gets no DDL).
    @Test func runsWithTheGrantsTheDocsName() throws {
        try withPreparedDatabase("grants") { db, _ in
            let role = "nightly_\(UInt32.random(in: 0...UInt32.max))"
            _ = try db.psql("""
                CREATE ROLE \(role) LOGIN PASSWORD 'nightly-pw';
                GRANT CONNECT, TEMPORARY ON DATABASE \(db.name) TO \(role);
                GRANT USAGE ON SCHEMA public TO \(role);
                GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO \(role);
                GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO \(role);
                """)
            defer { _ = try? db.psql("DROP OWNED BY \(role); DROP ROLE \(role)") }
            #expect(try db.psql("SELECT has_schema_privilege('\(role)', 'public', 'CREATE')").hasPrefix("f"))
            let user = ProcessInfo.processInfo.environment["PGUSER"] ?? "postgres"
            let url = db.url.replacingOccurrences(of: "//\(user)@", with: "//\(role):nightly-pw@")
            try #require(url != db.url)
            let dumps = ["--dumps", fixtureDumps.path]
            for arguments in [["nightly", "--dry-run"] + dumps, ["nightly", "--workers", "2"] + dumps,
                              ["backfill", "--imei", "001409288034695"] + dumps] {
                let result = run(Package.executable, arguments + ["--database-url", url], environment: ["PGPASSWORD": ""])
                #expect(result.status == 0, "\(arguments): \(result.stderr)")
            }
            #expect(try db.psql("SELECT count(*) > 0 FROM telemetry").hasPrefix("t"))
        }
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
