@testable import Migration
import Testing

/// The in-memory rules the fast paths rest on.
@Suite struct PathRulesTests {
    @Test func seriesOrderAdmitsIncreasingTimesPerSeriesOnly() {
        var order = SeriesOrder()
        func admit(_ imei: String, _ field: String, _ time: Int64) -> Bool { order.admit(imei: imei, field: field, time: time) }
        #expect(admit("123", "voltage", 1))
        #expect(admit("123", "voltage", 2))
        #expect(admit("123", "current", 1), "another series has its own times")
        #expect(admit("0123", "voltage", 1), "a leading zero makes another IMEI")
        #expect(admit("456", "voltage", 1))
        #expect(!admit("123", "voltage", 2), "the series comes back with a repeated time")
        var again = SeriesOrder()
        func admitAgain(_ imei: String, _ field: String, _ time: Int64) -> Bool { again.admit(imei: imei, field: field, time: time) }
        #expect(admitAgain("1", "f", 5))
        #expect(!admitAgain("1", "f", 4), "an earlier time")
        #expect(!admitAgain("12a", "f", 1), "not digits: cannot be keyed")
        #expect(!admitAgain("1234567890123456", "f", 1), "16 digits: cannot be keyed")
    }

    @Test func seriesOrderRefusesMoreFieldsThanItsKeyHolds() {
        var order = SeriesOrder()
        func admit(_ imei: String, _ field: String, _ time: Int64) -> Bool { order.admit(imei: imei, field: field, time: time) }
        for i in 0..<SeriesOrder.maxFields {
            #expect(admit("1", "f\(i)", 1))
        }
        #expect(!admit("1", "one-too-many", 1))
    }

    @Test func productTallyKeepsTheLatestTimeAndItsFields() {
        var tally = ProductTally(tracksFields: true)
        tally.add(imei: "1", field: "a", time: 10, inserted: true)
        tally.add(imei: "1", field: "b", time: 10, inserted: false)
        tally.add(imei: "2", field: "a", time: 5, inserted: true)
        tally.add(imei: "1", field: "a", time: 10, inserted: true)  // back to product 1: its entry is kept
        tally.add(imei: "1", field: "c", time: 7, inserted: true)
        tally.add(imei: "2", field: "b", time: 6, inserted: true)
        let entries = tally.finish()
        #expect(entries["1"]?.latest == 10)
        #expect(entries["1"]?.fieldsAtLatest == ["a", "b"])
        #expect(entries["1"]?.inserted == 3)
        #expect(entries["2"]?.latest == 6)
        #expect(entries["2"]?.fieldsAtLatest == ["b"], "a later time replaces the fields")
        #expect(entries["2"]?.inserted == 2)
    }

    @Test func dryRunMemoryFollowsTheWatermark() {
        var memory = DryRunMemory(committed: ["1": 10])
        func entry(_ latest: Int64, _ fields: [String]) -> ProductTally.Entry {
            ProductTally.Entry(latest: latest, inserted: 0, fieldsAtLatest: fields)
        }
        memory.remember(["1": entry(10, ["a"]), "2": entry(3, ["x"])], watermarksBefore: ["1": 10])
        #expect(memory.wouldInsert(imei: "1", field: "a") && memory.wouldInsert(imei: "2", field: "x"))
        memory.remember(["1": entry(10, ["b"])], watermarksBefore: ["1": 10, "2": 3])
        #expect(memory.wouldInsert(imei: "1", field: "a") && memory.wouldInsert(imei: "1", field: "b"), "same watermark: fields add up")
        memory.remember(["1": entry(12, ["c"])], watermarksBefore: ["1": 10, "2": 3])
        #expect(!memory.wouldInsert(imei: "1", field: "a") && memory.wouldInsert(imei: "1", field: "c"), "a new watermark starts afresh")
        let rows = memory.rows(watermarks: ["1": 12, "2": 3]).map { "\($0.imei) \($0.field) \($0.time)" }.sorted()
        #expect(rows == ["1 c 12", "2 x 3"])
    }
}
