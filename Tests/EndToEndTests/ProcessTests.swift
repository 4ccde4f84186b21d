import Foundation
@testable import Migration
import PostgresClient
import Testing
import TestSupport

/// Behaviour that belongs to the process: kills, locks, failed dumps and exit codes.
@Suite(.enabled(if: Requirement.database.testsRun), .serialized)
struct ProcessTests {
    /// Killing the process with SIGKILL at many moments, then running again, ends in the
    /// state of one uninterrupted run.
    /// Random dumps, with repeated points: the staged path.
    @Test func killedAtRandomMomentsAndRerunEqualsOneUninterruptedRun() throws {
        try killAndRerun(RandomDumpSet(seed: 7, dumpCount: 10, pointsPerDump: 1500, productCount: 40), kills: 20)
    }

    /// Export-ordered dumps: the direct path, and the stage for points at the watermark.
    @Test func killedOnTheDirectPathAndRerunEqualsOneUninterruptedRun() throws {
        try killAndRerun(ExportDumpSet(seed: 8, dumpCount: 6, productCount: 30, instantsPerDump: 20), kills: 10)
    }

    /// Kills a nightly run over the set's dumps `kills` times at moments spread over it, each
    /// time running it again to the end, and expects the model's state every time.
    private func killAndRerun(_ set: some DumpSet, kills: Int) throws {
        let (dir, model) = try set.writtenWithNightlyModel()
        let products = set.products
        // The uninterrupted run, timed, against which kills are spread.
        let reference = try TestDatabase.create(label: "uninterrupted")
        defer { reference.drop() }
        let referenceTool = Tool(db: reference)
        try referenceTool.prepare(products: products)
        let start = Date()
        let (whole, _) = try referenceTool.nightly(dir)
        let duration = Date().timeIntervalSince(start)
        #expect(whole.status == 0, "\(whole.stderr)")
        try expectState(reference, equals: model.state)
        #expect(duration > 0.3, "a run long enough to be killed midway (\(duration) s)")

        let db = try TestDatabase.create(label: "killed")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: products)
        let (killedMidRun, rounds) = try killRounds(kills: kills, duration: duration, seed: 99, db: db,
                                                    start: { [try startNightly(dir, on: db, ["--report", "json"])] }) { round, delay in
            let (rerun, _) = try tool.nightly(dir)
            #expect(rerun.status == 0, "\(rerun.stderr)")
            try expectState(db, equals: model.state, "round \(round), killed after \(delay) s")
        }
        #expect(killedMidRun == kills, "only \(killedMidRun) kills landed mid-run in \(rounds) rounds")
        let runs = try db.psql("SELECT count(*) FILTER (WHERE status = 'running') FROM migrate_run")
        #expect(runs.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "killed runs are marked aborted")
    }

    @Test func aSecondConcurrentRunExitsWith3AndNothingIsDuplicated() throws {
        let set = RandomDumpSet(seed: 11, dumpCount: 6, pointsPerDump: 8000, productCount: 30)
        let dir = try Package.temporaryDirectory("dumps")
        try set.write(0..<set.dumps.count, to: dir)
        let db = try TestDatabase.create(label: "concurrent")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        var model = ReferenceModel(products: Set(set.products))
        model.nightly(set.dumps)

        let first = try startNightly(dir, on: db)
        // Wait until the first run holds its lock.
        var held = false
        for _ in 0..<200 where !held {
            held = Int((try? db.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "0") ?? 0 >= 1  // one lock per run unit
            if !held { Thread.sleep(forTimeInterval: 0.02) }
        }
        #expect(held)
        let second = tool.run(["nightly", "--dumps", dir.path, "--report", "json"])
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(second.status == 3, "\(second.stdout) \(second.stderr)")
        let report = try Tool.decode(second)
        #expect(report["status"] as? String == "locked")
        #expect((report["message"] as? String ?? "").contains("telemetry-migrate nightly"), "names the holder")
        try expectState(db, equals: model.state)
    }

    @Test func aCorruptDumpStopsTheRunAndAReplacedOneCompletesIt() throws {
        let set = RandomDumpSet(seed: 5, dumpCount: 4)
        let dir = try Package.temporaryDirectory("dumps")
        try set.write(0..<4, to: dir)
        let corrupt = dir.appendingPathComponent(set.name(1))
        let good = try Data(contentsOf: corrupt)
        try DumpWriter.truncate(corrupt, keeping: 0.6)

        let db = try TestDatabase.create(label: "corrupt")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: set.products)
        let (failed, report) = try tool.nightly(dir)
        #expect(failed.status == 1)
        #expect(report["status"] as? String == "failed")
        #expect(report.dumps.map { $0["status"] as? String } == ["completed", "failed", "planned", "planned"])
        let error = report.dumps[1]["error"] as? String ?? ""
        #expect(error.contains(set.name(1)), "the error names the file: \(error)")
        var partial = ReferenceModel(products: Set(set.products))
        partial.nightly([set.dumps[0]])
        try expectState(db, equals: partial.state, "only the dump before the corrupt one is committed")
        #expect(try db.psql("SELECT DISTINCT name FROM migrate_dump").trimmingCharacters(in: .whitespacesAndNewlines) == set.name(0))

        try good.write(to: corrupt)
        let (fixed, _) = try tool.nightly(dir)
        #expect(fixed.status == 0, "\(fixed.stderr)")
        var model = ReferenceModel(products: Set(set.products))
        model.nightly(set.dumps)
        try expectState(db, equals: model.state)
    }

    /// The rejects of a committed dump are in the reject file before the next dump starts:
    /// the process is killed while the second dump waits (a 64 KiB buffer held them until the
    /// end of the run, so a run killed, OOM-killed or stopped lost them, and the committed dump
    /// is never read again).
    @Test func aCommittedDumpsRejectsOutliveAKill() throws {
        try withTheSecondDumpWaiting(label: "rejectkill", arguments: { dumps, db in
            (Package.executable, ["nightly", "--dumps", dumps.path, "--database-url", db.url,
                                  "--reject-file", dumps.appendingPathComponent("rejects.csv").path])
        }) { run, dumps, _ in
            kill(run.processIdentifier, SIGKILL)
            run.waitUntilExit()
            let lines = try String(contentsOf: dumps.appendingPathComponent("rejects.csv"), encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 3, "header and the first dump's two rejects: \(lines)")
            #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("20240101_a.lp.gz,") }, "\(lines)")
        }
    }

    /// SIGTERM (systemd's stop, a pod deleted) while a dump waits: the statement is cancelled,
    /// the dump rolled back, and the run ends at once with its report and metrics (exit 1);
    /// run again, it completes. With one connection and with two.
    @Test(arguments: [1, 2])
    func sigtermStopsTheRunWithItsReport(workers: Int) throws {
        let files = try Package.temporaryDirectory("sigterm")
        let report = files.appendingPathComponent("report.json").path
        let metrics = files.appendingPathComponent("run.prom").path
        try withTheSecondDumpWaiting(label: "sigterm", arguments: { dumps, db in
            // SIGTERM at its default, as systemd and Kubernetes start it (this test process ignores it).
            ("/usr/bin/env", ["--default-signal=TERM,INT", Package.executable, "nightly", "--dumps", dumps.path,
                              "--database-url", db.url, "--workers", "\(workers)",
                              "--json-report-file", report, "--metrics-file", metrics])
        }) { run, dumps, db in
            kill(run.processIdentifier, SIGTERM)
            try #require(Self.exits(run, within: 30), "stopped promptly")
            #expect(run.terminationStatus == 1)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
            #expect(json["status"] as? String == "failed")
            #expect(json.dumps.map { $0["status"] as? String } == ["completed", "failed"])
            #expect((json.dumps.last?["error"] as? String ?? "").contains("stopped by SIGTERM"), "\(json)")
            let samples = try parsePrometheus(try String(contentsOfFile: metrics, encoding: .utf8))
            #expect(samples[#"telemetry_migrate_run_status{mode="nightly",unit="all",status="failed"}"#] == 1)
            #expect(try db.psql("SELECT count(*) FROM migrate_run WHERE status = 'running'").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        } after: { dumps, db in
            let (again, _) = try Tool(db: db).nightly(dumps)
            #expect(again.status == 0, "\(again.stderr)")
            #expect(try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        }
    }

    /// A stop that comes while the run sets up (here waiting on a lock another session holds
    /// on the history) cancels nothing: the run goes on to its first dump and stops there, its
    /// record finished (a cancel there ended the run as a database error, exit 2, and left its
    /// record `running`).
    @Test func aStopDuringSetUpCancelsNothingAndStopsBeforeTheFirstDump() throws {
        let db = try TestDatabase.create(label: "sigtermsetup")
        defer { db.drop() }
        try Tool(db: db).prepare(products: try fixtureProducts())
        let holder = try HeldSession(on: db, script: "BEGIN; LOCK TABLE product_migration_history IN ACCESS EXCLUSIVE MODE;",
                                     holding: HeldSession.idleInTransaction)
        defer { holder.end() }
        func count(_ sql: String) throws -> String { try db.psql(sql).trimmingCharacters(in: .whitespacesAndNewlines) }
        let report = try Package.temporaryDirectory("sigtermsetup").appendingPathComponent("report.json").path
        let run = try startProcess("/usr/bin/env", ["--default-signal=TERM,INT", Package.executable, "nightly", "--dumps",
                                                    fixtureDumps.path, "--database-url", db.url, "--json-report-file", report])
        defer { if run.isRunning { kill(run.processIdentifier, SIGKILL) }; run.waitUntilExit() }
        // Its record written, the run reads the watermarks next, and waits on the lock.
        try #require(try db.becomes("EXISTS (SELECT FROM migrate_run WHERE status = 'running')"), "the run started")
        Thread.sleep(forTimeInterval: 1)
        try #require(run.isRunning, "the run waits on the history's lock")
        kill(run.processIdentifier, SIGTERM)
        Thread.sleep(forTimeInterval: 1)
        #expect(run.isRunning, "its set-up statement was not cancelled")
        holder.end()  // its transaction rolled back, the lock released
        try #require(Self.exits(run, within: 30))
        #expect(run.terminationStatus == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        #expect((json["message"] as? String ?? "").contains("stopped by SIGTERM before"), "\(json)")
        #expect(json.dumps.allSatisfy { $0["status"] as? String == "planned" })
        #expect(try count("SELECT count(*) FROM migrate_run WHERE status = 'running'") == "0")
        #expect(try count("SELECT count(*) FROM telemetry") == "0")
    }

    /// jobs/nightly passes a SIGTERM it gets on to the tool (as PID 1 of a pod it would get
    /// none otherwise) and still prints the exit code and the report's path.
    @Test func theWrapperPassesSigtermOn() throws {
        try withTheSecondDumpWaiting(label: "sigtermjob", arguments: { dumps, db in
            let job = try JobEnvironment(db: db, dumps: dumps)
            // As systemd, Kubernetes and cron start it: SIGTERM at its default (this test
            // process ignores it, and a shell cannot trap a signal ignored when it started).
            return ("/usr/bin/env", ["--default-signal=TERM,INT", "TELEMETRY_MIGRATE_ENV=\(job.envFile.path)",
                                     Package.root.appendingPathComponent("jobs/nightly").path])
        }) { run, _, _ in
            kill(run.processIdentifier, SIGTERM)
            try #require(Self.exits(run, within: 30), "stopped promptly")
            #expect(run.terminationStatus == 1)
        }
    }

    /// The tool sets no timeout of its own: an operator's `lock_timeout` (here through libpq's
    /// `PGOPTIONS`, as an env file would set it) bounds a dump's wait on another session's
    /// lock: the dump fails with PostgreSQL's reason (exit 1), the one before it stays
    /// committed, and the next run completes. On Citus the wait is in a worker node's
    /// backend, which a coordinator session's setting does not reach (docs/operations.md).
    @Test(.enabled(if: TestDatabase.target != CitusCluster.targetName))
    func anOperatorsLockTimeoutBoundsADumpsWait() throws {
        let report = try Package.temporaryDirectory("locktimeout").appendingPathComponent("report.json").path
        try withTheSecondDumpWaiting(label: "locktimeout", arguments: { dumps, db in
            ("/usr/bin/env", ["PGOPTIONS=-c lock_timeout=3s", Package.executable, "nightly", "--dumps", dumps.path,
                              "--database-url", db.url, "--workers", "1", "--json-report-file", report])
        }) { run, _, _ in
            try #require(Self.exits(run, within: 30), "the wait ended by the timeout")
            #expect(run.terminationStatus == 1)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
            #expect(json.dumps.map { $0["status"] as? String } == ["completed", "failed"], "\(json)")
            #expect((json.dumps.last?["error"] as? String)?.contains("lock timeout") == true, "\(json)")
        } after: { dumps, db in
            let (again, _) = try Tool(db: db).nightly(dumps)
            #expect(again.status == 0, "\(again.stderr)")
            #expect(try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        }
    }

    /// Runs `arguments` (an executable and its arguments) over two dumps while another session
    /// holds an uncommitted row of the second: once the first dump is committed and the second
    /// waits on that row, `body` gets the process; then the session rolls back and `after` runs.
    private func withTheSecondDumpWaiting(label: String, arguments: (URL, TestDatabase) throws -> (String, [String]),
                                          _ body: (Process, URL, TestDatabase) throws -> Void,
                                          after: (URL, TestDatabase) throws -> Void = { _, _ in }) throws {
        let imei = "123456789012345"
        let dumps = try Package.temporaryDirectory("dumps")
        try DumpWriter.write([
            .point(imei: imei, field: "voltage", value: .number(1), timeNanos: 1_000_000_000_000),
            .malformed("telemetry,product_imei=\(imei) voltage=1"),
            .point(imei: "555", field: "voltage", value: .number(1), timeNanos: 1_000_000_000_000),
        ], to: dumps.appendingPathComponent("20240101_a.lp.gz"))
        try DumpWriter.write([.point(imei: imei, field: "voltage", value: .number(2), timeNanos: 2_000_000_000_000)],
                             to: dumps.appendingPathComponent("20240102_b.lp.gz"))
        let db = try TestDatabase.create(label: label)
        defer { db.drop() }
        try Tool(db: db).prepare(products: [imei])
        // The row is inserted before the run starts (else the session would wait on the run).
        let holder = try HeldSession(on: db, script: """
            BEGIN;
            INSERT INTO telemetry (product_imei, field, time, value) VALUES ('\(imei)', 'voltage', '1970-01-01 00:33:20', 2);
            """, holding: HeldSession.idleInTransaction)
        defer { holder.end() }
        let (executable, args) = try arguments(dumps, db)
        let run = try startProcess(executable, args)
        defer { if run.isRunning { kill(run.processIdentifier, SIGKILL) }; run.waitUntilExit() }
        // The first dump committed (a unit with none of the second dump's products may have
        // completed that one too); the second then waits on the open transaction (on Citus, in
        // a worker node's backend, so the coordinator shows no lock wait).
        try #require(try db.becomes("EXISTS (SELECT FROM migrate_dump WHERE name = '20240101_a.lp.gz')"), "the first dump committed")
        Thread.sleep(forTimeInterval: 1)
        try #require(run.isRunning, "the second dump waits on the open transaction")
        #expect(try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        try body(run, dumps, db)
        if run.isRunning { kill(run.processIdentifier, SIGKILL) }
        run.waitUntilExit()
        holder.end()
        try after(dumps, db)
    }

    /// Whether `process` exits within `seconds`.
    private static func exits(_ process: Process, within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return !process.isRunning
    }

    /// The reject file belongs to the run that holds the lock: a run refused with exit 3,
    /// given the same path, leaves it alone (it replaced it with an empty file, and the
    /// running run went on writing into the unlinked one). And a FIFO or device given as the
    /// reject file is written into, never replaced by a regular file.
    @Test func theRejectFileIsTouchedOnlyUnderTheLockAndNeverReplacesADevice() throws {
        let db = try TestDatabase.create(label: "rejectlock")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: try fixtureProducts())
        let scratch = try Package.temporaryDirectory("rejectlock")
        let rejects = scratch.appendingPathComponent("rejects.csv").path
        try Data("the running run's rows\n".utf8).write(to: URL(fileURLWithPath: rejects))
        let holder = try PostgresConnection(url: db.url)
        #expect(try holder.tryAdvisoryLock(RunLock(unit: "all").key))
        let locked = tool.run(["nightly", "--dumps", fixtureDumps.path, "--reject-file", rejects])
        holder.close()
        #expect(locked.status == 3, "\(locked.stderr)")
        #expect(try String(contentsOfFile: rejects, encoding: .utf8) == "the running run's rows\n")

        let fifo = try FIFOReader(path: scratch.appendingPathComponent("rejects.fifo").path)
        let result = tool.run(["nightly", "--dumps", fixtureDumps.path, "--reject-file", fifo.path])
        #expect(fifo.isStillAFIFO, "still a FIFO")
        let received = fifo.received()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(received.hasPrefix("file,line,column,reason,raw\n") && received.split(separator: "\n").count > 1, "\(received)")
    }

    /// A connection lost while a dump is copied (PostgreSQL restarted, the backend
    /// terminated) fails the dump at its next send: the rest of the dump is not read into a
    /// dead socket first. With `--workers 2` both units' connections are lost, and the
    /// reading stops too. The report says what was read before the failure.
    @Test(arguments: [1, 2])
    func aLostConnectionFailsTheDumpWithoutReadingTheRest(workers: Int) throws {
        try withACopyHeldUp(label: "lostcopy", workers: workers, holdingUp: RunUnit.shards(2), terminating: "true") { status, json, total, _ in
            #expect(status == 1)
            let dump = try #require(json.dumps.first)
            #expect(dump["status"] as? String == "failed", "\(json)")
            let read = dump["read"] as? Int ?? -1
            #expect(read >= 0 && read < total, "read \(read) of \(total) before it failed")
            let error = dump["error"] as? String ?? ""
            #expect(error.contains("lost") || error.contains("terminating connection"), "\(error)")
        }
    }

    /// Under `--workers 2`, a unit whose own connection is lost fails alone: the reading goes
    /// on for the other unit, which commits its whole part of the dump (a reading stopped for
    /// the lost unit would have let the other record the dump as completed with a part of its
    /// rows). The unit's connection is found by its name in `pg_stat_activity`, which names
    /// the unit.
    @Test func aUnitThatLostItsConnectionFailsAloneAndTheOtherTakesTheWholeDump() throws {
        let units = RunUnit.shards(2)
        try withACopyHeldUp(label: "lostunit", workers: 2, holdingUp: [units[0]],
                            terminating: "application_name LIKE 'telemetry-migrate nightly \(units[0].name) host=%'") { status, json, total, db in
            #expect(status == 1)
            let dump = try #require(json.dumps.first)
            #expect(dump["status"] as? String == "failed" && dump["read"] as? Int == total, "\(json)")
            #expect(try db.psql("SELECT unit || ' ' || points FROM migrate_dump").trimmingCharacters(in: .whitespacesAndNewlines)
                    == "\(units[1].name) \(total)")
            let products = try db.psql("SELECT DISTINCT product_imei FROM telemetry").split(separator: "\n").map(String.init)
            let expected = Self.heldUpProducts.filter { units[1].contains(imei: $0) }
            let same = Set(products) == Set(expected)
            #expect(same, "\(products.count) products, the other unit's \(expected.count): every one, and only those")
            #expect(try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines)
                    == "\(expected.count * Self.heldUpInstants)")
        }
    }

    static let heldUpProducts = (0..<2000).map { String(860_000_000_000_000 + $0) }
    static let heldUpInstants = 300

    /// Runs a nightly (`--workers N`) over one dump of `heldUpProducts` x `heldUpInstants`
    /// points while another session holds, uncommitted, the key of one point a third of the
    /// way into the dump in each of `holdingUp`'s units, so that their COPYs cannot get past
    /// it; once the run's COPYs are under way, terminates the run's backends that
    /// `terminating` (a condition on `pg_stat_activity`) selects. `body` gets the run's exit
    /// status, its JSON report, the dump's points and the database (its session still held).
    private func withACopyHeldUp(label: String, workers: Int, holdingUp units: [RunUnit], terminating: String,
                                 _ body: (Int32, [String: Any], Int, TestDatabase) throws -> Void) throws {
        let products = Self.heldUpProducts
        let dumps = try Package.temporaryDirectory(label)
        try DumpWriter.write(products.flatMap { imei in
            (1...Self.heldUpInstants).map { i in
                DumpLine.point(imei: imei, field: "voltage", value: .number(Double(i)), timeNanos: Int64(i) * 1_000_000_000)
            }
        }, to: dumps.appendingPathComponent("20240101_a.lp.gz"))
        let db = try TestDatabase.create(label: label)
        defer { db.drop() }
        try Tool(db: db).prepare(products: products)
        let held = try units.map { unit in
            try #require(products[(products.count / 3)...].first { unit.contains(imei: $0) })
        }
        let holder = try HeldSession(on: db, script: "BEGIN; INSERT INTO telemetry (product_imei, field, time, value) VALUES "
                                        + held.map { "('\($0)', 'voltage', '1970-01-01 00:02:30', 0)" }.joined(separator: ", ") + ";",
                                     holding: HeldSession.idleInTransaction)
        defer { holder.end() }
        let report = dumps.appendingPathComponent("report.json").path
        let run = try startNightly(dumps, on: db, ["--workers", "\(workers)", "--json-report-file", report])
        defer { if run.isRunning { kill(run.processIdentifier, SIGKILL) }; run.waitUntilExit() }
        let copies = "datname = current_database() AND query LIKE 'COPY telemetry %' AND state = 'active'"
        try #require(try db.becomes("""
            (SELECT count(*) FROM pg_stat_activity WHERE \(copies)) = \(workers)
            AND EXISTS (SELECT FROM pg_stat_activity WHERE \(copies) AND (\(terminating)))
            """), "the run's COPYs are under way, held up")
        _ = try db.psql("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name LIKE 'telemetry-migrate%' AND (\(terminating))
            """)
        try #require(Self.exits(run, within: 60))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        try body(run.terminationStatus, json, products.count * Self.heldUpInstants, db)
    }

    /// A `--workers` run whose further connection is refused says why (not "ExitCode(rawValue:
    /// 2)") and leaves no run record `running`.
    @Test func aRefusedWorkerConnectionIsReported() throws {
        let db = try TestDatabase.create(label: "workerconn")
        defer { db.drop() }
        try Tool(db: db).prepare(products: ["123456789012345"])
        let role = "one_conn_\(UInt32.random(in: 0...UInt32.max))"
        _ = try db.psql("""
            CREATE ROLE \(role) LOGIN PASSWORD 'one-conn-pw' CONNECTION LIMIT 1;
            GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO \(role);
            GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO \(role);
            """)
        defer { _ = try? db.psql("DROP OWNED BY \(role); DROP ROLE \(role)") }
        let user = ProcessInfo.processInfo.environment["PGUSER"] ?? "postgres"
        let url = db.url.replacingOccurrences(of: "//\(user)@", with: "//\(role):one-conn-pw@")
        try #require(url != db.url)
        let result = TestSupport.run(Package.executable, ["nightly", "--dumps", fixtureDumps.path, "--workers", "2",
                                                           "--database-url", url, "--report", "json"],
                                     environment: ["PGPASSWORD": ""])
        #expect(result.status == 2, "\(result.stderr)")
        let report = try Tool.decode(result)
        let message = report["message"] as? String ?? ""
        #expect(message.contains("too many connections"), "\(message)")
        #expect(!(result.stdout + result.stderr).contains("ExitCode"))
        #expect(!(result.stdout + result.stderr).contains("one-conn-pw"))
        #expect(try db.psql("SELECT count(*) FROM migrate_run WHERE status = 'running'").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    /// An output that cannot be written once the dumps are done: the others are still
    /// written (the text report first, for cron mail), stderr names the one that failed, and
    /// the exit code is the run's own, or 2 when the run was ok (no usage text).
    @Test func anUnwritableReportFileLeavesTheOtherOutputs() throws {
        let db = try TestDatabase.create(label: "unwritable")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: try fixtureProducts())
        let scratch = try Package.temporaryDirectory("unwritable")
        let metrics = scratch.appendingPathComponent("run.prom").path
        let unwritable = "/nonexistent-\(UInt32.random(in: 0...UInt32.max))/report.json"
        let ok = tool.run(["nightly", "--dumps", fixtureDumps.path, "--json-report-file", unwritable, "--metrics-file", metrics])
        #expect(ok.status == 2, "\(ok.stderr)")
        #expect(ok.stdout.contains("telemetry-migrate nightly"), "the text report: \(ok.stdout)")
        #expect(ok.stderr.contains("cannot write the JSON report file \(unwritable)"), "\(ok.stderr)")
        #expect(!ok.stderr.contains("Usage:"), "\(ok.stderr)")
        let samples = try parsePrometheus(try String(contentsOfFile: metrics, encoding: .utf8))
        #expect(samples[#"telemetry_migrate_run_status{mode="nightly",unit="all",status="ok"}"#] == 1)

        let dumps = try Package.temporaryDirectory("unwritable-dumps")
        try FileManager.default.copyItem(at: Package.fixtures.appendingPathComponent("corrupt/truncated.lp.gz"),
                                         to: dumps.appendingPathComponent("20250101_truncated.lp.gz"))
        let failed = tool.run(["nightly", "--dumps", dumps.path, "--json-report-file", unwritable, "--metrics-file", metrics])
        #expect(failed.status == 1, "the run's own code: \(failed.stderr)")
        #expect(failed.stderr.contains("cannot write the JSON report file"), "\(failed.stderr)")
        let after = try parsePrometheus(try String(contentsOfFile: metrics, encoding: .utf8))
        #expect(after[#"telemetry_migrate_run_status{mode="nightly",unit="all",status="failed"}"#] == 1)
    }

    @Test func exitCodes() throws {
        let db = try TestDatabase.create(label: "exitcodes")
        defer { db.drop() }
        let tool = Tool(db: db)
        let imei = "123456789012345"
        try tool.prepare(products: [imei])
        let dir = try Package.temporaryDirectory("dumps")
        try DumpWriter.write([
            .malformed("telemetry,product_imei=\(imei) voltage=1"),
            .malformed("telemetry,product_imei=12345678901234567 voltage=1 1"),
            .point(imei: "555", field: "voltage", value: .number(1), timeNanos: 1),
            .point(imei: imei, field: "voltage", value: .number(1), timeNanos: 1),
        ], to: dir.appendingPathComponent("20241001_a.lp.gz"))
        let rejects = dir.appendingPathComponent("rejects.csv").path

        // Over --max-rejects: exit 4, the dump rolled back.
        let over = tool.run(["nightly", "--dumps", dir.path, "--max-rejects", "2", "--reject-file", rejects])
        #expect(over.status == 4, "\(over.stdout) \(over.stderr)")
        #expect(try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines) == "0")

        // Rejects alone never stop a run: exit 0, and the reject file says where and why. (The
        // reject file is in the dumps directory: a run never reads its own output as a dump.)
        let ok = tool.run(["nightly", "--dumps", dir.path, "--reject-file", rejects])
        #expect(ok.status == 0, "\(ok.stderr)")
        let lines = try String(contentsOfFile: rejects, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[1].hasPrefix("20241001_a.lp.gz,8,"))  // 7 framing lines, then the data
        #expect(lines[3].contains("unknown product 555"))

        // Usage and configuration errors: exit 2.
        #expect(tool.run(["nightly"]).status == 2)
        #expect(tool.run(["backfill", "--dumps", dir.path, "--imei", "999"]).status == 2)
        #expect(tool.run(["nightly", "--dumps", "/nonexistent"]).status == 2)
        let unreachable = TestSupport.run(Package.executable, ["nightly", "--dumps", dir.path, "--database-url",
                                                               "postgresql://u:hunter2@127.0.0.1:1/x"])
        #expect(unreachable.status == 2)
        #expect(!unreachable.stderr.contains("hunter2") && !unreachable.stdout.contains("hunter2"))
    }
}
