import DumpReader
import Foundation
import Testing

/// `influx -format csv` output.
@Suite struct CSVTests {
    @Test func epochNanosecondRowsGiveOnePointPerNonEmptyCell() throws {
        let text = """
        name,time,current,fault,product_imei,ok,pulse_count,voltage
        telemetry,1727740800000000000,-1.134,,001409288034695,,,11.9
        telemetry,1727740800000000001,2.982,"E12 low ""battery"", retrying",168240884112187,true,539991586917,1e+06

        """
        let result = try parse(text)
        #expect(result.format == .csv)
        #expect(result.rejects.isEmpty)
        #expect(result.points.map(\.field) == ["current", "voltage", "current", "fault", "ok", "pulse_count", "voltage"])
        #expect(result.points.map(\.value) == [
            .float(-1.134), .float(11.9), .float(2.982), .string(#"E12 low "battery", retrying"#), .boolean(true),
            .integer(539_991_586_917), .float(1e6),
        ])
        #expect(result.points.map(\.imei) == ["001409288034695", "001409288034695"] + Array(repeating: "168240884112187", count: 5))
        #expect(result.points.map(\.line) == [2, 2, 3, 3, 3, 3, 3])
        #expect(result.points.first?.time == 1_727_740_800_000_000_000)
    }

    @Test func rfc3339Times() throws {
        let text = "name,time,product_imei,v\ntelemetry,2024-10-06T00:00:00Z,1,1\ntelemetry,2024-10-06T00:15:00.123456789Z,1,2\n"
        let result = try parse(text)
        #expect(result.points.map(\.time) == [1_728_172_800_000_000_000, 1_728_173_700_123_456_789])
    }

    @Test func groupByTagsHeaderRepeatsPerSeries() throws {
        let text = """
        name,tags,time,voltage
        telemetry,product_imei=111,1,12.5
        telemetry,product_imei=111,2,12.6

        name,tags,time,voltage
        telemetry,"product_imei=222,site=x",3,13

        """
        let result = try parse(text)
        #expect(result.rejects.isEmpty)
        #expect(result.points.map(\.imei) == ["111", "111", "222"])
        #expect(result.points.map(\.value) == [.float(12.5), .float(12.6), .integer(13)])
        #expect(result.points.map(\.line) == [2, 3, 6])
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var row: String
        var column: Int?
        var reason: String
        var testDescription: String { row }
    }

    static let bad: [Bad] = [
        Bad(row: "ERR: error parsing query: found EOF", column: 1, reason: "influx CLI error line"),
        Bad(row: "telemetry,notatime,1,1", column: 11, reason: "invalid time"),
        Bad(row: "telemetry,,1,1", column: 11, reason: "missing time"),
        Bad(row: "telemetry,1,,1", column: 13, reason: "missing product_imei"),
        Bad(row: "telemetry,1,12a,1", column: 13, reason: "product_imei is not all digits"),
        Bad(row: "telemetry,1,1234567890123456,1", column: 13, reason: "product_imei longer than 15 characters"),
        Bad(row: "telemetry,1,1,1,extra", column: 17, reason: "expected 4 cells, found 5"),
        Bad(row: "telemetry,1,1", column: 14, reason: "expected 4 cells, found 3"),
        Bad(row: #"telemetry,1,1,"open"#, column: 15, reason: "unterminated quoted cell"),
        Bad(row: #"telemetry,1,1,"a"b"#, column: 18, reason: "expected ',' after quoted cell"),
    ]

    @Test(arguments: bad)
    func malformedRows(_ row: Bad) throws {
        let result = try parse("name,time,product_imei,v\n" + row.row + "\ntelemetry,5,1,1\n")
        #expect(result.rejects.map(\.reason) == [row.reason])
        #expect(result.rejects.map(\.column) == [row.column])
        #expect(result.rejects.map(\.line) == [2])
        #expect(result.points.map(\.time) == [5])
    }

    @Test func quotedNewlinesAndCRLF() throws {
        let text = "name,time,product_imei,fault\r\ntelemetry,1,1,\"two\r\nlines\"\r\ntelemetry,2,1,x\r\n"
        let result = try parse(text)
        #expect(result.rejects.isEmpty)
        #expect(result.points.map(\.value) == [.string("two\r\nlines"), .string("x")])
        #expect(result.points.map(\.line) == [2, 4])
    }

    @Test func errorLineBeforeTheHeaderStillDetectsCSV() throws {
        let result = try parse("ERR: partial results\nname,time,product_imei,v\ntelemetry,1,7,2.5\n")
        #expect(result.format == .csv)
        #expect(result.rejects.map(\.reason) == ["influx CLI error line"])
        #expect(result.points.map(\.value) == [.float(2.5)])
        #expect(result.points.map(\.line) == [3])
    }

    @Test func otherMeasurementRowsAreOther() throws {
        let result = try parse("name,time,product_imei,v\nanalysis,1,,1\n")
        #expect(result.rejects.isEmpty)
        #expect(result.others.map(\.measurement) == ["analysis"])
    }
}
