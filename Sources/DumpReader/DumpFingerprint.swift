import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A cheap identity of a dump file. Two files of the same name with the same fingerprint are
/// taken to be the same dump, so a nightly run does not read it again.
///
/// gzip (`v1:size:crc(head):crc(tail)`): the last bytes of a gzip file hold the CRC-32 and
/// length of its (last) member's content, so the tail already stands for the content.
/// Plain files (`v2:size:mtime:crc(head):crc(tail)`) have no such trailer: the modification
/// time (nanoseconds) is added, so a same-size replacement that changes only the middle is
/// seen. Reading every file whole would make a nightly run over a long history cost the
/// history. The file is opened non-blocking and must be a regular file (a FIFO never hangs).
public enum DumpFingerprint {
    static let window = 64 * 1024

    public static func of(path: String) throws -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw DumpError(file: name, offset: nil, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw DumpError(file: name, offset: nil, reason: "not a regular file")
        }
        let size = UInt64(info.st_size)
        let head = try read(fd, at: 0, name: name)
        let tail = try read(fd, at: size > UInt64(window) ? size - UInt64(window) : 0, name: name)
        if head.starts(with: [0x1F, 0x8B]) {
            return "v1:\(size):\(hex(crc(head))):\(hex(crc(tail)))"
        }
        let mtime = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        return "v2:\(size):\(mtime):\(hex(crc(head))):\(hex(crc(tail)))"
    }

    /// Up to `window` bytes from `offset`.
    private static func read(_ fd: Int32, at offset: UInt64, name: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: window)
        var count = 0
        while count < window {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + count, window - count, off_t(offset) + off_t(count)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DumpError(file: name, offset: offset, reason: "cannot read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            count += n
        }
        return Array(bytes[..<count])
    }

    static func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
