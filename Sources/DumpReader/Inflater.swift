import CZlib

/// What one `Inflater.inflate` call did.
struct InflateStep {
    /// Input bytes consumed.
    var consumed = 0
    /// Output bytes written.
    var produced = 0
    /// The member's trailer was read and verified: the next byte starts another member or the file ends.
    var memberEnded = false
    /// Corrupt data: the reason (zlib's words wherever both backends find the same fault) and
    /// how many of the consumed bytes lie past the place zlib reports it at.
    var failure: (reason: String, bytesPast: Int)?
}

/// Inflates the gzip members of one file, one after another: `startMember()` before each
/// member's first byte, then `inflate` until a step says the member ended or failed.
/// Used by one thread at a time.
protocol Inflater: AnyObject {
    func startMember()
    func inflate(_ input: UnsafePointer<UInt8>, count: Int,
                 into output: UnsafeMutablePointer<UInt8>, capacity: Int) -> InflateStep
}

/// zlib in gzip mode: it reads the header, the deflate data and the trailer itself.
final class ZlibInflater: Inflater {
    /// Heap-allocated: zlib keeps the stream's address.
    private let stream: UnsafeMutablePointer<z_stream>
    private var started = false

    /// Nil when zlib cannot be initialised (out of memory).
    init?() {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard czlib_inflateInit2(stream, 15 + 16) == Z_OK else {  // 15 + 16: gzip only, 32 KiB window
            stream.deallocate()
            return nil
        }
        self.stream = stream
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    func startMember() {
        if started { inflateReset(stream) }
        started = true
    }

    func inflate(_ input: UnsafePointer<UInt8>, count: Int,
                 into output: UnsafeMutablePointer<UInt8>, capacity: Int) -> InflateStep {
        let count = min(count, Int(UInt32.max)), capacity = min(capacity, Int(UInt32.max))
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input)
        stream.pointee.avail_in = UInt32(count)
        stream.pointee.next_out = output
        stream.pointee.avail_out = UInt32(capacity)
        let status = CZlib.inflate(stream, Z_NO_FLUSH)
        var step = InflateStep(consumed: count - Int(stream.pointee.avail_in),
                               produced: capacity - Int(stream.pointee.avail_out))
        switch status {
        case Z_OK, Z_BUF_ERROR:
            break
        case Z_STREAM_END:
            step.memberEnded = true
        default:
            step.failure = (stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)", 0)
        }
        return step
    }
}

/// ISA-L's igzip: the header is read here (`GzipHeaderReader`, zlib's checks and words), the
/// deflate data and trailer by ISA-L, which verifies CRC-32 and ISIZE together; a mismatch is
/// told apart here from the trailer's bytes, as zlib reports it (the CRC first).
final class IsalInflater: Inflater {
    private let state: OpaquePointer
    private var header = GzipHeaderReader()
    /// The last 8 bytes ISA-L consumed of this member, the latest in the high byte: once the
    /// trailer was read, its CRC-32 in the low and ISIZE in the high half.
    private var lastBytes: UInt64 = 0

    /// Nil when ISA-L is not usable in this process.
    init?() {
        guard let state = czlib_isal_new() else { return nil }
        self.state = state
    }

    deinit { czlib_isal_free(state) }

    func startMember() {
        czlib_isal_reset(state)
        header = GzipHeaderReader()
        lastBytes = 0
    }

    func inflate(_ input: UnsafePointer<UInt8>, count: Int,
                 into output: UnsafeMutablePointer<UInt8>, capacity: Int) -> InflateStep {
        var step = InflateStep()
        if !header.isComplete {
            let (used, failure) = header.read(input, count: count)
            step.consumed = used
            if let failure {
                step.failure = (failure, 0)
                return step
            }
            if !header.isComplete { return step }
        }
        let available = min(count - step.consumed, Int(UInt32.max))
        var used: UInt32 = 0
        var written: UInt32 = 0
        let status = czlib_isal_inflate(state, input + step.consumed, UInt32(available), output,
                                        UInt32(min(capacity, Int(UInt32.max))), &used, &written)
        remember(input + step.consumed, count: Int(used))
        step.consumed += Int(used)
        step.produced = Int(written)
        switch status {
        case czlib_isal_ok:
            step.memberEnded = czlib_isal_finished(state) != 0
        case czlib_isal_incorrect_checksum:
            // zlib reads the CRC-32 and stops there; only a matching CRC gets it to ISIZE.
            step.failure = UInt32(truncatingIfNeeded: lastBytes) != czlib_isal_crc(state)
                ? ("incorrect data check", 4) : ("incorrect length check", 0)
        case czlib_isal_invalid_block:
            step.failure = ("invalid deflate block", 0)
        case czlib_isal_invalid_symbol:
            step.failure = ("invalid literal/length or distance code", 0)
        case czlib_isal_invalid_lookback:
            step.failure = ("invalid distance too far back", 0)
        default:
            step.failure = ("isa-l error \(status)", 0)
        }
        return step
    }

