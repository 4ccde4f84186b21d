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
/// Multi-member files are read to the end (the inflater is reset at each member end). A member
/// that ends early, a bad header, a CRC or length mismatch, and trailing bytes that are not a
/// gzip member are `DumpError`s carrying the compressed offset. The members are inflated by
/// zlib or ISA-L (`InflateBackend`, `Inflater`); the file, the member sequence and the errors
/// are handled here, alike for both.
///
/// Used by one thread at a time. Invariant: `0 <= inputStart <= inputEnd <= inputCapacity`.
final class GzipDecoder {
    let path: String
    /// The backend inflating this file's members (nil for a plain file).
    let backend: InflateBackend?
    private let fd: Int32
    private let inflater: (any Inflater)?
    private let input: UnsafeMutablePointer<UInt8>
    private let inputCapacity: Int
    private var inputStart = 0
    private var inputEnd = 0
    /// Bytes read from the file so far.
    private var fileBytesRead: UInt64 = 0
    private var inMember = false
    private var finished = false
    /// An error found after some output of the same call; thrown by the next call.
    private var pendingError: DumpError?
    let isGzip: Bool
    private(set) var members = 0

    /// Bytes allocated after `inputCapacity`, never filled.
    static let inputSlack = 64

    /// Opens `path` and sniffs its first bytes; a gzip file is inflated by `backend`.
    init(path: String, backend: InflateBackend, inputCapacity: Int = 1 << 17) throws(DumpError) {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)  // a FIFO put in its place never blocks
        guard fd >= 0 else {
            throw DumpError(file: path, offset: nil, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        // Slack after the input: ISA-L's decoder may read a few bytes past what it is given.
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: inputCapacity + GzipDecoder.inputSlack)
        var sniffed = 0
        var failure: DumpError?
        while sniffed < 2 {
            let n = systemRead(fd, buffer + sniffed, inputCapacity - sniffed)
            if n < 0, errno == EINTR { continue }
            if n < 0 {
                failure = DumpError(file: path, offset: UInt64(sniffed), reason: "read error: \(String(cString: strerror(errno)))")
            }
            if n <= 0 { break }
            sniffed += n
        }
        let gzip = sniffed >= 2 && buffer[0] == 0x1F && buffer[1] == 0x8B
        let inflater = gzip ? makeInflater(backend) : nil
        if failure == nil, gzip, inflater == nil {
            failure = DumpError(file: path, offset: 0, reason: backend == .zlib
                                ? "zlib could not be initialised" : "ISA-L cannot be used (libisal.so.2 does not load)")
        }
        if let failure {  // before any stored property is set, so deinit does not run
            close(fd)
            buffer.deallocate()
            throw failure
        }
        self.path = path
        self.fd = fd
        self.inputCapacity = inputCapacity
        self.inflater = inflater
        self.backend = gzip ? backend : nil
        input = buffer
        inputEnd = sniffed
        fileBytesRead = UInt64(sniffed)
        isGzip = gzip
    }

    deinit {
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
    /// After an error, what was decompressed before it is returned first and the error thrown
    /// by the next call, so no event before it is lost.
    func fill(_ out: UnsafeMutableRawBufferPointer) throws(DumpError) -> Int {
        if let pendingError { throw pendingError }
        guard !finished, let base = out.baseAddress, out.count > 0 else { return 0 }
        guard let inflater else { return try copyPlain(into: base, count: out.count) }
        var produced = 0
        do {
            try inflate(with: inflater, into: base.assumingMemoryBound(to: UInt8.self), count: out.count, produced: &produced)
            return produced
        } catch {
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

    /// Inflates into `out` until it is full or the file ends; `produced` counts the bytes written
    /// (also when it throws).
    private func inflate(with inflater: any Inflater, into out: UnsafeMutablePointer<UInt8>, count: Int,
                         produced: inout Int) throws(DumpError) {
        while produced < count {
            var endOfFile = false
            if inputEnd == inputStart, try refill() == 0 {
                if !inMember {
                    finished = true
                    return
                }
                endOfFile = true  // ISA-L may still hold output of input it has consumed
            }
            if !inMember {
                guard input[inputStart] == 0x1F else {
                    throw DumpError(file: path, offset: consumed,
                                    reason: "trailing garbage after gzip member \(members) (not a gzip header)")
                }
                inflater.startMember()
                inMember = true
            }
            let step = inflater.inflate(input + inputStart, count: inputEnd - inputStart,
                                        into: out + produced, capacity: count - produced)
            // Clamped: an inflater never gives back more than it was given (ISA-L's counts are
            // clamped in the shim; this keeps the invariant whatever a library reports).
            inputStart += min(step.consumed, inputEnd - inputStart)
            produced += min(step.produced, count - produced)
            if let failure = step.failure {
                throw DumpError(file: path, offset: consumed - UInt64(failure.bytesPast),
                                reason: "corrupt gzip member \(members + 1): \(failure.reason)")
            }
            if step.memberEnded {
                members += 1
                inMember = false
            } else if step.consumed == 0 && step.produced == 0 {
                guard endOfFile else {
                    // Not expected of either library (input and room for output were given): fail, never spin.
                    throw DumpError(file: path, offset: consumed, reason: "gzip member \(members + 1): the inflater made no progress")
                }
                throw DumpError(file: path, offset: consumed,
                                reason: "unexpected end of file: gzip member \(members + 1) is truncated")
            }
        }
    }
}

/// A new inflater of `backend`; nil when the library cannot be used.
private func makeInflater(_ backend: InflateBackend) -> (any Inflater)? {
    switch backend {
    case .zlib: ZlibInflater()
    case .isal: IsalInflater()
    }
}

/// `read(2)`, named apart from the methods called `read`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// For fuzz targets and tests: the decompressed content of the file at `path`, inflated by
/// `backend` on the calling thread, read `chunkSize` bytes at a time; and the error that ended
/// it, if any (the bytes are then those handed on before it).
@_spi(Fuzzing)
public func decompress(path: String, backend: InflateBackend, chunkSize: Int = 1 << 16) -> (bytes: [UInt8], error: DumpError?) {
    var bytes: [UInt8] = []
    do {
        let decoder = try GzipDecoder(path: path, backend: backend)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, chunkSize), alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try decoder.fill(chunk)
            if n == 0 { return (bytes, nil) }
            bytes.append(contentsOf: chunk[..<n])
        }
    } catch {
        return (bytes, error)
    }
}
