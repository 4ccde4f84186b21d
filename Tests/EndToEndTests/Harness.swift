import Foundation
import Testing
import TestSupport

extension ModelValue {
    /// The `telemetry` row's (value, value_text) as psql prints them.
    var columns: String {
        switch self {
        case .number(let d): "\(DatabaseState.canonical(d))|"
        case .integer(let i): "\(DatabaseState.canonical(Double(i)))|"
        case .boolean(let b): b ? "1|" : "0|"
        case .text(let s): "|" + s
        }
    }
}

// MARK: The reference model

/// What a sequence of runs must leave in the database, computed with sets and maps.
struct ReferenceModel {
    struct Key: Hashable, Comparable {
        var imei: String
        var field: String
        var time: Int64  // microseconds

        static func < (a: Key, b: Key) -> Bool {
            (a.imei, a.field, a.time) < (b.imei, b.field, b.time)
        }
    }

    let products: Set<String>
    var telemetry: [Key: ModelValue] = [:]
    var watermarks: [String: Int64] = [:]

    init(products: Set<String>) {
        self.products = products
    }

    /// A nightly run over dumps not seen before, in order.
    mutating func nightly(_ dumps: [[DumpLine]]) {
        for dump in dumps {
            let products = self.products, watermarks = self.watermarks  // as committed before the dump
            apply(dump) { imei, time in
                guard products.contains(imei) else { return false }
                if let w = watermarks[imei], time < w { return false }
                return true
            }
        }
    }

    /// A backfill of `imeis` with time in (since, until].
    mutating func backfill(_ dumps: [[DumpLine]], imeis: Set<String>, since: Int64? = nil, until: Int64? = nil) {
        for dump in dumps {
            apply(dump) { imei, time in
                imeis.contains(imei) && since.map { time > $0 } ?? true && until.map { time <= $0 } ?? true
            }
        }
    }

    private mutating func apply(_ dump: [DumpLine], taking take: (String, Int64) -> Bool) {
        var candidates: [Key: ModelValue] = [:]
        for line in dump {
            guard case .point(let imei, let field, let value, let nanos, let measurement) = line,
                  measurement == "telemetry" else { continue }
            let time = floorDiv(nanos, 1000)
            guard take(imei, time) else { continue }
            candidates[Key(imei: imei, field: field, time: time)] = value  // last one wins
        }
        for (key, value) in candidates {
            if telemetry[key] == nil { telemetry[key] = value }
            watermarks[key.imei] = max(watermarks[key.imei] ?? .min, key.time)
        }
    }

    /// The model as `DatabaseState` prints it.
    var state: DatabaseState {
        DatabaseState(
            telemetry: telemetry.keys.sorted().map { key in
                "\(key.imei)|\(key.field)|\(DatabaseState.timestamp(key.time))|\(telemetry[key]!.columns)"
            },
            watermarks: watermarks.keys.sorted().map { "\($0)|\(DatabaseState.timestamp(watermarks[$0]!))" })
    }
}

// MARK: Database state, as text

/// The migrated data of a database, one line per row, comparable with the model's.
struct DatabaseState: Equatable, CustomStringConvertible {
    var telemetry: [String]
    var watermarks: [String]

    /// `value + 0.0` folds -0 into 0: InfluxDB's CSV output writes -0 as "0", its line protocol as "-0".
    static func read(_ db: TestDatabase) throws -> DatabaseState {
        let rows = try db.psql("""
            SELECT product_imei || '|' || field || '|' || to_char(time, 'YYYY-MM-DD HH24:MI:SS.US') || '|'
                   || coalesce((value + 0.0)::text, '') || '|' || coalesce(value_text, '')
            FROM telemetry ORDER BY product_imei, field, time
            """)
        let marks = try db.psql("""
            SELECT product_imei || '|' || to_char(latest_migration_timestamp, 'YYYY-MM-DD HH24:MI:SS.US')
            FROM product_migration_history ORDER BY product_imei
            """)
        return DatabaseState(telemetry: lines(rows), watermarks: lines(marks))
    }

