@_spi(Testing) import DumpReader
import Foundation
import Testing
import TestSupport

/// Inputs that the target could not store, or that changed how a dump was read (issue 12):
/// each is malformed with a reason, or read as its author meant, never altered in silence.
@Suite struct HostileInputTests {
    static let series = "telemetry,product_imei=001409288034695"

    /// Reads raw bytes (not necessarily UTF-8) as a plain dump.
    func read(_ bytes: [UInt8]) throws -> ReadResult {
        try readAll(temporaryFile(bytes))
    }

    func line(_ key: [UInt8], value: String = "1") -> [UInt8] {
        Array("\(Self.series) ".utf8) + key + Array("=\(value) 1730000002000000000\n".utf8)
    }

    @Test func fieldKeyWithNULIsMalformed() throws {
        let result = try read(line(Array("f".utf8) + [0] + Array("k".utf8)))
        #expect(result.points.isEmpty)
        #expect(result.rejects.map(\.reason) == ["field key contains a NUL byte"])
        #expect(result.rejects.first?.column == Self.series.utf8.count + 2)
    }

    @Test func fieldKeysThatAreNotUTF8AreMalformedNotMerged() throws {
        let result = try read(line([0x66, 0xFF, 0x6B]) + line([0x66, 0xFE, 0x6B], value: "2"))
        #expect(result.points.isEmpty)
        #expect(result.rejects.map(\.reason) == ["field key is not valid UTF-8", "field key is not valid UTF-8"])
        #expect(result.rejects.map(\.line) == [1, 2])
    }

    @Test func fieldKeyLongerThan255BytesIsMalformed() throws {
        let result = try read(line(Array(repeating: 0x6B, count: 256)) + line(Array(repeating: 0x6B, count: 255)))
        #expect(result.rejects.map(\.reason) == ["field key longer than 255 bytes"])
        #expect(result.points.map(\.field) == [String(repeating: "k", count: 255)])
    }

    @Test func fieldKeyLengthCountsUnescapedBytes() throws {
        // 128 escaped spaces are 256 bytes as written, 128 once unescaped.
        let key = Array(String(repeating: "\\ ", count: 128).utf8)
        let result = try read(line(key))
        #expect(result.rejects.isEmpty)
        #expect(result.points.map(\.field) == [String(repeating: " ", count: 128)])
    }

    @Test func aBadFieldKeyIsMalformedInEveryMeasurement() throws {
        let result = try read(Array("cpu,host=a f".utf8) + [0xFF] + Array("=1 1\n".utf8))
        #expect(result.others.isEmpty)
        #expect(result.rejects.map(\.reason) == ["field key is not valid UTF-8"])
    }

    @Test func repeatedTagKeyIsMalformed() throws {
        let result = try parse("""
            telemetry,product_imei=001409288034695,product_imei=168240884112187 f=1 1
            telemetry,site=a,product_imei=001409288034695,site=b f=1 1
            cpu,host=a,host=b f=1 1
            telemetry,product_imei=001409288034695,site=a f=1 1
            """)
        #expect(result.rejects.map(\.reason) == ["duplicate tags", "duplicate tags", "duplicate tags"])
        #expect(result.rejects.map(\.column) == [40, 47, 12])
        #expect(result.points.count == 1)
    }

    static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    @Test(arguments: inflateBackends)
    func byteOrderMarkIsSkippedInLineProtocol(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            let text = Array("\(Self.series) v=1 1\n\(Self.series) v=2 2\n".utf8)
            let plain = try read(Self.bom + text)
            #expect(plain.points.map(\.line) == [1, 2])
            #expect(plain.others.isEmpty && plain.rejects.isEmpty)
            let gzipped = try readAll(temporaryFile(gzip(Self.bom + text)))
            #expect(gzipped.points.count == 2 && gzipped.others.isEmpty)
        }
    }

    @Test(arguments: inflateBackends)
    func byteOrderMarkIsSkippedInCSV(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            let text = Array("name,time,product_imei,v\ntelemetry,1,001409288034695,1.5\n".utf8)
            let result = try readAll(temporaryFile(gzip(Self.bom + text)))
            #expect(result.format == .csv)
            #expect(result.rejects.isEmpty)
            #expect(result.points.map(\.value) == [.float(1.5)])
        }
    }

    @Test func byteOrderMarkSplitAcrossChunksIsSkipped() throws {
        let path = try temporaryFile(Self.bom + Array("\(Self.series) v=1 1\n".utf8))
        for chunkSize in 1...4 {
            let result = try readAll(path, options: ReaderOptions(chunkSize: chunkSize))
            #expect(result.points.count == 1 && result.others.isEmpty, "chunk size \(chunkSize)")
        }
    }

    @Test func byteOrderMarkIsSkippedOnlyAtTheStart() throws {
        let result = try read(Array("\(Self.series) v=1 1\n".utf8) + Self.bom + Array("\(Self.series) v=2 2\n".utf8))
        #expect(result.points.count == 1)
        #expect(result.rejects.count + result.others.count == 1)
    }

    @Test func emptyCSVColumnNameMakesRowsWithAValueMalformed() throws {
        let result = try parse("""
            name,time,product_imei,,v
            telemetry,1,001409288034695,7,1.5
            telemetry,2,001409288034695,,2.5
            """)
        #expect(result.rejects.map(\.reason) == ["empty column name"])
        #expect(result.rejects.map(\.line) == [2])
        #expect(result.points.map(\.field) == ["v"])
        #expect(result.points.map(\.time) == [2])
    }

    @Test func csvColumnNameThatIsNotUTF8IsMalformed() throws {
        let result = try read(Array("name,time,product_imei,f".utf8) + [0xFF] + Array("\ntelemetry,1,001409288034695,1\n".utf8))
        #expect(result.rejects.map(\.reason) == ["field key is not valid UTF-8"])
        #expect(result.points.isEmpty)
    }

    @Test func csvNumberWithBlanksAroundIsANumber() throws {
        let result = try parse("name,time,product_imei,a,b,c,d\ntelemetry,1\t,001409288034695,12.5\t,7\t, true ,\" x\t\"\n")
        #expect(result.rejects.isEmpty)
        #expect(result.points.map(\.value) == [.float(12.5), .integer(7), .boolean(true), .string(" x\t")])
    }
}

/// A replaced dump is seen by its fingerprint (issue 12, 8).
@Suite struct DumpFingerprintTests {
    func touch(_ path: String, _ date: String) {
        _ = TestSupport.run("/usr/bin/touch", ["-d", date, path])
    }

    @Test func sameSizeReplacementOfAPlainDumpIsDetected() throws {
        var bytes = Array(repeating: UInt8(ascii: "x"), count: 512 * 1024)
        let path = try temporaryFile(bytes)
        touch(path, "2024-10-01 00:00:00")
        let before = try DumpFingerprint.of(path: path)
        bytes[256 * 1024] = UInt8(ascii: "y")  // outside the first and last 64 KiB
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try DumpFingerprint.of(path: path) != before)
    }

    @Test func gzipFingerprintIsUnchangedFormatAndIgnoresMtime() throws {
        let path = try temporaryFile(gzip(Array("telemetry,product_imei=1 v=1 1\n".utf8)))
        touch(path, "2024-10-01 00:00:00")
        let before = try DumpFingerprint.of(path: path)
        touch(path, "2024-10-02 00:00:00")
        #expect(try DumpFingerprint.of(path: path) == before)
        #expect(before.hasPrefix("v1:"))
    }
}
