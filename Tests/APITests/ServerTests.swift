import Foundation
import PostgresClient
import Testing
import TestSupport
@testable import SmartSolarAPI

/// The real server on a loopback port, spoken to over HTTP, against a fresh database.
@Suite(.enabled(if: Requirement.database.testsRun))
struct ServerTests {
    static let rtc = "/v1/rtc_connection_history"
    static let pmh = "/v1/product_migration_history"

    func withServer(_ label: String, tokenCacheSeconds: Double = 5, _ body: (LiveAPI) async throws -> Void) async throws {
        try await LiveAPI.withSeeded(label, configure: { $0.tokenCacheSeconds = tokenCacheSeconds }, body)
    }

    @Test func listAndObjectDocuments() async throws {
        try await withServer("docs") { api in
            let token = try api.token(.overview)
            let list = try await api.request(Self.pmh, token: token)
            #expect(list.status == 200)
            #expect(list.headers["content-type"] == "application/json")
            #expect(Set(list.json.keys) == ["num_results", "objects", "page", "total_pages"])
            #expect(list.json["num_results"] as? Int == 4 && list.json["page"] as? Int == 1 && list.json["total_pages"] as? Int == 1)
            let first = try #require(list.objects.first)
            #expect(Set(first.keys) == Set(Resource.productMigrationHistory.columns.map(\.name)))
            #expect(first["product_imei"] as? String == RTCSeed.products[0])
            #expect(first["latest_migration_timestamp"] as? String == "2024-02-01 00:00:00")
            #expect(first["last_migrated_at"] as? String == "2024-03-01 01:02:03")
            #expect(first["created_by"] as? String == "telemetry-migrate")
            #expect((first["created_at"] as? String)?.wholeMatch(of: /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/) != nil)
            #expect(first["modified_at"] is NSNull && first["modified_by"] is NSNull)
            #expect(list.objects[1]["modified_by"] as? String == "telemetry-migrate")

            let rtcList = try await api.request(Self.rtc, token: token)
            #expect(rtcList.json["num_results"] as? Int == RTCSeed.rows.count)
            #expect(rtcList.ids == Array(1...10))
            let row = try #require(rtcList.objects.first(where: { $0["rtc_connection_history_id"] as? Int == 4 }))
            #expect(Set(row.keys) == Set(Resource.rtcConnectionHistory.columns.map(\.name)))
            #expect(row["connection_status_reason"] as? String == "sleep-mode")
            #expect(row["latest_message_time"] is NSNull)
            #expect(row["created_by"] as? String == "seed")

            let one = try await api.request("\(Self.rtc)/8", token: token)
            #expect(one.status == 200)
            #expect(one.json["rtc_connection_history_id"] as? Int == 8)
            #expect(one.json["connection_status_info"] as? String == RTCSeed.rows[7].info)
            #expect(one.json["connection_status_time"] as? String == "2024-01-06 00:00:01")
            let pmhOne = try await api.request("\(Self.pmh)/2", token: token)
            #expect(pmhOne.status == 200 && pmhOne.json["product_imei"] as? String == RTCSeed.products[1])

            for path in ["\(Self.rtc)/999", "\(Self.pmh)/999", "\(Self.rtc)/abc", "\(Self.rtc)/-1", "/v1/product", "/v1/telemetry", "/", "\(Self.rtc)/1/2"] {
                let reply = try await api.request(path, token: token)
                #expect(reply.status == 404, "\(path)")
                #expect(!reply.message.isEmpty, "\(path) has a JSON message")
            }
        }
    }

