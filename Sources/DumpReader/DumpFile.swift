import Foundation

/// A dump on disk: gzip (single or multi-member, detected by magic bytes, not extension) or
/// plain; line protocol (`influx_inspect export` framing or plain) or `influx` CLI CSV,
/// detected from content.
///
/// Used by one thread at a time. `read` decompresses and parses on helper threads and hands
/// events to the calling one, with bounded queues between them, so memory stays constant.
public final class DumpFile {
    public let path: String
    public let options: ReaderOptions
    /// Bytes on disk.
    public let size: UInt64
    /// Compressed bytes consumed so far (for a progress line; readable from inside the read callback).
    public private(set) var bytesConsumed: UInt64 = 0
    /// plain or gzip with the member count; complete after `read` returned.
    public private(set) var compression: Compression?
    /// The content format, known once `read` has seen the first bytes.
    public private(set) var format: DumpFormat?
    /// The library that inflated the last `read` (nil for a plain file): `InflateBackend`.
    public private(set) var inflateBackend: InflateBackend?

    /// Throws `DumpError` when the file cannot be opened or is not a regular file (a FIFO is
    /// never opened, so it cannot hang the run). A path that `DumpDirectory.list` escaped
    /// because its name is not valid UTF-8 fails with that reason.
    public init(path: String, options: ReaderOptions = ReaderOptions()) throws {
        self.path = path
        self.options = options
        size = try Self.regularFileSize(path)
    }

    /// The size of the regular, readable file at `path`, or a `DumpError` saying why it is not one.
    public static func regularFileSize(_ path: String) throws(DumpError) -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            if lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK {
                throw DumpError(file: path, offset: nil, reason: "cannot open: dangling symbolic link")
            }
            if DumpDirectory.isEscapedName(path) {
                throw DumpError(file: path, offset: nil, reason: "file name is not valid UTF-8")
            }
            throw DumpError(file: path, offset: nil, reason: "cannot open: \(reason)")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFIFO: throw DumpError(file: path, offset: nil, reason: "not a regular file (a FIFO)")
        case S_IFDIR: throw DumpError(file: path, offset: nil, reason: "not a regular file (a directory)")
        default: throw DumpError(file: path, offset: nil, reason: "not a regular file")
        }
        guard access(path, R_OK) == 0 else {
            throw DumpError(file: path, offset: nil, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        return UInt64(info.st_size)
    }

    /// The last path component.
    public var name: String { (path as NSString).lastPathComponent }

    /// Streams every event in file order with constant memory. Throws `DumpError` for a
    /// truncated or corrupt gzip stream (bad header, CRC or length mismatch, premature end) or
    /// an I/O error, after handing on every event before it; rethrows errors thrown by `body`.
    ///
    /// Threads share the work: one decompresses, others cut and parse (`EventPipeline`), and
    /// the calling one runs `body`, with bounded queues between them.
    public func read(_ body: (DumpEvent) throws -> Void) throws {
        bytesConsumed = 0
        let backend: InflateBackend
        do {
            backend = try InflateBackend.forRead()
        } catch {
            throw DumpError(file: path, offset: nil, reason: "\(error)")
        }
        let decoder = try GzipDecoder(path: path, backend: backend)
        compression = decoder.compression
        inflateBackend = decoder.backend
        let chunks = ChunkPipeline(decoder: decoder, bufferSize: options.chunkSize)
        let events = EventPipeline(chunks: chunks, file: name, options: options)
        defer {
            events.cancel()
            chunks.cancel()
            compression = chunks.compression
        }
        while var batch = try events.next() {
            bytesConsumed = batch.consumed
            if format == nil { format = batch.format }
            try batch.events.withUnsafeMutableBufferPointer { events in
                // Each event is moved out and its slot refilled with an empty one: copying it out
                // (what iterating does) cost the reading thread as much as its own work on it.
                guard let first = events.baseAddress else { return }
                for i in 0..<events.count { try body((first + i).exchange(with: .moved)) }
            }
            events.recycle(&batch.events)
        }
        format = events.format
        bytesConsumed = size
    }
}

