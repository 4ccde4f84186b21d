import DumpReader
import Foundation
import PostgresClient

/// The candidates a write strategy takes: one reading of a dump (`Candidates`), or one
/// run unit's share of it, routed from the reading thread (`RoutedCandidates`).
protocol CandidateSource {
    var products: ProductIndex { get }
    /// Hands each candidate to `take`, once.
    func forEach(_ take: (Candidate) throws -> Void) throws
    /// The same candidates again (for those kept aside), counting nothing.
    func again(_ take: (Candidate) throws -> Void) throws
}

/// What the reading thread sends one unit's thread during a dump.
enum RoutedMessage {
    /// The next candidates of the unit, in dump order.
    case candidates([Candidate])
    /// The dump has been read; its counts (points read, ...) for the unit's completed-dump record.
    case end(DumpCounts)
    /// The reading failed (corrupt dump, too many rejects): the unit rolls back.
    case abort
}

/// The reading failed: a unit's transaction rolls back with it.
struct ReadingAborted: Error, CustomStringConvertible {
    var description: String { "the dump's reading failed" }
}

/// Every pending unit's connection broke during a dump: the reading stops, since no unit is
/// left to take the rest (each unit's own error is the dump's).
private struct EveryUnitLost: Error {}

/// The units whose connection broke during the current dump, marked on their own threads and
/// read by the reading thread.
private final class LostUnits: @unchecked Sendable {
    // @unchecked Sendable: `units` is only touched with `lock` held.
    private let lock = NSLock()
    private var units: Set<Int> = []

    func insert(_ unit: Int) { lock.withLock { _ = units.insert(unit) } }
    func removeAll() { lock.withLock { units.removeAll() } }
    func contain(every pending: [Int]) -> Bool { lock.withLock { pending.allSatisfy(units.contains) } }
}

/// Reads a dump again for one unit's candidates, on the unit's thread (its own file handle
/// and context: nothing shared with the reading thread), counting and reporting nothing.
typealias UnitRereading = ((Candidate) throws -> Void) throws -> Void

/// One unit's candidates of a dump, popped from its queue on the unit's own thread.
final class RoutedCandidates: CandidateSource {
    let products: ProductIndex
    private let queue: BoundedQueue<RoutedMessage>
    private let rereading: UnitRereading
    /// The counts of the `end` message, once it came.
    private(set) var counts: DumpCounts?

    init(products: ProductIndex, queue: BoundedQueue<RoutedMessage>, rereading: @escaping UnitRereading) {
        self.products = products
        self.queue = queue
        self.rereading = rereading
    }

    func forEach(_ take: (Candidate) throws -> Void) throws {
        while true {
            switch queue.pop() {
            case .candidates(let batch): for candidate in batch { try take(candidate) }
            case .end(let counts): self.counts = counts; return
            case .abort: throw ReadingAborted()
            }
        }
    }

    /// The unit reads the dump again by itself (see `UnitRereading`).
    func again(_ take: (Candidate) throws -> Void) throws {
        try rereading(take)
    }
}

/// Writes a dump through N connections, one run unit each, on their own threads (see
/// `UnitWriters`): the calling thread reads and classifies the dump once and routes each
/// candidate to its product's unit; each unit writes with the dump's write strategy and
/// commits, in its own transaction, its rows, its products' watermark advances and its
/// completed-dump record.
///
/// Invariant (exactly once per unit): a unit's transaction holds only its own products'
/// rows and watermarks, and its record claims only its own range; units are disjoint, so a
/// unit that fails rolls back nothing another committed, and no other unit's commit moves
/// its products' watermarks past the data it rolled back.
final class UnitDumpWriter {
    let units: [RunUnit]
    let configuration: RunConfiguration
    private let writers: UnitWriters<RoutedMessage, DumpWrite>
    private let lost = LostUnits()
    /// Candidates per message: large enough that queue hand-offs cost little per point.
    static let batchSize = 2048

    /// Takes the connections over (one per unit, each with the session prepared).
    init(units: [RunUnit], connections: [PostgresConnection], configuration: RunConfiguration) {
        precondition(units.count == connections.count)
        self.units = units
        self.configuration = configuration
        writers = UnitWriters(connections: connections, queueCapacity: 4)
    }

    func stop() { writers.stop() }

    /// How one unit's part of a dump ended.
    enum UnitResult {
        case committed(DumpWrite)
        /// The strategy did not apply: read it again on the staged strategy.
        case refused(StrategyRefused)
        case failed(Error)
    }

    /// Reads the dump once (`read` drives a `Candidates`' forEach or again) and writes each
    /// pending unit's candidates with `strategy`. Throws only when the reading failed; then
    /// every unit rolled back. Once every pending unit's connection broke, the reading stops
    /// there (the dump's counts are what was read), and each unit's result is its error.
    func write(_ dump: DumpContext, pending: [Int], strategy: WriteStrategy,
               read: ((Candidate) throws -> Void) throws -> Void,
               rereading: (Int) -> UnitRereading) throws -> [Int: UnitResult] {
        lost.removeAll()
        for index in pending { start(index, dump: dump, strategy: strategy, rereading: rereading(index)) }
        var batches = [[Candidate]](repeating: [], count: units.count)
        do {
            try read { candidate in
                let unit = Int(candidate.unit)
                batches[unit].append(candidate)
                if batches[unit].count == Self.batchSize {
                    writers.queue(unit).push(.candidates(batches[unit]))
                    batches[unit] = []
                    batches[unit].reserveCapacity(Self.batchSize)
                    if lost.contain(every: pending) { throw EveryUnitLost() }
                }
            }
        } catch is EveryUnitLost {
            // Their queues are dropped: what follows is discarded, and `wait` gives their errors.
        } catch {
            for index in pending { writers.queue(index).push(.abort) }
            for index in pending { _ = writers.wait(index) }
            throw error
        }
        let counts = dump.counts
        for index in pending {
            if !batches[index].isEmpty { writers.queue(index).push(.candidates(batches[index])) }
            writers.queue(index).push(.end(counts))
        }
        var results: [Int: UnitResult] = [:]
        for index in pending {
            switch writers.wait(index) {
            case .success(let write): results[index] = .committed(write)
            case .failure(let refused as StrategyRefused): results[index] = .refused(refused)
            case .failure(let error): results[index] = .failed(error)
            }
        }
        return results
    }

    /// Unit `index`'s job for one dump, on its thread: write, advance its products'
    /// watermarks, record the dump for the unit, commit.
    private func start(_ index: Int, dump: DumpContext, strategy: WriteStrategy, rereading: @escaping UnitRereading) {
        let unit = units[index]
        let configuration = self.configuration
        let products = dump.products
        let watermarks = dump.watermarks
        let entry = dump.entry
        let name = dump.dump.name
        let runID = dump.runID
        let lost = self.lost
        writers.start(index) { connection, queue in
            let store = MigrationStore(connection: connection, unit: unit.name)
            let source = RoutedCandidates(products: products, queue: queue, rereading: rereading)
            defer { if !connection.isHealthy { lost.insert(index) } }
            return try connection.transaction {
                let written = try strategy.write(source, store: store, configuration: configuration)
                try store.advanceWatermarks(written.tally.advances(products: products, watermarks: watermarks),
                                            actor: configuration.actor)
                if configuration.mode == .nightly, let fingerprint = entry.fingerprint, var counts = source.counts {
                    counts.inserted = written.inserted
                    try store.recordCompletedDump(name: name, fingerprint: fingerprint, runID: runID, counts: counts)
                }
                return written
            }
        }
    }
}
