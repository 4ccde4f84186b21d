import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a dump is compressed, as sniffed from its first bytes.
public enum Compression: Sendable, Hashable, CustomStringConvertible {
    case plain
    /// gzip, with the number of members read so far (all of them once the file is read).
    case gzip(members: Int)

    public var description: String {
        switch self {
        case .plain: "plain"
        case .gzip(let members): "gzip (\(members) member\(members == 1 ? "" : "s"))"
        }
    }
}

/// Turns the bytes of a file into its decompressed bytes, chunk by chunk, in constant memory.
///
/// gzip is detected from the magic bytes `1f 8b`; anything else passes through unchanged.
/// Multi-member files are read to the end (zlib is reset at each member end). A member that
/// ends early, a bad header, a CRC or length mismatch, and trailing bytes that are not a gzip
/// member are `DumpError`s carrying the compressed offset. All zlib calls live in this file.
///
/// Used by one thread at a time. Invariant: `0 <= inputStart <= inputEnd <= inputCapacity`.
final class GzipDecoder {
    let path: String
    private let fd: Int32
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutablePointer<UInt8>
    private let inputCapacity: Int
    private var inputStart = 0
    private var inputEnd = 0
    /// Bytes read from the file so far.
    private var fileBytesRead: UInt64 = 0
    private var streamInitialized = false
    private var inMember = false
    private var finished = false
    /// An error found after some output of the same call; thrown by the next call.
    private var pendingError: DumpError?
    private(set) var isGzip = false
    private(set) var members = 0

    /// Opens `path` and sniffs its first bytes.
    init(path: String, inputCapacity: Int = 1 << 17) throws(DumpError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)  // a FIFO put in its place never blocks
        guard fd >= 0 else {
            throw DumpError(file: path, offset: nil, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        self.inputCapacity = inputCapacity
        input = .allocate(capacity: inputCapacity)
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        do {
            while inputEnd < 2, try refill() > 0 {}
        } catch {
            close(fd)
            input.deallocate()
            stream.deallocate()
            throw error
        }
        isGzip = inputEnd >= 2 && input[0] == 0x1F && input[1] == 0x8B
        if isGzip {
            guard czlib_inflateInit2(stream, 15 + 16) == Z_OK else {
                close(fd)
                input.deallocate()
                stream.deallocate()
                throw DumpError(file: path, offset: 0, reason: "zlib could not be initialised")
            }
            streamInitialized = true
        }
    }

    deinit {
        if streamInitialized { inflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
        input.deallocate()
        close(fd)
    }

    var compression: Compression { isGzip ? .gzip(members: members) : .plain }

    /// Compressed bytes consumed so far.
    var consumed: UInt64 { fileBytesRead - UInt64(inputEnd - inputStart) }

    /// Reads more of the file after the unconsumed input; returns the bytes read (0 at end of file).
    private func refill() throws(DumpError) -> Int {
        if inputStart > 0 {
            let pending = inputEnd - inputStart
            if pending > 0 { memmove(input, input + inputStart, pending) }
            inputStart = 0
            inputEnd = pending
        }
        guard inputEnd < inputCapacity else { return 0 }
        while true {
            let n = systemRead(fd, input + inputEnd, inputCapacity - inputEnd)
            if n < 0 {
                if errno == EINTR { continue }
                throw DumpError(file: path, offset: fileBytesRead, reason: "read error: \(String(cString: strerror(errno)))")
            }
            inputEnd += n
            fileBytesRead += UInt64(n)
            return n
        }
    }

    /// Fills `out` with decompressed bytes; returns how many (0 only at the clean end of the file).
    func fill(_ out: UnsafeMutableRawBufferPointer) throws(DumpError) -> Int {
        if let pendingError { throw pendingError }
        guard !finished, let base = out.baseAddress, out.count > 0 else { return 0 }
        guard isGzip else { return try copyPlain(into: base, count: out.count) }
        do {
            return try inflate(into: base.assumingMemoryBound(to: UInt8.self), count: out.count)
        } catch {
            // Hand on what was decompressed before the error first, so no event before it is lost.
            let produced = out.count - Int(stream.pointee.avail_out)
            guard produced > 0 else { throw error }
            pendingError = error
            return produced
        }
    }

    private func copyPlain(into out: UnsafeMutableRawPointer, count: Int) throws(DumpError) -> Int {
        if inputEnd == inputStart, try refill() == 0 {
            finished = true
            return 0
        }
        let n = min(count, inputEnd - inputStart)
        memcpy(out, input + inputStart, n)
        inputStart += n
        return n
    }

    private func inflate(into out: UnsafeMutablePointer<UInt8>, count: Int) throws(DumpError) -> Int {
        stream.pointee.next_out = out
        stream.pointee.avail_out = UInt32(count)
        while stream.pointee.avail_out > 0 {
            if inputEnd == inputStart, try refill() == 0 {
                if inMember {
                    throw DumpError(file: path, offset: consumed,
                                    reason: "unexpected end of file: gzip member \(members + 1) is truncated")
                }
                finished = true
                break
            }
            if !inMember {
                guard input[inputStart] == 0x1F else {
                    throw DumpError(file: path, offset: consumed,
                                    reason: "trailing garbage after gzip member \(members) (not a gzip header)")
                }
                if members > 0 { inflateReset(stream) }
                inMember = true
            }
            stream.pointee.next_in = input + inputStart
            stream.pointee.avail_in = UInt32(inputEnd - inputStart)
            let status = CZlib.inflate(stream, Z_NO_FLUSH)
            inputStart = inputEnd - Int(stream.pointee.avail_in)
            switch status {
            case Z_OK, Z_BUF_ERROR:
                continue
            case Z_STREAM_END:
                members += 1
                inMember = false
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw DumpError(file: path, offset: consumed, reason: "corrupt gzip member \(members + 1): \(message)")
            }
        }
        return count - Int(stream.pointee.avail_out)
    }
}

/// `read(2)`, named apart from the methods called `read`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}
