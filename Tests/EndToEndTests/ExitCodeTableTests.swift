import Foundation
import TelemetryCore
import Testing
import TestSupport

/// The exit codes are one table (TelemetryCore's `ExitReason`): the shell wrappers and the
/// help read the same names and numbers.
@Suite(.enabled(if: Requirement.executable.testsRun))
struct ExitCodeTableTests {
    /// `dumpFailed` -> `DUMP_FAILED`.
    static func shellName(_ status: ExitReason) -> String {
        "EXIT_" + "\(status)".reduce(into: "") { out, c in out += c.isUppercase ? "_\(c)" : c.uppercased() }
    }

    @Test func jobsLibNamesTheSameCodes() throws {
        let script = try String(contentsOf: Package.root.appendingPathComponent("jobs/lib/run-job.sh"), encoding: .utf8)
        var shell: [String: Int32] = [:]
        for line in script.split(separator: "\n") where line.hasPrefix("EXIT_") {
            let parts = line.split(separator: "=")
            shell[String(parts[0])] = Int32(parts[1])
        }
        let swift = Dictionary(uniqueKeysWithValues: ExitReason.allCases.map { (Self.shellName($0), $0.rawValue) })
        #expect(shell == swift)
    }

    @Test func nightlyHelpListsTheTable() {
        let help = run(Package.executable, ["nightly", "--help"])
        #expect(help.status == 0)
        let words = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(words.contains(ExitReason.summary))
        #expect(ExitReason.summary == "0 ok, 1 a dump failed, 2 usage or configuration error, 3 another run holds the lock, 4 too many rejects")
    }
}

/// A run that fails before its first dump still prints its report (DESIGN.md, "The report").
@Suite(.enabled(if: Requirement.executable.testsRun))
struct FailedBeforeFirstDumpTests {
    @Test(arguments: ["nightly", "backfill"])
    func aRefusedConnectionStillPrintsAFailedJSONReport(mode: String) throws {
        let dir = try Package.temporaryDirectory("refused")
        let reportFile = dir.appendingPathComponent("report.json").path
        let jsonFile = dir.appendingPathComponent("record.json").path
        let imei = mode == "backfill" ? ["--imei", "1"] : []
        let result = run(Package.executable, [mode, "--dumps", Package.fixtures.appendingPathComponent("dumps").path,
                                              "--database-url", "postgresql://u:hunter2@127.0.0.1:1/x", "--report", "json",
                                              "--json-report-file", jsonFile] + imei)
        #expect(result.status == 2, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["status"] as? String == "failed")
        #expect(report["mode"] as? String == mode)
        #expect((report["dumps"] as? [Any])?.isEmpty == true)
        let message = try #require(report["message"] as? String)
        #expect(message.contains("127.0.0.1"))
        #expect(!result.stdout.contains("hunter2") && !result.stderr.contains("hunter2"))
        let record = try String(contentsOfFile: jsonFile, encoding: .utf8)
        #expect(record == result.stdout)

        let text = run(Package.executable, [mode, "--dumps", Package.fixtures.appendingPathComponent("dumps").path,
                                            "--database-url", "postgresql://u@127.0.0.1:1/x", "--report-file", reportFile] + imei)
        #expect(text.status == 2)
        let written = try String(contentsOfFile: reportFile, encoding: .utf8)
        #expect(written.contains("status failed"))
        #expect(written.contains("127.0.0.1"))
    }

    /// Listed before connecting: a dumps directory gone at night (a mount lost) or a dump
    /// named that does not exist leaves a failed report and metrics saying so, not last
    /// night's "ok".
    @Test(arguments: ["nightly", "backfill"])
    func dumpsItCannotListStillLeaveAFailedReportAndMetrics(mode: String) throws {
        let dir = try Package.temporaryDirectory("unlisted")
        let imei = mode == "backfill" ? ["--imei", "1"] : []
        for (dumps, named) in [(["--dumps", dir.appendingPathComponent("gone").path], "gone"),
                               ([dir.appendingPathComponent("20240101_missing.lp.gz").path], "20240101_missing.lp.gz")] {
            let jsonFile = dir.appendingPathComponent("record-\(named).json").path
            let metricsFile = dir.appendingPathComponent("metrics-\(named).prom").path
            let result = run(Package.executable, [mode] + dumps + imei + [
                "--database-url", "postgresql://u@127.0.0.1:1/x", "--json-report-file", jsonFile, "--metrics-file", metricsFile])
            #expect(result.status == 2, "\(result.stderr)")
            #expect(result.stderr.contains(named), "\(result.stderr)")
            let record = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: jsonFile))) as? [String: Any])
            #expect(record["status"] as? String == "failed")
            #expect((record["message"] as? String)?.contains(named) == true, "\(record)")
            let metrics = try String(contentsOfFile: metricsFile, encoding: .utf8)
            #expect(metrics.contains("telemetry_migrate_run_status{mode=\"\(mode)\",unit=\"all\",status=\"error\"} 1"), "\(metrics)")
            #expect(metrics.contains("telemetry_migrate_run_exit_code{mode=\"\(mode)\",unit=\"all\"} 2"), "\(metrics)")
        }
    }
}
