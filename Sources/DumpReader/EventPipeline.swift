import Foundation

/// Events of a dump in file order, as the parsing threads hand them on.
struct EventBatch {
    var events: [DumpEvent]
    /// How far into the compressed file the chunk of the last event ends.
    var consumed: UInt64
    /// The content format, once the first bytes were seen.
    var format: DumpFormat?
}

/// Complete records of line protocol, copied out of the scanner, with the export context
/// that held before the first of them: what a parser needs to parse them on any thread.
private struct RecordBlock {
    var bytes: [UInt8] = []
    var records: [(start: Int, count: Int, line: Int, tooLong: Bool)] = []
    var context = ExportContext()
    var consumed: UInt64 = 0
}

/// Turns the decompressed chunks of a `ChunkPipeline` into events on threads of its own and
/// hands them, in file order, to the reading thread, so that inflating, parsing and whatever
/// the reader does with each event run at the same time.
///
/// One thread cuts the bytes into records (`RecordScanner`). Line protocol is then parsed
/// in blocks of records by `parsers` threads, each with its own parser: a block carries the
/// export context (the only parser state that changes what a line means) as the records
/// before it left it, which the cutting thread follows with `LineProtocolParser.preamble`.
/// CSV, whose header lines change the meaning of the rows after them, is parsed by the
/// cutting thread itself. Memory is bounded: at most `limit` blocks or batches are between
/// the cutting thread and the reader.
///
/// Invariants: every batch has a sequence number, given in file order by the cutting thread;
/// `next()` hands out batches exactly once, in that order, whichever thread parsed them; a
/// decoder error is thrown by `next()` only after every batch before it. The scanner is
/// touched only by the cutting thread, each parser only by its thread.
final class EventPipeline: @unchecked Sendable {
    // @unchecked Sendable: everything below `condition` is only touched with it locked; the
    // blocks and batches move between threads through these queues and are never shared.
    private let condition = NSCondition()
    /// Blocks cut and not yet taken by a parsing thread, with their sequence numbers.
    private var blocks: [(sequence: Int, block: RecordBlock)] = []
    /// Parsed batches not yet handed out, by sequence number.
    private var parsed: [Int: EventBatch] = [:]
    /// The sequence number of the next batch `next()` hands out, and of the next one cut.
    private var nextOut = 0
    private var nextCut = 0
    /// Set by the cutting thread at the end: no sequence number from `nextCut` on will come.
    private var cutDone = false
    private var failure: DumpError?
    private var finalFormat: DumpFormat?
    private var cancelled = false
    private var running = 0
    /// Event arrays and blocks, reused so that the steady state allocates nothing. The event
    /// arrays come back from the reader still full: the thread that takes one empties it, so
    /// that destroying events costs the reading thread nothing.
    private var spareEvents: [[DumpEvent]] = []
    private var spareBlocks: [RecordBlock] = []

    private let chunks: ChunkPipeline
    private let file: String
    private let options: ReaderOptions
    private let limit: Int
    /// Bytes of records a block holds at most: 128 KiB, less when chunks are smaller (tests
    /// and fuzzers cut inputs small to put block boundaries everywhere). Each block costs
    /// its threads a few wake-ups: at 64 KiB a small-set dry run switched threads 10,000
    /// times, at 128 KiB 4,800, for 1 MiB more at peak (256 KiB: 2,600 switches, 3 MiB more,
    /// over the 64 MiB budget on the large set).
    private let blockBytes: Int

    /// Thrown inside a thread of the pipeline when the reader went away.
    private struct Cancelled: Error {}

    init(chunks: ChunkPipeline, file: String, options: ReaderOptions, parsers: Int = EventPipeline.defaultParsers) {
        self.chunks = chunks
        self.file = file
        self.options = options
        limit = 2 * max(1, parsers) + 1
        blockBytes = min(1 << 17, options.chunkSize)
        running = 1 + max(1, parsers)
        start { $0.cut() }
        for _ in 0..<max(1, parsers) { start { $0.parseBlocks() } }
    }

    /// One line-protocol parser per core, at most 4 (the reader and the inflater share them).
    static let defaultParsers = min(4, max(1, ProcessInfo.processInfo.activeProcessorCount))

    deinit {
        cancel()
    }

