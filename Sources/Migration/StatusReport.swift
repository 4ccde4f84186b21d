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
        /// `all` or `shard K/N`.
        public var unit: String
        public var mode: String
        public var status: String
        public var exitCode: Int?
        public var startedAt: Int64?
        public var finishedAt: Int64?
        public var read: Int?
        public var inserted: Int?
    }

    /// A run unit that has run: its last run and, with a dumps directory, the dumps it has not completed.
    public struct Unit: Sendable {
        public var name: String
        public var lastRun: Run?
        /// Dumps of the directory not completed for this unit's products, by its own records or
        /// by those of units covering it (nil: no directory given).
        public var pendingDumps: [String]?
    }

    public var products: [Product]
    /// The last runs of every unit, newest first.
    public var runs: [Run]
    public var units: [Unit]
    /// Dumps of the directory not yet completed for every product, whatever the split (nil: no directory given).
    public var pendingDumps: [String]?
    public var productCount: Int
    public var migratedCount: Int

    /// - Parameters:
    ///   - imeis: only these products; empty = the `limit` products furthest behind (oldest watermark first, never-migrated first of all).
    ///   - dumps: the names of a dumps directory's dumps, for what is pending.
    public static func load(from connection: PostgresConnection, imeis: [String], limit: Int, runs runLimit: Int,
                            dumps: [String]?) throws -> StatusReport {
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
        func run(_ row: PostgresRow) -> Run {
            Run(id: row.int64(0) ?? 0, unit: row.string(1) ?? "", mode: row.string(2) ?? "", status: row.string(3) ?? "",
                exitCode: row.int64(4).map(Int.init), startedAt: row.timestampMicros(5), finishedAt: row.timestampMicros(6),
                read: row.int64(7).map(Int.init), inserted: row.int64(8).map(Int.init))
        }
        let columns = """
            run_id, unit, mode, status, exit_code, started_at, finished_at,
            (report->'totals'->>'read')::bigint, (report->'totals'->>'inserted')::bigint
            """
        let runs = try connection.query("SELECT \(columns) FROM migrate_run ORDER BY run_id DESC LIMIT $1::bigint",
                                        [.int(Int64(runLimit))]).map(run)
        let lastRuns = try connection.query("""
            SELECT DISTINCT ON (unit) \(columns) FROM migrate_run WHERE NOT dry_run ORDER BY unit, run_id DESC
            """).map(run)
        var completed: [String: [RunUnit]] = [:]  // dump name -> units that completed it
        var unitNames = Set(lastRuns.map(\.unit))
        if dumps != nil {
            for row in try connection.query("SELECT unit, name FROM migrate_dump") {
                guard let name = row.string(0), let dump = row.string(1) else { continue }
                unitNames.insert(name)
                if let unit = RunUnit(name: name) { completed[dump, default: []].append(unit) }
            }
        }
        let names = dumps.map { $0.map { ($0 as NSString).lastPathComponent } }
        func pending(for unit: RunUnit) -> [String]? {
            names.map { $0.filter { !unit.isCovered(by: completed[$0] ?? []) } }
        }
        let units = unitNames.sorted().map { name in
            Unit(name: name, lastRun: lastRuns.first { $0.unit == name }, pendingDumps: RunUnit(name: name).flatMap(pending))
        }
        return StatusReport(products: products, runs: runs, units: units, pendingDumps: pending(for: .all),
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
                        json.member("unit", r.unit)
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
            json.key("units")
            json.array { json in
                for u in units {
                    json.object { json in
                        json.member("unit", u.name)
                        json.member("last_run_id", u.lastRun.map { Int($0.id) })
                        json.member("last_run_status", u.lastRun?.status)
                        json.member("last_run_finished_at", u.lastRun?.finishedAt.map { UTCTime.format(micros: $0) })
                        json.key("pending_dumps")
                        if let pending = u.pendingDumps {
                            json.array { json in
                                for name in pending { json.value(name) }
                            }
                        } else {
                            json.null()
                        }
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
        out += Table(header: ["run", "unit", "mode", "status", "exit", "started", "finished", "read", "inserted"],
                     rows: runs.map { r in
                         [String(r.id), r.unit, r.mode, r.status, r.exitCode.map(String.init) ?? "-", formatTime(r.startedAt, empty: "-"),
                          formatTime(r.finishedAt, empty: "-"), r.read.map(String.init) ?? "-", r.inserted.map(String.init) ?? "-"]
                     }, rightAligned: [0, 4, 7, 8]).rendered()
        if units.count > 1 || units.first?.name != "all" {
            out += "\nRun units:\n"
            out += Table(header: ["unit", "last run", "status", "finished", "pending dumps"],
                         rows: units.map { u in
                             [u.name, u.lastRun.map { String($0.id) } ?? "-", u.lastRun?.status ?? "-",
                              formatTime(u.lastRun?.finishedAt, empty: "-"), u.pendingDumps.map { String($0.count) } ?? "-"]
                         }, rightAligned: [1, 4]).rendered()
        }
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
