import Foundation
import PostgresClient
import TelemetryCore

/// How far the migration is behind, measured on the database's clock.
public struct MigrationLag: Sendable, Equatable {
    /// Unix seconds when measured (the database's `now()`).
    public var measuredAt: Double
    /// Unix seconds of the oldest `latest_migration_timestamp`; nil when no product has one.
    public var oldestWatermark: Double?
    /// Products whose watermark is more than 24 hours before `measuredAt`.
    public var productsBehind24h: Int
    /// Products without a history row (never migrated).
    public var productsNeverMigrated: Int
    public var products: Int

    /// Now minus the oldest product watermark, in seconds.
    public var lagSeconds: Double? { oldestWatermark.map { measuredAt - $0 } }

    public init(measuredAt: Double, oldestWatermark: Double?, productsBehind24h: Int, productsNeverMigrated: Int, products: Int) {
        self.measuredAt = measuredAt
        self.oldestWatermark = oldestWatermark
        self.productsBehind24h = productsBehind24h
        self.productsNeverMigrated = productsNeverMigrated
        self.products = products
    }

    /// One aggregate over `product` and the history; valid on tables distributed by `product_imei`.
    /// Watermarks are UTC `timestamp`s, so `extract(epoch ...)` of them is Unix time.
    public static func load(from connection: PostgresConnection) throws -> MigrationLag {
        let row = try connection.query("""
            SELECT extract(epoch FROM now())::float8,
                   extract(epoch FROM min(h.latest_migration_timestamp))::float8,
                   count(*) FILTER (WHERE h.latest_migration_timestamp < (now() AT TIME ZONE 'UTC') - interval '24 hours'),
                   count(*) FILTER (WHERE h.product_imei IS NULL),
                   count(*)
            FROM product p LEFT JOIN product_migration_history h ON h.product_imei = p.product_imei
            """).first
        guard let row, let now = row.double(0) else { throw MetricsError("the lag query returned nothing") }
        return MigrationLag(measuredAt: now, oldestWatermark: row.double(1), productsBehind24h: Int(row.int64(2) ?? 0),
                            productsNeverMigrated: Int(row.int64(3) ?? 0), products: Int(row.int64(4) ?? 0))
    }
}

struct MetricsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A run's outcome as Prometheus gauges, for node_exporter's textfile collector. Every series
/// carries `mode` (nightly, backfill) and `unit` (`all`, or `shard K/N` for a shard's
/// process), so a nightly and a backfill file, and the files of N shards, can sit side by side.
public struct RunMetrics: Sendable {
    /// `ok`, `failed`, `locked`, `rejects` (the report's), or `error`: the run never got going
    /// (usage or configuration error, database unreachable: exit 2).
    public static let statuses = ["ok", "failed", "locked", "rejects", "error"]

    public var mode: String
    /// The run unit of the process: `all` (also for `--workers N`), or `shard K/N`.
    public var unit: String
    public var dryRun: Bool
    public var status: String
    public var exitCode: Int32
    public var startedAt: Date
    public var durationSeconds: Double
    public var totals: DumpCounts
    public var dumpsByStatus: [String: Int]
    /// Nil when it could not be measured (the database is gone).
    public var lag: MigrationLag?

    /// A run that ended with a report.
    public init(report: RunReport, startedAt: Date, lag: MigrationLag?, unit: String = "all") {
        mode = report.mode
        self.unit = unit
        dryRun = report.dryRun
        status = report.status.rawValue
        exitCode = report.status.exitCode
        self.startedAt = startedAt
        durationSeconds = report.durationSeconds
        totals = report.totals
        dumpsByStatus = Dictionary(grouping: report.dumps, by: \.status.rawValue).mapValues(\.count)
        self.lag = lag
    }

    /// A run that ended before it had a report (status `error`).
    public init(unfinished mode: String, dryRun: Bool, startedAt: Date, exitCode: Int32, unit: String = "all") {
        self.mode = mode
        self.unit = unit
        self.dryRun = dryRun
        status = "error"
        self.exitCode = exitCode
        self.startedAt = startedAt
        durationSeconds = Date().timeIntervalSince(startedAt)
        totals = DumpCounts()
        dumpsByStatus = [:]
        lag = nil
    }

