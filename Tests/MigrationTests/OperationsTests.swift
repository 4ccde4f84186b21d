import Foundation
import Testing
import TestSupport

// The operator's view: the jobs/ wrappers, the progress line, logs, metrics, status and help,
// all through the built executable against the fixtures and a real PostgreSQL.

/// The fixtures' products (fixtures/products.txt, comments and blank lines left out).
private func fixtureProducts() throws -> [String] {
    let text = try String(contentsOf: Package.fixtures.appendingPathComponent("products.txt"), encoding: .utf8)
    return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
}

private var fixtureDumps: URL { Package.fixtures.appendingPathComponent("dumps") }

/// A scratch directory with an env file for the jobs/ wrappers, pointing at `db`.
private struct JobEnvironment {
    let directory: URL
    let envFile: URL
    var reports: URL { directory.appendingPathComponent("reports") }

    init(db: TestDatabase, dumps: URL = fixtureDumps, extra: [String: String] = [:]) throws {
        directory = try Package.temporaryDirectory("ops-job")
        envFile = directory.appendingPathComponent("env")
        var settings = [
            "DATABASE_URL": db.url, "DUMPS_DIR": dumps.path, "REPORT_DIR": directory.appendingPathComponent("reports").path,
            "TELEMETRY_MIGRATE_BIN": Package.executable,
        ]
        settings.merge(extra) { $1 }
        let text = "# written by OperationsTests\n" + settings.keys.sorted().map { "\($0)='\(settings[$0]!)'" }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: envFile)
    }

    /// Runs `jobs/<name>` with this env file.
    func run(_ name: String, _ arguments: [String] = []) -> ProcessResult {
        TestSupport.run(Package.root.appendingPathComponent("jobs/\(name)").path, arguments,
                        environment: ["TELEMETRY_MIGRATE_ENV": envFile.path])
    }

    /// Files in the report directory, sorted.
    func reportFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: reports.path)) ?? []).sorted()
    }

    func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: reports.appendingPathComponent(name))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestFailure("\(name) is not a JSON object")
        }
        return object
    }

    func rejectRows(_ name: String) throws -> [String] {
        let text = try String(contentsOf: reports.appendingPathComponent(name), encoding: .utf8)
        return text.split(separator: "\n").map(String.init)
    }
}

/// Creates a database with the schema and the fixtures' products, runs `body`, drops it.
private func withPreparedDatabase(_ label: String, _ body: (TestDatabase, Tool) throws -> Void) throws {
    let db = try TestDatabase.create(label: label)
    defer { db.drop() }
    let tool = Tool(db: db)
    try tool.prepare(products: try fixtureProducts())
    try body(db, tool)
}

private func matches(_ name: String, _ pattern: String) -> Bool {
    name.range(of: pattern, options: .regularExpression) != nil
}

@Suite("Operations: jobs/ wrappers", .enabled(if: TestDatabase.isAvailable))
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
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            holder.arguments = ["psql", "-X", "-q", "-d", db.name]
            var environment = ProcessInfo.processInfo.environment
            environment["PGAPPNAME"] = "ops-test-lock-holder"
            holder.environment = environment
            let input = Pipe()
            holder.standardInput = input
            holder.standardOutput = FileHandle.nullDevice
            try holder.run()
            defer {
                try? input.fileHandleForWriting.close()
                holder.waitUntilExit()
            }
            input.fileHandleForWriting.write(Data("SELECT pg_advisory_lock(\(key));\n".utf8))
            var held = false
            for _ in 0..<200 where !held {
                held = try db.psql("""
                    SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """)
                    .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
                if !held { usleep(50_000) }
            }
            try #require(held, "the psql session took the lock")

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
            let fifo = try Package.temporaryDirectory("fifo").appendingPathComponent("report.fifo").path
            #expect(mkfifo(fifo, 0o600) == 0)
            let reader = Process()
            reader.executableURL = URL(fileURLWithPath: "/bin/cat")
            reader.arguments = [fifo]
            let out = Pipe()
            reader.standardOutput = out
            try reader.run()
            let result = Tool(db: db).run(["nightly", "--dumps", Package.fixtures.appendingPathComponent("dumps").path,
                                          "--report", "json", "--report-file", fifo])
            let received = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            reader.waitUntilExit()
            #expect(result.status == 0, "\(result.stderr)")
            #expect(received.contains("\"mode\": \"nightly\""))
            var info = stat()
            #expect(stat(fifo, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO, "still a FIFO")
        }
    }
}

