import Foundation
import Testing
import TestSupport

/// Issue 11, item 2, on the dumps of a real InfluxDB 1.6 (../shared/real-dumps): the first
/// part of a directory (by name order) is migrated, then the whole directory is dry-run, then
/// run; every count of every dump of the dry run equals, key for key, the real run's.
///
/// The directory holds the day-by-day series twice (line protocol and CSV), catch-up exports
/// and full exports, renamed into one processing order as an operator (or a checker) might.
@Suite(.enabled(if: Requirement.database.testsRun && Requirement.sharedDumps.testsRun))
struct DryRunRealDumpsEndToEndTests {
    struct Layout: Sendable, CustomTestStringConvertible {
        var name: String
        /// Dumps relative to ../shared/real-dumps, in processing order.
        var files: [String]
        /// How many of them a first run migrates.
        var migratedFirst: Int
        var options: [String] = []
        var testDescription: String { name }
    }

    static let lp = (1...6).map { "lp/2024100\($0)_shard_d\($0).lp.gz" }
    static let csv = (1...5).map { "csv/2024100\($0)_d\($0).csv.gz" } + ["csv/20241006_d6_rfc3339.csv.gz"]
    static let catchUp = ["lp/20241007_catchup_d3_d6.lp.gz", "csv/20241007_catchup_d3_d6.csv.gz"]
    static let full = ["full/all_after_flush.lp.gz", "full/all.csv.gz"]

    static let layouts: [Layout] = [
        // Each day's line protocol, then its CSV; both catch-ups, both full exports; floor(n/2) first.
        Layout(name: "day by day, LP then CSV", files: zip(lp, csv).flatMap { [$0, $1] } + catchUp + full, migratedFirst: 8),
        // Each day's LP, then its CSV; the LP catch-up, the CSV full export; ceil(n/2) first; one database and RP.
        Layout(name: "day by day, one catch-up, one full", files: zip(lp, csv).flatMap { [$0, $1] } + [catchUp[0], full[1]],
               migratedFirst: 7,
               options: ["--retention-policy", "telemetry_rp", "--database", "smartsolar"]),
        // The order of the real names merged into one directory: each day's CSV, then its LP; CSV before LP after them.
        Layout(name: "real names' order", files: zip(csv, lp).flatMap { [$0, $1] } + catchUp.reversed() + full.reversed(),
               migratedFirst: 8),
    ]

    @Test(arguments: layouts)
    func dryRunEqualsTheRunThatFollows(layout: Layout) throws {
        let db = try TestDatabase.create(label: "dryreal")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: try RealDumpTests.products)
        let (all, first) = try Self.directories(layout)
        defer { try? FileManager.default.removeItem(at: all); try? FileManager.default.removeItem(at: first) }

        let (prefixRun, _) = try tool.nightly(first, layout.options)
        #expect(prefixRun.status == 0, "\(prefixRun.stderr)")
        let (dryRun, dry) = try tool.nightly(all, layout.options + ["--dry-run"])
        let (realRun, real) = try tool.nightly(all, layout.options)
        #expect(dryRun.status == 0 && realRun.status == 0, "\(dryRun.stderr)\n\(realRun.stderr)")

        let dryCounts = Self.counts(dry), realCounts = Self.counts(real)
        #expect(dryCounts.count == layout.files.count)
        for (dryLine, realLine) in zip(dryCounts, realCounts) {
            #expect(dryLine == realLine, "\(layout.name): dry run ≠ the run that follows")
        }
        // Not vacuous: the later dumps insert rows and meet rows already there.
        #expect(try #require(real.totals.int("inserted")) > 0)
        #expect(try #require(real.totals.int("present")) > 0)
    }

    /// Every count of every dump, one line each (the status differs: planned vs completed).
    static func counts(_ report: [String: Any]) -> [String] {
        let keys = ["read", "inserted", "present", "duplicates", "stale", "unknown_product", "other_measurement", "malformed"]
        return report.dumps.map { dump in
            "\(dump["name"] as? String ?? "?") " + keys.map { "\($0) \(dump.int($0) ?? -1)" }.joined(separator: " ")
        }
    }

    /// The layout's directory (links named `NN_<real name>`), and one with its first part only.
    static func directories(_ layout: Layout) throws -> (all: URL, first: URL) {
        let all = try Package.temporaryDirectory("dryreal-all"), first = try Package.temporaryDirectory("dryreal-first")
        for (index, file) in layout.files.enumerated() {
            let target = Package.sharedRealDumps.appendingPathComponent(file)
            let name = String(format: "%02d_", index + 1) + target.lastPathComponent
            try FileManager.default.createSymbolicLink(at: all.appendingPathComponent(name), withDestinationURL: target)
            if index < layout.migratedFirst {
                try FileManager.default.createSymbolicLink(at: first.appendingPathComponent(name), withDestinationURL: target)
            }
        }
        return (all, first)
    }
}