    /// A checksum of every row of every table the job may write, for "nothing changed".
    static func checksum(_ db: TestDatabase) throws -> String {
        try db.psql("""
            SELECT md5(string_agg(t, ',' ORDER BY t)) FROM (
              SELECT 'telemetry' || row(x.*)::text AS t FROM telemetry x
              UNION ALL SELECT 'history' || row(x.*)::text FROM product_migration_history x
              UNION ALL SELECT 'run' || row(x.*)::text FROM migrate_run x
              UNION ALL SELECT 'dump' || row(x.*)::text FROM migrate_dump x
              UNION ALL SELECT 'product' || row(x.*)::text FROM product x
            ) s
            """).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    static func timestamp(_ micros: Int64) -> String {
        let seconds = floorDiv(micros, 1_000_000)
        let fraction = micros - seconds * 1_000_000
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        let formatter = DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let digits = String(fraction)
        return formatter.string(from: date) + "." + String(repeating: "0", count: 6 - digits.count) + digits
    }

    /// How PostgreSQL prints a float8 (shortest round-trip form).
    static func canonical(_ d: Double) -> String {
        if d == 0 { return "0" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"  // shortest round-trip digits, as PostgreSQL 12+ prints float8
    }

    /// A short account of what differs, for a failing expectation.
    var description: String {
        "\(telemetry.count) telemetry rows, \(watermarks.count) watermarks"
    }

    func difference(from expected: DatabaseState) -> String {
        let extraRows = Set(telemetry).subtracting(expected.telemetry).sorted().prefix(5)
        let missingRows = Set(expected.telemetry).subtracting(telemetry).sorted().prefix(5)
        let extraMarks = Set(watermarks).subtracting(expected.watermarks).sorted().prefix(5)
        let missingMarks = Set(expected.watermarks).subtracting(watermarks).sorted().prefix(5)
        return "rows \(telemetry.count) vs \(expected.telemetry.count); unexpected \(Array(extraRows)); missing \(Array(missingRows)); "
            + "watermarks unexpected \(Array(extraMarks)), missing \(Array(missingMarks))"
    }
}

// MARK: Running the tool

struct Tool {
    let db: TestDatabase

    @discardableResult
    func run(_ arguments: [String], environment: [String: String] = [:]) -> ProcessResult {
        TestSupport.run(Package.executable, arguments + ["--database-url", db.url], environment: environment)
    }

    /// Starts the tool with `arguments` in the background (see `startProcess`), for a test
    /// that kills it or holds it up.
    func start(_ arguments: [String], stderr: FileHandle = .nullDevice) throws -> Process {
        try startProcess(Package.executable, arguments + ["--database-url", db.url], stderr: stderr)
    }

    /// `nightly` with a JSON report, decoded.
    func nightly(_ dumps: URL, _ extra: [String] = [],
                 sourceLocation: SourceLocation = #_sourceLocation) throws -> (ProcessResult, [String: Any]) {
        let result = run(["nightly", "--dumps", dumps.path, "--report", "json"] + extra)
        return (result, try Tool.decode(result, sourceLocation: sourceLocation))
    }

    func backfill(_ dumps: URL, imeis: [String], _ extra: [String] = [],
                  sourceLocation: SourceLocation = #_sourceLocation) throws -> (ProcessResult, [String: Any]) {
        let result = run(Tool.backfillArguments(dumps, imeis: imeis, ["--report", "json"] + extra))
        return (result, try Tool.decode(result, sourceLocation: sourceLocation))
    }

    /// `backfill` of `imeis` over `dumps`, with `extra`.
    static func backfillArguments(_ dumps: URL, imeis: [String], _ extra: [String] = []) -> [String] {
        ["backfill", "--dumps", dumps.path] + imeis.flatMap { ["--imei", $0] } + extra
    }

    /// The JSON report on stdout; a run's report has its counts checked against `ReportIdentity`.
    static func decode(_ result: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw TestFailure("not a JSON report (exit \(result.status)): \(result.stdout)\n\(result.stderr)")
        }
        if object["totals"] != nil { expectIdentity(object, sourceLocation: sourceLocation) }  // a run's report, not `status`
        return object
    }

    /// Creates the schema and seeds `product`.
    func prepare(products: [String]) throws {
        let result = run(["schema", "apply"])
        guard result.status == 0 else { throw TestFailure("schema apply failed: \(result.stderr)") }
        if !products.isEmpty {
            try db.psql("INSERT INTO product (product_imei) VALUES " + products.map { "('\($0)')" }.joined(separator: ","))
        }
    }
}

extension [String: Any] {
    var totals: [String: Any] { self["totals"] as? [String: Any] ?? [:] }
    var dumps: [[String: Any]] { self["dumps"] as? [[String: Any]] ?? [] }
    func int(_ key: String) -> Int? { self[key] as? Int }
}

// MARK: Random dump sets

/// A generated set of dumps and the products they are about.
protocol DumpSet {
    var products: [String] { get }
    var dumps: [[DumpLine]] { get }
    /// Writes dumps `range` into `directory`, named so that they sort in order.
    func write(_ range: Range<Int>, to directory: URL) throws
}

extension DumpSet {
    /// Every dump written into a new temporary directory, and the model of one nightly run over them.
    func writtenWithNightlyModel() throws -> (directory: URL, model: ReferenceModel) {
        let directory = try Package.temporaryDirectory("dumps")
        try write(0..<dumps.count, to: directory)
        var model = ReferenceModel(products: Set(products))
        model.nightly(dumps)
        return (directory, model)
    }
}

/// Random dumps: products known and unknown, sparse fields, duplicates inside a dump,
/// points that arrive late (stale), malformed lines, other measurements.
struct RandomDumpSet: DumpSet {
    var products: [String]
    var unknown: [String]
    var dumps: [[DumpLine]]

