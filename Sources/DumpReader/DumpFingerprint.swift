import CZlib
import Foundation

/// A cheap identity of a dump file: its size and the CRC-32 of its first and last 64 KiB.
///
/// Reading the whole file would make a nightly run over a long history cost the history;
/// a gzip file's last bytes hold the CRC-32 and length of its (last) member's content, so
/// the tail already stands for the content. Two files of the same name with the same
/// fingerprint are taken to be the same dump.
public enum DumpFingerprint {
    static let window = 64 * 1024

    public static func of(path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DumpError(file: (path as NSString).lastPathComponent, offset: nil, reason: "cannot open for reading")
        }
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: 0)
        let head = try handle.read(upToCount: window) ?? Data()
        let tailStart = size > UInt64(window) ? size - UInt64(window) : 0
        try handle.seek(toOffset: tailStart)
        let tail = try handle.read(upToCount: window) ?? Data()
        return "v1:\(size):\(hex(crc(head))):\(hex(crc(tail)))"
    }

    static func crc(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { buffer in
            UInt32(crc32(0, buffer.bindMemory(to: Bytef.self).baseAddress, uInt(buffer.count)))
        }
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
