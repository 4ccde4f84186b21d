import Foundation
@testable import Migration
import Testing
import TestSupport

/// IMEIs as a fleet has them: a few type allocation codes, serials in runs, a Luhn digit.
func realLookingIMEIs(_ count: Int, seed: UInt64 = 7) -> [String] {
    var random = SeededRandom(seed: seed)
    let tacs = (0..<12).map { _ in String(format: "%08d", 35_000_000 + Int(random.next() % 1_000_000)) } + ["00140928"]
    var imeis = Set<String>()
    while imeis.count < count {
        let tac = tacs[Int(random.next() % UInt64(tacs.count))]
        let base = Int(random.next() % 999_000)
        for j in 0..<(1 + Int(random.next() % 200)) where imeis.count < count {
            let body = tac + String(format: "%06d", (base + j) % 1_000_000)
            imeis.insert(body + luhnDigit(body))
        }
    }
    return imeis.sorted()
}

private func luhnDigit(_ digits: String) -> String {
    var sum = 0
    for (i, ch) in digits.reversed().enumerated() {
        var x = Int(String(ch))!
        if i % 2 == 0 { x *= 2; if x > 9 { x -= 9 } }
        sum += x
    }
    return String((10 - sum % 10) % 10)
}

struct RunUnitTests {
    @Test func shardsOfNPartitionTheHashSpace() {
        for n in 1...9 {
            let units = RunUnit.shards(n)
            #expect(units.first!.range.lowerBound == 0 && units.last!.range.upperBound == UInt32.max)
            for (a, b) in zip(units, units.dropFirst()) {
                #expect(UInt64(a.range.upperBound) + 1 == UInt64(b.range.lowerBound), "\(a) \(b)")
            }
            #expect(RunUnit.all.isCovered(by: units))
            #expect(!RunUnit.all.isCovered(by: Array(units.dropLast())) || n == 1)
        }
        // Every IMEI lies in exactly one shard of N.
        let imeis = realLookingIMEIs(2000)
        for n in 1...5 {
            let units = RunUnit.shards(n)
            for imei in imeis { #expect(units.filter { $0.contains(imei: imei) }.count == 1) }
        }
    }

    @Test func namesRoundTripAndBadFractionsAreRefused() {
        #expect(RunUnit(name: "all") == .all)
        #expect(RunUnit(name: "shard 2/3") == .shard(2, of: 3))
        #expect(RunUnit.shard(0, of: 1) == .all)
        #expect(RunUnit.shard(1, of: 4).name == "shard 1/4")
        for bad in ["3/3", "-1/2", "1/0", "a/2", "1/", "/2", "1/2/3", " 1/2", "1/2 "] {
            #expect(RunUnit.parseFraction(bad) == nil, "\(bad)")
        }
        #expect(RunUnit.parseFraction("0/1")! == (0, 1))
    }

    @Test func coverageAcrossDifferentSplits() {
        let halves = RunUnit.shards(2), thirds = RunUnit.shards(3)
        #expect(thirds[0].isCovered(by: [halves[0]]))
        #expect(!thirds[1].isCovered(by: [halves[0]]))
        #expect(thirds[1].isCovered(by: halves))
        #expect(halves[1].isCovered(by: [thirds[1], thirds[2]]))
        #expect(!halves[1].isCovered(by: [thirds[2]]))
        #expect(halves[0].isCovered(by: [.all]))
        #expect(!RunUnit.all.isCovered(by: []))
    }

    /// The hash is PostgreSQL's `hashtext`, byte for byte (so Citus' shard K of N is `shard K/N`).
    @Test(.enabled(if: Requirement.database.testsRun))
    func hashMatchesHashtextOnTheServer() throws {
        let db = try TestDatabase.create(label: "hashtext")
        defer { db.drop() }
        let imeis = realLookingIMEIs(3000) + ["", "1", "12", "123", "1234", "12345678901", "123456789012",
                                              "1234567890123456789012345", "ü-non-ascii"]
        let list = imeis.map { "'" + $0 + "'" }.joined(separator: ",")
        let server = try db.psql("SELECT hashtext(x) FROM unnest(ARRAY[\(list)]::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n")
            .split(separator: "\n").map { Int32($0)! }
        #expect(server == imeis.map(IMEIHash.hashtext))
        // And the shard of an IMEI is the one Citus' cut of the int32 space gives it.
        let n = 5
        let width = (Int64(1) << 32) / Int64(n)
        for (imei, hash) in zip(imeis, server) {
            let k = min(Int((Int64(hash) - Int64(Int32.min)) / width), n - 1)
            #expect(RunUnit.shard(k, of: n).contains(imei: imei))
        }
    }

    /// Balance over 100,000 real-looking IMEIs (docs/workers.md keeps the figures).
    @Test func shardsAreBalanced() {
        let offsets = realLookingIMEIs(100_000).map(IMEIHash.offset(of:))
        for n in 2...8 {
            let units = RunUnit.shards(n)
            let counts = units.map { unit in offsets.filter { unit.range.contains($0) }.count }
            let mean = 100_000.0 / Double(n)
            #expect(counts.allSatisfy { abs(Double($0) - mean) / mean < 0.03 }, "N=\(n): \(counts)")
        }
    }
}