    static let fields = ["voltage", "current", "temperature", "state_of_charge_percent", "fault", "charging"]

    init(seed: UInt64, dumpCount: Int = 6, pointsPerDump: Int = 300, productCount: Int = 8) {
        var rng = SeededRandom(seed: seed)
        let products = (0..<productCount).map { i in String(100_000_000_000_000 + i * 7919 + Int(seed % 1000)) }
        let unknown = ["999999999999991", "999999999999992"]
        self.products = products
        self.unknown = unknown
        let day: Int64 = 86_400_000_000_000
        let base: Int64 = 1_727_740_800_000_000_000  // 2024-10-01
        dumps = (0..<dumpCount).map { index in
            var lines: [DumpLine] = []
            for _ in 0..<pointsPerDump {
                let roll = Int.random(in: 0..<100, using: &rng)
                let imei = roll < 5 ? unknown.randomElement(using: &rng)! : products.randomElement(using: &rng)!
                let field = RandomDumpSet.fields.randomElement(using: &rng)!
                // Mostly this dump's day; sometimes an earlier day (late data, often stale);
                // coarse times so that duplicates and exact-watermark ties happen.
                let dayOffset = roll < 12 ? Int64.random(in: 0...Int64(index), using: &rng) : Int64(index)
                let time = base + dayOffset * day + Int64.random(in: 0..<48, using: &rng) * 1_800_000_000_000
                    + (roll % 3 == 0 ? Int64.random(in: 0..<1000, using: &rng) : 0)
                let value: ModelValue = switch field {
                case "fault": .text(["E12 low \"battery\"", "ok", "ünïcode ✓", "back\\slash"].randomElement(using: &rng)!)
                case "charging": .boolean(Bool.random(using: &rng))
                case "state_of_charge_percent": .integer(Int64.random(in: 0...100, using: &rng))
                default: .number((Double.random(in: -50...50, using: &rng) * 1000).rounded() / 1000)
                }
                if roll == 99 {
                    lines.append(.malformed("telemetry,product_imei=\(imei) voltage= \(time)"))
                } else if roll == 98 {
                    lines.append(.point(imei: imei, field: "cycles", value: .integer(3), timeNanos: time, measurement: "analysis"))
                } else {
                    lines.append(.point(imei: imei, field: field, value: value, timeNanos: time))
                }
            }
            return lines
        }
    }

    /// Writes dumps `range` into `directory` as `2024100N_dump.lp.gz`.
    func write(_ range: Range<Int>, to directory: URL) throws {
        for index in range {
            try DumpWriter.write(dumps[index], to: directory.appendingPathComponent(name(index)))
        }
    }

    func name(_ index: Int) -> String {
        String(format: "202410%02d_dump.lp.gz", index + 1)
    }
}

/// Dumps as `influx_inspect export` writes them: series by series (product, then field),
/// each in time order, the fields of a product sharing their instants. Each dump after the
/// first repeats the previous dump's last instant, so every series meets its product's
/// watermark exactly (sometimes with another value, which must not replace the row), and
/// some products send a late point first (stale). A dump in `repeating` ends with a WAL
/// section that writes some of its points again with new values: the last one wins.
struct ExportDumpSet: DumpSet {
    var products: [String]
    var dumps: [[DumpLine]]

