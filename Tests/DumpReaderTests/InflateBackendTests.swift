@_spi(Fuzzing) @_spi(Testing) import DumpReader
import Foundation
import Testing
import TestSupport

/// zlib and ISA-L read every gzip file alike: the same bytes, the same members, and the same
/// error for damage to a header, a trailer or the file's end (damage inside deflate data fails
/// with both, each in its own words); `TELEMETRY_MIGRATE_INFLATE` chooses between them.
@Suite struct InflateBackendTests {
    static let bothRun = inflateBackends.contains(.isal)

    @Test func environmentValueChoosesTheBackend() throws {
        #expect(try InflateBackend.chosen(by: "zlib") == .zlib)
        #expect(try InflateBackend.chosen(by: nil) == (InflateBackend.isalAvailable ? .isal : .zlib))
        #expect(try InflateBackend.chosen(by: "auto") == InflateBackend.chosen(by: ""))
        #expect(throws: InflateChoiceError.self) { try InflateBackend.chosen(by: "igzip") }
        #expect(try InflateBackend.chosen(by: "isal", isalUsable: true) == .isal)
        #expect(try InflateBackend.chosen(by: nil, isalUsable: true) == .isal)
        #expect(try InflateBackend.chosen(by: "auto", isalUsable: false) == .zlib)
        #expect(try InflateBackend.chosen(by: "zlib", isalUsable: true) == .zlib)
        // Asked for explicitly, a missing ISA-L is an error, never a silent fallback to zlib.
        #expect { try InflateBackend.chosen(by: "isal", isalUsable: false) } throws: {
            "\($0)".contains("TELEMETRY_MIGRATE_INFLATE=isal, but ISA-L cannot be used")
        }
    }

    /// Under CI=true ISA-L must be there and be what a read uses by default (.ci/run installs it).
    @Test func readsUseISALWhereItIsUsable() throws {
        if Requirement.isCI {
            #expect(InflateBackend.isalAvailable, "CI=true: ISA-L must be usable (libisal-dev, jobs/lib/packages.sh)")
        }
        let path = Paths.fixtures.appendingPathComponent("dumps/20241001_multimember.lp.gz").path
        let dump = try DumpFile(path: path)
        try dump.read { _ in }
        if ProcessInfo.processInfo.environment[InflateBackend.environmentVariable] == nil {
            #expect(dump.inflateBackend == (InflateBackend.isalAvailable ? .isal : .zlib))
        }
        for backend in inflateBackends {
            try InflateBackend.with(backend) { try dump.read { _ in } }
            #expect(dump.inflateBackend == backend)
        }
        let plain = try DumpFile(path: try temporaryFile(Array("telemetry,product_imei=1 v=1 1\n".utf8)))
        try plain.read { _ in }
        #expect(plain.inflateBackend == nil)
    }

    /// Every gzip file of ../shared/real-dumps and fixtures/ (corrupt and fuzz seeds included).
    static let gzipFiles: [String] = {
        var paths: [String] = []
        for root in [Paths.fixtures, Paths.realDumps] {
            guard let walker = FileManager.default.enumerator(atPath: root.path) else { continue }
            for case let name as String in walker where name.hasSuffix(".gz") {
                paths.append(root.appendingPathComponent(name).path)
            }
        }
        return paths.sorted()
    }()

    @Test(.enabled(if: bothRun)) func everyRealDumpAndFixtureInflatesAlike() throws {
        if Requirement.sharedDumps.testsRun { try Requirement.sharedDumps.check() }
        #expect(Self.gzipFiles.count >= (Requirement.sharedDumps.isMet ? 25 : 9))
        for path in Self.gzipFiles {
            // The fuzz seeds hold damaged deflate data, where each library names its own finding.
            expectAlike(path, identicalErrors: !path.contains("/fuzz/"))
        }
    }

    /// A fuzz input (fixtures/fuzz/gzip/isal-reads-past-its-input.gz): on its invalid distance
    /// ISA-L reported one byte more consumed than it was given, which made the decoder's count
    /// of consumed bytes overflow; both must fail, and ISA-L with zlib's words for it.
    @Test(.enabled(if: bothRun)) func isalReadingPastItsInputFailsLikeZlib() {
        let path = Paths.fixtures.appendingPathComponent("fuzz/gzip/isal-reads-past-its-input.gz").path
        for chunkSize in [1, 7, 61, 1 << 16] {
            let zlib = decompress(path: path, backend: .zlib, chunkSize: chunkSize)
            let isal = decompress(path: path, backend: .isal, chunkSize: chunkSize)
            #expect(zlib.error?.reason == "corrupt gzip member 1: invalid distance too far back")
            #expect(isal.error?.reason == zlib.error?.reason)
            #expect((isal.error?.offset ?? .max) <= FileManager.default.contents(atPath: path).map { UInt64($0.count) } ?? 0)
        }
    }

    /// Decompresses `path` with both backends and checks they agree.
    func expectAlike(_ path: String, identicalErrors: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        let zlib = decompress(path: path, backend: .zlib)
        let isal = decompress(path: path, backend: .isal)
        let name = (path as NSString).lastPathComponent
        #expect((zlib.error == nil) == (isal.error == nil), "\(name): zlib \(zlib.error.map { "\($0)" } ?? "ok"), isal \(isal.error.map { "\($0)" } ?? "ok")",
                sourceLocation: sourceLocation)
        if zlib.error == nil {
            #expect(zlib.bytes == isal.bytes, "\(name): different bytes", sourceLocation: sourceLocation)
        } else if identicalErrors {
            #expect(zlib.error == isal.error, "\(name)", sourceLocation: sourceLocation)
        }
    }

    static let text = Array((0..<300).map { "telemetry,product_imei=\($0 % 7) v=\($0) \($0)\n" }.joined().utf8)

    @Test(.enabled(if: bothRun)) func truncationAtEveryOffsetFailsAlike() throws {
        let bytes = try gzip(Array(Self.text.prefix(400))) + GzipMember(Array(Self.text.suffix(50)), name: "b", headerCRC: true).bytes
        for length in 0..<bytes.count {
            expectAlike(try temporaryFile(Array(bytes.prefix(length))), identicalErrors: true)
        }
    }

    @Test(.enabled(if: bothRun)) func flippedBytesFailAlike() throws {
        let first = try gzip(Array(Self.text.prefix(600)))
        let second = GzipMember(Array(Self.text.suffix(80)), extra: [1, 2, 3], name: "n", comment: "c", headerCRC: true).bytes
        let secondHeader = 10 + 2 + 3 + 2 + 2 + 2
        let bytes = first + second
        // Where both backends must fail with the same error at the same byte (in deflate data
        // each names its own finding).
        let headersAndTrailers = Set(Array(0..<10) + Array(first.count - 8..<first.count + secondHeader)
                                     + Array(bytes.count - 8..<bytes.count))
        for offset in 0..<bytes.count {
            for mask: UInt8 in [0xFF, 0x01, 0x80] {
                var damaged = bytes
                damaged[offset] ^= mask
                expectAlike(try temporaryFile(damaged), identicalErrors: headersAndTrailers.contains(offset))
            }
        }
    }

    @Test(.enabled(if: bothRun)) func membersAndWhatFollowsThemReadAlike() throws {
        let member = try gzip(Array(Self.text.prefix(200)))
        let empty = try gzip([])
        let cases: [[UInt8]] = [
            empty, empty + empty, empty + member + empty, GzipMember([]).bytes,
            member + Array("garbage".utf8), member + [0x1F], member + [0x1F, 0x8B], member + [0x1F, 0x00, 0x08, 0x00],
            member + [0x1F, 0x8B, 0x07, 0x00], member + [0x1F, 0x8B, 0x08, 0x20], member + [0, 0, 0, 0],
            GzipMember(Array(Self.text.prefix(50)), extra: [], name: "", comment: "", headerCRC: true).bytes,
            GzipMember(Array(Self.text.prefix(50)), headerCRC: true, damageHeaderCRC: true).bytes,
            GzipMember(Array(Self.text.prefix(50)), damageCRC: true).bytes,
            GzipMember(Array(Self.text.prefix(50)), damageLength: true).bytes,
            GzipMember(Array(Self.text.prefix(50)), damageCRC: true, damageLength: true).bytes,
        ]
        for bytes in cases {
            expectAlike(try temporaryFile(bytes), identicalErrors: true)
        }
        let reasons = try [12, 13, 14].map { decompress(path: try temporaryFile(cases[$0]), backend: .isal).error?.reason }
        #expect(reasons == ["corrupt gzip member 1: header crc mismatch", "corrupt gzip member 1: incorrect data check",
                            "corrupt gzip member 1: incorrect length check"])
    }

    /// A member header that straddles the decoder's first 128 KiB read, at each of its bytes
    /// (ISA-L's own header reader would lose the flags there; the decoder reads headers itself).
    @Test(.enabled(if: bothRun)) func headerAcrossTheInputBufferReadsAlike() throws {
        let second = GzipMember(Array(Self.text.prefix(100)), extra: [7, 7], name: "second", comment: "c", headerCRC: true).bytes
        let headerLength = second.count - 100 - 5 - 8
        for shift in 0...headerLength {
            let firstLength = (1 << 17) - headerLength + shift
            let data = Array(repeating: UInt8(ascii: "x"), count: firstLength - 10 - 5 * 2 - 8)  // 2 stored blocks
            let first = GzipMember(data).bytes
            try #require(first.count == firstLength)
            let path = try temporaryFile(first + second)
            expectAlike(path, identicalErrors: true)
            #expect(decompress(path: path, backend: .isal).bytes.count == data.count + 100)
        }
    }
}

