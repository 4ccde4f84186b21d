@_spi(Testing) import DumpReader
import Foundation
import Testing
import TestSupport

/// Reads every dump that real InfluxDB 1.6 tools wrote and checks the counts of MANIFEST.md.
@Suite struct RealDumpsTests {
    static let available = Requirement.sharedDumps.testsRun

    /// (file, data lines) from MANIFEST.md: tsm + wal lines, or CSV rows.
    static let manifest: [(String, Int)] = [
        ("csv/20241001_d1.csv.gz", 4031), ("csv/20241002_d2.csv.gz", 4031), ("csv/20241003_d3.csv.gz", 3645),
        ("csv/20241004_d4.csv.gz", 3643), ("csv/20241005_d5.csv.gz", 3648), ("csv/20241006_d6_rfc3339.csv.gz", 4026),
        ("csv/20241007_catchup_d3_d6.csv.gz", 16114), ("full/all.csv.gz", 24176),
        ("lp/20241001_shard_d1.lp.gz", 15664), ("lp/20241002_shard_d2.lp.gz", 15594),
        ("lp/20241003_shard_d3.lp.gz", 14244), ("lp/20241004_shard_d4.lp.gz", 14134),
        ("lp/20241005_shard_d5.lp.gz", 14280), ("lp/20241006_shard_d6.lp.gz", 15626),
        ("lp/20241007_catchup_d3_d6.lp.gz", 42577 + 20048), ("full/all_after_flush.lp.gz", 93726 + 20048),
    ]

    @Test(.enabled(if: available), arguments: manifest, inflateBackends)
    func dataLineCounts(entry: (String, Int), backend: InflateBackend) throws {
        let (file, lines) = entry
        let result = try InflateBackend.with(backend) { try readAll(Paths.realDumps.appendingPathComponent(file).path) }
        #expect(result.rejects.isEmpty, "\(result.rejects.prefix(3))")
        if file.contains(".csv") {
            #expect(result.format == .csv)
            #expect(Set(result.points.map(\.line)).count == lines)
            #expect(result.others.isEmpty)
        } else {
            #expect(result.format == .lineProtocol)
            #expect(result.points.count + result.others.count == lines)
            #expect(result.compression == .gzip(members: 1))
        }
        #expect(result.points.allSatisfy { $0.measurement == "telemetry" && !$0.imei.isEmpty })
    }

    /// The full export, last write wins, equals what was written into InfluxDB (model.json.gz).
    @Test(.enabled(if: available), arguments: inflateBackends)
    func fullExportEqualsModel(_ backend: InflateBackend) throws {
        let options = ReaderOptions(retentionPolicy: "telemetry_rp")
        let result = try InflateBackend.with(backend) {
            try readAll(Paths.realDumps.appendingPathComponent("full/all_after_flush.lp.gz").path, options: options)
        }
        var latest: [String: FieldValue] = [:]
        for p in result.points { latest["\(p.imei)|\(p.field)|\(p.time)"] = p.value }
        #expect(result.others.allSatisfy { $0.measurement == "analysis" })

        let model = try ReadResult.plainBytes(Paths.realDumps.appendingPathComponent("model.json.gz").path)
        // Entries are [rp, measurement, imei, field, time_ns, value], in write order (later overwrites).
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(model)) as? [[Any]])
        var expected: [String: Any] = [:]
        for entry in entries where entry[0] as? String == "telemetry_rp" {
            let time = (entry[4] as? NSNumber)?.int64Value ?? 0
            expected["\(entry[2])|\(entry[3])|\(time)"] = entry[5]
        }
        #expect(latest.count == expected.count)
        var mismatches = 0
        for (key, value) in expected {
            guard let got = latest[key] else { mismatches += 1; continue }
            switch got {
            // Through the number's text: Foundation's JSON decimals can be one ulp off as doubles.
            case .float(let d): if Double("\(value)") != d { mismatches += 1 }
            case .integer(let i): if (value as? NSNumber)?.int64Value != i { mismatches += 1 }
            case .unsigned(let u): if (value as? NSNumber)?.uint64Value != u { mismatches += 1 }
            case .boolean(let b): if (value as? NSNumber)?.boolValue != b { mismatches += 1 }
            case .string(let s): if value as? String != s { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
    }
}

extension ReadResult {
    /// The decompressed bytes of a gzip file, by `gzip -dc` (independent of the reader's own decoder).
    static func plainBytes(_ path: String) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "gzip -dc \"$0\"", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Array(data)
    }
}