    /// The report's metrics plus the lag, measured after the run on the same connection
    /// (left out when that query fails).
    public static func collect(on connection: PostgresConnection, report: RunReport, startedAt: Date,
                               unit: String = "all") -> RunMetrics {
        RunMetrics(report: report, startedAt: startedAt, lag: try? MigrationLag.load(from: connection), unit: unit)
    }

    /// The Prometheus text exposition format (version 0.0.4).
    public func prometheusText() -> String {
        var out = ""
        let mode = "mode=\"\(Self.escape(mode))\",unit=\"\(Self.escape(unit))\""
        func gauge(_ name: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP telemetry_migrate_\(name) \(help)\n# TYPE telemetry_migrate_\(name) gauge\n"
            for sample in samples {
                out += "telemetry_migrate_\(name){\(mode)\(sample.labels.isEmpty ? "" : ",")\(sample.labels)} \(sample.value)\n"
            }
        }
        func one(_ name: String, _ help: String, _ value: String) { gauge(name, help, [("", value)]) }

        one("run_start_timestamp_seconds", "Unix time the last run started.", Self.number(startedAt.timeIntervalSince1970))
        one("run_duration_seconds", "Duration of the last run.", Self.number(durationSeconds))
        gauge("run_status", "1 for the status the last run ended with, 0 for the others.",
              Self.statuses.map { ("status=\"\($0)\"", $0 == status ? "1" : "0") })
        one("run_exit_code", "Exit code of the last run (\(ExitReason.summary)).", "\(exitCode)")
        one("run_dry_run", "1 when the last run was a dry run (nothing written).", dryRun ? "1" : "0")
        gauge("dumps", "Dumps of the last run by status.",
              ["completed", "skipped", "failed", "planned"].map { ("status=\"\($0)\"", "\(dumpsByStatus[$0] ?? 0)") })
        one("points_read", "Points read by the last run.", "\(totals.read)")
        one("points_inserted", "Points inserted by the last run (in a dry run: that it would insert).", "\(totals.inserted)")
        one("points_stale", "Points older than their product's watermark in the last run.", "\(totals.stale)")
        one("points_present", "Points already in telemetry in the last run.", "\(totals.present)")
        one("points_rejected", "Rejected lines and points of the last run (malformed lines plus unknown products).", "\(totals.rejects)")
        one("lines_malformed", "Malformed lines in the last run.", "\(totals.malformed)")
        one("points_unknown_product", "Points of IMEIs not in product in the last run.", "\(totals.unknownProduct)")
        if let lag {
            if let seconds = lag.lagSeconds, let oldest = lag.oldestWatermark {
                one("lag_seconds", "Now minus the oldest product watermark, after the last run.", Self.number(seconds))
                one("oldest_watermark_timestamp_seconds", "Unix time of the oldest product watermark.", Self.number(oldest))
            }
            one("products_behind_24h", "Products whose watermark is more than 24 hours old.", "\(lag.productsBehind24h)")
            one("products_never_migrated", "Products without a migration history row.", "\(lag.productsNeverMigrated)")
            one("products", "Products in the product table.", "\(lag.products)")
            one("lag_measured_timestamp_seconds", "Unix time (database clock) the lag was measured.", Self.number(lag.measuredAt))
        }
        return out
    }

    /// Writes the metrics whole (`OutputFile.write`: a hidden temporary file, which the textfile
    /// collector ignores, renamed over `path`).
    public func write(to path: String) throws {
        do {
            try OutputFile.write(prometheusText(), to: path)
        } catch {
            throw UsageError("cannot write the metrics file \(path): \(error.localizedDescription)")
        }
    }

    /// Integers without a fraction, other values in Swift's shortest round-trip form (which
    /// Prometheus parses, exponent included).
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    static func escape(_ label: String) -> String {
        label.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
