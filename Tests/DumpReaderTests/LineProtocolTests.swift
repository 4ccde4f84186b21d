import DumpReader
import Foundation
import Testing

/// Table-driven tests of the line-protocol parser through the whole reader (plain files).
@Suite struct LineProtocolTests {
    struct Good: CustomTestStringConvertible, Sendable {
        var line: String
        var expected: [(String, FieldValue)]
        var imei = "123456789012345"
        var measurement = "telemetry"
        var time: Int64 = 1_700_000_000_000_000_000
        var testDescription: String { line }
    }

    static let good: [Good] = [
        Good(line: "telemetry,product_imei=123456789012345 voltage=12.5 1700000000000000000", expected: [("voltage", .float(12.5))]),
        Good(line: "telemetry,product_imei=123456789012345 v=1 1700000000000000000", expected: [("v", .float(1))]),
        Good(line: "telemetry,product_imei=123456789012345 v=-1.5 1700000000000000000", expected: [("v", .float(-1.5))]),
        Good(line: "telemetry,product_imei=123456789012345 v=1e3 1700000000000000000", expected: [("v", .float(1000))]),
        Good(line: "telemetry,product_imei=123456789012345 v=1e+06 1700000000000000000", expected: [("v", .float(1e6))]),
        Good(line: "telemetry,product_imei=123456789012345 v=2.5e-07 1700000000000000000", expected: [("v", .float(2.5e-07))]),
        Good(line: "telemetry,product_imei=123456789012345 v=0.30000000000000004 1700000000000000000",
             expected: [("v", .float(0.1 + 0.2))]),
        Good(line: "telemetry,product_imei=123456789012345 v=12i 1700000000000000000", expected: [("v", .integer(12))]),
        Good(line: "telemetry,product_imei=123456789012345 v=-9223372036854775808i 1700000000000000000",
             expected: [("v", .integer(.min))]),
        Good(line: "telemetry,product_imei=123456789012345 v=18446744073709551615u 1700000000000000000",
             expected: [("v", .unsigned(.max))]),
        Good(line: "telemetry,product_imei=123456789012345 a=t,b=T,c=true,d=True,e=TRUE 1700000000000000000",
             expected: [("a", .boolean(true)), ("b", .boolean(true)), ("c", .boolean(true)), ("d", .boolean(true)), ("e", .boolean(true))]),
        Good(line: "telemetry,product_imei=123456789012345 a=f,b=F,c=false,d=False,e=FALSE 1700000000000000000",
             expected: [("a", .boolean(false)), ("b", .boolean(false)), ("c", .boolean(false)), ("d", .boolean(false)), ("e", .boolean(false))]),
        Good(line: #"telemetry,product_imei=123456789012345 fault="E07 panel \\ disconnected" 1700000000000000000"#,
             expected: [("fault", .string(#"E07 panel \ disconnected"#))]),
        Good(line: #"telemetry,product_imei=123456789012345 fault="say \"hi\", a=b" 1700000000000000000"#,
             expected: [("fault", .string(#"say "hi", a=b"#))]),
        Good(line: #"telemetry,product_imei=123456789012345 fault="\n stays" 1700000000000000000"#,
             expected: [("fault", .string(#"\n stays"#))]),
        Good(line: #"telemetry,product_imei=123456789012345 fault="" 1700000000000000000"#, expected: [("fault", .string(""))]),
        Good(line: #"tele\ metry\,x,product_imei=123456789012345 f\ k\,e\=y=1 1700000000000000000"#,
             expected: [("f k,e=y", .float(1))], measurement: "tele metry,x"),
        Good(line: "telemetry,site=a\\ b,product_imei=123456789012345,z=1 v=1 -5", expected: [("v", .float(1))], time: -5),
        Good(line: "  telemetry,product_imei=123456789012345 v=1 1700000000000000000  ", expected: [("v", .float(1))]),
        Good(line: "telemetry,product_imei=123456789012345 v=1,product_imei=9,w=2i 1700000000000000000",
             expected: [("v", .float(1)), ("w", .integer(2))]),
        Good(line: "telemetry,product_imei=1 v=1 1700000000000000000", expected: [("v", .float(1))], imei: "1"),
    ]

    @Test(arguments: good)
    func parsesWellFormedLines(_ row: Good) throws {
        let result = try parse(row.line + "\n", options: ReaderOptions(measurement: row.measurement))
        #expect(result.rejects.isEmpty, "\(result.rejects)")
        #expect(result.others.isEmpty)
        #expect(result.points.map(\.field) == row.expected.map(\.0))
        #expect(result.points.map(\.value) == row.expected.map(\.1))
        #expect(result.points.allSatisfy { $0.imei == row.imei && $0.time == row.time && $0.line == 1 && $0.measurement == row.measurement })
    }

    struct Bad: CustomTestStringConvertible, Sendable {
        var line: String
        var column: Int?
        var reason: String
        var testDescription: String { line }
    }

    static let bad: [Bad] = [
        Bad(line: "telemetry,product_imei=123 voltage 1", column: 35, reason: "expected '=' after field key"),
        Bad(line: "telemetry,product_imei=123 voltage=12.5", column: 40, reason: "missing timestamp"),
        Bad(line: "telemetry,product_imei=123 voltage=12.5 ", column: 41, reason: "missing timestamp"),
        Bad(line: "telemetry,product_imei=123 voltage=12.5 12x", column: 41, reason: "invalid timestamp"),
        Bad(line: "telemetry,product_imei=123 voltage=12.5 99999999999999999999", column: 41, reason: "timestamp out of range"),
        Bad(line: "telemetry,product_imei=123 voltage=12.5 1 2", column: 43, reason: "unexpected text after timestamp"),
        Bad(line: "telemetry,product_imei=123 voltage=abc 1", column: 36, reason: "invalid number"),
        Bad(line: "telemetry,product_imei=123 voltage=1.2.3 1", column: 36, reason: "invalid number"),
        Bad(line: "telemetry,product_imei=123 ok=tru 1", column: 31, reason: "invalid boolean"),
        Bad(line: "telemetry,product_imei=123 n=1.5i 1", column: 30, reason: "invalid integer"),
        Bad(line: "telemetry,product_imei=123 n=9223372036854775808i 1", column: 30, reason: "integer out of range"),
        Bad(line: "telemetry,product_imei=123 n=-1u 1", column: 30, reason: "invalid unsigned integer"),
        Bad(line: "telemetry,product_imei=123 n= 1", column: 30, reason: "missing field value"),
        Bad(line: "telemetry,product_imei=123 =1 1", column: 28, reason: "missing field key"),
        Bad(line: #"telemetry,product_imei=123 s="open 1"#, column: 30, reason: "unterminated string value"),
        Bad(line: #"telemetry,product_imei=123 s="a"x 1"#, column: 33, reason: "expected ',' or ' ' after field value"),
        Bad(line: "telemetry,product_imei=123", column: 27, reason: "missing fields"),
        Bad(line: "telemetry", column: 10, reason: "missing fields"),
        Bad(line: ",product_imei=1 v=1 1", column: 1, reason: "missing measurement"),
        Bad(line: "telemetry,product_imei v=1 1", column: 23, reason: "expected '=' after tag key"),
        Bad(line: "telemetry,site= v=1 1", column: 16, reason: "missing tag value"),
        Bad(line: "telemetry,product_imei= v=1 1", column: 24, reason: "empty product_imei tag"),
        Bad(line: "telemetry v=1 1", column: nil, reason: "missing product_imei tag"),
        Bad(line: "telemetry,product_imei=1234567890123456 v=1 1", column: 24, reason: "product_imei longer than 15 characters"),
        Bad(line: "telemetry,product_imei=12345abc v=1 1", column: 24, reason: "product_imei is not all digits"),
        Bad(line: "telemetry,product_imei=123 v=1,w 1", column: 33, reason: "expected '=' after field key"),
    ]

    @Test(arguments: bad)
    func rejectsMalformedLinesWithReason(_ row: Bad) throws {
        let result = try parse("# comment\n" + row.line + "\n")
        #expect(result.points.isEmpty && result.others.isEmpty)
        #expect(result.rejects.map(\.reason) == [row.reason])
        #expect(result.rejects.first?.column == row.column)
        #expect(result.rejects.first?.line == 2)
        #expect(result.rejects.first?.raw == row.line)
    }

    @Test func stringValuesOfTheSelectedMeasurementMustBeValidUTF8WithoutNUL() throws {
        var bytes = Array("telemetry,product_imei=1 s=\"a".utf8) + [0xFF] + Array("\" 1\n".utf8)
        bytes += Array("telemetry,product_imei=1 s=\"a".utf8) + [0x00] + Array("\" 1\n".utf8)
        bytes += Array("other,product_imei=1 s=\"a".utf8) + [0xFF] + Array("\" 1\n".utf8)
        let result = try readAll(temporaryFile(bytes))
        #expect(result.rejects.map(\.reason) == ["string value is not valid UTF-8", "string value contains a NUL byte"])
        #expect(result.rejects.map(\.column) == [28, 28])
        #expect(result.others.count == 1)
    }

    @Test func otherMeasurementsNeedNoValidIMEI() throws {
        let result = try parse("cpu,host=a usage=1 1\nanalysis,product_imei=abc cycles=1i 2\n")
        #expect(result.rejects.isEmpty)
        #expect(result.others.map(\.measurement) == ["cpu", "analysis"])
        #expect(result.others.map(\.imei) == ["", "abc"])
    }

    @Test func oneRejectPerLineWhateverTheFieldCount() throws {
        let result = try parse("telemetry,product_imei=1 a=1,b=2,c=x,d=4 1\ntelemetry,product_imei=1 a=1,b=2 1\n")
        #expect(result.rejects.count == 1)
        #expect(result.rejects.first?.column == 36)
        #expect(result.points.map(\.field) == ["a", "b"])
        #expect(result.points.map(\.line) == [2, 2])
    }

    @Test func exportFramingSetsContext() throws {
        let text = """
        # INFLUXDB EXPORT: 2024-10-03T00:00:00Z - 2024-10-06T23:59:59Z
        # DDL
        CREATE DATABASE smartsolar WITH NAME analysis_rp
        CREATE DATABASE smartsolar WITH NAME telemetry_rp
        # DML
        # CONTEXT-DATABASE:smartsolar
        # CONTEXT-RETENTION-POLICY:analysis_rp
        # writing tsm data
        telemetry,product_imei=1 v=1 10
        # CONTEXT-DATABASE:smartsolar
        # CONTEXT-RETENTION-POLICY:telemetry_rp
        # writing tsm data
        telemetry,product_imei=2 v=2 20
        # writing wal data
        telemetry,product_imei=3 v=3 30

        """
        let all = try parse(text)
        #expect(all.points.map(\.imei) == ["1", "2", "3"])
        let rp = try parse(text, options: ReaderOptions(retentionPolicy: "telemetry_rp"))
        #expect(rp.points.map(\.imei) == ["2", "3"])
        #expect(rp.points.map(\.line) == [13, 15])
        #expect(rp.others.map(\.imei) == ["1"])
        let db = try parse(text, options: ReaderOptions(database: "other"))
        #expect(db.points.isEmpty && db.others.count == 3)
        // Without context lines, any database and retention policy match.
        let plain = try parse("telemetry,product_imei=2 v=2 20\n", options: ReaderOptions(database: "x", retentionPolicy: "y"))
        #expect(plain.points.count == 1)
    }

    @Test func skippedMissingFileGluedOntoTheNextLine() throws {
        let text = """
        # writing tsm data
        skipped missing file: /var/lib/influxdb/data/smartsolar/telemetry_rp/1/000000002-000000001.tsmtelemetry,product_imei=5 v=1 10
        skipped missing file: /var/lib/influxdb/wal/smartsolar/telemetry_rp/1/_00003.walskipped missing file: /var/lib/influxdb/wal/smartsolar/telemetry_rp/1/_00004.wal# CONTEXT-RETENTION-POLICY:analysis_rp
        telemetry,product_imei=6 v=2 20

        """
        let result = try parse(text, options: ReaderOptions(retentionPolicy: "telemetry_rp"))
        #expect(result.rejects.isEmpty)
        #expect(result.points.map(\.imei) == ["5"])
        #expect(result.points.first?.line == 2)
        #expect(result.others.map(\.imei) == ["6"])
    }

    @Test func rawNewlinesInsideStringsKeepLineNumbers() throws {
        let text = "telemetry,product_imei=1 fault=\"two\nlines, a=b\" 10\ntelemetry,product_imei=1 v=1 20\r\ntelemetry,product_imei=1 w=1 30"
        let result = try parse(text)
        #expect(result.rejects.isEmpty)
        #expect(result.points.map(\.value) == [.string("two\nlines, a=b"), .float(1), .float(1)])
        #expect(result.points.map(\.line) == [1, 3, 4])
        #expect(result.points.map(\.time) == [10, 20, 30])
    }

    @Test func crlfLineEnds() throws {
        let result = try parse("# DML\r\n# CONTEXT-RETENTION-POLICY:telemetry_rp\r\ntelemetry,product_imei=1 s=\"x\" 5\r\n",
                               options: ReaderOptions(retentionPolicy: "telemetry_rp"))
        #expect(result.rejects.isEmpty)
        #expect(result.points.map(\.value) == [.string("x")])
        #expect(result.points.map(\.time) == [5])
    }

    @Test(arguments: [(Precision.ns, Int64(7)), (.us, 7_000), (.ms, 7_000_000), (.s, 7_000_000_000)])
    func precisionScalesTimestamps(precision: Precision, nanos: Int64) throws {
        let result = try parse("telemetry,product_imei=1 v=1 7\n", options: ReaderOptions(precision: precision))
        #expect(result.points.map(\.time) == [nanos])
    }

    @Test func precisionOverflowIsMalformed() throws {
        let result = try parse("telemetry,product_imei=1 v=1 9223372036854775\n", options: ReaderOptions(precision: .s))
        #expect(result.rejects.map(\.reason) == ["timestamp out of range"])
    }

    @Test func overlongLineIsMalformedAndTheNextLineStillParses() throws {
        let long = "telemetry,product_imei=1 s=\"" + String(repeating: "x", count: 5000) + "\" 1"
        let text = "telemetry,product_imei=1 a=1 1\n" + long + "\ntelemetry,product_imei=1 b=1 2\n"
        let result = try parse(text, options: ReaderOptions(maxLineBytes: 1000))
        #expect(result.rejects.map(\.reason) == ["line longer than 1000 bytes"])
        #expect(result.rejects.map(\.line) == [2])
        #expect(result.points.map(\.field) == ["a", "b"])
        #expect(result.points.map(\.line) == [1, 3])
    }

    @Test func overlongLineAcrossManyChunksUsesBoundedMemory() throws {
        // 3 MiB without a newline, then a good line: rejected as one line, the good one read.
        var bytes = Array("telemetry,product_imei=1 s=\"".utf8) + [UInt8](repeating: 0x61, count: 3 << 20)
        bytes += Array("\" 1\ntelemetry,product_imei=1 b=1 2".utf8)
        let result = try readAll(temporaryFile(try gzip(bytes)))
        #expect(result.rejects.map(\.reason) == ["line longer than 1048576 bytes"])
        #expect(result.points.map(\.line) == [2])
    }

    @Test func unbalancedQuoteDoesNotSwallowTheFile() throws {
        let text = "telemetry,product_imei=1 s=\"open 1\n" + String(repeating: "telemetry,product_imei=1 v=1 2\n", count: 100)
        let result = try parse(text, options: ReaderOptions(maxLineBytes: 1000))
        #expect(result.rejects.map(\.reason) == ["unterminated string value"])
        #expect(result.points.count == 100)
        #expect(result.points.first?.line == 2)
    }
}
