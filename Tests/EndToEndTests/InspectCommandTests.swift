import Foundation
import Testing
import TestSupport

/// `telemetry-migrate inspect`, run as a built binary on the fixtures.
@Suite(.enabled(if: Requirement.executable.testsRun)) struct InspectCommandTests {
    @Test func jsonReportOfTheFixtures() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Package.fixtures.appendingPathComponent("dumps").path)
            .sorted().map { Package.fixtures.appendingPathComponent("dumps/\($0)").path }
        let result = run(Package.executable, ["inspect", "--report", "json"] + files)
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let dumps = try #require(json["dumps"] as? [[String: Any]])
        #expect(dumps.map { $0["read"] as? Int } == [75, 122, 96, 108, 12], "read counts every point, of any measurement")
        #expect(dumps.map { $0["malformed"] as? Int } == [0, 0, 0, 0, 5])
        #expect(dumps.map { $0["other_measurement"] as? Int } == [10, 0, 20, 0, 1])
        // Distinct IMEIs of well-formed `telemetry` points (counted apart with zcat, grep and sort -u;
        // the last dump's 17-digit IMEI is on a rejected line).
        #expect(dumps.map { $0["products"] as? Int } == [5, 7, 5, 5, 5])
        #expect(dumps.map { $0["status"] as? String } == Array(repeating: "completed", count: 5))
        #expect(dumps[0]["compression"] as? String == "gzip (2 members)")
        let last = dumps[4]
        #expect(last["first_time"] as? String == "2024-10-07T00:00:00.000000Z")
        #expect(last["inserted"] is NSNull && last["error"] is NSNull)
        let rejects = try #require(last["rejects"] as? [[String: Any]])
        #expect(rejects.map { $0["line"] as? Int } == [7, 8, 9, 10, 11])
        #expect(rejects.first?["reason"] as? String == "expected '=' after field key")
    }

    @Test func unreadableDumpExitsOne() {
        let result = run(Package.executable, ["inspect", Package.fixtures.appendingPathComponent("corrupt/truncated.lp.gz").path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("unexpected end of file: gzip member 1 is truncated"))
        #expect(result.stdout.contains("failed"))
    }

    @Test func usageErrorsExitTwo() {
        #expect(run(Package.executable, ["inspect"]).status == 2)
        #expect(run(Package.executable, ["inspect", "--report", "xml", "x"]).status == 2)
    }

    /// `TELEMETRY_MIGRATE_INFLATE=isal` where ISA-L's library does not load is a configuration
    /// error (exit 2, saying so), never a silent fallback to zlib. Where the library is
    /// installed, the run hides it: a bind mount of /dev/null over it, in a mount namespace of
    /// its own (`unshare -m`, as root, as CI runs); the same run without the mount reads the dump.
    @Test(.enabled(if: getuid() == 0 || Requirement.isCI))
    func requiredISALThatDoesNotLoadExitsTwo() throws {
        let dumps = Package.fixtures.appendingPathComponent("dumps")
        let dump = try #require(try FileManager.default.contentsOfDirectory(atPath: dumps.path).sorted().first)
        let arguments = ["inspect", dumps.appendingPathComponent(dump).path]
        let environment = ["TELEMETRY_MIGRATE_INFLATE": "isal"]
        let result: ProcessResult
        if let library = Self.installedISAL() {
            #expect(run(Package.executable, arguments, environment: environment).status == 0, "with ISA-L loading")
            result = run("/usr/bin/unshare", ["-m", "sh", "-c", #"mount --bind /dev/null "$0" && exec "$@""#, library,
                                              Package.executable] + arguments, environment: environment)
        } else {
            result = run(Package.executable, arguments, environment: environment)
        }
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("TELEMETRY_MIGRATE_INFLATE=isal, but ISA-L cannot be used"), "\(result.stderr)")
        #expect(!result.stdout.contains("completed"), "nothing was read")
    }

    /// Where the dynamic linker finds libisal.so.2 (`ldconfig -p`); nil when it is not installed.
    private static func installedISAL() -> String? {
        let listing = run("/sbin/ldconfig", ["-p"]).stdout
        return listing.split(separator: "\n").first { $0.contains("libisal.so.2 ") }
            .flatMap { $0.components(separatedBy: " => ").last }
    }
}