    @Test func writeMethodsAreNotAllowed() async throws {
        try await withServer("methods") { api in
            let system = try api.token(.system)
            let body = Data(#"{"product_imei": "100000000000001"}"#.utf8)
            let cases: [(String, String, String)] = [
                ("POST", Self.rtc, "GET, HEAD"), ("PUT", Self.rtc, "GET, HEAD"), ("DELETE", Self.rtc, "GET, HEAD"), ("PATCH", Self.rtc, "GET, HEAD"),
                ("POST", Self.pmh, "GET, HEAD"), ("PUT", Self.pmh, "GET, HEAD"), ("DELETE", Self.pmh, "GET, HEAD"),
                ("POST", "\(Self.rtc)/1", "GET, HEAD, DELETE"), ("PUT", "\(Self.rtc)/1", "GET, HEAD, DELETE"),
                ("POST", "\(Self.pmh)/1", "GET, HEAD"), ("PUT", "\(Self.pmh)/1", "GET, HEAD"), ("DELETE", "\(Self.pmh)/1", "GET, HEAD"),
            ]
            for (method, path, allow) in cases {
                let reply = try await api.request(method, path, token: system, body: method == "DELETE" ? nil : body)
                #expect(reply.status == 405, "\(method) \(path)")
                #expect(reply.headers["allow"] == allow, "\(method) \(path)")
                #expect(reply.message.contains(method), "\(method) \(path)")
            }
            #expect(try api.count("rtc_connection_history") == 10)
            #expect(try api.count("product_migration_history") == 4)
        }
    }

    @Test func deleteNeedsSystemAndReadNeedsOverview() async throws {
        try await withServer("perm") { api in
            for permission in Permission.allCases {
                let token = try api.token(permission)
                #expect(try await api.request(Self.rtc, token: token).status == 200, "\(permission) reads")
                #expect(try await api.request("\(Self.pmh)/1", token: token).status == 200, "\(permission) reads")
                if permission < .system {
                    let denied = try await api.request("DELETE", "\(Self.rtc)/3", token: token)
                    #expect(denied.status == 403, "\(permission) may not delete")
                    #expect(denied.message.contains("SYSTEM"))
                }
            }
            #expect(try api.count("rtc_connection_history") == 10)
            let system = try api.token(.system)
            let deleted = try await api.request("DELETE", "\(Self.rtc)/3", token: system)
            #expect(deleted.status == 204)
            #expect(deleted.body.isEmpty)
            #expect(try api.count("rtc_connection_history") == 9)
            #expect(try api.sql.query("SELECT 1 FROM rtc_connection_history WHERE rtc_connection_history_id = 3").isEmpty)
            #expect(try await api.request("\(Self.rtc)/3", token: system).status == 404)
            #expect(try await api.request("DELETE", "\(Self.rtc)/3", token: system).status == 404)
            #expect(try await api.request("DELETE", "\(Self.rtc)/4", token: nil).status == 401)
            #expect(try api.count("rtc_connection_history") == 9)
        }
    }

    @Test func tokensAreCheckedExpiredAndExtended() async throws {
        try await withServer("tokens", tokenCacheSeconds: 0) { api in
            let token = try api.token(.overview)
            #expect(try api.sql.query("SELECT 1 FROM api_token WHERE token_hash = $1", [.text(token)]).isEmpty, "stored hashed")

            let missing = try await api.request(Self.rtc, token: nil)
            #expect(missing.status == 401 && !missing.message.isEmpty)
            for header in ["Bearer \(token)", "Token \(token)", "Token token=\(token.dropLast())", "Token token=\(String(repeating: "0", count: 64))"] {
                let reply = try await api.request(Self.rtc, token: nil, authorization: header)
                #expect(reply.status == 401, "\(header)")
                #expect(reply.message == "Invalid or expired token")
            }
            let quoted = try await api.request(Self.rtc, token: nil, authorization: "Token token=\"\(token)\"")
            #expect(quoted.status == 200)

            // A use extends the token: set it to expire in a minute, use it, see 3 hours again.
            try api.sql.execute("UPDATE api_token SET expires_at = (now() AT TIME ZONE 'UTC') + interval '1 minute', last_used_at = NULL")
            #expect(try await api.request(Self.rtc, token: token).status == 200)
            let extended = try api.sql.query("""
                SELECT expires_at > (now() AT TIME ZONE 'UTC') + interval '2 hours 59 minutes', last_used_at IS NOT NULL
                FROM api_token WHERE token_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex')
                """, [.text(token)])
            #expect(extended.first?.bool(0) == true && extended.first?.bool(1) == true)

            // Expired: 401, and it stays expired (an expired token is not extended).
            try api.sql.execute("UPDATE api_token SET expires_at = (now() AT TIME ZONE 'UTC') - interval '1 second'")
            let expired = try await api.request(Self.rtc, token: token)
            #expect(expired.status == 401)
            #expect(try await api.request(Self.rtc, token: token).status == 401)
        }
    }

    @Test func everyOperator() async throws {
        try await withServer("ops") { api in
            let token = try api.token(.overview)
            typealias Case = (String, (RTCSeed) -> Bool)
            let jan3 = "2024-01-03 08:30:00"
            var cases: [Case] = []
            for name in ["==", "eq", "equals", "equals_to"] {
                cases.append((#"{"name": "connection_status", "op": "\#(name)", "val": "online"}"#, { $0.status == "online" }))
            }
            for name in ["!=", "neq", "does_not_equal", "not_equal_to"] {
                cases.append((#"{"name": "connection_status_reason", "op": "\#(name)", "val": "message-received"}"#, { $0.reason != "message-received" }))
            }
            for name in [">", "gt"] {
                cases.append((#"{"name": "connection_status_time", "op": "\#(name)", "val": "2024-01-03 08:30:00"}"#, { $0.timeMicros > jan3 }))
            }
            for name in ["<", "lt"] {
                cases.append((#"{"name": "connection_status_time", "op": "\#(name)", "val": "2024-01-03T08:30:00Z"}"#, { $0.timeMicros < jan3 }))
            }
            for name in [">=", "ge", "gte", "geq"] {
                cases.append((#"{"name": "connection_status_time", "op": "\#(name)", "val": "2024-01-03 08:30:00"}"#, { $0.timeMicros >= jan3 }))
            }
            for name in ["<=", "le", "lte", "leq"] {
                cases.append((#"{"name": "rtc_connection_history_id", "op": "\#(name)", "val": 4}"#, { row in RTCSeed.rows.firstIndex { $0.time == row.time }! + 1 <= 4 }))
            }
            cases += [
                (#"{"name": "product_imei", "op": "in", "val": ["100000000000002", "100000000000004", "999"]}"#, { ["100000000000002", "100000000000004"].contains($0.imei) }),
                (#"{"name": "product_imei", "op": "in", "val": []}"#, { _ in false }),
                (#"{"name": "connection_status_reason", "op": "not_in", "val": ["message-received", "user-request"]}"#, { !["message-received", "user-request"].contains($0.reason) }),
                (#"{"name": "connection_status_info", "op": "is_null"}"#, { $0.info == nil }),
                (#"{"name": "latest_message_time", "op": "is_not_null"}"#, { $0.latestMessage != nil }),
                (#"{"name": "connection_status_info", "op": "like", "val": "%battery%"}"#, { $0.info?.contains("battery") == true }),
                (#"{"name": "connection_status_info", "op": "ilike", "val": "%BATTERY%"}"#, { $0.info?.lowercased().contains("battery") == true }),
                (#"{"name": "connection_status_info", "op": "like", "val": "100\\%%"}"#, { $0.info?.hasPrefix("100%") == true }),
                (#"{"name": "connection_status_info", "op": "==", "val": null}"#, { $0.info == nil }),
                // field to field
                (#"{"name": "connection_status_time", "op": ">", "field": "latest_message_time"}"#, { row in row.latestMicros.map { row.timeMicros > $0 } ?? false }),
                (#"{"name": "connection_status_time", "op": "==", "field": "latest_message_time"}"#, { $0.latestMicros == $0.timeMicros }),
                // formulas
                (#"{"or": [{"name": "product_imei", "op": "==", "val": "100000000000003"}, {"and": [{"name": "connection_status", "op": "==", "val": "offline"}, {"name": "connection_status_info", "op": "is_not_null"}]}]}"#,
                 { $0.imei == "100000000000003" || ($0.status == "offline" && $0.info != nil) }),
            ]
            for (filter, predicate) in cases {
                let reply = try await api.search("rtc_connection_history", #"{"filters": [\#(filter)]}"#, token: token)
                #expect(reply.status == 200, "\(filter): \(reply.message)")
                #expect(reply.ids == RTCSeed.ids(where: predicate), "\(filter)")
                #expect(reply.json["num_results"] as? Int == RTCSeed.ids(where: predicate).count, "\(filter)")
            }
            // Several filters are ANDed.
            let both = try await api.search("rtc_connection_history",
                #"{"filters": [{"name": "connection_status", "op": "eq", "val": "offline"}, {"name": "product_imei", "op": "eq", "val": "100000000000002"}]}"#, token: token)
            #expect(both.ids == [4, 6])
            // The other resource filters too.
            let pmh = try await api.search("product_migration_history",
                #"{"filters": [{"name": "latest_migration_timestamp", "op": ">=", "val": "2024-02-03"}]}"#, token: token)
            #expect(pmh.objects.compactMap { $0["product_imei"] as? String } == Array(RTCSeed.products.suffix(2)))
        }
    }

    @Test func orderLimitOffsetGroupAndSingle() async throws {
        try await withServer("order") { api in
            let token = try api.token(.overview)
            let byTimeDesc = RTCSeed.rows.indices.sorted { RTCSeed.rows[$0].timeMicros > RTCSeed.rows[$1].timeMicros }.map { $0 + 1 }
            let ordered = try await api.search("rtc_connection_history",
                #"{"order_by": [{"field": "connection_status_time", "direction": "desc"}]}"#, token: token)
            #expect(ordered.ids == byTimeDesc)

            let window = try await api.search("rtc_connection_history",
                #"{"order_by": [{"field": "connection_status_time", "direction": "desc"}], "limit": 4, "offset": 2}"#,
                token: token, extra: ["results_per_page": "3", "page": "2"])
            #expect(window.json["num_results"] as? Int == 4)
            #expect(window.json["total_pages"] as? Int == 2)
            #expect(window.ids == Array(byTimeDesc[5..<6]))

            // group_by: one row per product, the first in the requested order.
            let latest = try await api.search("rtc_connection_history",
                #"{"group_by": [{"field": "product_imei"}], "order_by": [{"field": "connection_status_time", "direction": "desc"}]}"#, token: token)
            let expected = RTCSeed.products.map { imei in byTimeDesc.first { RTCSeed.rows[$0 - 1].imei == imei }! }
            #expect(Set(latest.ids) == Set(expected))
            #expect(latest.json["num_results"] as? Int == 4)

            let single = try await api.search("rtc_connection_history",
                #"{"filters": [{"name": "connection_status_reason", "op": "==", "val": "sleep-mode"}], "single": true}"#, token: token)
            #expect(single.status == 200)
            #expect(single.json["rtc_connection_history_id"] as? Int == 4)
            #expect(single.json["num_results"] == nil)
            let none = try await api.search("rtc_connection_history",
                #"{"filters": [{"name": "product_imei", "op": "==", "val": "nope"}], "single": true}"#, token: token)
            #expect(none.status == 400 && none.message == "No result found")
            let many = try await api.search("rtc_connection_history", #"{"single": true}"#, token: token)
            #expect(many.status == 400 && many.message == "Multiple results found")
        }
    }

    @Test func malformedQueriesAre400WithAReason() async throws {
        try await withServer("bad") { api in
            let token = try api.token(.overview)
            let cases: [(String, String)] = [
                ("{not json", "not valid JSON"),
                (#"{"filters": [{"name": "colour", "op": "==", "val": 1}]}"#, "Unknown field \"colour\""),
                (#"{"filters": [{"name": "product_imei", "op": "between", "val": 1}]}"#, "Unknown operator \"between\""),
                (#"{"filters": [{"name": "product_imei", "op": "=="}]}"#, "has no val"),
                (#"{"filters": [{"name": "connection_status_time", "op": ">", "val": "2024-13-45"}]}"#, "not a datetime"),
            ]
            for (q, reason) in cases {
                let reply = try await api.search("rtc_connection_history", q, token: token)
                #expect(reply.status == 400, "\(q)")
                #expect(reply.message.contains(reason), "\(q): \(reply.message)")
            }
            for (name, value) in [("page", "0"), ("page", "x"), ("results_per_page", "-5")] {
                let reply = try await api.request(Self.rtc, query: [name: value], token: token)
                #expect(reply.status == 400 && reply.message.contains(name), "\(name)=\(value)")
            }
            // Without a token, a malformed query is still 401 first.
            #expect(try await api.search("rtc_connection_history", "{bad", token: "").status == 401)
        }
    }

    @Test func sqlInjectionIsRejectedOrHarmless() async throws {
        try await withServer("inject") { api in
            let token = try api.token(.overview)
            let rejected = [
                #"{"filters": [{"name": "product_imei; DROP TABLE product; --", "op": "==", "val": "1"}]}"#,
                #"{"filters": [{"name": "product_imei", "op": "= '' OR 1=1 --", "val": "1"}]}"#,
                #"{"filters": [{"name": "product_imei", "op": "==", "field": "product_imei) OR (1=1"}]}"#,
                #"{"order_by": [{"field": "(SELECT 1)", "direction": "asc"}]}"#,
                #"{"order_by": [{"field": "product_imei", "direction": "asc; DELETE FROM rtc_connection_history"}]}"#,
                #"{"group_by": [{"field": "product_imei; TRUNCATE product CASCADE"}]}"#,
                #"{"filters": [{"name": "rtc_connection_history_id", "op": "==", "val": "1 OR 1=1"}]}"#,
                #"{"limit": "1; DROP TABLE api_token"}"#,
            ]
            for q in rejected {
                let reply = try await api.search("rtc_connection_history", q, token: token)
                #expect(reply.status == 400, "\(q)")
            }
            let harmless: [(String, [Int])] = [
                (#"{"filters": [{"name": "product_imei", "op": "==", "val": "x' OR '1'='1"}]}"#, []),
                (#"{"filters": [{"name": "connection_status_info", "op": "==", "val": "o'brien; DROP TABLE product; --"}]}"#, [8]),
                (#"{"filters": [{"name": "product_imei", "op": "in", "val": ["1') OR ('1'='1", "100000000000004"]}]}"#, [9, 10]),
                (#"{"filters": [{"name": "connection_status_info", "op": "like", "val": "%'brien; DROP TABLE product; --%"}]}"#, [8]),
            ]
            for (q, ids) in harmless {
                let reply = try await api.search("rtc_connection_history", q, token: token)
                #expect(reply.status == 200 && reply.ids == ids, "\(q)")
            }
            let hostilePath = try await api.request("/v1/rtc_connection_history/1;DROP%20TABLE%20product", token: token)
            #expect(hostilePath.status == 404)
            #expect(try api.count("product") == 4)
            #expect(try api.count("rtc_connection_history") == 10)
            #expect(try api.count("product_migration_history") == 4)
            #expect(try api.count("api_token") == 1)
        }
    }

    @Test func pagingThroughThousandsOfRows() async throws {
        try await withServer("paging") { api in
            let token = try api.token(.overview)
            try api.sql.execute("""
                INSERT INTO rtc_connection_history (product_imei, connection_status, connection_status_time, connection_status_reason)
                SELECT '100000000000001', CASE WHEN g % 2 = 0 THEN 'online' ELSE 'offline' END,
                       timestamp '2025-01-01' + g * interval '1 minute', 'inactivity'
                FROM generate_series(1, 3000) AS g
                """)
            let total = 3010
            var seen: [Int] = []
            var page = 1
            while true {
                let reply = try await api.request(Self.rtc, query: ["page": "\(page)", "results_per_page": "100"], token: token)
                #expect(reply.status == 200)
                #expect(reply.json["num_results"] as? Int == total)
                #expect(reply.json["total_pages"] as? Int == 31)
                #expect(reply.json["page"] as? Int == page)
                if reply.objects.isEmpty { break }
                #expect(reply.objects.count == (page < 31 ? 100 : 10))
                seen += reply.ids
                page += 1
            }
            #expect(page == 32)
            #expect(seen == Array(1...total))

            let defaults = try await api.request(Self.rtc, token: token)
            #expect(defaults.objects.count == 10 && defaults.json["total_pages"] as? Int == 301)
            let capped = try await api.request(Self.rtc, query: ["results_per_page": "5000", "page": "3"], token: token)
            #expect(capped.ids == Array(201...300))

            // Descending by time, filtered: pages partition the filtered set in order.
            var online: [Int] = []
            for p in 1...16 {
                let reply = try await api.search("rtc_connection_history",
                    #"{"filters": [{"name": "connection_status", "op": "==", "val": "online"}, {"name": "rtc_connection_history_id", "op": ">", "val": 10}], "order_by": [{"field": "connection_status_time", "direction": "desc"}]}"#,
                    token: token, extra: ["page": "\(p)"])
                #expect(reply.json["num_results"] as? Int == 1500)
                online += reply.ids
            }
            let expectedOnline = (1...3000).filter { $0 % 2 == 0 }.reversed().map { $0 + 10 }
            #expect(online == Array(expectedOnline))
        }
    }

    /// Finding 6: connections killed under the server (as a PostgreSQL restart does): every
    /// request still succeeds, because GET (and the token check) retry once on a new connection.
    @Test func poolReconnectsAfterBackendsAreKilled() async throws {
        try await withServer("reconnect", tokenCacheSeconds: 0) { api in
            let token = try api.token(.system)
            for _ in 0..<8 { #expect(try await api.request(Self.rtc, token: token).status == 200) }
            for round in 0..<3 {
                let killed = try api.sql.query("""
                    SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE application_name = 'telemetry-migrate serve' AND datname = current_database() AND pid <> pg_backend_pid()
                    """)
                #expect((killed.first?.int64(0) ?? 0) >= 1)
                var statuses: [Int] = []
                for _ in 0..<6 {
                    statuses.append(try await api.request(Self.rtc, token: token).status)
                    statuses.append(try await api.request("\(Self.rtc)/1", token: token).status)
                }
                #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
                if round == 2 {
                    _ = try api.sql.query("""
                        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                        WHERE application_name = 'telemetry-migrate serve' AND datname = current_database() AND pid <> pg_backend_pid()
                        """)
                    #expect(try await api.request("DELETE", "\(Self.rtc)/10", token: token).status == 204)
                }
            }
        }
    }
}
