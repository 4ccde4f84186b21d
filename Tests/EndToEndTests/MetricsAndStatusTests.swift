import Foundation
import Testing
import TestSupport

// What a run leaves for monitoring: the metrics file and `status`.

@Suite("Operations: metrics file", .enabled(if: Requirement.database.testsRun))
struct OperationsMetricsTests {
    @Test("--metrics-file: Prometheus gauges equal to the report's, lag from the oldest watermark, written atomically")
    func metricsMatchTheReport() throws {
        try withPreparedDatabase("opsmetrics") { db, tool in
            // A product migrated just now: not behind. Another never migrated at all.
            try db.psql("""
                INSERT INTO product (product_imei) VALUES ('424242424242424'), ('434343434343434');
                INSERT INTO product_migration_history (product_imei, latest_migration_timestamp, last_migrated_at)
                VALUES ('424242424242424', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC');
                """)
            let directory = try Package.temporaryDirectory("ops-metrics")
            let path = directory.appendingPathComponent("telemetry_migrate.prom").path
            let (result, report) = try tool.nightly(fixtureDumps, ["--metrics-file", path])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["telemetry_migrate.prom"],
                    "no temporary file left behind")
            let samples = try parsePrometheus(try String(contentsOfFile: path, encoding: .utf8))
            func value(_ name: String, _ labels: String = "") -> Double? {
                samples["telemetry_migrate_\(name){mode=\"nightly\",unit=\"all\"\(labels.isEmpty ? "" : ",")\(labels)}"]
            }
            let totals = report.totals
            #expect(value("points_read") == Double(totals.int("read") ?? -1))
            #expect(value("points_inserted") == Double(totals.int("inserted") ?? -1))
            #expect(value("points_stale") == Double(totals.int("stale") ?? -1))
            #expect(value("points_present") == Double(totals.int("present") ?? -1))
            #expect(value("lines_malformed") == Double(totals.int("malformed") ?? -1))
            #expect(value("points_rejected") == Double((totals.int("malformed") ?? 0) + (totals.int("unknown_product") ?? 0)))
            #expect(value("dumps", #"status="completed""#) == Double(report.dumps.count))
            #expect(value("dumps", #"status="failed""#) == 0)
            #expect(value("run_status", #"status="ok""#) == 1)
            for other in ["failed", "locked", "rejects", "error"] { #expect(value("run_status", "status=\"\(other)\"") == 0) }
            #expect(value("run_exit_code") == 0)
            #expect(value("run_dry_run") == 0)
            let duration = try #require(value("run_duration_seconds"))
            #expect(abs(duration - (report["duration_s"] as? Double ?? -1)) < 0.001)
            let start = try #require(value("run_start_timestamp_seconds"))
            let runStarted = try db.psql("SELECT extract(epoch FROM started_at)::float8 FROM migrate_run ORDER BY run_id DESC LIMIT 1")
            #expect(abs(start - (Double(runStarted.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0)) < 60,
                    "the start time is the run's (same clock, same minute)")

            let oldest = Double(try db.psql("SELECT extract(epoch FROM min(latest_migration_timestamp))::float8 FROM product_migration_history")
                .trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(value("oldest_watermark_timestamp_seconds") == oldest)
            let measured = try #require(value("lag_measured_timestamp_seconds"))
            let lag = try #require(value("lag_seconds"))
            #expect(abs(lag - (measured - (oldest ?? 0))) < 1e-3)
            #expect(lag > 86_400, "the fixtures are from 2024")
            let history = Int(try db.psql("SELECT count(*) FROM product_migration_history").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            #expect(value("products_behind_24h") == Double(history - 1), "all but the product migrated just now")
            let never = Int(try db.psql("""
                SELECT count(*) FROM product p LEFT JOIN product_migration_history h ON h.product_imei = p.product_imei
                WHERE h.product_imei IS NULL
                """).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            #expect(never >= 1)
            #expect(value("products_never_migrated") == Double(never))
            #expect(value("products") == Double(try fixtureProducts().count + 2))
        }
    }

    @Test("A failed dump shows in the metrics: status failed, exit code 1, dumps failed 1")
    func failedRunMetrics() throws {
        try withPreparedDatabase("opsmetricsfail") { db, tool in
            let dumps = try Package.temporaryDirectory("ops-metrics-fail")
            try FileManager.default.copyItem(at: Package.fixtures.appendingPathComponent("corrupt/truncated.lp.gz"),
                                             to: dumps.appendingPathComponent("20240101_truncated.lp.gz"))
            let path = dumps.deletingLastPathComponent().appendingPathComponent("ops-metrics-\(UInt32.random(in: 0...UInt32.max)).prom").path
            let (result, report) = try tool.nightly(dumps, ["--metrics-file", path])
            #expect(result.status == 1)
            #expect(report["status"] as? String == "failed")
            let samples = try parsePrometheus(try String(contentsOfFile: path, encoding: .utf8))
            #expect(samples[#"telemetry_migrate_run_status{mode="nightly",unit="all",status="failed"}"#] == 1)
            #expect(samples[#"telemetry_migrate_run_status{mode="nightly",unit="all",status="ok"}"#] == 0)
            #expect(samples[#"telemetry_migrate_run_exit_code{mode="nightly",unit="all"}"#] == 1)
            #expect(samples[#"telemetry_migrate_dumps{mode="nightly",unit="all",status="failed"}"#] == 1)
            #expect(samples[#"telemetry_migrate_products_never_migrated{mode="nightly",unit="all"}"#] == Double(try fixtureProducts().count))
        }
    }
}

@Suite("Operations: status", .enabled(if: Requirement.database.testsRun))
struct OperationsStatusTests {
    @Test("status: products furthest behind first, the last runs, dumps not yet completed (json and text)")
    func status() throws {
        try withPreparedDatabase("opsstatus") { db, tool in
            let dumps = try Package.temporaryDirectory("ops-status")
            for name in try FileManager.default.contentsOfDirectory(atPath: fixtureDumps.path) {
                try FileManager.default.copyItem(at: fixtureDumps.appendingPathComponent(name), to: dumps.appendingPathComponent(name))
            }
            let (first, _) = try tool.nightly(dumps)
            #expect(first.status == 0)
            try FileManager.default.copyItem(at: fixtureDumps.appendingPathComponent("20241002_d2.csv.gz"),
                                             to: dumps.appendingPathComponent("20241231_new.csv.gz"))

            let result = tool.run(["status", "--report", "json", "--dumps", dumps.path, "--top", "3"])
            #expect(result.status == 0, "\(result.stderr)")
            let json = try Tool.decode(result)
            #expect(json.int("products_total") == (try fixtureProducts().count))
            let migrated = Int(try db.psql("SELECT count(*) FROM product_migration_history").trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(json.int("products_migrated") == migrated)
            let products = json["products"] as? [[String: Any]] ?? []
            #expect(products.count == 3)
            let oldest = try db.psql("""
                SELECT p.product_imei FROM product p LEFT JOIN product_migration_history h USING (product_imei)
                ORDER BY h.latest_migration_timestamp ASC NULLS FIRST, p.product_imei LIMIT 3
                """)
            #expect(products.map { $0["product_imei"] as? String ?? "" } == DatabaseState.lines(oldest), "furthest behind first")
            let runs = json["runs"] as? [[String: Any]] ?? []
            #expect(runs.first?["mode"] as? String == "nightly")
            #expect(runs.first?["status"] as? String == "ok")
            #expect(runs.first?["exit_code"] as? Int == 0)
            #expect(json["pending_dumps"] as? [String] == ["20241231_new.csv.gz"])

            let text = tool.run(["status", "--dumps", dumps.path])
            #expect(text.status == 0)
            #expect(text.stdout.contains("Last runs:"))
            #expect(text.stdout.contains("Dumps not yet completed: 1"))
            #expect(text.stdout.contains("20241231_new.csv.gz"))

            let one = tool.run(["status", "--imei", "001409288034695", "--report", "json"])
            let only = (try Tool.decode(one)["products"] as? [[String: Any]] ?? []).map { $0["product_imei"] as? String }
            #expect(only == ["001409288034695"])
        }
    }
}