    init(seed: UInt64, dumpCount: Int = 5, productCount: Int = 12, instantsPerDump: Int = 6, repeating: Set<Int> = []) {
        var rng = SeededRandom(seed: seed)
        let products = (0..<productCount).map { i in String(200_000_000_000_000 + i * 7919 + Int(seed % 1000)) }
        self.products = products
        let day: Int64 = 86_400_000_000_000
        let base: Int64 = 1_727_740_800_000_000_000  // 2024-10-01
        let step = day / Int64(instantsPerDump)
        func instant(_ dump: Int, _ k: Int, _ product: Int) -> Int64 {
            base + Int64(dump) * day + Int64(k) * step + Int64(product) * 1_000
        }
        func value(_ field: String) -> ModelValue {
            switch field {
            case "fault": .text(["E12 low \"battery\"", "ok", "back\\slash"].randomElement(using: &rng)!)
            case "charging": .boolean(Bool.random(using: &rng))
            case "state_of_charge_percent": .integer(Int64.random(in: 0...100, using: &rng))
            default: .number((Double.random(in: -50...50, using: &rng) * 1000).rounded() / 1000)
            }
        }
        dumps = (0..<dumpCount).map { index in
            var lines: [DumpLine] = []
            for (p, imei) in products.enumerated() {
                for (f, field) in RandomDumpSet.fields.enumerated() where (p + f) % 5 != 4 {  // sparse fields
                    if index > 0, p % 4 == 1 {  // late: before the watermark, so stale
                        lines.append(.point(imei: imei, field: field, value: value(field), timeNanos: instant(index - 1, 1, p)))
                    }
                    if index > 0 {  // the previous dump's last instant: exactly at the watermark
                        lines.append(.point(imei: imei, field: field, value: value(field),
                                            timeNanos: instant(index - 1, instantsPerDump - 1, p)))
                    }
                    for k in 0..<instantsPerDump {
                        lines.append(.point(imei: imei, field: field, value: value(field), timeNanos: instant(index, k, p)))
                    }
                }
                if p == productCount / 2 {
                    lines.append(.point(imei: "999999999999993", field: "voltage", value: .number(1), timeNanos: instant(index, 0, p)))
                    lines.append(.malformed("telemetry,product_imei=\(imei) voltage=oops \(instant(index, 0, p))"))
                    lines.append(.point(imei: imei, field: "cycles", value: .integer(3), timeNanos: instant(index, 0, p),
                                        measurement: "analysis"))
                }
            }
            if repeating.contains(index) {
                lines.append(.comment("# writing wal data"))
                for p in stride(from: 0, to: productCount, by: 3) {
                    lines.append(.point(imei: products[p], field: "voltage", value: .number(Double(p) + 0.5),
                                        timeNanos: instant(index, 2, p)))
                }
            }
            return lines
        }
    }

    func write(_ range: Range<Int>, to directory: URL) throws {
        for index in range {
            try DumpWriter.write(dumps[index], to: directory.appendingPathComponent(String(format: "202410%02d_export.lp.gz", index + 1)))
        }
    }
}

/// A report's per-dump counts and per-product outcome, as one comparable text: equal for
/// two runs that did the same, whatever path each took and whether it was a dry run.
func comparableReport(_ report: [String: Any]) -> String {
    let dumps = report.dumps.map { dump in
        ["name", "read", "inserted", "stale", "present", "unknown_product", "other_measurement", "malformed",
         "duplicates", "first_time", "last_time"].map { "\(dump[$0] ?? "nil")" }.joined(separator: ",")
            + ",\(dump["status"] as? String == "skipped" ? "skipped" : "done")"
    }
    let products = (report["products"] as? [[String: Any]] ?? []).map { product in
        product.keys.sorted().map { "\($0)=\(product[$0]!)" }.joined(separator: ",")
    }
    return (dumps + products).joined(separator: "\n")
}

/// Expects the database's migrated data to equal `expected`, saying what differs when not.
func expectState(_ db: TestDatabase, equals expected: DatabaseState, _ comment: String = "",
                 sourceLocation: SourceLocation = #_sourceLocation) throws {
    let actual = try DatabaseState.read(db)
    #expect(actual == expected, "\(comment) \(actual.difference(from: expected))", sourceLocation: sourceLocation)
}

/// Integer division rounding towards minus infinity.
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// Expects a parsed JSON report to keep `ReportIdentity`.
func expectIdentity(_ report: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) {
    let violations = ReportIdentity.violations(inJSON: report)
    #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))", sourceLocation: sourceLocation)
}
