import DumpReader
@testable import Migration
import PostgresClient
import Testing
import TestSupport

/// `RefusedLines` against the real server, in batches down to one candidate: whatever the
/// batch size, it finds exactly the lines one of whose points is the last of its
/// (IMEI, field, time) in the dump and refused (last line wins: an overridden refused value is
/// no row), also when the overriding line comes batches later and when a line holds several
/// points. (It once held every candidate of the dump in memory: a peak RSS of 479 MB for a
/// 2 M-point dump of the large bench set with a CHECK refusing 95 lines, 64 MB since.)
@Suite(.enabled(if: Requirement.database.testsRun))
struct RefusedLinesTests {
    /// A fixed list of candidates.
    struct Listed: CandidateSource {
        let products: ProductIndex
        let candidates: [Candidate]
        func forEach(_ take: (Candidate) throws -> Void) throws { for candidate in candidates { try take(candidate) } }
        func again(_ take: (Candidate) throws -> Void) throws { try forEach(take) }
    }

    static let imeis = ["500000000000301", "500000000000302", "500000000000303"]

    /// Random candidates, one or two points a line on few keys (so that lines override each
    /// other often), a quarter of the points `bad` or `unreadable`, the others `good` (of their
    /// line); and the lines the probe must find: those with an unreadable point (the database
    /// refuses its input: the line goes whatever follows), and, among the other lines' points,
    /// those whose bad point is the last of its key (last line wins).
    static func randomSet(seed: UInt64, products: ProductIndex, bad: [FieldValue], unreadable: [FieldValue] = [],
                          good: (Int) -> FieldValue) -> (candidates: [Candidate], expected: Set<Int>) {
        var rng = SeededRandom(seed: seed)
        var candidates: [Candidate] = []
        for line in 1...Int.random(in: 5...60, using: &rng) {
            for _ in 0..<(Int.random(in: 0..<4, using: &rng) == 0 ? 2 : 1) {
                let imei = imeis.randomElement(using: &rng)!
                let point = Point(measurement: "telemetry", imei: imei, field: ["a", "b"].randomElement(using: &rng)!,
                                  value: Int.random(in: 0..<4, using: &rng) == 0 ? (bad + unreadable).randomElement(using: &rng)! : good(line),
                                  time: Int64.random(in: 0..<3, using: &rng) * 1_000_000_000, line: line)
                candidates.append(Candidate(point: point, product: products.id(of: imei)!, time: point.time / 1000, watermark: nil))
            }
        }
        let unreadableLines = Set(candidates.filter { unreadable.contains($0.point.value) }.map(\.point.line))
        var last: [String: Candidate] = [:]
        for candidate in candidates where !unreadableLines.contains(candidate.point.line) {
            last["\(candidate.point.imei) \(candidate.point.field) \(candidate.time)"] = candidate
        }
        return (candidates, unreadableLines.union(last.values.filter { bad.contains($0.point.value) }.map(\.point.line)))
    }

    /// Runs `RefusedLines` over the random sets of `seeds` in batches of 1 to 1,000 and
    /// checks what it finds; returns how many lines the sets refuse.
    static func findsExactly(seeds: ClosedRange<UInt64>, on connection: PostgresConnection, bad: [FieldValue],
                             unreadable: [FieldValue] = [], good: (Int) -> FieldValue, reasons: [String]) throws -> Int {
        let products = ProductIndex(imeis)
        var found = 0
        for seed in seeds {
            let (candidates, expected) = randomSet(seed: seed, products: products, bad: bad, unreadable: unreadable, good: good)
            for batch in [1, 2, 3, 7, 1000] {
                let refused = try RefusedLines(connection: connection, batch: batch, batchesPerTruncation: 2)
                    .find(Listed(products: products, candidates: candidates))
                #expect(Set(refused.keys) == expected, "seed \(seed), batch \(batch)")
                #expect(refused.values.allSatisfy { reason in reasons.contains { reason.hasPrefix($0) } }, "seed \(seed): \(Set(refused.values))")
            }
            found += expected.count
        }
        return found
    }

    /// Rows a CHECK refuses: found by the server's probe (`migrate_probe_each`), never by halving.
    @Test func batchesFindExactlyTheRefusedLastPointsOfTheirKeys() throws {
        let (db, connection) = try RefusedRowTests.database(label: "refusedlines", imeis: Self.imeis, changes: [
            "ALTER TABLE telemetry ADD CONSTRAINT value_below_1e9 CHECK (value < 1e9)",
        ])
        defer { db.drop() }
        let found = try Self.findsExactly(seeds: 1...40, on: connection, bad: [.float(5e9)], good: { .float(Double($0)) },
                                          reasons: ["23514: new row for relation \"telemetry\" violates check constraint \"value_below_1e9\""])
        #expect(found > 100, "the sets refuse \(found) lines")
        #expect(try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    /// Rows whose input the database cannot even take (a character its encoding lacks) are found
    /// by halving the batch's copy, and their lines rejected even when a later line overrides
    /// them (every write sends every candidate); in the same batches, rows a CHECK refuses, by the
    /// server's probe of the other lines' rows. (An overridden unreadable value failed the dump
    /// night after night: an independent check found it.)
    @Test func inputTheDatabaseCannotTakeIsFoundByHalving() throws {
        let (db, connection) = try RefusedRowTests.database(label: "refusedlatin1", imeis: Self.imeis, changes: [
            "ALTER TABLE telemetry ADD CONSTRAINT text_not_refused CHECK (value_text <> 'refused')",
        ], encoding: "LATIN1")
        defer { db.drop() }
        let found = try Self.findsExactly(seeds: 1...25, on: connection, bad: [.string("refused")], unreadable: [.string("sunny \u{2600}")],
                                          good: { .string("line \($0) \u{e9}t\u{e9}") }, reasons: ["22P05: ", "23514: "])
        #expect(found > 30, "the sets refuse \(found) lines")
    }

    /// The probe judges rows as the staged insert writes them (assignment casts from the job's
    /// types): a column type the binary COPY cannot fill (`real` for `value`) refuses every row
    /// of a binary COPY, but no line (a nightly then writes through the stage: RefusedRowTests).
    @Test func aColumnTypeOnlyTheBinaryCopyCannotFillRefusesNoLine() throws {
        let (db, connection) = try RefusedRowTests.database(label: "refusedreal", imeis: Self.imeis, changes: [
            "ALTER TABLE telemetry ALTER COLUMN value TYPE real",
        ])
        defer { db.drop() }
        let products = ProductIndex(Self.imeis)
        let (candidates, _) = Self.randomSet(seed: 1, products: products, bad: [.float(2.5)], good: { .float(Double($0)) })
        var directCopy: PostgresError?
        do {
            _ = try connection.copyIn("COPY telemetry (product_imei, field, time, value, value_text) FROM STDIN (FORMAT binary)") {
                try $0.appendTelemetry(candidates[0])
            }
        } catch let error as PostgresError { directCopy = error }
        #expect(directCopy?.refusesData == true, "the binary copy into a real column is refused: \(String(describing: directCopy))")
        #expect(try RefusedLines(connection: connection).find(Listed(products: products, candidates: candidates)).isEmpty)
    }
}
