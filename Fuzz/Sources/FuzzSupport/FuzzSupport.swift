@_spi(Fuzzing) import DumpReader
#if canImport(Glibc)
import Glibc
#endif

/// Shared by the fuzz targets: the input as a file, a whole read as comparable values, and
/// the invariants every reader target asserts. A broken invariant traps, which libFuzzer
/// reports as a crash and saves the input.

/// What one read of a dump gave: every event (as text, so NaN compares equal) and the error.
public struct ReadOutcome: Equatable {
    public var events: [String] = []
    public var points: [Point] = []
    public var others: [Point] = []
    public var rejects: [Reject] = []
    /// Points and other points in file order, each with whether it was selected.
    public var inOrder: [Point] = []
    public var selected: [Bool] = []
    public var error: String?
    public var format: DumpFormat?
}

extension ReadOutcome {
    mutating func record(_ event: DumpEvent) {
        events.append(Self.key(event))
        switch event {
        case .point(let p):
            points.append(p)
            inOrder.append(p)
            selected.append(true)
        case .other(let p):
            others.append(p)
            inOrder.append(p)
            selected.append(false)
        case .malformed(let r): rejects.append(r)
        }
    }
}

extension ReadOutcome {
    /// An event as text that compares equal for equal events, NaNs included (by bit pattern);
    /// built by hand, as `String(describing:)` (reflection) cost most of a fuzz execution.
    static func key(_ event: DumpEvent) -> String {
        switch event {
        case .point(let p): "P " + key(p)
        case .other(let p): "O " + key(p)
        case .malformed(let r): "M \(r.file):\(r.line):\(r.column ?? 0) \(r.reason) \(r.raw)"
        }
    }

    static func key(_ p: Point) -> String {
        let value = switch p.value {
        case .float(let v): "f\(v.bitPattern)"
        case .integer(let v): "i\(v)"
        case .unsigned(let v): "u\(v)"
        case .boolean(let v): v ? "T" : "F"
        case .string(let v): "s" + v
        }
        return "\(p.measurement)\u{0}\(p.imei)\u{0}\(p.field)\u{0}\(value)\u{0}\(p.time) \(p.line)"
    }
}

/// A memory-backed file holding the current input, opened by path
/// (`/proc/self/fd/N`) like any dump.
public final class InputFile {
    public let fd: Int32
    public let path: String

    public init(name: String) {
        // An unlinked file in tmpfs, reopened through /proc like any path (no memfd_create in Glibc's module).
        let file = "/dev/shm/telemetry-fuzz-\(getpid())-\(name)"
        fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(file)")
        unlink(file)
        path = "/proc/self/fd/\(fd)"
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        precondition(ftruncate(fd, 0) == 0)
        var written = 0
        while written < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + written, bytes.count - written, off_t(written))
            precondition(n > 0, "pwrite failed")
            written += n
        }
    }
}

/// Reads the file at `path` to its end with the given options.
public func readAll(_ path: String, _ options: ReaderOptions) -> ReadOutcome {
    var outcome = ReadOutcome()
    do {
        let dump = try DumpFile(path: path, options: options)
        try dump.read { outcome.record($0) }
        outcome.format = dump.format
    } catch {
        outcome.error = String(describing: error)
    }
    return outcome
}

/// Reads decompressed content held in memory, on this thread, cut into `options.chunkSize`
/// chunks: the same events as a file read, without the file and the decoder's thread.
public func readInMemory(_ bytes: UnsafeRawBufferPointer, _ options: ReaderOptions, file: String = "input") -> ReadOutcome {
    var outcome = ReadOutcome()
    outcome.format = readDecompressed(bytes, file: file, options: options) { outcome.record($0) }
    return outcome
}

/// Reads decompressed `input` as a file through `DumpFile.read`, which parses line protocol
/// in blocks on several threads, cut small (so blocks are small and their boundaries fall
/// everywhere), and traps unless it gives exactly the events of the sequential in-memory
/// reader, with a database and retention policy selected so that the export context matters.
/// Threads are slow to start, so targets run it on a share of their inputs.
public func checkThreadedRead(_ file: InputFile, _ input: UnsafeRawBufferPointer) {
    var options = ReaderOptions(database: "smartsolar", retentionPolicy: "telemetry_rp", maxLineBytes: 4096)
    let sequential = readInMemory(input, options, file: String(file.path.split(separator: "/").last ?? ""))
    file.write(input)
    // At most ~24 chunks (so blocks), since each is a hand-off between threads.
    options.chunkSize = max(1 + Int(input.first ?? 0) % 31, input.count / 24)
    let threaded = readAll(file.path, options)
    if threaded != sequential {
        let first = zip(threaded.events, sequential.events).first { $0 != $1 }
        fatalError("the threaded read differs: \(threaded.events.count) vs \(sequential.events.count) events, "
                   + "first difference \(first.map { "\($0) vs \($1)" } ?? "-"), error \(threaded.error ?? "-")")
    }
}

/// Reads decompressed `input` in memory whole and cut at several chunk sizes derived from it
/// (1 byte, 1...61 bytes, and about a 7th of the input); traps unless every read gives the
/// same events and format. Returns the whole read. One thread, no file: thousands of inputs a
/// second where the threaded file read managed a few dozen (the gzip target covers that path).
public func readAtSeveralChunkSizes(_ input: UnsafeRawBufferPointer,
                                    options: ReaderOptions = ReaderOptions(maxLineBytes: 4096, chunkSize: 1 << 16)) -> ReadOutcome {
    let whole = readInMemory(input, options)
    for size in Set([1, 1 + Int(input.last ?? 0) % 61, max(1, input.count / 7)]) {
        var small = options
        small.chunkSize = size
        let split = readInMemory(input, small)
        if whole != split {
            fatalError("chunk size \(size) changed the outcome: \(whole.events.count) vs \(split.events.count) events, "
                       + "format \(whole.format.map(\.rawValue) ?? "-") vs \(split.format.map(\.rawValue) ?? "-")")
        }
    }
    return whole
}

