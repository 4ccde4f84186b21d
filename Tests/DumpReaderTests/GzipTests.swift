@_spi(Testing) import DumpReader
import Foundation
import Testing

/// The gzip layer: members, truncation, CRC and header errors, plain files, trailing bytes.
@Suite struct GzipTests {
    static let a = Array("telemetry,product_imei=1 v=1 1\n".utf8)
    static let b = Array("telemetry,product_imei=2 v=2 2\n".utf8)

    @Test(arguments: inflateBackends)
    func multiMemberFilesAreReadToTheEnd(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            let bytes = try gzip(Self.a) + gzip(Self.b) + gzip(Self.a)
            let result = try readAll(temporaryFile(bytes))
            #expect(result.points.map(\.imei) == ["1", "2", "1"])
            #expect(result.points.map(\.line) == [1, 2, 3])
            #expect(result.compression == .gzip(members: 3))
        }
    }

    @Test(arguments: inflateBackends)
    func aLineSplitAcrossMembersIsOneLine(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            let bytes = try gzip(Array("telemetry,product_imei=1 v".utf8)) + gzip(Array("=1 1\n".utf8))
            let result = try readAll(temporaryFile(bytes))
            #expect(result.points.map(\.value) == [.float(1)])
            #expect(result.compression == .gzip(members: 2))
        }
    }

    @Test func plainFilesAreAcceptedWhateverTheExtension() throws {
        let path = try temporaryFile(Self.a + Self.b, name: "dump.lp.gz")
        let result = try readAll(path)
        #expect(result.points.count == 2)
        #expect(result.compression == .plain)
    }

    @Test func emptyFileHasNoEvents() throws {
        let result = try readAll(temporaryFile([]))
        #expect(result.points.isEmpty && result.rejects.isEmpty)
        #expect(result.compression == .plain)
    }

    @Test(arguments: inflateBackends)
    func gzipIsDetectedWithoutExtension(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            let result = try readAll(temporaryFile(try gzip(Self.a), name: "dump.txt"))
            #expect(result.points.count == 1)
            #expect(result.compression == .gzip(members: 1))
        }
    }

    /// Reads until the error; returns the points handed on before it and the error.
    func failingRead(_ bytes: [UInt8]) throws -> (Int, DumpError) {
        let dump = try DumpFile(path: try temporaryFile(bytes))
        var points = 0
        do {
            try dump.read { if case .point = $0 { points += 1 } }
        } catch let error as DumpError {
            return (points, error)
        }
        Issue.record("no error")
        return (points, DumpError(file: "", offset: nil, reason: ""))
    }

    @Test(arguments: inflateBackends)
    func truncatedFileIsAnErrorWithItsOffset(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            let whole = try gzip(Array(repeating: Self.a, count: 2000).flatMap { $0 })
            let truncated = Array(whole.prefix(whole.count - 10))
            let (_, error) = try failingRead(truncated)
            #expect(error.reason == "unexpected end of file: gzip member 1 is truncated")
            #expect(error.offset == UInt64(truncated.count))
            #expect(error.file.hasSuffix("/dump"))
        }
    }

    @Test(arguments: inflateBackends)
    func truncatedSecondMemberNamesTheMember(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            let first = try gzip(Self.a)
            let second = try gzip(Self.b)
            let (points, error) = try failingRead(first + second.prefix(15))
            #expect(points == 1)
            #expect(error.reason == "unexpected end of file: gzip member 2 is truncated")
            #expect(error.offset == UInt64(first.count + 15))
        }
    }

    @Test(arguments: inflateBackends)
    func crcMismatchIsAnError(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            var bytes = try gzip(Self.a)
            bytes[bytes.count - 8] ^= 0xFF  // CRC32 of the trailer
            let (_, error) = try failingRead(bytes)
            #expect(error.reason == "corrupt gzip member 1: incorrect data check")
            #expect(error.offset != nil)
        }
    }

    @Test(arguments: inflateBackends)
    func lengthMismatchIsAnError(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            var bytes = try gzip(Self.a)
            bytes[bytes.count - 1] ^= 0x01  // ISIZE of the trailer
            let (_, error) = try failingRead(bytes)
            #expect(error.reason == "corrupt gzip member 1: incorrect length check")
        }
    }

    @Test(arguments: inflateBackends)
    func badHeaderIsAnError(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            var bytes = try gzip(Self.a)
            bytes[2] = 7  // compression method must be 8 (deflate)
            let (_, error) = try failingRead(bytes)
            #expect(error.reason == "corrupt gzip member 1: unknown compression method")
            #expect((error.offset ?? 99) <= 10)  // within the header, where zlib stopped
        }
    }

    @Test(arguments: inflateBackends)
    func trailingGarbageIsAnError(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            let member = try gzip(Self.a)
            let (points, error) = try failingRead(member + Array("garbage".utf8))
            #expect(points == 1)
            #expect(error.reason == "trailing garbage after gzip member 1 (not a gzip header)")
            #expect(error.offset == UInt64(member.count))
        }
    }

    @Test func missingFileCannotBeOpened() {
        #expect(throws: DumpError.self) { try DumpFile(path: "/nonexistent/dump.gz") }
    }

    @Test(arguments: inflateBackends)
    func largeFileStreamsInOrder(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            // Several MB decompressed: many chunks through the pipeline, order and count kept.
            var text = ""
            for i in 0..<200_000 { text += "telemetry,product_imei=\(i % 97) v=\(i) \(i)\n" }
            let path = try temporaryFile(try gzip(Array(text.utf8)))
            let dump = try DumpFile(path: path)
            var expected: Int64 = 0
            var ordered = true
            var progress: [UInt64] = []
            try dump.read { event in
                guard case .point(let p) = event else { return }
                ordered = ordered && p.time == expected && p.line == Int(expected) + 1
                expected += 1
                if expected % 50_000 == 0 { progress.append(dump.bytesConsumed) }
            }
            #expect(ordered)
            #expect(expected == 200_000)
            #expect(progress == progress.sorted() && progress.allSatisfy { $0 > 0 && $0 <= dump.size })
            #expect(dump.bytesConsumed == dump.size)
        }
    }

    @Test(arguments: inflateBackends)
    func errorThrownByTheCallbackStopsTheRead(_ backend: InflateBackend) throws {
        try InflateBackend.with(backend) {
            struct Stop: Error {}
            let path = try temporaryFile(try gzip(Array(repeating: Self.a, count: 100_000).flatMap { $0 }))
            var seen = 0
            #expect(throws: Stop.self) {
                try DumpFile(path: path).read { _ in
                    seen += 1
                    if seen == 10 { throw Stop() }
                }
            }
            #expect(seen == 10)
        }
    }

    @Test func directoryListingSkipsHiddenFilesAndSortsByBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dumps-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for name in ["b.gz", "B.gz", "a.gz", ".hidden.gz", "20241001_x.gz"] {
            try Data().write(to: dir.appendingPathComponent(name))
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        let names = try DumpDirectory.list(dir.path).map { ($0 as NSString).lastPathComponent }
        #expect(names == ["20241001_x.gz", "B.gz", "a.gz", "b.gz"])
    }
}
