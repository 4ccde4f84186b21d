#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The two content formats of a dump.
public enum DumpFormat: String, Sendable, Hashable {
    case lineProtocol = "line-protocol"
    case csv
}

/// One record of a dump: usually one physical line; more when a quoted value holds raw newlines.
struct Record {
    /// The record's bytes without its line end (`\n` or `\r\n`). Valid only during the callback.
    var bytes: UnsafeBufferPointer<UInt8>
    /// The 1-based physical line the record starts on.
    var line: Int
    /// True when the record exceeded `maxLineBytes`; `bytes` is then only its beginning.
    var tooLong: Bool
}

/// Splits decompressed bytes into records, across chunk boundaries, in bounded memory.
///
/// A newline inside a double-quoted value does not end a record (InfluxDB's scanner and RFC
/// 4180 both work so). A record longer than `maxLineBytes` is reported as `tooLong` and the
/// rest of its physical line is skipped, without buffering it. A quote still open after
/// `maxLineBytes` is taken to be unbalanced: the record then ends at its first newline.
///
/// Invariant: `0 <= start <= searchFrom <= end <= capacity` and `end - start <= maxLineBytes + chunkSize`.
final class RecordScanner {
    let maxLineBytes: Int
    private(set) var format: DumpFormat?
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private var start = 0
    private var end = 0
    private var searchFrom = 0
    private var line = 1
    private var skipping = false
    /// False until the start of the content has been checked for a UTF-8 byte order mark.
    private var bomChecked = false
    /// Quote search cache: no quote lies in `quoteSearched` except at `nextQuote` (its first one).
    private var nextQuote: Int?
    private var quoteSearched = 0..<0

    init(maxLineBytes: Int, chunkSize: Int) {
        self.maxLineBytes = max(maxLineBytes, 16)
        capacity = self.maxLineBytes + chunkSize + 16
        buffer = .allocate(capacity: capacity)
    }

    deinit { buffer.deallocate() }

    /// Appends decompressed bytes (at most `chunkSize` at once) and hands on every complete record.
    func feed(_ bytes: UnsafeRawBufferPointer, _ handle: (Record) throws -> Void) rethrows {
        if end + bytes.count > capacity { compact() }
        precondition(end + bytes.count <= capacity, "chunk larger than the scanner was sized for")
        if let base = bytes.baseAddress, bytes.count > 0 {
            memcpy(buffer + end, base, bytes.count)
            end += bytes.count
        }
        if !bomChecked, !skipByteOrderMark(final: false) { return }
        if format == nil {
            guard let detected = detectFormat(final: false) else { return }
            format = detected
        }
        try scan(atEnd: false, handle)
    }

    /// Hands on the last record when the input does not end with a newline.
    func finish(_ handle: (Record) throws -> Void) rethrows {
        if !bomChecked { _ = skipByteOrderMark(final: true) }
        if format == nil { format = detectFormat(final: true) ?? .lineProtocol }
        try scan(atEnd: true, handle)
    }

    private func compact() {
        let pending = end - start
        if pending > 0, start > 0 { memmove(buffer, buffer + start, pending) }
        searchFrom -= start
        if let q = nextQuote { nextQuote = q - start }
        quoteSearched = max(0, quoteSearched.lowerBound - start)..<max(0, quoteSearched.upperBound - start)
        start = 0
        end = pending
    }

    private static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
    private static let errPrefix = Array("ERR:".utf8)

    /// Skips a UTF-8 byte order mark at the start of the content (of the whole decompressed
    /// stream, not of each gzip member). False while too few bytes are buffered to tell.
    private func skipByteOrderMark(final: Bool) -> Bool {
        let available = min(end - start, 3)
        guard Self.byteOrderMark.starts(with: UnsafeBufferPointer(start: buffer + start, count: available)) else {
            bomChecked = true
            return true
        }
        if available < 3 && !final { return false }
        if available == 3 {
            start += 3
            searchFrom = max(searchFrom, start)
        }
        bomChecked = true
        return true
    }

    /// CSV when the first non-blank line is an `influx -format csv` header.
    private func detectFormat(final: Bool) -> DumpFormat? {
        var i = start
        while true {
            while i < end, buffer[i] == 0x0A || buffer[i] == 0x0D || buffer[i] == 0x20 || buffer[i] == 0x09 { i += 1 }
            // An `ERR: ...` line the influx CLI printed before its CSV says nothing about the format.
            let available = min(end - i, 4)
            guard Self.errPrefix.starts(with: UnsafeBufferPointer(start: buffer + i, count: available)), available > 0 else { break }
            if available < 4 {
                if final { break }
                return nil  // too few bytes yet to tell an `ERR:` line (found by ChunkSplitTests at chunk size 1)
            }
            guard let nl = newline(from: i, to: end) else { return final ? .lineProtocol : nil }
            i = nl + 1
        }
        let available = end - i
        for header in [Array("name,time".utf8), Array("name,tags,time".utf8)] {
            if available < header.count + 1 {
                if !final && header.starts(with: UnsafeBufferPointer(start: buffer + i, count: available)) { return nil }
                continue
            }
            if UnsafeBufferPointer(start: buffer + i, count: header.count).elementsEqual(header),
               buffer[i + header.count] == 0x2C || buffer[i + header.count] == 0x0A || buffer[i + header.count] == 0x0D {
                return .csv
            }
        }
        return .lineProtocol
    }

