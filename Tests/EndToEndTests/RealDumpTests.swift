import Foundation
import Testing
import TestSupport

/// Dumps written by a real InfluxDB 1.6 (../shared/real-dumps): a full migration must
/// reproduce what was written into InfluxDB (model.json.gz).
@Suite(.enabled(if: Requirement.database.testsRun && Requirement.sharedDumps.testsRun))
struct RealDumpTests {
    static var products: [String] {
        get throws {
            try String(contentsOf: Package.sharedRealDumps.appendingPathComponent("products.txt"), encoding: .utf8)
                .split(separator: "\n").map(String.init)
        }
    }

    /// The truth: telemetry_rp / telemetry entries of model.json.gz for known products, as
    /// `DatabaseState` lines. Decoded by Python, whose float repr is the shortest round trip
    /// as PostgreSQL prints float8 (Foundation's JSON parser on Linux rounds some doubles).
    static func expectedRows(products: Set<String>) throws -> [String] {
        let script = """
            import gzip, json, sys, datetime
            products = set(sys.argv[2].split(","))
            def number(v):
                if isinstance(v, bool): return "1" if v else "0"
                if isinstance(v, int): return str(v)
                if v == int(v) and abs(v) < 1e15: return str(int(v))
                return repr(v)
            for (rp, m, imei, field, ns), value in ((e[:5], e[5]) for e in json.load(gzip.open(sys.argv[1]))):
                if rp != "telemetry_rp" or m != "telemetry" or imei not in products: continue
                t = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=ns // 1000)
                cols = "|" + value if isinstance(value, str) else number(value) + "|"
                print(f"{imei}|{field}|{t:%Y-%m-%d %H:%M:%S.%f}|{cols}")
            """
        let result = run("/usr/bin/env", ["python3", "-c", script,
                                          Package.sharedRealDumps.appendingPathComponent("model.json.gz").path,
                                          products.sorted().joined(separator: ",")])
        guard result.status == 0 else { throw TestFailure("reading model.json.gz: \(result.stderr)") }
        return DatabaseState.lines(result.stdout).sorted()
    }

    @Test(arguments: ["full/all_after_flush.lp.gz", "full/all.csv.gz"])
    func aFullMigrationReproducesWhatInfluxDBHeld(dump: String) throws {
        let products = try Self.products
        let db = try TestDatabase.create(label: "real")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: products)
        let path = Package.sharedRealDumps.appendingPathComponent(dump).path
        let result = tool.run(["nightly", path, "--report", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try Tool.decode(result)
        #expect(report.totals.int("malformed") == 0)
        #expect(try #require(report.totals.int("unknown_product")) > 0, "unknown.txt's IMEIs are in the dumps")
        let expected = try Self.expectedRows(products: Set(products))
        let actual = try DatabaseState.read(db).telemetry.sorted()
        #expect(actual.count == expected.count)
        let missing = Set(expected).subtracting(actual), unexpected = Set(actual).subtracting(expected)
        #expect(missing.isEmpty && unexpected.isEmpty, "missing \(missing.sorted().prefix(5)), unexpected \(unexpected.sorted().prefix(5))")
    }

    /// Daily exports, a WAL-only day and a catch-up window; then a backfill of the units that
    /// were offline brings in their late backlog, which the nightly run classed as stale.
    @Test func dailyExportsThenBackfillOfOfflineUnits() throws {
        let products = try Self.products
        let offline = try String(contentsOf: Package.sharedRealDumps.appendingPathComponent("offline_d3_d5.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let db = try TestDatabase.create(label: "realdaily")
        defer { db.drop() }
        let tool = Tool(db: db)
        try tool.prepare(products: products)
        let dir = Package.sharedRealDumps.appendingPathComponent("lp")
        let (nightly, report) = try tool.nightly(dir, ["--retention-policy", "telemetry_rp"])
        #expect(nightly.status == 0, "\(nightly.stderr)")
        #expect(report.dumps.count == 7)
        #expect(try #require(report.totals.int("stale")) > 0)
        let window = "time >= '2024-10-03' AND time < '2024-10-06'"
        let list = offline.map { "'\($0)'" }.joined(separator: ",")
        let before = try db.psql("SELECT count(*) FROM telemetry WHERE product_imei IN (\(list)) AND \(window)")

        let (backfill, _) = try tool.backfill(dir, imeis: offline, ["--retention-policy", "telemetry_rp"])
        #expect(backfill.status == 0, "\(backfill.stderr)")
        let after = try db.psql("SELECT count(*) FROM telemetry WHERE product_imei IN (\(list)) AND \(window)")
        #expect(Int(after.trimmingCharacters(in: .whitespacesAndNewlines))! > Int(before.trimmingCharacters(in: .whitespacesAndNewlines))!)
        // Every backfilled row is what InfluxDB held.
        let expected = Set(try Self.expectedRows(products: Set(offline)))
        let rows = try DatabaseState.read(db).telemetry.filter { row in offline.contains { row.hasPrefix($0) } }
        let missing = expected.subtracting(rows)
        #expect(missing.isEmpty, "\(missing.count) rows of offline units missing, e.g. \(missing.prefix(3))")
    }
}
