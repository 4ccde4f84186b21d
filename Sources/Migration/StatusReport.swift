import Foundation
import PostgresClient
import TelemetryCore

/// What `status` shows: watermarks, the products furthest behind, the last runs, and dumps
/// present in a directory but not yet completed.
public struct StatusReport: Sendable {
    public struct Product: Sendable {
        public var imei: String
        /// Microseconds; nil when the product has never been migrated.
        public var watermark: Int64?
        public var lastMigratedAt: Int64?
    }

    public struct Run: Sendable {
        public var id: Int64
        public var mode: String
        public var status: String
        public var exitCode: Int?
        public var startedAt: Int64?
        public var finishedAt: Int64?
        public var read: Int?
        public var inserted: Int?
    }

    public var products: [Product]
    public var runs: [Run]
    /// Names of dumps in the directory that this unit has not completed (nil: no directory given).
    public var pendingDumps: [String]?
    public var productCount: Int
    public var migratedCount: Int

    /// - Parameters:
    ///   - imeis: only these products; empty = the `limit` products furthest behind (oldest watermark first, never-migrated first of all).
    public static func load(from connection: PostgresConnection, imeis: [String], limit: Int, runs runLimit: Int,
                            unit: String, dumps: [String]?) throws -> StatusReport {
        let selected = imeis.isEmpty
        let products = try connection.query("""
            SELECT p.product_imei, h.latest_migration_timestamp, h.last_migrated_at
            FROM product p LEFT JOIN product_migration_history h ON h.product_imei = p.product_imei
            WHERE $1::boolean OR p.product_imei = ANY($2::text[])
            ORDER BY h.latest_migration_timestamp ASC NULLS FIRST, p.product_imei
            LIMIT $3::bigint
            """, [.bool(selected), .text(arrayLiteral(imeis)), .int(Int64(selected ? limit : imeis.count))]).map {
            Product(imei: $0.string(0) ?? "", watermark: $0.timestampMicros(1), lastMigratedAt: $0.timestampMicros(2))
        }
        let counts = try connection.query("""
            SELECT (SELECT count(*) FROM product), (SELECT count(*) FROM product_migration_history)
            """).first
        let runs = try connection.query("""
            SELECT run_id, mode, status, exit_code, started_at, finished_at,
                   (report->'totals'->>'read')::bigint, (report->'totals'->>'inserted')::bigint
            FROM migrate_run WHERE unit = $1 ORDER BY run_id DESC LIMIT $2::bigint
            """, [.text(unit), .int(Int64(runLimit))]).map {
            Run(id: $0.int64(0) ?? 0, mode: $0.string(1) ?? "", status: $0.string(2) ?? "",
                exitCode: $0.int64(3).map(Int.init), startedAt: $0.timestampMicros(4), finishedAt: $0.timestampMicros(5),
                read: $0.int64(6).map(Int.init), inserted: $0.int64(7).map(Int.init))
        }
        var pending: [String]?
        if let dumps {
            let completed = try MigrationStore(connection: connection, unit: unit).completedDumps()
            pending = dumps.map { ($0 as NSString).lastPathComponent }.filter { completed[$0] == nil }
        }
        return StatusReport(products: products, runs: runs, pendingDumps: pending,
                            productCount: Int(counts?.int64(0) ?? 0), migratedCount: Int(counts?.int64(1) ?? 0))
    }

    public func rendered(as format: ReportFormat, now: Int64) -> String {
        switch format {
        case .json: return json(now: now) + "\n"
        case .csv:
            var lines = ["product_imei,latest_migration_timestamp,last_migrated_at,lag_s"]
            for p in products {
                lines.append([p.imei, formatTime(p.watermark), formatTime(p.lastMigratedAt), p.watermark.map { String((now - $0) / 1_000_000) } ?? ""].joined(separator: ","))
            }
            return lines.joined(separator: "\n") + "\n"
        case .text: return text(now: now)
        }
    }

    func json(now: Int64) -> String {
        var json = JSONWriter(style: .pretty)
        json.object { json in
            json.member("products_total", productCount)
            json.member("products_migrated", migratedCount)
            json.key("products")
            json.array { json in
                for p in products {
                    json.object { json in
                        json.member("product_imei", p.imei)
                        json.member("latest_migration_timestamp", p.watermark.map { UTCTime.format(micros: $0) })
                        json.member("last_migrated_at", p.lastMigratedAt.map { UTCTime.format(micros: $0) })
                        json.member("lag_s", p.watermark.map { Int((now - $0) / 1_000_000) })
                    }
                }
            }
            json.key("runs")
            json.array { json in
                for r in runs {
                    json.object { json in
                        json.member("run_id", Int(r.id))
                        json.member("mode", r.mode)
                        json.member("status", r.status)
                        json.member("exit_code", r.exitCode)
                        json.member("started_at", r.startedAt.map { UTCTime.format(micros: $0) })
                        json.member("finished_at", r.finishedAt.map { UTCTime.format(micros: $0) })
                        json.member("read", r.read)
                        json.member("inserted", r.inserted)
                    }
                }
            }
            json.key("pending_dumps")
            if let pendingDumps {
                json.array { json in
                    for name in pendingDumps { json.value(name) }
                }
            } else {
                json.null()
            }
        }
        return json.output
    }

    func text(now: Int64) -> String {
        var out = "\(migratedCount) of \(productCount) products have been migrated.\n\n"
        out += Table(header: ["product_imei", "watermark", "behind", "last migrated at"],
                     rows: products.map { p in
                         [p.imei, formatTime(p.watermark, empty: "never"), p.watermark.map { Self.age(now - $0) } ?? "-",
                          formatTime(p.lastMigratedAt, empty: "-")]
                     }, rightAligned: [2]).rendered()
        out += "\nLast runs:\n"
        out += Table(header: ["run", "mode", "status", "exit", "started", "finished", "read", "inserted"],
                     rows: runs.map { r in
                         [String(r.id), r.mode, r.status, r.exitCode.map(String.init) ?? "-", formatTime(r.startedAt, empty: "-"),
                          formatTime(r.finishedAt, empty: "-"), r.read.map(String.init) ?? "-", r.inserted.map(String.init) ?? "-"]
                     }, rightAligned: [0, 3, 6, 7]).rendered()
        if let pendingDumps {
            out += "\nDumps not yet completed: " + (pendingDumps.isEmpty ? "none" : "\(pendingDumps.count)") + "\n"
            for name in pendingDumps.prefix(50) { out += "  \(name)\n" }
        }
        return out
    }

    /// "3d 4h", "5h 2m", "42s".
    static func age(_ micros: Int64) -> String {
        let s = micros / 1_000_000
        if s >= 86_400 { return "\(s / 86_400)d \(s % 86_400 / 3600)h" }
        if s >= 3600 { return "\(s / 3600)h \(s % 3600 / 60)m" }
        if s >= 60 { return "\(s / 60)m \(s % 60)s" }
        return "\(s)s"
    }
}