/// Reads `input` with the default chunk size and with a small one derived from the input;
/// traps unless both give the same events, error and format. A read that fails (a corrupt or
/// truncated gzip member) must fail alike, with the same error at the same byte; the events it
/// handed on before the failure depend on where the chunks fall (a record still buffered when
/// the error surfaces is not handed on) and are not compared, since the dump is rolled back
/// whole either way. Returns the default read.
public func readAtTwoChunkSizes(_ file: InputFile, _ input: UnsafeRawBufferPointer,
                                options: ReaderOptions = ReaderOptions(maxLineBytes: 4096, chunkSize: 1 << 16)) -> ReadOutcome {
    file.write(input)
    let whole = readAll(file.path, options)
    var small = options
    // At most ~32 chunks, since each is a hand-off between threads: small inputs are the ones
    // cut at every size (1...61), large ones in a few dozen places.
    small.chunkSize = max(1 + Int(input.last ?? 0) % 61, input.count / 32)
    let split = readAll(file.path, small)
    if whole.error != nil, whole.error == split.error { return whole }
    if whole != split {
        fatalError("chunk size changed the outcome: \(whole.events.count) vs \(split.events.count) events, "
                   + "\(whole.error ?? "-") vs \(split.error ?? "-")")
    }
    return whole
}

/// Whether the gzip target compares zlib with ISA-L: where ISA-L is usable. Under CI=true it
/// must be (the fuzz smoke would otherwise compare nothing), so its absence traps.
public let bothInflaters: Bool = {
    if InflateBackend.isalAvailable { return true }
    let ci = getenv("CI").map { String(cString: $0).lowercased() }
    precondition(ci != "true" && ci != "1", "CI=true: ISA-L must be usable for the gzip target (install libisal-dev)")
    let warning = "fuzz: ISA-L is not usable here: zlib is not compared with it\n"
    _ = warning.withCString { write(2, $0, strlen($0)) }
    return false
}()

/// Decompresses the file with zlib and with ISA-L; traps unless both succeed with the same
/// bytes or both fail. (The errors' words and bytes may differ where deflate data is corrupt:
/// each library names its own finding, and ISA-L reads ahead; docs/reader.md.)
public func inflateAlike(_ file: InputFile) {
    let zlib = decompress(path: file.path, backend: .zlib)
    let isal = decompress(path: file.path, backend: .isal)
    if (zlib.error == nil) != (isal.error == nil) {
        fatalError("zlib and ISA-L disagree: zlib \(zlib.error.map(\.description) ?? "ok"), ISA-L \(isal.error.map(\.description) ?? "ok")")
    }
    if zlib.error == nil, zlib.bytes != isal.bytes {
        fatalError("zlib and ISA-L inflate to different bytes (\(zlib.bytes.count) and \(isal.bytes.count))")
    }
}

/// Every reject's `raw` is the text at the start of physical line `line` (so its line number
/// is 1 + the newlines before the record, quoted ones included), and events come in line order.
public func checkLineNumbers(_ outcome: ReadOutcome, decompressed bytes: [UInt8]) {
    var content = bytes[...]
    if content.starts(with: [0xEF, 0xBB, 0xBF]) { content = content.dropFirst(3) }
    var lineStarts = [content.startIndex]
    for i in content.indices where content[i] == 0x0A { lineStarts.append(i + 1) }
    var previous = 0
    for line in (outcome.points + outcome.others).map(\.line) + outcome.rejects.map(\.line) {
        precondition(line >= 1 && line <= lineStarts.count, "line \(line) outside 1...\(lineStarts.count)")
    }
    for event in outcome.rejects {
        precondition(event.line >= previous, "rejects out of line order")
        previous = event.line
        let start = lineStarts[event.line - 1]
        let text = Array(content[start..<min(content.endIndex, start + 512)])
        let raw = Array(event.raw.utf8)
        if !event.raw.contains("\u{FFFD}") {
            precondition(text.starts(with: raw), "reject at line \(event.line) does not start that line: \(event.raw.debugDescription)")
        } else {
            // Cut at its record's end, the text may end in a partial character: all but the last
            // scalar of `raw` must then begin the decoded line.
            let line = String(decoding: text, as: UTF8.self).unicodeScalars
            let found = line.starts(with: event.raw.unicodeScalars.dropLast())
            precondition(found, "reject at line \(event.line) does not start that line: \(event.raw.debugDescription)")
        }
    }
}

/// A point as one line of line protocol, escaped so that it parses back to the same point.
public func lineProtocol(_ p: Point) -> String {
    var line = escape(p.measurement, [",", " "])
    if !p.imei.isEmpty { line += ",product_imei=" + escape(p.imei, [",", " ", "="]) }
    line += " " + escape(p.field, [",", " ", "="]) + "="
    switch p.value {
    case .float(let v): line += "\(v)"
    case .integer(let v): line += "\(v)i"
    case .unsigned(let v): line += "\(v)u"
    case .boolean(let v): line += v ? "true" : "false"
    case .string(let v):
        line += "\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
    return line + " \(p.time)\n"
}

private func escape(_ name: String, _ specials: Set<Unicode.Scalar>) -> String {
    var out = String.UnicodeScalarView()
    for c in name.unicodeScalars {
        if specials.contains(c) { out.append("\\") }
        out.append(c)
    }
    return String(out)
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
