import Migration
import Testing

/// The renderings of a `RunReport`, byte for byte where a script reads them.
@Suite struct ReportRenderingTests {
    static func report(dumpName: String) -> RunReport {
        var counts = DumpCounts()
        counts.read = 3
        counts.inserted = 2
        counts.otherMeasurement = 1
        counts.observe(time: 1_728_000_000_000_000)
        return RunReport(mode: "nightly", dryRun: false, dumps: [DumpReport(name: dumpName, status: .completed, counts: counts)],
                         products: [ProductReport(imei: "1", watermarkBefore: nil, watermarkAfter: 1_728_000_000_000_000, rows: 2)],
                         durationSeconds: 0.5, runID: 7)
    }

    @Test("The text table stays a table whatever a dump name holds", arguments: [
        "a\nb.lp.gz", "tab\there.lp.gz", "donn\u{e9}es.lp.gz", "cr\r.lp.gz", "quote\"\\.lp.gz", "日本.lp.gz",
    ])
    func textTableEscapesNames(name: String) throws {
        let text = Self.report(dumpName: name).textTable()
        let plain = Self.report(dumpName: "plain.lp.gz").textTable()
        #expect(text.split(separator: "\n", omittingEmptySubsequences: false).count
                == plain.split(separator: "\n", omittingEmptySubsequences: false).count)
        #expect(!text.contains("\t") && !text.contains("\r"))
        let lines = text.split(separator: "\n")
        let rule = try #require(lines.first { $0.hasPrefix("----") })
        let row = try #require(lines.first { $0.hasPrefix(Table.cell(name) + " ") })
        #expect(rule.count == row.count, "columns line up: \(rule) / \(row)")
        let ascii = row.allSatisfy(\.isASCII)
        #expect(ascii)
    }

    @Test func printableASCIINamesAreLeftAsTheyAre() {
        #expect(Table.cell("20241001_shard.lp.gz") == "20241001_shard.lp.gz")
        #expect(Table.cell("a\tb") == "\"a\\tb\"")
        #expect(Table.cell("\u{e9}") == "\"\\u00e9\"")
        #expect(Table.cell("\u{1F600}") == "\"\\ud83d\\ude00\"")
    }

    @Test func jsonReportIsOrderedAndIndentedWithOneLinePerProduct() {
        let json = Self.report(dumpName: "d\"1").rendered(as: .json)
        #expect(json == """
            {
              "mode": "nightly",
              "dry_run": false,
              "status": "ok",
              "dumps": [
                {
                  "name": "d\\"1",
                  "status": "completed",
                  "read": 3,
                  "inserted": 2,
                  "stale": 0,
                  "present": 0,
                  "unknown_product": 0,
                  "other_measurement": 1,
                  "malformed": 0,
                  "duplicates": 0,
                  "filtered": 0,
                  "first_time": "2024-10-04T00:00:00.000000Z",
                  "last_time": "2024-10-04T00:00:00.000000Z",
                  "error": null
                }
              ],
              "products": [
                {"product_imei": "1", "watermark_before": null, "watermark_after": "2024-10-04T00:00:00.000000Z", "rows": 2}
              ],
              "totals": {
                "read": 3,
                "inserted": 2,
                "stale": 0,
                "present": 0,
                "unknown_product": 0,
                "other_measurement": 1,
                "malformed": 0,
                "duplicates": 0,
                "filtered": 0,
                "first_time": "2024-10-04T00:00:00.000000Z",
                "last_time": "2024-10-04T00:00:00.000000Z"
              },
              "duration_s": 0.5,
              "points_per_second": 6.0,
              "message": null,
              "run_id": 7
            }

            """)
        #expect(Self.report(dumpName: "d").recordJSON.hasPrefix(#"{"mode":"nightly","dry_run":false,"status":"ok","dumps":[{"name":"d","#))
        #expect(Self.report(dumpName: "d").recordJSON.contains(#""products_touched":1,"totals":{"read":3,"#))
    }
}