    private func remember(_ bytes: UnsafePointer<UInt8>, count: Int) {
        for i in max(0, count - 8)..<count {
            lastBytes = lastBytes >> 8 | UInt64(bytes[i]) << 56
        }
    }
}

/// Reads one gzip member header (RFC 1952) as it arrives, byte by byte, and checks what zlib
/// checks, in zlib's words and at zlib's byte: the magic (`incorrect header check`, after 2
/// bytes), the method and the reserved flag bits (`unknown compression method`, `unknown header
/// flags set`, after 4), and with FHCRC the low 16 bits of the CRC-32 of the header bytes before
/// it (`header crc mismatch`). FEXTRA, FNAME and FCOMMENT are skipped.
struct GzipHeaderReader {
    /// The header's fields in file order; those the flags do not announce are passed over.
    private enum Field: Int { case fixed, extraLength, extra, name, comment, headerCRC, done }

    private var field = Field.fixed
    /// Bytes read of the current field (`fixed`, `extraLength`, `extra`, `headerCRC`).
    private var position = 0
    private var magic: UInt16 = 0
    private var method: UInt8 = 0
    private var flags: UInt8 = 0
    private var extraLength = 0
    private var storedCRC: UInt16 = 0
    /// CRC-32 of the header bytes read so far, FHCRC's own two excepted.
    private var crc: UInt32 = 0

    var isComplete: Bool { field == .done }

    /// Consumes header bytes from `input` (at most up to the header's end); returns how many,
    /// and a failure's reason.
    mutating func read(_ input: UnsafePointer<UInt8>, count: Int) -> (consumed: Int, failure: String?) {
        var i = 0
        var uncounted = 0  // the first byte of `input` not yet in `crc`
        var failure: String?
        while i < count, field != .done, failure == nil {
            if field == .headerCRC {
                crc = crc32Update(crc, input + uncounted, i - uncounted)
                uncounted = i + 1
            }
            failure = take(input[i])
            i += 1
        }
        crc = crc32Update(crc, input + uncounted, i - uncounted)
        return (i, failure)
    }

    /// Takes one header byte; returns a failure's reason.
    private mutating func take(_ byte: UInt8) -> String? {
        switch field {
        case .fixed:
            switch position {
            case 0: magic = UInt16(byte)
            case 1:
                magic |= UInt16(byte) << 8
                if magic != 0x8B1F { return "incorrect header check" }
            case 2: method = byte
            case 3:
                flags = byte
                if method != 8 { return "unknown compression method" }
                if flags & 0xE0 != 0 { return "unknown header flags set" }
            default: break
            }
            position += 1
            if position == 10 { advance() }
        case .extraLength:
            extraLength |= Int(byte) << (8 * position)
            position += 1
            if position == 2 { advance() }
        case .extra:
            position += 1
            if position == extraLength { advance() }
        case .name, .comment:
            if byte == 0 { advance() }
        case .headerCRC:
            storedCRC |= UInt16(byte) << (8 * position)
            position += 1
            if position == 2 {
                if storedCRC != UInt16(truncatingIfNeeded: crc) { return "header crc mismatch" }
                advance()
            }
        case .done:
            break
        }
        return nil
    }

    /// Moves to the next field the flags announce.
    private mutating func advance() {
        position = 0
        repeat {
            field = Field(rawValue: field.rawValue + 1) ?? .done
        } while !isPresent(field)
    }

    private func isPresent(_ field: Field) -> Bool {
        switch field {
        case .fixed, .done: true
        case .extraLength: flags & 0x04 != 0  // FEXTRA
        case .extra: flags & 0x04 != 0 && extraLength > 0
        case .name: flags & 0x08 != 0  // FNAME
        case .comment: flags & 0x10 != 0  // FCOMMENT
        case .headerCRC: flags & 0x02 != 0  // FHCRC
        }
    }
}

/// zlib's CRC-32 of `count` bytes, continuing `crc`.
private func crc32Update(_ crc: UInt32, _ bytes: UnsafePointer<UInt8>, _ count: Int) -> UInt32 {
    count > 0 ? UInt32(crc32(UInt(crc), bytes, UInt32(count))) : crc
}
