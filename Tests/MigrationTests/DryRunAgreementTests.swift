import Foundation
import Logging
import Migration
import PostgresClient
import TelemetrySchema
import Testing
import TestSupport

/// The dry run's report equals, key for key, the report of the real run that follows, on
/// every write strategy, over random dump sets: points repeated across dumps, points exactly
/// at W(p), series going back in time, line protocol and CSV mixed, products first seen
/// midway, initial watermarks (with their rows), and a first part of the set already migrated.
@Suite(.enabled(if: Requirement.database.testsRun))
struct DryRunAgreementTests {
    static let cases = 30

    @Test func dryRunEqualsTheRunThatFollows() throws {
        _ = try Self.everySet(refusing: false)
    }

    /// The same with a CHECK on `telemetry` that refuses one value in ten: the run isolates the
    /// refused lines as malformed (overridden ones, present ones and repeats included), and the
    /// dry run, which inserts nothing, must count them as it does.
    @Test func dryRunEqualsTheRunThatFollowsWhenACheckRefusesRows() throws {
        let reports = try Self.everySet(refusing: true)
        let refused = reports.joined(separator: "\n").components(separatedBy: "malformed ").dropFirst()
            .reduce(0) { $0 + (Int($1.prefix { $0.isNumber }) ?? 0) }
        #expect(refused > 30, "the CHECK refused \(refused) lines over \(Self.cases) sets")
    }

    /// Canonically equivalent field names are two fields to PostgreSQL, so to the run: one dump
    /// writes the first at what becomes W(p), the next sends the second at that time, and the
    /// dry run, which remembers the first dump's fields at W(p), must count it new (it took it
    /// for the first and counted it present), in line protocol and in CSV.
    @Test(arguments: [false, true])
    func canonicallyEquivalentFieldNamesAreTwoFields(csv: Bool) throws {
        let bench = try Bench(label: "agreenames", stagedOnly: false)
        defer { bench.db.drop() }
        let imei = "300000000000007", names = AgreementSet.fields.suffix(2)
        #expect(names.first == names.last, "Swift's String takes them for one name")
        let set = AgreementSet(products: [imei], dumps: [
            (csv, [(imei, names.first!, AgreementSet.base, 1)]),
            (csv, [(imei, names.last!, AgreementSet.base, 2)]),
        ])
        let directory = try set.write()
        defer { try? FileManager.default.removeItem(at: directory) }
        let report = try bench.check(set, directory, seed: 0)
        #expect(report.contains("20241002_dump.\(csv ? "csv" : "lp").gz run read 1 inserted 1 present 0"), "\(report)")
    }

    /// Checks every set on the direct and counted strategies and on the staged one, each on a
    /// database of its own, and that both agree; returns the real runs' comparable reports.
    static func everySet(refusing: Bool) throws -> [String] {
        let label = refusing ? "agreecheck" : "agree"
        let counted = try Bench(label: label + "counted", stagedOnly: false, refusing: refusing)
        let staged = try Bench(label: label + "staged", stagedOnly: true, refusing: refusing)
        defer { counted.db.drop(); staged.db.drop() }
        var reports: [String] = []
        for seed in 1...UInt64(Self.cases) {
            let set = AgreementSet(seed: seed)
            let directory = try set.write()
            let viaDirect = try counted.check(set, directory, seed: seed)
            let viaStaged = try staged.check(set, directory, seed: seed)
            #expect(viaDirect == viaStaged, "seed \(seed): the direct and staged runs disagree")
            reports.append(viaDirect)
            try? FileManager.default.removeItem(at: directory)
        }
        return reports
    }
}

/// One database and the runs of one strategy family on it.
private struct Bench {
    let db: TestDatabase
    let connection: PostgresConnection
    let stagedOnly: Bool

    /// - Parameter refusing: `telemetry` gets a CHECK that refuses the value 7.
    init(label: String, stagedOnly: Bool, refusing: Bool = false) throws {
        db = try TestDatabase.create(label: label)
        connection = try PostgresConnection(url: db.url)
        try Schema.apply(on: connection)
        if refusing { try connection.executeScript("ALTER TABLE telemetry ADD CONSTRAINT not_seven CHECK (value <> 7)") }
        self.stagedOnly = stagedOnly
    }

    /// Migrates the set's prefix, then dry-runs and runs the whole set; returns the real
    /// run's comparable report after checking it against the dry run's.
    func check(_ set: AgreementSet, _ directory: URL, seed: UInt64) throws -> String {
        try connection.executeScript("TRUNCATE telemetry, product_migration_history, migrate_dump, migrate_run, product CASCADE")
        try connection.executeScript("INSERT INTO product (product_imei) VALUES " + set.products.map { "('\($0)')" }.joined(separator: ","))
        for (imei, (time, fields)) in set.initial {
            try connection.execute("""
                INSERT INTO product_migration_history (product_imei, latest_migration_timestamp, last_migrated_at, created_at, created_by, modified_at, modified_by)
                VALUES ($1, to_timestamp($2::bigint / 1e6) AT TIME ZONE 'utc', now(), now(), 't', now(), 't')
                """, [.text(imei), .int(time)])
            for field in fields {
                try connection.execute("INSERT INTO telemetry (product_imei, field, time, value) VALUES ($1, $2, to_timestamp($3::bigint / 1e6) AT TIME ZONE 'utc', 0)",
                                       [.text(imei), .text(field), .int(time)])
            }
        }
        let paths = set.names.map { directory.appendingPathComponent($0).path }
        let prefix = try run(Array(paths.prefix(set.migratedFirst)), dryRun: false)
        expectIdentity(prefix)
        let dry = try run(paths, dryRun: true)
        let real = try run(paths, dryRun: false)
        expectIdentity(dry)
        expectIdentity(real)
        #expect(dry.status == .ok && real.status == .ok, "seed \(seed): \(dry.message ?? "") \(real.message ?? "")")
        let dryText = Self.comparable(dry), realText = Self.comparable(real)
        #expect(dryText == realText, "seed \(seed), stagedOnly \(stagedOnly)")
        return realText
    }