extension DumpEvent {
    /// What an event read out of a batch leaves in its place: no reference to release.
    fileprivate static var moved: DumpEvent {
        .other(Point(measurement: "", imei: "", field: "", value: .boolean(false), time: 0, line: 0))
    }
}

extension UnsafeMutablePointer {
    /// The value here, replaced by `replacement`.
    fileprivate func exchange(with replacement: Pointee) -> Pointee {
        let value = move()
        initialize(to: replacement)
        return value
    }
}

/// Decompressed bytes to events on one thread: the record scanner and the parsers
/// behind one `feed` per chunk. Events never depend on how the bytes are cut into chunks.
final class RecordReader {
    private let scanner: RecordScanner
    private var events: EventMaker

    init(file: String, options: ReaderOptions) {
        scanner = RecordScanner(maxLineBytes: options.maxLineBytes, chunkSize: options.chunkSize)
        events = EventMaker(file: file, options: options)
    }

    /// The content format, once the first bytes were seen.
    var format: DumpFormat? { scanner.format }

    func feed(_ bytes: UnsafeRawBufferPointer, _ body: (DumpEvent) throws -> Void) rethrows {
        try scanner.feed(bytes) { record in
            try events.handle(record, format: scanner.format ?? .lineProtocol, body)
        }
    }

    /// Hands on the last record (one without a final newline).
    func finish(_ body: (DumpEvent) throws -> Void) rethrows {
        try scanner.finish { record in
            try events.handle(record, format: scanner.format ?? .lineProtocol, body)
        }
    }
}

/// For fuzz targets: reads decompressed dump content held in memory on the calling thread,
/// cut into chunks of `options.chunkSize` bytes, with the same events as `DumpFile.read` of
/// a file holding those bytes (no threads, no file, so thousands of inputs a second).
/// Returns the detected format.
@_spi(Fuzzing)
public func readDecompressed(_ bytes: UnsafeRawBufferPointer, file: String, options: ReaderOptions,
                             _ body: (DumpEvent) throws -> Void) rethrows -> DumpFormat? {
    let records = RecordReader(file: file, options: options)
    var offset = 0
    while offset < bytes.count {
        let end = min(bytes.count, offset + options.chunkSize)
        try records.feed(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), body)
        offset = end
    }
    try records.finish(body)
    return records.format
}

/// Turns records into `DumpEvent`s: one per field of a well-formed line, one per rejected line.
struct EventMaker {
    let file: String
    var lineProtocol: LineProtocolParser
    var csv: CSVParser

    init(file: String, options: ReaderOptions) {
        self.file = file
        lineProtocol = LineProtocolParser(options: options)
        csv = CSVParser(options: options)
    }

    /// The longest raw line a `Reject` keeps.
    static let rawLimit = 512

    mutating func handle(_ record: Record, format: DumpFormat, _ body: (DumpEvent) throws -> Void) rethrows {
        if record.tooLong {
            try body(.malformed(reject(record, column: nil, reason: "line longer than \(lineProtocol.options.maxLineBytes) bytes")))
            return
        }
        let outcome = format == .csv ? csv.parse(record.bytes) : lineProtocol.parse(record.bytes)
        switch outcome {
        case .nothing:
            return
        case .malformed(let column, let reason):
            try body(.malformed(reject(record, column: column, reason: reason)))
        case .points(let measurement, let imei, let time, let selected):
            let fields = format == .csv ? csv.fields : lineProtocol.fields
            for field in fields {
                let point = Point(measurement: measurement, imei: imei, field: field.key, value: field.value,
                                  time: time, line: record.line)
                try body(selected ? .point(point) : .other(point))
            }
        }
    }

    private func reject(_ record: Record, column: Int?, reason: String) -> Reject {
        let raw = String(decoding: record.bytes.prefix(Self.rawLimit), as: UTF8.self)
        return Reject(file: file, line: record.line, column: column, reason: reason, raw: raw)
    }
}