    private func start(_ body: @escaping @Sendable (EventPipeline) -> Void) {
        let thread = Thread { [self] in
            body(self)
            condition.lock()
            running -= 1
            condition.broadcast()
            condition.unlock()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// The content format; final once `next()` returned nil or threw.
    var format: DumpFormat? {
        condition.lock()
        defer { condition.unlock() }
        return finalFormat
    }

    // MARK: The cutting thread

    private func cut() {
        let scanner = RecordScanner(maxLineBytes: options.maxLineBytes, chunkSize: options.chunkSize)
        var cutting = Cutting(file: file, options: options, block: takeBlock(), events: takeEvents())
        var failure: DumpError?
        do {
            do {
                while let chunk = try chunks.next() {
                    defer { chunks.recycle(chunk) }
                    cutting.block.consumed = chunk.consumed
                    cutting.batch.consumed = chunk.consumed
                    // A closure, not a local function: its captures then stay on the stack,
                    // where a function value's would be boxed and each access checked at run time.
                    try scanner.feed(UnsafeRawBufferPointer(rebasing: chunk.bytes[..<chunk.count])) {
                        try cutting.take($0, format: scanner.format, pipeline: self)
                    }
                }
                try scanner.finish { try cutting.take($0, format: scanner.format, pipeline: self) }
            } catch let error as DumpError {
                failure = error
            }
            if !cutting.block.records.isEmpty { try hand(&cutting.block) }
            if !cutting.batch.events.isEmpty { try hand(&cutting.batch, format: .csv) }
        } catch {
            // Cancelled: the reader stopped listening.
        }
        condition.lock()
        finalFormat = scanner.format
        self.failure = failure
        cutDone = true
        condition.broadcast()
        condition.unlock()
    }

    /// What the cutting thread builds: the block of line-protocol records it fills, the export
    /// context the records so far left, and for CSV its parser and the batch of events.
    private struct Cutting {
        var block: RecordBlock
        var context: LineProtocolParser
        var csv: EventMaker
        var batch: EventBatch

        init(file: String, options: ReaderOptions, block: RecordBlock, events: [DumpEvent]) {
            self.block = block
            context = LineProtocolParser(options: options)
            csv = EventMaker(file: file, options: options)
            batch = EventBatch(events: events, consumed: 0, format: nil)
        }

        mutating func take(_ record: Record, format: DumpFormat?, pipeline: EventPipeline) throws {
            if format == .csv {
                try csv.handle(record, format: .csv) { event in
                    batch.events.append(event)
                    if batch.events.count == 4096 { try pipeline.hand(&batch, format: .csv) }
                }
                return
            }
            if block.records.isEmpty { block.context = context.context }
            block.records.append((block.bytes.count, record.bytes.count, record.line, record.tooLong))
            block.bytes.append(contentsOf: record.bytes)
            if !record.tooLong { _ = context.preamble(record.bytes) }
            if block.bytes.count >= pipeline.blockBytes || block.records.count >= 8192 { try pipeline.hand(&block) }
        }
    }

    /// Waits until fewer than `limit` blocks and batches are in flight; throws when cancelled.
    private func waitForRoom() throws {
        while nextCut - nextOut >= limit && !cancelled { condition.wait() }
        if cancelled { throw Cancelled() }
    }

    /// Queues a block for the parsing threads and starts an empty one.
    private func hand(_ block: inout RecordBlock) throws {
        condition.lock()
        defer { condition.unlock() }
        try waitForRoom()
        blocks.append((nextCut, block))
        nextCut += 1
        condition.broadcast()
        let consumed = block.consumed
        block = spareBlocks.popLast() ?? RecordBlock()
        block.consumed = consumed
    }

    /// Queues a batch parsed on the cutting thread (CSV) and starts an empty one.
    private func hand(_ batch: inout EventBatch, format: DumpFormat) throws {
        batch.format = format
        do {
            condition.lock()
            defer { condition.unlock() }
            try waitForRoom()
            parsed[nextCut] = batch
            nextCut += 1
            condition.broadcast()
        }
        batch.events = takeEvents()
    }

    private func takeBlock() -> RecordBlock {
        condition.lock()
        defer { condition.unlock() }
        return spareBlocks.popLast() ?? RecordBlock()
    }

    /// An empty events array, a spare one emptied here (outside the lock) when there is one.
    private func takeEvents() -> [DumpEvent] {
        condition.lock()
        var events = spareEvents.popLast() ?? []
        condition.unlock()
        events.removeAll(keepingCapacity: true)
        return events
    }

    // MARK: The parsing threads

    private func parseBlocks() {
        var maker = EventMaker(file: file, options: options)
        while var taken = nextBlock() {
            var batch = EventBatch(events: takeEvents(), consumed: taken.block.consumed, format: .lineProtocol)
            maker.lineProtocol.context = taken.block.context
            taken.block.bytes.withUnsafeBufferPointer { bytes in
                for r in taken.block.records {
                    let record = Record(bytes: UnsafeBufferPointer(rebasing: bytes[r.start..<r.start + r.count]),
                                        line: r.line, tooLong: r.tooLong)
                    maker.handle(record, format: .lineProtocol) { batch.events.append($0) }
                }
            }
            // `taken` holds the block's only reference, so emptying it keeps its storage for reuse.
            taken.block.bytes.removeAll(keepingCapacity: true)
            taken.block.records.removeAll(keepingCapacity: true)
            condition.lock()
            parsed[taken.sequence] = batch
            if spareBlocks.count < limit { spareBlocks.append(taken.block) }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The oldest block not yet taken; nil once the cutting thread is done and none is left, or when cancelled.
    private func nextBlock() -> (sequence: Int, block: RecordBlock)? {
        condition.lock()
        defer { condition.unlock() }
        while blocks.isEmpty && !cutDone && !cancelled { condition.wait() }
        if cancelled || blocks.isEmpty { return nil }
        return blocks.removeFirst()
    }

    // MARK: The reading thread

    /// The next batch in file order; nil at the clean end. Throws the decoder's error once
    /// all events before it have been handed out.
    func next() throws(DumpError) -> EventBatch? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let batch = parsed.removeValue(forKey: nextOut) {
                nextOut += 1
                condition.broadcast()
                return batch
            }
            if cutDone && nextOut == nextCut {
                if let failure { throw failure }
                return nil
            }
            condition.wait()
        }
    }

    /// Takes a handed-out batch's events array back for reuse (leaving `events` empty); the
    /// thread that reuses it destroys its events.
    func recycle(_ events: inout [DumpEvent]) {
        condition.lock()
        if spareEvents.count < limit {
            spareEvents.append(events)
            // Our reference goes before the lock does: the thread that takes the array then
            // holds the only one and empties it in place, instead of copying it first.
            events = []
        }
        condition.unlock()
        events = []  // no room among the spares: its events are destroyed here
    }

    /// Stops every thread of the pipeline and waits until none touches the chunks any more.
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}
