import PostgresClient
import TelemetrySchema
import TestSupport
import Testing

@Suite("Schema against a real server", .enabled(if: Requirement.database.testsRun))
struct SchemaTests {
    @Test func applyingTwiceIsANoOp() throws {
        try withDatabase { _, db in
            #expect(try Schema.pendingVersions(on: db) == Schema.migrations.map(\.version))
            let all = Schema.migrations.map(\.version)
            #expect(try Schema.apply(on: db) == all)
            #expect(all.starts(with: [1, 2, 3]) && Schema.latestVersion == all.last)
            let tables = try db.query("""
                SELECT string_agg(table_name::text, ',' ORDER BY table_name) FROM information_schema.tables
                WHERE table_schema = 'public' AND table_type = 'BASE TABLE'  -- not Citus' views
                """)[0].string(0)
            #expect(tables == "api_token,migrate_dump,migrate_run,migrate_schema_version,product,product_migration_history,rtc_connection_history,telemetry")
            #expect(try Schema.apply(on: db) == [])
            #expect(try Schema.appliedVersions(on: db) == all)
            #expect(try Schema.pendingVersions(on: db) == [])
            #expect(try db.query("SELECT count(*) FROM migrate_schema_version")[0].int64(0) == Int64(all.count))
            let options = try db.query("SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'product_migration_history'")
            #expect(options[0].string(0) == "fillfactor=50")
        }
    }

    @Test func concurrentAppliesApplyEachVersionOnce() async throws {
        let database = try TestDatabase.create(label: "schema")
        defer { database.drop() }
        let url = database.url
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let db = try PostgresConnection(url: url)
                    return try Schema.apply(on: db)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.flatMap { $0 }.sorted() == Schema.migrations.map(\.version))
        #expect(results.filter { !$0.isEmpty }.count == 1)
    }

    @Test func anExistingProductTableIsKept() throws {
        try withDatabase { _, db in
            try db.executeScript("CREATE TABLE product (product_imei varchar(15) PRIMARY KEY, name text NOT NULL DEFAULT 'x')")
            try Schema.apply(on: db)
            let columns = try db.query("""
                SELECT count(*) FROM information_schema.columns WHERE table_name = 'product' AND column_name = 'name'
                """)[0].int64(0)
            #expect(columns == 1)
        }
    }

    @Test func exactlyOneHistoryRowPerIMEIIsEnforcedByTheDatabase() throws {
        try withDatabase { _, db in
            try Schema.apply(on: db)
            try db.execute("INSERT INTO product (product_imei) VALUES ($1)", ["123456789012345"])
            let insert = """
                INSERT INTO product_migration_history (product_imei, latest_migration_timestamp, last_migrated_at)
                VALUES ($1, $2::timestamp, $2::timestamp)
                """
            try db.execute(insert, ["123456789012345", .timestamp(micros: 0)])
            let second = postgresError { try db.execute(insert, ["123456789012345", .timestamp(micros: 1)]) }
            #expect(second?.sqlState == SQLState.uniqueViolation)
            let unknown = postgresError { try db.execute(insert, ["999", .timestamp(micros: 1)]) }
            #expect(unknown?.sqlState == SQLState.foreignKeyViolation)
            #expect(try db.query("SELECT count(*) FROM product_migration_history")[0].int64(0) == 1)
        }
    }

    @Test func connectionHistoryChecksItsOptions() throws {
        try withDatabase { _, db in
            try Schema.apply(on: db)
            try db.execute("INSERT INTO product (product_imei) VALUES ('1')")
            let insert = """
                INSERT INTO rtc_connection_history (product_imei, connection_status, connection_status_time, connection_status_reason)
                VALUES ('1', $1, now() AT TIME ZONE 'utc', $2)
                """
            try db.execute(insert, ["online", "message-received"])
            try db.execute(insert, ["offline", "low-battery-voltage"])
            #expect(postgresError { try db.execute(insert, ["offline", "bored"]) }?.sqlState == SQLState.checkViolation)
            #expect(postgresError { try db.execute(insert, ["sleeping", "unknown"]) }?.sqlState == SQLState.checkViolation)
            #expect(try db.query("SELECT count(*) FROM rtc_connection_history")[0].int64(0) == 2)
        }
    }

    @Test func telemetryKeepsOneRowPerProductFieldAndTime() throws {
        try withDatabase { _, db in
            try Schema.apply(on: db)
            let insert = "INSERT INTO telemetry (product_imei, field, time, value) VALUES ('1', 'v', $1::timestamp, $2)"
            try db.execute(insert, [.timestamp(micros: 5), .double(1)])
            #expect(postgresError { try db.execute(insert, [.timestamp(micros: 5), .double(2)]) }?.sqlState == "23505")
            try db.execute(insert, [.timestamp(micros: 6), .double(2)])
        }
    }

    @Test func apiTokensStoreAHashAndAKnownPermission() throws {
        try withDatabase { _, db in
            try Schema.apply(on: db)
            let insert = """
                INSERT INTO api_token (token_hash, user_email, permission, expires_at)
                VALUES (encode(sha256(convert_to($1, 'UTF8')), 'hex'), 'a@b.c', $2, now() AT TIME ZONE 'utc' + interval '1 day')
                """
            try db.execute(insert, ["secret-token", "ADMIN"])
            #expect(try db.query("SELECT token_hash FROM api_token")[0].string(0) == "930bbdc51b6aed5c2a5678fd6e28dee7a05e8a4b643cfc0b4427c3efb86c0d94")  // sha256sum of the token
            #expect(postgresError { try db.execute(insert, ["other", "ROOT"]) }?.sqlState == SQLState.checkViolation)
        }
    }
}
