import Foundation
import Testing
import TestSupport

// What a run shows while it works: the progress line, the logs, and never a password.

@Suite("Operations: progress line", .enabled(if: Requirement.database.testsRun))
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

@Suite("Operations: structured logs", .enabled(if: Requirement.database.testsRun))
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
