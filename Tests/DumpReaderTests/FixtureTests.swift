@_spi(Testing) import DumpReader
import Foundation
import Testing

/// The committed fixtures read as fixtures/README.md says.
@Suite struct FixtureTests {
    static func dump(_ name: String) -> String { Paths.fixtures.appendingPathComponent(name).path }

    @Test func directoryListsFixturesChronologically() throws {
        let names = try DumpDirectory.list(Self.dump("dumps")).map { ($0 as NSString).lastPathComponent }
        #expect(names == ["20241001_multimember.lp.gz", "20241002_d2.csv.gz", "20241003_export_tsm_wal.lp.gz",
                          "20241006_d6_rfc3339.csv.gz", "20241007_plain_crlf_malformed.lp.gz"])
    }

    @Test(arguments: inflateBackends)
    func multiMemberExport(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            let r = try readAll(Self.dump("dumps/20241001_multimember.lp.gz"))
            #expect(r.compression == .gzip(members: 2))
            #expect((r.points.count, r.others.count, r.rejects.count) == (65, 10, 0))
            #expect(Set(r.others.map(\.measurement)) == ["analysis"])
        }
    }

    @Test(arguments: inflateBackends)
    func exportWithTwoRetentionPoliciesAndWALSection(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            let r = try readAll(Self.dump("dumps/20241003_export_tsm_wal.lp.gz"), options: ReaderOptions(retentionPolicy: "telemetry_rp"))
            #expect((r.points.count, r.others.count, r.rejects.count) == (76, 20, 0))
            let analysisOnly = try readAll(Self.dump("dumps/20241003_export_tsm_wal.lp.gz"),
                                           options: ReaderOptions(measurement: "analysis", retentionPolicy: "analysis_rp"))
            #expect((analysisOnly.points.count, analysisOnly.others.count) == (20, 76))
        }
    }

    @Test(arguments: [("dumps/20241002_d2.csv.gz", 122, 32), ("dumps/20241006_d6_rfc3339.csv.gz", 108, 30)], inflateBackends)
    func csvFixtures(fixture: (String, Int, Int), backend: InflateBackend) throws {
        let (name, points, rows) = fixture
        let r = try InflateBackend.with(backend) { try readAll(Self.dump(name)) }
        #expect(r.format == .csv)
        #expect(r.rejects.isEmpty)
        #expect(r.points.count == points)
        #expect(Set(r.points.map(\.line)).count == rows)
    }

    @Test func plainCRLFWithMalformedLines() throws {
        let r = try readAll(Self.dump("dumps/20241007_plain_crlf_malformed.lp.gz"))
        #expect(r.rejects.map(\.line) == [7, 8, 9, 10, 11])
        #expect(r.rejects.map(\.reason) == [
            "expected '=' after field key", "missing timestamp", "product_imei longer than 15 characters",
            "missing product_imei tag", "invalid number",
        ])
        #expect(r.rejects.map(\.column) == [47, 52, 24, nil, 48])
        #expect(r.points.count == 11)
        #expect(r.others.map(\.measurement) == ["cpu"])
        #expect(r.points.first { $0.field == "fault" && $0.line == 3 }?.value == .string(#"E12 low "battery", retrying \ now"#))
        #expect(r.points.first { $0.line == 14 }?.value == .string("line one\nline two"))
        #expect(r.points.last?.line == 16)
        #expect(r.points.contains { $0.line == 12 && $0.imei == "654573982949759" })
    }

    @Test(arguments: inflateBackends)
    func productsListCoversEveryKnownIMEI(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            let products = Set(try String(contentsOfFile: Self.dump("products.txt"), encoding: .utf8).split(separator: "\n").map(String.init))
            let unknown: Set<String> = ["205083035698928", "738229668191773", "226809153655510"]
            var seen = Set<String>()
            for name in try DumpDirectory.list(Self.dump("dumps")) {
                seen.formUnion(try readAll(name).points.map(\.imei))
            }
            #expect(seen.subtracting(unknown) == products)
            #expect(seen.isSuperset(of: unknown))
        }
    }

    @Test(arguments: inflateBackends)
    func corruptFixturesFail(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            for (name, reason) in [("corrupt/truncated.lp.gz", "unexpected end of file: gzip member 1 is truncated"),
                                   ("corrupt/bad_crc.lp.gz", "corrupt gzip member 1: incorrect data check")] {
                let dump = try DumpFile(path: Self.dump(name))
                #expect { try dump.read { _ in } } throws: { ($0 as? DumpError)?.reason == reason }
            }
        }
    }
}
