@testable import Migration
import Testing
import TelemetryCore

/// The in-memory rules the fast paths rest on.
@Suite struct PathRulesTests {
    @Test func seriesOrderAdmitsIncreasingTimesPerSeriesOnly() {
        var order = SeriesOrder()
        var names = FieldNames()
        func admit(_ product: Int32, _ field: String, _ time: Int64) -> Bool {
            order.admit(product: product, fieldOrdinal: names.ordinal(of: field), time: time)
        }
        #expect(admit(0, "voltage", 1))
        #expect(admit(0, "voltage", 2))
        #expect(admit(0, "current", 1), "another series has its own times")
        #expect(admit(1, "voltage", 1), "and another product")
        #expect(admit(1, "voltage", 5))
        #expect(!admit(0, "voltage", 2), "the series comes back with a repeated time")
        #expect(!admit(1, "voltage", 4), "an earlier time")
        #expect(admit(1, "voltage", 6))
        #expect(admit(2, "voltage", 1) && admit(3, "current", 9))
        #expect(!admit(2, "voltage", 1), "a product back after others (its series looked up by key)")
        #expect(admit(2, "current", 1) && admit(0, "current", 2) && !admit(0, "current", 2))
        #expect(!admit(3, "current", 9) && admit(3, "current", 10))
        #expect(admit(5, "voltage", 7) && admit(5, "current", 7) && admit(6, "voltage", 1))
        #expect(admit(6, "current", 0), "a product's series start empty, whatever the last product had")
    }

    @Test func seriesOrderKeepsSeriesThatDoNotFitTheCompactLog() {
        var order = SeriesOrder()
        var names = FieldNames()
        func admit(_ product: Int32, _ field: String, _ time: Int64) -> Bool {
            order.admit(product: product, fieldOrdinal: names.ordinal(of: field), time: time)
        }
        let far: Int32 = 1 << 24  // past the log's 24-bit product ids
        let fields = (0..<300).map { "f\($0)" }  // past its 256 field ordinals
        #expect(fields.allSatisfy { admit(1, $0, 5) })
        #expect(admit(far, "f0", 5))
        #expect(admit(2, "f0", 1))
        #expect(!admit(1, "f299", 5), "a series left with a 300th field")
        #expect(admit(1, "f298", 6))
        #expect(!admit(far, "f0", 5), "a series of a product id past 2^24")
        #expect(admit(far, "f0", 6) && admit(2, "f0", 2))
    }

    @Test func integerTableKeepsEveryKeyAcrossGrowth() {
        var table = IntegerTable()
        let keys = (0..<20_000).map { UInt64($0) << 32 | UInt64($0 % 7) }  // ids and ordinals as SeriesOrder packs them
        for (i, key) in keys.enumerated() { table[key] = Int64(i) }
        for (i, key) in keys.enumerated() { table[key] = Int64(i) * 2 }  // overwrite
        #expect(keys.enumerated().allSatisfy { table[$1] == Int64($0) * 2 })
        #expect(table[UInt64.max - 1] == nil && table[1 << 40] == nil)
    }

    @Test func productIndexGivesDenseIDs() {
        let index = ProductIndex(["300", "100", "200", "100"])
        #expect(index.count == 3)
        #expect(index.id(of: "100") == 0 && index.id(of: "300") == 2 && index.id(of: "400") == nil)
        #expect(index.imei(1) == "200")
    }

    /// Ids follow byte order whatever the IMEIs: digits of any length 1-15 (sorted as numbers by
    /// `ProductIndex.orderKey`), and with any other IMEI among them (sorted as `String`s).
    @Test func productIndexOrdersIMEIsAsBytes() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<50 {
            var imeis = (0..<200).map { _ in
                String((0..<Int.random(in: 1...15, using: &generator)).map { _ in "0123456789".randomElement(using: &generator)! })
            }
            imeis += imeis.prefix(20)  // repeats count once
            if round % 5 == 0 { imeis.append(["abc", "1234567890123456", "", "12x"][round / 5 % 4]) }
            let expected = Array(Set(imeis)).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            #expect(ProductIndex(imeis.shuffled(using: &generator)).imeis == expected)
        }
        #expect(ProductIndex.orderKey("999999999999999")! < UInt64(Int64.max))
        #expect(ProductIndex.orderKey("1")! < ProductIndex.orderKey("10")! && ProductIndex.orderKey("10")! < ProductIndex.orderKey("2")!)
    }

    @Test func productTallyKeepsTheLatestTimeAndItsFields() {
        var tally = ProductTally(productCount: 3, tracksFields: true)
        tally.add(product: 1, field: "a", time: 10, inserted: true)
        tally.add(product: 1, field: "b", time: 10, inserted: false)
        tally.add(product: 2, field: "a", time: 5, inserted: true)
        tally.add(product: 1, field: "a", time: 10, inserted: true)
        tally.add(product: 1, field: "c", time: 7, inserted: true)
        tally.add(product: 2, field: "b", time: 6, inserted: true)
        tally.addInserted(product: 2, rows: 3)
        #expect(tally.touched == [1, 2])
        #expect(tally.latest(1) == 10 && Array(tally.fieldsAtLatest(1)) == ["a", "b"] && tally.inserted(1) == 3)
        #expect(tally.latest(2) == 6 && Array(tally.fieldsAtLatest(2)) == ["b"], "a later time replaces the fields")
        #expect(tally.inserted(2) == 5 && tally.totalInserted == 8)
    }

    @Test func dryRunMemoryFollowsTheWatermark() {
        var memory = DryRunMemory(committed: [10, nil])
        var first = ProductTally(productCount: 2, tracksFields: true)
        first.add(product: 0, field: "a", time: 10, inserted: false)
        first.add(product: 1, field: "x", time: 3, inserted: true)
        memory.remember(first, watermarksBefore: [10, nil])
        #expect(memory.wouldInsert(product: 0, field: "a") && memory.wouldInsert(product: 1, field: "x"))
        var second = ProductTally(productCount: 2, tracksFields: true)
        second.add(product: 0, field: "b", time: 10, inserted: true)
        memory.remember(second, watermarksBefore: [10, 3])
        #expect(memory.wouldInsert(product: 0, field: "a") && memory.wouldInsert(product: 0, field: "b"),
                "same watermark: fields add up")
        var third = ProductTally(productCount: 2, tracksFields: true)
        third.add(product: 0, field: "c", time: 12, inserted: true)
        memory.remember(third, watermarksBefore: [10, 3])
        #expect(!memory.wouldInsert(product: 0, field: "a") && memory.wouldInsert(product: 0, field: "c"),
                "a new watermark starts afresh")
        let rows = memory.rows(watermarks: [12, 3], products: ProductIndex(["1", "2"]))
            .map { "\($0.imei) \($0.field) \($0.time)" }.sorted()
        #expect(rows == ["1 c 12", "2 x 3"])
    }
}

extension ProductTally {
    /// The names of the fields at a touched product's latest time, in order of first sight.
    fileprivate func fieldsAtLatest(_ id: Int32) -> [String] {
        var names: [String] = []
        forEachFieldAtLatest(id) { names.append(fieldNames.name($0)) }
        return names
    }
}