/// A gzip member written by hand (RFC 1952): optional header fields, the data in stored
/// deflate blocks, the trailer; each part can be damaged on purpose.
struct GzipMember {
    var bytes: [UInt8] = []

    init(_ data: [UInt8], extra: [UInt8]? = nil, name: String? = nil, comment: String? = nil, headerCRC: Bool = false,
         damageHeaderCRC: Bool = false, damageCRC: Bool = false, damageLength: Bool = false) {
        var flags: UInt8 = 0
        if headerCRC { flags |= 0x02 }
        if extra != nil { flags |= 0x04 }
        if name != nil { flags |= 0x08 }
        if comment != nil { flags |= 0x10 }
        bytes = [0x1F, 0x8B, 8, flags, 0, 0, 0, 0, 0, 3]
        if let extra { bytes += Self.le16(extra.count) + extra }
        if let name { bytes += Array(name.utf8) + [0] }
        if let comment { bytes += Array(comment.utf8) + [0] }
        if headerCRC { bytes += Self.le16(Int(CRC32.of(bytes) & 0xFFFF) ^ (damageHeaderCRC ? 1 : 0)) }
        var rest = data[...]
        repeat {
            let block = rest.prefix(65535)
            rest = rest.dropFirst(block.count)
            bytes.append(rest.isEmpty ? 1 : 0)  // BFINAL, BTYPE 00 (stored)
            bytes += Self.le16(block.count)
            bytes += Self.le16(~block.count & 0xFFFF)
            bytes += block
        } while !rest.isEmpty
        bytes += Self.le32(CRC32.of(data) ^ (damageCRC ? 1 : 0))
        bytes += Self.le32(UInt32(truncatingIfNeeded: data.count) ^ (damageLength ? 1 : 0))
    }

    static func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
}

/// CRC-32 (IEEE, reflected) as gzip uses it, written out so the tests do not borrow zlib's.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func of(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
