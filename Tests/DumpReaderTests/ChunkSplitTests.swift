@_spi(Fuzzing) @_spi(Testing) import DumpReader
import Foundation
import Testing

/// The reader's events and line numbers do not depend on where its input is cut into chunks:
/// every fixture and a set of tricky inputs read alike at chunk sizes 1...N (so a chunk
/// boundary falls at every byte offset) and at the default size.
@Suite struct ChunkSplitTests {
    /// Everything a read gave, as comparable text (the error included), and the format.
    func outcome(_ path: String, chunkSize: Int) -> [String] {
        var events: [String] = []
        do {
            let dump = try DumpFile(path: path, options: ReaderOptions(chunkSize: chunkSize))
            try dump.read { events.append("\($0)") }
            events.append("format \(dump.format.map { "\($0)" } ?? "-"), \(dump.compression.map { "\($0)" } ?? "-")")
        } catch {
            events.append("error \(error)")
        }
        return events
    }

    func expectSameAtEveryChunkSize(_ path: String, upTo limit: Int) {
        let reference = outcome(path, chunkSize: 1 << 18)
        for chunkSize in Array(1...limit) + [1000, 4096] {
            let split = outcome(path, chunkSize: chunkSize)
            if split != reference {
                let difference = zip(split, reference).first { $0 != $1 }.map { "\($0)" } ?? "length"
                Issue.record("\(path) at chunk size \(chunkSize): \(split.count) events, expected \(reference.count); first difference: \(difference)")
                return
            }
        }
    }

    static let fixtures = ["dumps/20241001_multimember.lp.gz", "dumps/20241002_d2.csv.gz",
                           "dumps/20241003_export_tsm_wal.lp.gz", "dumps/20241006_d6_rfc3339.csv.gz",
                           "dumps/20241007_plain_crlf_malformed.lp.gz", "corrupt/truncated.lp.gz", "corrupt/bad_crc.lp.gz"]

    @Test(arguments: fixtures, inflateBackends)
    func fixtureReadsAlikeAtEveryChunkSize(_ name: String, _ backend: InflateBackend) {
        InflateBackend.with(backend) {
            expectSameAtEveryChunkSize(Paths.fixtures.appendingPathComponent(name).path, upTo: 64)
        }
    }

    @Test(arguments: fixtures.filter { $0.hasPrefix("dumps/") })
    func decompressedFixtureReadsAlikeAtEveryChunkSize(_ name: String) throws {
        let bytes = try ReadResult.plainBytes(Paths.fixtures.appendingPathComponent(name).path)
        expectSameAtEveryChunkSize(try temporaryFile(bytes), upTo: 64)
    }

    static let tricky: [String] = [
        "telemetry,product_imei=001409288034695 fault=\"one\ntwo\r\nthree\" 1\r\ntelemetry,product_imei=001409288034695 v=2 2\r\n",
        "telemetry,site=north\\ yard\\,x,product_imei=001409288034695 f\\=k=\"a \\\"q\\\" \\\\ b\",v=1i 3\nbad line\n",
        "name,time,product_imei,fault\ntelemetry,1,001409288034695,\"E12 \"\"low\"\",\nretrying\"\r\ntelemetry,2,001409288034695,3.5\t\n",
        "\u{FEFF}name,tags,time,v\ntelemetry,\"product_imei=001409288034695,site=a\",1,1\n",
        "\u{FEFF}telemetry,product_imei=001409288034695 v=1 1\n# comment \"quoted\nskipped missing file: /x/1.tsmtelemetry,product_imei=001409288034695 v=2 2",
        "telemetry,product_imei=001409288034695 s=\"unterminated\ntelemetry,product_imei=001409288034695 v=3 3\n",
        "ERR: timeout\nname,time,product_imei,v\n\n\ntelemetry,5,001409288034695,1\n",
        // Found by fuzz-lineprotocol: a backslash then a newline outside quotes, cut between
        // the two or right after them, used to end the record where the whole input escaped it.
        "telemetry,product_imei=654573982949759 fault=\"E12 low \\\"battery\\\", re98928 current=1.027 1727741700000000000\ntelemetry,produ0000\ntelemetry,product_imei=654573982949759 fault=\"E12 low \\\"battery\\\nha\",0000\ntelemetrtrying\" 1727770507390000000\n",
    ]

    @Test(arguments: tricky.indices, inflateBackends)
    func trickyInputReadsAlikeAtEveryChunkSize(_ index: Int, _ backend: InflateBackend) throws {
        let bytes = Array(Self.tricky[index].utf8)
        let multiMember = try gzip(Array(bytes.prefix(bytes.count / 2))) + gzip(Array(bytes.dropFirst(bytes.count / 2)))
        try InflateBackend.with(backend) {
            expectSameAtEveryChunkSize(try temporaryFile(bytes), upTo: bytes.count + 1)
            expectSameAtEveryChunkSize(try temporaryFile(multiMember), upTo: bytes.count + 1)
        }
    }

    /// Line protocol is parsed in blocks on several threads; each block starts with the export
    /// context the lines before it left. Small chunks make small blocks, so here a block
    /// boundary falls everywhere, while the context (which decides what is selected) changes
    /// every few lines. Every read must equal the sequential in-memory reader's.
    @Test func exportContextCarriesAcrossParallelBlocks() throws {
        var text = "# DDL\nCREATE DATABASE smartsolar WITH NAME telemetry_rp\n# DML\n"
        for i in 0..<60 {
            if i % 3 == 0 { text += "# CONTEXT-DATABASE:\(i % 2 == 0 ? "smartsolar" : "other")\n" }
            if i % 7 == 0 { text += "# CONTEXT-RETENTION-POLICY:\(i % 14 == 0 ? "telemetry_rp" : "autogen")\n" }
            text += "telemetry,product_imei=00140928803469\(i % 10) v=\(i),w=\(i)i \(1_000 + i)\n"
            if i % 11 == 0 { text += "bad line \(i)\n" }
        }
        let bytes = Array(text.utf8)
        let path = try temporaryFile(bytes)
        let options = ReaderOptions(database: "smartsolar", retentionPolicy: "telemetry_rp")
        var expected: [String] = []
        _ = bytes.withUnsafeBytes { readDecompressed($0, file: (path as NSString).lastPathComponent, options: options) { expected.append("\($0)") } }
        #expect(expected.contains { $0.hasPrefix("point(") } && expected.contains { $0.hasPrefix("other(") })
        for chunkSize in [1, 2, 3, 5, 8, 13, 40, 97, 300, 1 << 18] {
            var options = options
            options.chunkSize = chunkSize
            var events: [String] = []
            try DumpFile(path: path, options: options).read { events.append("\($0)") }
            #expect(events == expected, "chunk size \(chunkSize)")
        }
    }

    @Test func lineNumbersCountQuotedNewlines() throws {
        let result = try readAll(temporaryFile(Array(Self.tricky[0].utf8)), options: ReaderOptions(chunkSize: 3))
        #expect(result.points.map(\.line) == [1, 4])
    }
}
