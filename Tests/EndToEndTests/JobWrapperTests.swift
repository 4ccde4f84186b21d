import Foundation
import Testing
import TestSupport

// The jobs/ wrappers an operator runs, against the fixtures and a real PostgreSQL.

@Suite("Operations: jobs/ wrappers", .enabled(if: Requirement.database.testsRun))
struct OperationsWrapperTests {
    @Test("jobs/nightly writes a dated JSON report and reject file, prints the text report, exits 0; the second run skips every dump")
    func nightlyTwice() throws {
        try withPreparedDatabase("opsnightly") { db, _ in
            let job = try JobEnvironment(db: db)
            let first = job.run("nightly")
            #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
            #expect(first.stdout.contains("telemetry-migrate nightly"), "text report on stdout: \(first.stdout)")
            #expect(first.stdout.contains("jobs/nightly: exit 0 (ok)"))

            let files = job.reportFiles()
            #expect(files.count == 2, "\(files)")
            let report = try #require(files.first { $0.hasSuffix(".json") })
            #expect(matches(report, #"^nightly-\d{4}-\d{2}-\d{2}T\d{6}Z\.json$"#), "\(report)")
            let rejects = report.replacingOccurrences(of: ".json", with: ".rejects.csv")
            #expect(files.contains(rejects))

            let json = try job.json(report)
            #expect(json["mode"] as? String == "nightly")
            #expect(json["status"] as? String == "ok")
            let dumpNames = try FileManager.default.contentsOfDirectory(atPath: fixtureDumps.path).filter { !$0.hasPrefix(".") }
            #expect(json.dumps.count == dumpNames.count)
            #expect(json.dumps.allSatisfy { $0["status"] as? String == "completed" })
            #expect((json.totals.int("inserted") ?? 0) > 0)
            let rejected = (json.totals.int("malformed") ?? 0) + (json.totals.int("unknown_product") ?? 0)
            #expect(rejected > 0, "the fixtures hold malformed lines")
            let rows = try job.rejectRows(rejects)
            #expect(rows.first == "file,line,column,reason,raw")
            #expect(rows.count - 1 == rejected)
            #expect(first.stdout.contains("jobs/nightly: \(rejected) rejected lines in"))

            let second = job.run("nightly")
            #expect(second.status == 0, "\(second.stderr)")
            let reports = job.reportFiles().filter { $0.hasSuffix(".json") }
            #expect(reports.count == 2, "a second dated report: \(reports)")
            let latest = try job.json(try #require(reports.first { $0 != report }))
            #expect(latest.dumps.count == dumpNames.count)
            #expect(latest.dumps.allSatisfy { $0["status"] as? String == "skipped" })
            #expect(latest.totals.int("inserted") == 0)
        }
    }

    @Test("jobs/nightly passes exit code 4 through when MAX_REJECTS is exceeded")
    func nightlyTooManyRejects() throws {
        try withPreparedDatabase("opsrejects") { db, _ in
            let job = try JobEnvironment(db: db, extra: ["MAX_REJECTS": "0"])
            let result = job.run("nightly")
            #expect(result.status == 4, "\(result.stdout)\n\(result.stderr)")
            let report = try #require(job.reportFiles().first { $0.hasSuffix(".json") })
            #expect(try job.json(report)["status"] as? String == "rejects")
            #expect(result.stdout.contains("jobs/nightly: exit 4"))
        }
    }

    @Test("jobs/nightly passes exit code 3 through while another session holds the run lock, and the message names the holder")
    func nightlyLocked() throws {
        try withPreparedDatabase("opslock") { db, _ in
            // The engine's lock: FNV-1a 64 of "telemetry-migrate/all" (RunLock), held by a psql session.
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in "telemetry-migrate/all".utf8 { hash ^= UInt64(byte); hash = hash &* 0x100_0000_01b3 }
            let key = Int64(bitPattern: hash)
            let holder = try HeldSession(on: db, script: "SELECT pg_advisory_lock(\(key));", holding: """
                EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
                          AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
                """, applicationName: "ops-test-lock-holder")
            defer { holder.end() }

            let job = try JobEnvironment(db: db)
            let result = job.run("nightly")
            #expect(result.status == 3, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("jobs/nightly: exit 3 (another run holds the lock)"))
            // Names a holder. (Not asserted to be this psql session: RunLock.holder does not filter
            // pg_locks by database, so with tests running in parallel it may name another
            // database's run; reported to the lead.)
            #expect((result.stdout + result.stderr).contains("holds the lock: backend pid"), "names the holder")
            let report = try #require(job.reportFiles().first { $0.hasSuffix(".json") })
            #expect(try job.json(report)["status"] as? String == "locked")
            #expect(try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        }
    }

    @Test("jobs/nightly under SHARD_COUNT: --shard K/N, files named for the unit; WORKERS in the env file is left out with a note, not exit 2")
    func nightlyShardsIgnoreWorkers() throws {
        try withPreparedDatabase("opsshards") { db, _ in
            let metrics = try Package.temporaryDirectory("ops-shard-metrics").appendingPathComponent("tm.prom")
            var inserted = 0
            for index in 0..<2 {
                // As a systemd template instance would: SHARD_INDEX from the unit, the rest
                // (WORKERS=2 for an unsplit run too) from the shared environment file.
                let job = try JobEnvironment(db: db, extra: ["SHARD_COUNT": "2", "SHARD_INDEX": "\(index)", "WORKERS": "2",
                                                         "METRICS_FILE": metrics.path])
                let result = job.run("nightly")
                #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
                #expect(result.stderr.contains("WORKERS=2 not used"), "\(result.stderr)")
                let report = try #require(job.reportFiles().first { $0.hasSuffix(".json") })
                #expect(matches(report, #"^nightly-shard-\#(index)-of-2-\d{4}-\d{2}-\d{2}T\d{6}Z\.json$"#), "\(report)")
                let json = try job.json(report)
                #expect(json["status"] as? String == "ok")
                #expect((json.totals.int("filtered") ?? 0) > 0, "the other unit's points")
                inserted += json.totals.int("inserted") ?? 0
                let unitMetrics = metrics.deletingLastPathComponent().appendingPathComponent("tm-shard-\(index)-of-2.prom")
                let text = try String(contentsOf: unitMetrics, encoding: .utf8)
                #expect(text.contains("unit=\"shard \(index)/2\""), "\(text)")
            }
            #expect(inserted > 0)
            #expect(try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines) == "\(inserted)")
        }
    }

    @Test("A missing environment file named by TELEMETRY_MIGRATE_ENV, or no DUMPS_DIR, is exit 2")
    func configurationErrors() throws {
        let missing = TestSupport.run(Package.root.appendingPathComponent("jobs/nightly").path, [],
                                      environment: ["TELEMETRY_MIGRATE_ENV": "/nonexistent/telemetry-migrate.env"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/nonexistent/telemetry-migrate.env"))

        let directory = try Package.temporaryDirectory("ops-env")
        let env = directory.appendingPathComponent("env")
        try Data("REPORT_DIR=\(directory.path)\n".utf8).write(to: env)
        let noDumps = TestSupport.run(Package.root.appendingPathComponent("jobs/nightly").path, [],
                                      environment: ["TELEMETRY_MIGRATE_ENV": env.path, "DUMPS_DIR": ""])
        #expect(noDumps.status == 2)
        #expect(noDumps.stderr.contains("DUMPS_DIR"))
    }

    @Test("A DUMPS_DIR gone at night (a lost mount): exit 2, and the dated report and the metrics say failed")
    func dumpsDirectoryGone() throws {
        let scratch = try Package.temporaryDirectory("ops-gone")
        let metrics = scratch.appendingPathComponent("tm.prom")
        let gone = scratch.appendingPathComponent("mnt/dumps").path
        let env = scratch.appendingPathComponent("env")
        let reports = scratch.appendingPathComponent("reports")
        try Data("""
            DUMPS_DIR='\(gone)'
            REPORT_DIR='\(reports.path)'
            METRICS_FILE='\(metrics.path)'
            TELEMETRY_MIGRATE_BIN='\(Package.executable)'
            DATABASE_URL='postgresql://u@127.0.0.1:1/x'

            """.utf8).write(to: env)
        let result = TestSupport.run(Package.root.appendingPathComponent("jobs/nightly").path, [],
                                     environment: ["TELEMETRY_MIGRATE_ENV": env.path])
        #expect(result.status == 2, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stderr.contains(gone), "\(result.stderr)")
        let report = try #require(try FileManager.default.contentsOfDirectory(atPath: reports.path).first { $0.hasSuffix(".json") })
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: reports.appendingPathComponent(report))) as? [String: Any]
        #expect(json?["status"] as? String == "failed")
        let text = try String(contentsOf: metrics, encoding: .utf8)
        #expect(text.contains(#"telemetry_migrate_run_status{mode="nightly",unit="all",status="error"} 1"#), "\(text)")
    }

    @Test("jobs/backfill IMEI -- extra args: a dated backfill report for that product only; an unknown IMEI is exit 2")
    func backfill() throws {
        try withPreparedDatabase("opsbackfill") { db, _ in
            let job = try JobEnvironment(db: db)
            let imei = "001409288034695"
            let result = job.run("backfill", [imei, "--", "--since", "1970-01-01T00:00:00Z"])
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("telemetry-migrate backfill"))
            let report = try #require(job.reportFiles().first { $0.hasSuffix(".json") })
            #expect(matches(report, #"^backfill-\d{4}-\d{2}-\d{2}T\d{6}Z\.json$"#), "\(report)")
            let json = try job.json(report)
            #expect(json["mode"] as? String == "backfill")
            let products = json["products"] as? [[String: Any]] ?? []
            #expect(products.map { $0["product_imei"] as? String } == [imei])
            #expect((products.first?["rows"] as? Int ?? 0) > 0)
            let rows = try db.psql("SELECT DISTINCT product_imei FROM telemetry")
            #expect(DatabaseState.lines(rows) == [imei])

            let unknown = job.run("backfill", ["999999999999999"])
            #expect(unknown.status == 2, "\(unknown.stderr)")
            #expect(unknown.stderr.contains("999999999999999"))

            let usage = job.run("backfill", [])
            #expect(usage.status == 2)
            #expect(usage.stderr.contains("usage: jobs/backfill IMEI"))
        }
    }

    @Test("jobs/dry-run prints what a run would do and writes nothing: no rows, no bookkeeping, no files")
    func dryRun() throws {
        try withPreparedDatabase("opsdry") { db, _ in
            let job = try JobEnvironment(db: db, extra: ["METRICS_FILE": "/nonexistent-dir/should-not-be-written.prom"])
            let before = try DatabaseState.checksum(db)
            let result = job.run("dry-run")
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stdout.contains("dry run: nothing written"))
            #expect(result.stdout.contains("would insert"))
            #expect(try DatabaseState.checksum(db) == before)
            #expect(!FileManager.default.fileExists(atPath: job.reports.path))
        }
    }

    @Test("A report or metrics file that is not a regular file (a FIFO, /dev/null) is written into, never replaced")
    func reportIntoAFIFO() throws {
        try withPreparedDatabase("opsfifo") { db, _ in
            let fifo = try FIFOReader(path: try Package.temporaryDirectory("fifo").appendingPathComponent("report.fifo").path)
            let result = Tool(db: db).run(["nightly", "--dumps", Package.fixtures.appendingPathComponent("dumps").path,
                                          "--report", "json", "--report-file", fifo.path])
            #expect(fifo.isStillAFIFO, "still a FIFO")
            let received = fifo.received()
            #expect(result.status == 0, "\(result.stderr)")
            #expect(received.contains("\"mode\": \"nightly\""))
        }
    }
}
