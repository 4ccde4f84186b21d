import Foundation
import Testing
import TestSupport

/// A dumps directory holding an entry that cannot be read as a file (a FIFO, a dangling
/// symbolic link, a name that is not UTF-8): `nightly` fails it at its place (it never hangs
/// and never skips it), and `status --dumps` lists it and the dumps after it as pending.
@Suite(.enabled(if: Requirement.database.testsRun && Requirement.executable.testsRun))
struct DumpDirectoryEndToEndTests {
    static let line = "telemetry,product_imei=001409288034695 v=1 %s\n"

    /// Shell commands (run in the directory) making the hostile entry, and the name it is listed under.
    static let hostile: [(make: String, name: String, reason: String)] = [
        ("mkfifo 20241002_m.lp", "20241002_m.lp", "not a regular file (a FIFO)"),
        ("ln -s gone.lp 20241002_m.lp", "20241002_m.lp", "dangling symbolic link"),
        ("printf 'telemetry,product_imei=001409288034695 v=2 2\\n' > \"$(printf '20241002_m\\377.lp')\"",
         #"20241002_m\xFF.lp"#, "file name is not valid UTF-8"),
    ]

    /// The time limit catches a run that hangs on the entry (opening a FIFO blocks); it is wide
    /// because making a test database of a Citus cluster waits its turn (CitusCluster.createDatabase).
    @Test(.timeLimit(.minutes(10)), arguments: hostile.indices)
    func hostileEntryFailsAtItsPlaceAndStaysPending(_ index: Int) throws {
        let entry = Self.hostile[index]
        let dumps = try Package.temporaryDirectory("hostile-dir").path
        let made = run("/bin/sh", ["-c", "printf '\(Self.line)' 1 > 20241001_a.lp && printf '\(Self.line)' 3 > 20241003_z.lp && "
                                      + entry.make], currentDirectory: dumps)
        try #require(made.status == 0, "\(made.stderr)")
        let db = try TestDatabase.create(label: "hostiledir")
        defer { db.drop() }
        func tool(_ arguments: [String]) -> ProcessResult {
            run(Package.executable, arguments + ["--database-url", db.url])
        }
        try #require(tool(["schema", "apply"]).status == 0)
        try db.psql("INSERT INTO product (product_imei) VALUES ('001409288034695')")

        let nightly = tool(["nightly", "--dumps", dumps, "--report", "json"])
        #expect(nightly.status == 1)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(nightly.stdout.utf8)) as? [String: Any],
                                  "\(nightly.stdout)\n\(nightly.stderr)")
        let listed = try #require(report["dumps"] as? [[String: Any]])
        #expect(listed.map { $0["name"] as? String } == ["20241001_a.lp", entry.name, "20241003_z.lp"])
        #expect(listed.map { $0["status"] as? String } == ["completed", "failed", "planned"])
        #expect((listed[1]["error"] as? String ?? "").contains(entry.reason), "\(listed[1])")
        #expect(try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines) == "1")

        let status = tool(["status", "--report", "json", "--dumps", dumps])
        #expect(status.status == 0, "\(status.stderr)")
        let pending = (try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["pending_dumps"]
        #expect(pending as? [String] == [entry.name, "20241003_z.lp"])
    }
}