@Suite("Operations: progress line", .enabled(if: TestDatabase.isAvailable))
struct OperationsProgressTests {
    /// One dump of `count` points: more than the 65,536 points between progress callbacks.
    static func bigDump(in directory: URL, count: Int, imei: String) throws -> String {
        let name = "20241010_big.lp.gz"
        let base: Int64 = 1_728_518_400_000_000_000
        let lines = (0..<count).map { i in
            DumpLine.point(imei: imei, field: "voltage", value: .number(Double(i % 100)), timeNanos: base + Int64(i) * 1_000_000_000)
        }
        try DumpWriter.write(lines, to: directory.appendingPathComponent(name))
        return name
    }

    @Test("Under a pseudo-terminal the progress line names the dump, points/s and ETA; through a pipe it never appears")
    func progressOnlyOnATerminal() throws {
        try withPreparedDatabase("opsprogress") { db, _ in
            let dumps = try Package.temporaryDirectory("ops-big")
            let name = try Self.bigDump(in: dumps, count: 200_000, imei: "001409288034695")
            let command = [Package.executable, "nightly", "--dumps", dumps.path, "--dry-run", "--database-url", db.url]
            let onTerminal = TestSupport.run("/usr/bin/script", ["-qec", command.joined(separator: " "), "/dev/null"],
                                             environment: ["SHELL": "/bin/sh"])
            #expect(onTerminal.status == 0, "\(onTerminal.stdout)\n\(onTerminal.stderr)")
            // The progress line: "[1/1] <dump>  <bytes> of <total> (NN%)  N points/s  ETA 0m00s".
            let progress = onTerminal.stdout.components(separatedBy: "\u{1B}[2K").filter { $0.hasPrefix("[1/1] \(name)") }
            #expect(!progress.isEmpty, "no progress line in: \(onTerminal.stdout.prefix(2000))")
            #expect(progress.allSatisfy { $0.contains(" of ") && $0.contains("points/s") && $0.contains("ETA ") }, "\(progress)")

            let piped = TestSupport.run(Package.executable, Array(command.dropFirst()))
            #expect(piped.status == 0, "\(piped.stderr)")
            #expect(!piped.stderr.contains("\u{1B}[2K"))
            #expect(!piped.stderr.contains("ETA "))
            #expect(!piped.stderr.contains("[1/1]"))
            #expect(piped.stdout.contains(name), "the report still names the dump")
        }
    }
}

@Suite("Operations: structured logs", .enabled(if: TestDatabase.isAvailable))
struct OperationsLogTests {
    @Test("--log-format json: one object per line (ts, level, label, message, metadata); start and end of each dump with its counts; rejected lines with file, line, reason")
    func jsonLogs() throws {
        try withPreparedDatabase("opslogs") { db, tool in
            let result = tool.run(["nightly", "--dumps", fixtureDumps.path, "--report", "json", "--log-format", "json"])
            #expect(result.status == 0, "\(result.stderr)")
            let report = try Tool.decode(result)
            let lines = result.stderr.split(separator: "\n").map(String.init)
            #expect(!lines.isEmpty)
            var events: [[String: Any]] = []
            for line in lines {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
                #expect(Set(object.keys) == ["ts", "level", "label", "message", "metadata"], "\(line)")
                #expect(matches(object["ts"] as? String ?? "", #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#))
                #expect(object["label"] as? String == "telemetry-migrate")
                events.append(object)
            }
            func metadata(_ event: [String: Any]) -> [String: String] { event["metadata"] as? [String: String] ?? [:] }
            for dump in report.dumps {
                let name = dump["name"] as? String ?? ""
                let started = events.filter { $0["message"] as? String == "dump started" && metadata($0)["dump.file"]?.hasSuffix(name) == true }
                let finished = events.filter { $0["message"] as? String == "dump finished" && metadata($0)["dump.file"]?.hasSuffix(name) == true }
                #expect(started.count == 1, "dump started for \(name)")
                #expect(finished.count == 1, "dump finished for \(name)")
                let counts = finished.first.map(metadata) ?? [:]
                #expect(counts["dump.read"] == String(dump["read"] as? Int ?? -1), "\(name)")
                #expect(counts["dump.inserted"] == String(dump["inserted"] as? Int ?? -1), "\(name)")
                #expect(counts["dump.malformed"] == String(dump["malformed"] as? Int ?? -1), "\(name)")
            }
            let rejected = events.filter { $0["message"] as? String == "line rejected" }
            #expect(!rejected.isEmpty)
            #expect(rejected.allSatisfy { $0["level"] as? String == "warning" && metadata($0)["line"] != nil && metadata($0)["reason"] != nil && metadata($0)["dump.file"] != nil })
        }
    }