    private func run(_ dumps: [String], dryRun: Bool) throws -> RunReport {
        let configuration = RunConfiguration(mode: .nightly, dryRun: dryRun, dumps: dumps, stagedOnly: stagedOnly,
                                             atWatermarkBuffer: 3)
        return try Migrator(configuration: configuration, connection: connection, logger: Logger(label: "test")).run()
    }

    /// Every count of every dump, and every product's watermarks and rows, one per line.
    static func comparable(_ report: RunReport) -> String {
        let dumps = report.dumps.map { dump in
            let c = dump.counts
            return "\(dump.name) \(dump.status == .skipped ? "skipped" : "run") read \(c.read) inserted \(c.inserted) present \(c.present) "
                + "duplicates \(c.duplicates) stale \(c.stale) unknown \(c.unknownProduct) other \(c.otherMeasurement) "
                + "malformed \(c.malformed) first \(c.firstTime ?? -1) last \(c.lastTime ?? -1)"
        }
        let products = report.products.map { "\($0.imei) \($0.watermarkBefore ?? -1) \($0.watermarkAfter ?? -1) \($0.rows)" }
        return (dumps + products).joined(separator: "\n")
    }
}

/// A random dump set on a coarse time grid, so that points meet across dumps and at W(p).
private struct AgreementSet {
    var products: [String]
    /// W(p) before the first run, in µs, and the fields that have a row at it.
    var initial: [String: (Int64, [String])] = [:]
    var dumps: [(csv: Bool, points: [(imei: String, field: String, time: Int64, value: Int)])] = []
    var migratedFirst: Int
    /// The last two are canonically equivalent spellings (Swift's `String` takes them for one
    /// name; PostgreSQL, and so the run, for two fields): the dry run tells them apart too.
    static let fields = ["voltage", "current", "temperature", "a\u{301}\u{323}", "a\u{323}\u{301}"]
    static let unknown = "999999999999990"
    static let base: Int64 = 1_727_740_800_000_000  // µs, 2024-10-01

    /// A set of these dumps, none migrated before.
    init(products: [String], dumps: [(csv: Bool, points: [(imei: String, field: String, time: Int64, value: Int)])]) {
        self.products = products
        self.dumps = dumps
        migratedFirst = 0
    }

    init(seed: UInt64) {
        var rng = SeededRandom(seed: seed &* 7_919)
        products = (0..<4).map { String(300_000_000_000_000 + $0 * 131) }
        let step: Int64 = 60_000_000
        for imei in products where Bool.random(using: &rng) {
            let time = Self.base + Int64.random(in: 0...6, using: &rng) * step
            initial[imei] = (time, Self.fields.filter { _ in Bool.random(using: &rng) })
        }
        let count = Int.random(in: 2...5, using: &rng)
        for index in 0..<count {
            // Products first seen midway: dump k uses only the first k+1 products... mostly.
            let active = Array(products.prefix(min(products.count, index + 2)))
            var points: [(imei: String, field: String, time: Int64, value: Int)] = []
            for _ in 0..<Int.random(in: 5...30, using: &rng) {
                let imei = Int.random(in: 0..<12, using: &rng) == 0 ? Self.unknown : active.randomElement(using: &rng)!
                let field = Self.fields.randomElement(using: &rng)!
                // Around this dump's window, sometimes earlier (back in time), on a coarse grid.
                let slot = Int64(index * 3) + Int64.random(in: -4...4, using: &rng)
                points.append((imei, field, Self.base + max(0, slot) * step, Int.random(in: 0...9, using: &rng)))
            }
            if Bool.random(using: &rng) {  // series in time order, as an export writes them
                points.sort { ($0.imei, $0.field, $0.time) < ($1.imei, $1.field, $1.time) }
            }
            dumps.append((Bool.random(using: &rng), points))
        }
        migratedFirst = Int.random(in: 0..<count, using: &rng)
    }

    var names: [String] {
        dumps.indices.map { String(format: "2024100%d_dump.%@.gz", $0 + 1, dumps[$0].csv ? "csv" : "lp") }
    }

    /// Writes every dump into a new temporary directory.
    func write() throws -> URL {
        let directory = try Package.temporaryDirectory("agree")
        for (index, dump) in dumps.enumerated() {
            let url = directory.appendingPathComponent(names[index])
            if dump.csv {
                var text = "name,time," + Self.fields.joined(separator: ",") + ",product_imei\n"
                for point in dump.points {
                    let cells = Self.fields.map { $0.utf8.elementsEqual(point.field.utf8) ? String(point.value) : "" }
                    text += "telemetry,\(point.time * 1000)," + cells.joined(separator: ",") + ",\(point.imei)\n"
                }
                let plain = url.deletingPathExtension()
                try Data(text.utf8).write(to: plain)
                let result = TestSupport.run("/usr/bin/env", ["gzip", "-n", "-f", plain.path])
                guard result.status == 0 else { throw TestFailure("gzip failed: \(result.stderr)") }
            } else {
                try DumpWriter.write(dump.points.map { .point(imei: $0.imei, field: $0.field, value: .integer(Int64($0.value)),
                                                              timeNanos: $0.time * 1000) }, to: url)
            }
        }
        return directory
    }
}
