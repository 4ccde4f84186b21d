import Foundation
import PostgresClient
import Testing
import TestSupport
@testable import SmartSolarAPI

/// Finding 4: authentication does not write on every request, the 3-hour sliding expiry
/// holds, and `serve` runs with a role that cannot change the schema (finding 6).
@Suite(.enabled(if: Requirement.database.testsRun))
struct TokenUseTests {
    static let rtc = "/v1/rtc_connection_history"

    /// The row version of the token's row: changes with every write.
    static func version(_ api: LiveAPI, _ token: String) throws -> String {
        try api.sql.query("SELECT xmin::text FROM api_token WHERE token_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex')",
                          [.text(token)]).first?.string(0) ?? "none"
    }

    @Test func tokenIsTouchedAtMostOncePerMinuteAndKeepsSliding() async throws {
        let api = try await LiveAPI.start(label: "touch") { $0.tokenCacheSeconds = 0 }
        do {
            let token = try api.token(.overview)
            #expect(try await api.request(Self.rtc, token: token).status == 200)
            let touched = try Self.version(api, token)
            for _ in 0..<5 { #expect(try await api.request(Self.rtc, token: token).status == 200) }
            #expect(try Self.version(api, token) == touched, "a use within a minute of the last one writes nothing")

            // Last use two minutes ago, ten minutes left: a use slides the expiry to 3 hours.
            try api.sql.execute("""
                UPDATE api_token SET last_used_at = (now() AT TIME ZONE 'UTC') - interval '2 minutes',
                                     expires_at = (now() AT TIME ZONE 'UTC') + interval '10 minutes'
                """)
            #expect(try await api.request(Self.rtc, token: token).status == 200)
            let slid = try api.sql.query("""
                SELECT expires_at > (now() AT TIME ZONE 'UTC') + interval '2 hours 59 minutes',
                       last_used_at > (now() AT TIME ZONE 'UTC') - interval '10 seconds' FROM api_token
                """)
            #expect(slid.first?.bool(0) == true && slid.first?.bool(1) == true)

            // Expiry in the past: 401, also for a token used a moment ago.
            try api.sql.execute("UPDATE api_token SET expires_at = (now() AT TIME ZONE 'UTC') - interval '1 second'")
            #expect(try await api.request(Self.rtc, token: token).status == 401)
        } catch {
            await api.stop()
            throw error
        }
        await api.stop()
    }

    /// A validated token is remembered for `tokenCacheSeconds`: a deleted token works that
    /// long, then no more.
    @Test func cachedTokenLivesOnlyTheCacheLifetime() async throws {
        // 5 s: wide enough that a loaded machine answers the second request inside it.
        let api = try await LiveAPI.start(label: "tokcache") { $0.tokenCacheSeconds = 5 }
        do {
            let token = try api.token(.overview)
            #expect(try await api.request(Self.rtc, token: token).status == 200)
            try api.sql.execute("DELETE FROM api_token")
            #expect(try await api.request(Self.rtc, token: token).status == 200)
            try await Task.sleep(for: .milliseconds(5300))
            #expect(try await api.request(Self.rtc, token: token).status == 401)
        } catch {
            await api.stop()
            throw error
        }
        await api.stop()
    }

    /// The least-privilege role of docs/api.md: SELECT on the two tables and the schema
    /// version, SELECT and UPDATE of two columns of api_token, DELETE on
    /// rtc_connection_history. Every endpoint works with it.
    @Test func serveRunsWithTheLeastPrivilegeRole() async throws {
        let role = "api_serve_\(UInt32.random(in: 0...UInt32.max))"
        let api = try await LiveAPI.start(label: "leastpriv", configure: { $0.tokenCacheSeconds = 0 }) { database, sql in
            try RTCSeed.insertAll(on: sql)
            try sql.executeScript("""
                CREATE ROLE \(role) LOGIN PASSWORD 'api-serve-pw';
                GRANT CONNECT ON DATABASE \(database.name) TO \(role);
                GRANT USAGE ON SCHEMA public TO \(role);
                GRANT SELECT ON product_migration_history, rtc_connection_history, migrate_schema_version TO \(role);
                GRANT SELECT (token_hash, permission, last_used_at, expires_at), UPDATE (last_used_at, expires_at) ON api_token TO \(role);
                GRANT DELETE ON rtc_connection_history TO \(role)
                """)
            let user = ProcessInfo.processInfo.environment["PGUSER"] ?? "postgres"
            return database.url.replacingOccurrences(of: "//\(user)@", with: "//\(role):api-serve-pw@")
        }
        do {
            let overview = try api.token(.overview)
            let system = try api.token(.system)
            #expect(try await api.request(Self.rtc, token: overview).status == 200)
            let q = #"{"filters": [{"name": "product_imei", "op": "==", "val": "100000000000001"}], "order_by": [{"field": "connection_status_time", "direction": "desc"}]}"#
            let listed = try await api.search("rtc_connection_history", q, token: overview, extra: ["results_per_page": "2"])
            #expect(listed.status == 200 && listed.json["num_results"] as? Int == 3, "\(listed.message)")
            #expect(try await api.request("/v1/product_migration_history/1", token: overview).status == 200)
            #expect(try await api.request("DELETE", "\(Self.rtc)/4", token: system).status == 204)
            #expect(try await api.request("\(Self.rtc)/4", token: overview).status == 404)
            let connected = try api.sql.query("SELECT count(*) FROM pg_stat_activity WHERE usename = $1", [.text(role)])
            #expect((connected.first?.int64(0) ?? 0) >= 1, "the server used the role")
        } catch {
            await api.stop()
            try? dropRole(role)
            throw error
        }
        await api.stop()
        try dropRole(role)
    }

    func dropRole(_ role: String) throws {
        let admin = try PostgresConnection(url: nil)
        defer { admin.close() }
        try admin.execute("DROP ROLE IF EXISTS \(role)")
    }
}
