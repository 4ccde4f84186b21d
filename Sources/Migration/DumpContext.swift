import DumpReader
import TelemetryCore

/// One dump being migrated: what it is read against (products, W(p) before it), what has
/// been found so far (the counts of the current pass), its rejects and its progress.
///
/// A dump may be read more than once: a second pass when its first write strategy refuses
/// it, a second reading inside a pass for candidates kept aside. Each pass starts its counts
/// afresh; a reject is reported once whatever the number of readings (see `reject`).
final class DumpContext {
    let entry: Migrator.PlannedDump
    let dump: DumpFile
    let products: ProductIndex
    /// W(p) by product id before the dump (in a dry run, as the dumps before it would leave it).
    let watermarks: [Int64?]
    /// The run's `migrate_run` row (nil in a dry run).
    let runID: Int64?
    /// Counts of the current pass.
    private(set) var counts = DumpCounts()
    /// Which run unit takes each product (nil: every product, one unit).
    var routing: DumpRouting?
    /// Lines the database refused on an earlier attempt, with its reason: read as malformed.
    var refusedLines: [Int: String] = [:]

    private let rejectsBefore: Int
    private let maxRejects: Int?
    private let sink: RejectSink?
    /// Checked every 65,536 points a reading takes (`Candidates`).
    let stop: StopRequest?
    private let progress: (Int, UInt64) -> Void
    /// False while `countingWhole` reads.
    private var limitsRejects = true
    /// Refused lines already reported (they are found after the readings that reached them).
    private var reportedRefused = Set<Int>()
    /// The last line any reading of the dump has reached.
    private var reachedLine = 0
    /// Invariant: every reject on a line up to this one has been reported, by an earlier
    /// reading; so rejects are deduplicated by line number across readings.
    private var reportedThrough = 0

    init(entry: Migrator.PlannedDump, dump: DumpFile, products: ProductIndex, watermarks: [Int64?], runID: Int64?,
         rejectsBefore: Int, maxRejects: Int?, sink: RejectSink?, stop: StopRequest? = nil,
         progress: @escaping (Int, UInt64) -> Void) {
        self.entry = entry
        self.dump = dump
        self.products = products
        self.watermarks = watermarks
        self.runID = runID
        self.rejectsBefore = rejectsBefore
        self.maxRejects = maxRejects
        self.sink = sink
        self.stop = stop
        self.progress = progress
    }

    /// Starts a pass: counts from zero.
    func beginPass() {
        counts = DumpCounts()
        beginReading()
    }

    /// Starts a reading of the dump: rejects on lines an earlier reading reached are not
    /// reported again.
    func beginReading() {
        reportedThrough = max(reportedThrough, reachedLine)
    }

    /// Counts the pass's counters through `change`.
    func count(_ change: (inout DumpCounts) -> Void) {
        change(&counts)
    }

    /// Notes that a reading reached `line`, and reports progress now and then.
    func reached(line: Int) {
        reachedLine = max(reachedLine, line)
    }

    func reportProgress() {
        progress(counts.read, dump.bytesConsumed)
    }

    /// Reports a rejected line or point (unless an earlier reading did), then enforces
    /// `--max-rejects`. The caller has already counted it.
    func reject(file: String, line: Int, column: Int?, reason: String, raw: String) throws {
        if line > reportedThrough {
            try sink?.reject(file: file, line: line, column: column, reason: reason, raw: raw)
        }
        try checkRejects()
    }

    /// Reports a line the database refused, once, then enforces `--max-rejects`.
    func rejectRefused(line: Int, reason: String, raw: String) throws {
        if reportedRefused.insert(line).inserted {
            try sink?.reject(file: dump.name, line: line, column: nil, reason: reason, raw: raw)
        }
        try checkRejects()
    }

    /// Makes the rejects reported so far durable (`RejectSink.flush`).
    func flushRejects() throws {
        try sink?.flush()
    }

    /// Reads through `body` with `--max-rejects` not enforced, then enforces it: the pass is
    /// counted whole even when it ends over the limit.
    func countingWhole(_ body: () throws -> Void) throws {
        limitsRejects = false
        defer { limitsRejects = true }
        try body()
        limitsRejects = true
        try checkRejects()
    }

    private func checkRejects() throws {
        if limitsRejects, let maxRejects, rejectsBefore + counts.rejects > maxRejects { throw TooManyRejects(limit: maxRejects) }
    }
}

/// More rejects than `--max-rejects` allows: the dump fails and the run exits 4.
struct TooManyRejects: Error, CustomStringConvertible {
    let limit: Int
    var description: String { "more than \(limit) rejected lines (--max-rejects \(limit))" }
}
