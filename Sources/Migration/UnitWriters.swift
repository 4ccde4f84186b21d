import Foundation
import PostgresClient

/// A bounded first-in first-out queue between one producing and one consuming thread.
///
/// `push` blocks while `capacity` items wait (backpressure: memory is bounded whatever the
/// dump's size); `pop` blocks while none wait. Once `drop()` was called (the consumer gave
/// up), pushes are discarded at once, so a producer never blocks on a consumer that failed.
final class BoundedQueue<Element>: @unchecked Sendable {
    // @unchecked Sendable: every stored property is only touched with `condition` locked.
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0
    private var dropping = false
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity >= 1)
        self.capacity = capacity
    }

    func push(_ item: Element) {
        condition.lock()
        defer { condition.unlock() }
        while items.count - head >= capacity && !dropping { condition.wait() }
        guard !dropping else { return }
        items.append(item)
        condition.broadcast()
    }

    func pop() -> Element {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count { condition.wait() }
        let item = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        condition.broadcast()
        return item
    }

    /// From now on pushes are discarded; waiting pushers return.
    func drop() {
        condition.lock()
        dropping = true
        items.removeAll()
        head = 0
        condition.broadcast()
        condition.unlock()
    }

    /// Ready for another round of pushes (after `drop()`).
    func reopen() {
        condition.lock()
        dropping = false
        items.removeAll()
        head = 0
        condition.unlock()
    }
}

/// What the reading thread sends a unit's thread during one dump: COPY rows (encoded by a
/// `BinaryCopyWriter(encodingRowsInto:)`), then exactly one `finish` with the rest of the work.
enum UnitMessage<Finish> {
    case rows([UInt8])
    case finish(Finish)
}

/// N connections, each owned by its own thread (a libpq connection is not thread-safe): the
/// one reading thread hands each unit's rows to its connection through a bounded queue, so
/// parsing and N COPY streams overlap, and each unit commits its own transaction.
///
/// Protocol per dump: `start(i, job)` on every unit that takes part; push its messages (for
/// example `UnitMessage`s, ending in one that tells the job to finish) into `queue(i)`; then
/// `wait(i)` for the job's outcome. A job must pop until its last message unless it throws;
/// when it throws, its queue is dropped so that the reader never blocks.
final class UnitWriters<Message, Outcome>: @unchecked Sendable {
    // @unchecked Sendable: each connection is used only by its own thread while a job runs
    // and by the caller between `wait` and the next `start`; `slots` is guarded by `condition`.
    typealias Job = (PostgresConnection, BoundedQueue<Message>) throws -> Outcome

    let connections: [PostgresConnection]
    private let queues: [BoundedQueue<Message>]
    private let condition = NSCondition()
    private var jobs: [Job?]
    private var results: [Result<Outcome, Error>?]
    private var stopping = false
    private var running = 0

    /// Takes the connections over; one thread each, until `stop()`.
    init(connections: [PostgresConnection], queueCapacity: Int = 4) {
        self.connections = connections
        queues = connections.map { _ in BoundedQueue(capacity: queueCapacity) }
        jobs = Array(repeating: nil, count: connections.count)
        results = Array(repeating: nil, count: connections.count)
        for index in connections.indices {
            let thread = Thread { [self] in serve(index) }
            thread.stackSize = 1 << 20
            thread.name = "unit-writer-\(index)"
            running += 1
            thread.start()
        }
    }

    deinit { stop() }

    var count: Int { connections.count }

    func queue(_ index: Int) -> BoundedQueue<Message> { queues[index] }

    /// Runs `job` on unit `index`'s thread with its connection and queue.
    func start(_ index: Int, _ job: @escaping Job) {
        condition.lock()
        precondition(jobs[index] == nil && results[index] == nil, "unit \(index) is busy")
        queues[index].reopen()
        jobs[index] = job
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for the job started on unit `index` and returns its outcome.
    func wait(_ index: Int) -> Result<Outcome, Error> {
        condition.lock()
        defer { condition.unlock() }
        while results[index] == nil { condition.wait() }
        let result = results[index]!
        results[index] = nil
        return result
    }

    /// Ends the threads once their jobs are done, and waits for them.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private func serve(_ index: Int) {
        while true {
            condition.lock()
            while jobs[index] == nil && !stopping { condition.wait() }
            guard let job = jobs[index] else {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            condition.unlock()
            let result = Result { try job(connections[index], queues[index]) }
            if case .failure = result { queues[index].drop() }
            condition.lock()
            jobs[index] = nil
            results[index] = result
            condition.broadcast()
            condition.unlock()
        }
    }
}

extension BoundedQueue {
    /// Sends the rows of `UnitMessage`s popped from this queue into `copyIn(sql)` on
    /// `connection`, until the `.finish`, whose value it returns.
    func copyRows<Finish>(into connection: PostgresConnection, _ sql: String) throws -> Finish
    where Element == UnitMessage<Finish> {
        var finish: Finish?
        _ = try connection.copyIn(sql) { writer in
            while true {
                switch pop() {
                case .rows(let bytes): try writer.append(encoded: bytes)
                case .finish(let value): finish = value; return
                }
            }
        }
        return finish!
    }
}