    @Test("Text logs by default: a readable line per dump; --log-level warning leaves out the info lines; a failed dump logs its error")
    func textLogs() throws {
        try withPreparedDatabase("opstext") { db, tool in
            let dumps = try Package.temporaryDirectory("ops-corrupt")
            for name in try FileManager.default.contentsOfDirectory(atPath: fixtureDumps.path) {
                try FileManager.default.copyItem(at: fixtureDumps.appendingPathComponent(name), to: dumps.appendingPathComponent(name))
            }
            try FileManager.default.copyItem(at: Package.fixtures.appendingPathComponent("corrupt/bad_crc.lp.gz"),
                                             to: dumps.appendingPathComponent("20241231_bad_crc.lp.gz"))
            let result = tool.run(["nightly", "--dumps", dumps.path])
            #expect(result.status == 1, "\(result.stderr)")
            #expect(matches(result.stderr, #"(?m)^\d{4}-\d{2}-\d{2}T\S+Z info telemetry-migrate: dump started .*dump\.file=\S+20241001_multimember\.lp\.gz"#), "\(result.stderr)")
            #expect(matches(result.stderr, #"(?m)^\S+ info telemetry-migrate: dump finished .*dump\.read=\d+"#))
            #expect(matches(result.stderr, #"(?m)^\S+ error telemetry-migrate: dump failed .*dump\.file=\S+20241231_bad_crc\.lp\.gz"#), "\(result.stderr)")

            let quiet = tool.run(["nightly", "--dumps", dumps.path, "--log-level", "warning"])
            #expect(quiet.status == 1)
            #expect(!quiet.stderr.contains("dump started"))
            #expect(quiet.stderr.contains("dump failed"))
        }
    }

    @Test("No password in stdout, stderr, report, reject or metrics file: unreachable URL, real server with a password role, wrapper")
    func noPasswordAnywhere() throws {
        let scratch = try Package.temporaryDirectory("ops-secret")
        let files = ["report.json", "rejects.csv", "metrics.prom"].map { scratch.appendingPathComponent($0).path }
        func outputs(_ args: [String]) -> [String] {
            ["--json-report-file", files[0], "--reject-file", files[1], "--metrics-file", files[2]] + args
        }
        func everything(_ result: ProcessResult) -> String {
            result.stdout + result.stderr + files.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined()
        }

        // Unreachable: exit 2, and the metrics file says so.
        let unreachable = TestSupport.run(Package.executable, ["nightly", "--dumps", fixtureDumps.path, "--log-format", "json",
                                                               "--database-url", "postgresql://u:hunter2@127.0.0.1:1/x"] + outputs([]))
        #expect(unreachable.status == 2)
        #expect(!everything(unreachable).contains("hunter2"), "\(everything(unreachable))")
        #expect(unreachable.stderr.contains("127.0.0.1"), "the message still says where: \(unreachable.stderr)")
        let metrics = try String(contentsOfFile: files[2], encoding: .utf8)
        #expect(metrics.contains(#"telemetry_migrate_run_status{mode="nightly",unit="all",status="error"} 1"#), "\(metrics)")

        // A real server and a role with a password in the URL, a corrupt dump to fail on.
        let db = try TestDatabase.create(label: "opssecret")
        let role = "ops_secret_\(UInt32.random(in: 0...UInt32.max))"
        let password = "Hunter2-\(UInt32.random(in: 0...UInt32.max))"
        try db.psql("CREATE ROLE \(role) LOGIN SUPERUSER PASSWORD '\(password)'")
        defer {
            db.drop()
            _ = TestSupport.run("/usr/bin/env", ["psql", "-X", "-q", "-d", "postgres", "-c", "DROP ROLE IF EXISTS \(role)"])
        }
        let user = ProcessInfo.processInfo.environment["PGUSER"] ?? "postgres"
        let url = db.url.replacingOccurrences(of: "//\(user)@", with: "//\(role):\(password)@")
        #expect(url.contains(password))
        try Tool(db: db).prepare(products: try fixtureProducts())
        let dumps = try Package.temporaryDirectory("ops-secret-dumps")
        for name in try FileManager.default.contentsOfDirectory(atPath: fixtureDumps.path) {
            try FileManager.default.copyItem(at: fixtureDumps.appendingPathComponent(name), to: dumps.appendingPathComponent(name))
        }
        try FileManager.default.copyItem(at: Package.fixtures.appendingPathComponent("corrupt/truncated.lp.gz"),
                                         to: dumps.appendingPathComponent("20241231_truncated.lp.gz"))
        // PGPASSWORD is the test server's own: take it away so the URL's password is the one used.
        let noEnvPassword = ["PGPASSWORD": ""]
        for format in ["json", "text"] {
            let run = TestSupport.run(Package.executable, ["nightly", "--dumps", dumps.path, "--database-url", url,
                                                           "--log-format", format, "--log-level", "trace", "--report", "json"] + outputs([]),
                                      environment: noEnvPassword)
            #expect(run.status == 1, "connected with the URL's password and failed on the corrupt dump: \(run.stderr)")
            #expect(run.stderr.contains("dump failed"))
            #expect(!everything(run).contains(password))
            #expect(!everything(run).lowercased().contains(password.lowercased()))
        }
        let status = TestSupport.run(Package.executable, ["status", "--database-url", url, "--report", "json"], environment: noEnvPassword)
        #expect(status.status == 0, "\(status.stderr)")
        #expect(!(status.stdout + status.stderr).contains(password))

        // The same through the wrapper, the password in DATABASE_URL of the env file.
        let job = try JobEnvironment(db: db, dumps: dumps, extra: ["DATABASE_URL": url, "PGPASSWORD": "", "METRICS_FILE": files[2]])
        let wrapped = job.run("nightly")
        #expect(wrapped.status == 1, "\(wrapped.stderr)")
        let written = try job.reportFiles().map { try String(contentsOf: job.reports.appendingPathComponent($0), encoding: .utf8) }.joined()
        #expect(!(wrapped.stdout + wrapped.stderr + written).contains(password))
        let wrongURL = url.replacingOccurrences(of: password, with: password + "x")
        let refused = TestSupport.run(Package.executable, ["status", "--database-url", wrongURL], environment: noEnvPassword)
        #expect(refused.status == 2, "a wrong password is refused: \(refused.stderr)")
        #expect(!(refused.stdout + refused.stderr).contains(password))
    }
}