    private func newline(from: Int, to: Int) -> Int? {
        guard to > from, let p = memchr(buffer + from, 0x0A, to - from) else { return nil }
        return buffer.distance(to: p.assumingMemoryBound(to: UInt8.self))
    }

    private func scan(atEnd: Bool, _ handle: (Record) throws -> Void) rethrows {
        while start < end {
            if skipping {
                guard let nl = newline(from: start, to: end) else {
                    start = end
                    searchFrom = end
                    return
                }
                start = nl + 1
                searchFrom = start
                line += 1
                skipping = false
                continue
            }
            var recordEnd: Int
            var embedded = 0
            if let nl = newline(from: searchFrom, to: end) {
                recordEnd = nl
            } else if atEnd {
                recordEnd = end
            } else {
                if end - start > maxLineBytes {
                    try handle(Record(bytes: UnsafeBufferPointer(start: buffer + start, count: maxLineBytes),
                                      line: line, tooLong: true))
                    skipping = true
                    start = end
                    searchFrom = end
                } else {
                    searchFrom = end
                }
                return
            }
            if hasQuote(start..<recordEnd) {
                if let (quotedEnd, lines) = quoteAwareEnd(atEnd: atEnd) {
                    recordEnd = quotedEnd
                    embedded = lines
                } else if atEnd || end - start > maxLineBytes {
                    // Unbalanced quote: the record is its first physical line.
                } else {
                    return  // need more bytes to find where the quoted value ends
                }
            }
            var lineEnd = recordEnd
            if lineEnd > start, buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            let tooLong = lineEnd - start > maxLineBytes
            try handle(Record(bytes: UnsafeBufferPointer(start: buffer + start, count: min(lineEnd - start, maxLineBytes)),
                              line: line, tooLong: tooLong))
            line += 1 + embedded
            start = min(recordEnd + 1, end)
            if recordEnd == end { start = end }
            searchFrom = start
        }
    }

    /// Whether `range` holds a double quote; one `memchr` per buffered stretch, not per line.
    private func hasQuote(_ range: Range<Int>) -> Bool {
        if let q = nextQuote, quoteSearched.lowerBound <= range.lowerBound, q >= range.lowerBound {
            return q < range.upperBound
        }
        if nextQuote == nil, quoteSearched.lowerBound <= range.lowerBound, quoteSearched.upperBound >= range.upperBound {
            return false
        }
        nextQuote = memchr(buffer + range.lowerBound, 0x22, end - range.lowerBound)
            .map { buffer.distance(to: $0.assumingMemoryBound(to: UInt8.self)) }
        quoteSearched = range.lowerBound..<end
        return nextQuote.map { $0 < range.upperBound } ?? false
    }

    /// The newline ending the record at `start` when quotes are tracked, and the number of
    /// newlines inside it; nil when the buffered bytes end inside a quoted value (or, for line
    /// protocol before the end of the input, where it cannot yet be told).
    private func quoteAwareEnd(atEnd: Bool) -> (Int, Int)? {
        format == .csv ? csvRecordEnd() : lineProtocolRecordEnd(atEnd: atEnd)
    }

    /// RFC 4180: a newline is inside a quoted cell iff an odd number of quotes precede it.
    private func csvRecordEnd() -> (Int, Int)? {
        var quoted = false
        var lines = 0
        var i = start
        while i < end {
            let b = buffer[i]
            if b == 0x22 {
                quoted.toggle()
            } else if b == 0x0A {
                if !quoted { return (i, lines) }
                lines += 1
            }
            i += 1
        }
        return nil
    }

    /// InfluxDB's `scanLine`: quotes count only in the field section, in a value position
    /// (more `=` than `,` seen there), and a backslash escapes the next byte unless it is one
    /// of the input's last two bytes. Before the end of the input, a backslash among the last
    /// two bytes buffered waits for more (nil): whether it escapes depends on bytes not yet
    /// here, and the record must not depend on where the input was cut into chunks.
    private func lineProtocolRecordEnd(atEnd: Bool) -> (Int, Int)? {
        var i = start
        if buffer[i] == 0x23 {  // a comment ends at its newline
            return newline(from: start, to: end).map { ($0, 0) }
        }
        var quoted = false
        var fields = false
        var equals = 0
        var commas = 0
        var lines = 0
        while i < end {
            let b = buffer[i]
            if b == 0x5C {
                if i + 2 < end {
                    if buffer[i + 1] == 0x0A { lines += 1 }
                    i += 2
                    continue
                }
                if !atEnd { return nil }
            }
            if b == 0x20 { fields = true }
            if fields {
                if !quoted && b == 0x3D {
                    equals += 1
                } else if !quoted && b == 0x2C {
                    commas += 1
                } else if b == 0x22 && equals > commas {
                    quoted.toggle()
                }
            }
            if b == 0x0A {
                if !quoted { return (i, lines) }
                lines += 1
            }
            i += 1
        }
        return nil
    }
}
