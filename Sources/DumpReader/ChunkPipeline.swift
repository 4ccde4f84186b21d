import Foundation

/// A chunk of decompressed bytes and how far into the compressed file its end lies.
struct Chunk {
    var bytes: UnsafeMutableRawBufferPointer
    var count: Int
    var consumed: UInt64
}

/// Decompresses on a background thread into a small pool of buffers and hands them, in
/// order, to the reading thread: a bounded queue, so memory is `bufferCount * bufferSize`
/// whatever the file size.
///
/// Invariant: every buffer is in exactly one of `free`, `ready`, or held by one side.
/// The consumer gets chunks with `next()` and hands each back with `recycle(_:)`;
/// `cancel()` (or deinit) stops the producer and waits for it.
final class ChunkPipeline: @unchecked Sendable {
    // @unchecked Sendable: all mutable state below is only touched with `condition` locked;
    // the buffers' bytes are written only by the producer before a chunk is queued and read
    // only by the consumer after it is dequeued, so no byte is shared at the same time.
    private let condition = NSCondition()
    private var free: [UnsafeMutableRawBufferPointer] = []
    private var ready: [Chunk] = []
    private var readyHead = 0
    private var finished = false
    private var failure: DumpError?
    private var cancelled = false
    private var producerDone = false
    private var all: [UnsafeMutableRawBufferPointer] = []
    private let decoder: GzipDecoder
    private var latestCompression: Compression

    init(decoder: GzipDecoder, bufferCount: Int = 4, bufferSize: Int = 1 << 18) {
        self.decoder = decoder
        latestCompression = decoder.compression
        for _ in 0..<bufferCount {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
            free.append(buffer)
            all.append(buffer)
        }
        let thread = Thread { [self] in produce() }
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        cancel()
        for buffer in all { buffer.deallocate() }
    }

    /// The compression as known to the producer so far (complete once `next()` returned nil).
    var compression: Compression {
        condition.lock()
        defer { condition.unlock() }
        return latestCompression
    }

    private func produce() {
        while true {
            condition.lock()
            while free.isEmpty && !cancelled { condition.wait() }
            if cancelled {
                producerDone = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let buffer = free.removeLast()
            condition.unlock()

            var count = 0
            var error: DumpError?
            do {
                // Fill the whole buffer unless the file ends, so chunks stay large.
                while count < buffer.count {
                    let n = try decoder.fill(UnsafeMutableRawBufferPointer(rebasing: buffer[count...]))
                    if n == 0 { break }
                    count += n
                }
            } catch let e {
                error = e
            }
            let consumed = decoder.consumed
            let compression = decoder.compression

            condition.lock()
            latestCompression = compression
            if count > 0 {
                ready.append(Chunk(bytes: buffer, count: count, consumed: consumed))
            } else {
                free.append(buffer)
            }
            let done = error != nil || count < buffer.count
            if done {
                failure = error
                finished = true
                producerDone = true
            }
            condition.broadcast()
            condition.unlock()
            if done { return }
        }
    }

    /// The next chunk in file order; nil at the clean end. Throws the decoder's error once all
    /// chunks before it have been handed out.
    func next() throws(DumpError) -> Chunk? {
        condition.lock()
        defer { condition.unlock() }
        while readyHead == ready.count && !finished { condition.wait() }
        if readyHead < ready.count {
            let chunk = ready[readyHead]
            readyHead += 1
            if readyHead == ready.count {
                ready.removeAll(keepingCapacity: true)
                readyHead = 0
            }
            return chunk
        }
        if let failure { throw failure }
        return nil
    }

    /// Gives a chunk's buffer back to the producer.
    func recycle(_ chunk: Chunk) {
        condition.lock()
        free.append(chunk.bytes)
        condition.broadcast()
        condition.unlock()
    }

    /// Stops the producer and waits until it no longer touches the decoder or any buffer.
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        while !producerDone { condition.wait() }
        condition.unlock()
    }
}