/// A Prometheus text file as samples: "name{labels}" to value.
private func parsePrometheus(_ text: String) throws -> [String: Double] {
    var samples: [String: Double] = [:]
    var typed: Set<String> = []
    for line in text.split(separator: "\n").map(String.init) {
        if line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            #expect(parts.count == 4 && parts[3] == "gauge", "\(line)")
            typed.insert(String(parts[2]))
            continue
        }
        if line.hasPrefix("#") { continue }
        let pieces = line.split(separator: " ")
        guard pieces.count == 2, let value = Double(pieces[1]) else { throw TestFailure("not a sample: \(line)") }
        let key = String(pieces[0])
        let name = String(key.prefix { $0 != "{" })
        #expect(typed.contains(name), "TYPE before the samples of \(name)")
        #expect(key.contains(#"mode=""#), "\(line)")
        samples[key] = value
    }
    return samples
}

@Suite("Operations: metrics file", .enabled(if: TestDatabase.isAvailable))
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
                SELECT count(*) FROM product p WHERE NOT EXISTS (SELECT 1 FROM product_migration_history h WHERE h.product_imei = p.product_imei)
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

@Suite("Operations: status", .enabled(if: TestDatabase.isAvailable))
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

@Suite("Operations: help")
struct OperationsHelpTests {
    static let subcommands: [[String]] = [
        ["nightly"], ["backfill"], ["status"], ["inspect"], ["serve"], ["token", "create"], ["schema", "apply"],
    ]

    @Test("Every subcommand's --help has a worked example", arguments: subcommands)
    func helpHasAnExample(_ command: [String]) {
        let result = TestSupport.run(Package.executable, command + ["--help"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Example"), "\(command.joined(separator: " ")) --help:\n\(result.stdout)")
    }

    @Test("nightly and backfill document the operator options")
    func operatorOptions() {
        for command in ["nightly", "backfill"] {
            let help = TestSupport.run(Package.executable, [command, "--help"]).stdout
            for option in ["--metrics-file", "--json-report-file", "--log-format", "--log-level", "--reject-file", "--max-rejects"] {
                #expect(help.contains(option), "\(command) --help lacks \(option)")
            }
        }
    }
}
