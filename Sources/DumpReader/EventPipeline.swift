import Foundation

/// Events of a dump in file order, as the parsing thread hands them on.
struct EventBatch {
    var events: [DumpEvent]
    /// How far into the compressed file the chunk of the last event ends.
    var consumed: UInt64
    /// The content format, once the first bytes were seen.
    var format: DumpFormat?
}

/// Parses on a thread of its own: takes the decompressed chunks of a `ChunkPipeline`, turns
/// them into events with a `RecordReader`, and hands the events in batches to the reading
/// thread. Inflating, parsing and whatever the reader does with each event so run on three
/// threads. A bounded queue (`batchLimit` batches of `batchSize` events) keeps memory
/// constant whatever the file size.
///
/// Invariants: events reach `next()` exactly once and in file order; a decoder error is
/// thrown by `next()` only after every event before it was handed out; the `RecordReader`
/// is touched only by the parsing thread once `init` returns.
final class EventPipeline: @unchecked Sendable {
    // @unchecked Sendable: the mutable state below is only touched with `condition` locked,
    // except `records` and `chunks`' consumer side, which only the parsing thread uses.
    private let condition = NSCondition()
    private var ready: [EventBatch] = []
    private var readyHead = 0
    /// Emptied event arrays the reader gave back, reused so that no batch allocates.
    private var spare: [[DumpEvent]] = []
    private var finished = false
    private var failure: DumpError?
    private var cancelled = false
    private var parserDone = false
    private var finalFormat: DumpFormat?
    private let chunks: ChunkPipeline
    private let records: RecordReader
    private let batchSize: Int
    private let batchLimit: Int

    /// Thrown inside the parsing thread when the reader went away.
    private struct Cancelled: Error {}

    init(chunks: ChunkPipeline, records: RecordReader, batchSize: Int = 4096, batchLimit: Int = 4) {
        self.chunks = chunks
        self.records = records
        self.batchSize = batchSize
        self.batchLimit = batchLimit
        let thread = Thread { [self] in parse() }
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        cancel()
    }

    /// The content format; final once `next()` returned nil or threw.
    var format: DumpFormat? {
        condition.lock()
        defer { condition.unlock() }
        return finalFormat
    }

    private func parse() {
        var batch = EventBatch(events: [], consumed: 0, format: nil)
        batch.events.reserveCapacity(batchSize)
        var failure: DumpError?
        do {
            do {
                while let chunk = try chunks.next() {
                    defer { chunks.recycle(chunk) }
                    batch.consumed = chunk.consumed
                    try records.feed(UnsafeRawBufferPointer(rebasing: chunk.bytes[..<chunk.count])) { event in
                        batch.events.append(event)
                        if batch.events.count == batchSize { try hand(&batch) }
                    }
                }
                try records.finish { event in
                    batch.events.append(event)
                    if batch.events.count == batchSize { try hand(&batch) }
                }
            } catch let error as DumpError {
                failure = error
            }
            if !batch.events.isEmpty { try hand(&batch) }
        } catch {
            // Cancelled: the reader stopped listening.
        }
        condition.lock()
        finalFormat = records.format
        self.failure = failure
        finished = true
        parserDone = true
        condition.broadcast()
        condition.unlock()
    }

    /// Queues `batch` (waiting while the queue is full) and starts an empty one.
    private func hand(_ batch: inout EventBatch) throws {
        batch.format = records.format
        condition.lock()
        defer { condition.unlock() }
        while ready.count - readyHead >= batchLimit && !cancelled { condition.wait() }
        if cancelled { throw Cancelled() }
        ready.append(batch)
        condition.broadcast()
        if let events = spare.popLast() {
            batch.events = events
        } else {
            batch.events = []
            batch.events.reserveCapacity(batchSize)
        }
    }

    /// Takes a handed-out batch's events array back for reuse (leaving it empty).
    func recycle(_ events: inout [DumpEvent]) {
        events.removeAll(keepingCapacity: true)
        condition.lock()
        if spare.count < batchLimit { spare.append(events) }
        condition.unlock()
        events = []
    }

    /// The next batch in file order; nil at the clean end. Throws the decoder's error once
    /// all events before it have been handed out.
    func next() throws(DumpError) -> EventBatch? {
        condition.lock()
        defer { condition.unlock() }
        while readyHead == ready.count && !finished { condition.wait() }
        if readyHead < ready.count {
            let batch = ready[readyHead]
            ready[readyHead].events = []
            readyHead += 1
            if readyHead == ready.count {
                ready.removeAll(keepingCapacity: true)
                readyHead = 0
            }
            condition.broadcast()
            return batch
        }
        if let failure { throw failure }
        return nil
    }

    /// Stops the parsing thread and waits until it no longer touches the chunks or the records.
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        while !parserDone { condition.wait() }
        condition.unlock()
    }
}
