import DumpReader
@testable import Migration
import PostgresClient
import TelemetrySchema
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

    @Test func batchesFindExactlyTheRefusedLastPointsOfTheirKeys() throws {
        let db = try TestDatabase.create(label: "refusedlines")
        defer { db.drop() }
        let connection = try PostgresConnection(url: db.url)
        try Schema.apply(on: connection)
        try connection.executeScript("ALTER TABLE telemetry ADD CONSTRAINT value_below_1e9 CHECK (value < 1e9)")
        let imeis = ["500000000000301", "500000000000302", "500000000000303"]
        let products = ProductIndex(imeis)
        var found = 0
        for seed in UInt64(1)...40 {
            var rng = SeededRandom(seed: seed)
            var candidates: [Candidate] = []
            for line in 1...Int.random(in: 5...60, using: &rng) {
                // One or two points a line, on few keys, so that lines override each other often.
                for _ in 0..<(Int.random(in: 0..<4, using: &rng) == 0 ? 2 : 1) {
                    let imei = imeis.randomElement(using: &rng)!
                    let value = Int.random(in: 0..<4, using: &rng) == 0 ? 5e9 : Double(line)
                    let point = Point(measurement: "telemetry", imei: imei, field: ["a", "b"].randomElement(using: &rng)!,
                                      value: .float(value), time: Int64.random(in: 0..<3, using: &rng) * 1_000_000_000, line: line)
                    candidates.append(Candidate(point: point, product: products.id(of: imei)!, time: point.time / 1000, watermark: nil))
                }
            }
            var last: [String: Candidate] = [:]
            for candidate in candidates { last["\(candidate.point.imei) \(candidate.point.field) \(candidate.time)"] = candidate }
            let expected = Set(last.values.filter { $0.point.value == .float(5e9) }.map(\.point.line))
            for batch in [1, 2, 3, 7, 1000] {
                let refused = try RefusedLines(connection: connection, batch: batch, batchesPerTruncation: 2)
                    .find(Listed(products: products, candidates: candidates))
                #expect(Set(refused.keys) == expected, "seed \(seed), batch \(batch)")
                #expect(refused.values.allSatisfy { $0.hasPrefix("23514: ") && $0.contains("\"telemetry\"") })
            }
            found += expected.count
        }
        #expect(found > 100, "the sets refuse \(found) lines")
        #expect(try db.psql("SELECT count(*) FROM telemetry").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }
}
