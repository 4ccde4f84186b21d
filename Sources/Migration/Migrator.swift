import DumpReader
import Foundation
import Logging
import PostgresClient
import TelemetryCore

/// Where a run stands, for a progress line.
public struct RunProgress: Sendable {
    public var dump: String
    public var dumpIndex: Int
    public var dumpCount: Int
    /// Compressed bytes consumed of all dumps to read, and their total.
    public var bytesDone: UInt64
    public var bytesTotal: UInt64
    public var points: Int
    public var elapsedSeconds: Double
}

/// Receives rejected lines and points (malformed, unknown product) as they are found.
public protocol RejectSink: AnyObject {
    func reject(file: String, line: Int, column: Int?, reason: String, raw: String)
}

/// A run refused before anything was read (exit code 2).
public struct UsageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs nightly and backfill migrations: the executor of the rules in `Watermark` and
/// `Classifier`, one transaction per dump, on one connection.
///
/// Exactly-once rests on three facts: a dump's rows, its watermark advances and its
/// completed-dump record commit together or not at all; a completed dump is not read
/// again; and inserts never overwrite (a direct COPY fails on an existing key, and the dump
/// is then redone on the staged path, which inserts with `ON CONFLICT DO NOTHING`; see
/// `DumpPath`). So a run killed at any moment and run again ends in the state of one
/// uninterrupted run.
public final class Migrator {
    let configuration: RunConfiguration
    let connection: PostgresConnection
    let store: MigrationStore
    let classifier: Classifier
    let logger: Logger
    let rejects: RejectSink?
    let progress: ((RunProgress) -> Void)?

    public init(configuration: RunConfiguration, connection: PostgresConnection, logger: Logger,
                rejects: RejectSink? = nil, progress: ((RunProgress) -> Void)? = nil) {
        self.configuration = configuration
        self.connection = connection
        self.store = MigrationStore(connection: connection, unit: configuration.unit)
        self.classifier = Classifier(mode: configuration.mode)
        self.logger = logger
        self.rejects = rejects
        self.progress = progress
    }

    /// State carried from dump to dump.
    private struct RunState {
        var products = ProductIndex([])
        /// W(p) by product id as committed (or, in a dry run, as it would be) after the last dump.
        var watermarks: [Int64?] = []
        /// W(p) by product id when the run started, for the report.
        var watermarksBefore: [Int64?] = []
        /// Rows inserted by product id; nil for a product no dump touched.
        var rows: [Int?] = []
        var rejectsSoFar = 0
        var pointsSoFar = 0
        var bytesDone: UInt64 = 0
        var runID: Int64?
        /// A nightly dry run's memory of the rows it would have inserted (nil otherwise).
        var dryRun: DryRunMemory?
    }

    /// Runs to the end or to the first failed dump. Throws `UsageError` (exit 2) for a
    /// refused configuration and `PostgresError` when the database fails outside a dump.
    public func run() throws -> RunReport {
        let started = Date()
        var report = RunReport(mode: configuration.mode.name, dryRun: configuration.dryRun)
        func finish() -> RunReport {
            report.durationSeconds = Date().timeIntervalSince(started)
            return report
        }

        // A dry run writes nothing, so it needs no writer's lock.
        let lock = RunLock(unit: configuration.unit)
        if !configuration.dryRun {
            guard try lock.acquire(on: connection) else {
                let holder = (try? lock.holder(on: connection)) ?? nil
                report.status = .locked
                report.message = "another run of unit '\(configuration.unit)' holds the lock"
                    + (holder.map { ": \($0)" } ?? "")
                return finish()
            }
        }
        defer { if !configuration.dryRun { try? lock.release(on: connection) } }

        var state = RunState()
        try store.prepareSession(dryRun: configuration.dryRun)
        state.products = ProductIndex(try store.productIMEIs())
        if case .backfill(let selection) = configuration.mode {
            let unknown = selection.imeis.filter { state.products.id(of: $0) == nil }.sorted()
            guard unknown.isEmpty else {
                throw UsageError("not a product: \(unknown.joined(separator: ", ")) (backfill takes IMEIs from the product table)")
            }
        }
        if !configuration.dryRun {
            try store.abortOrphanedRuns()
            state.runID = try store.startRun(mode: configuration.mode.name, host: ProcessInfo.processInfo.hostName,
                                              pid: ProcessInfo.processInfo.processIdentifier)
        }
        report.runID = state.runID
        state.watermarks = state.products.byID(try store.watermarks())
        state.watermarksBefore = state.watermarks
        state.rows = [Int?](repeating: nil, count: state.products.count)
        if configuration.dryRun && configuration.mode == .nightly {
            state.dryRun = DryRunMemory(committed: state.watermarks)
        }
        let completed = configuration.mode == .nightly ? try store.completedDumps() : [:]
        let plan = plan(completed: completed)
        report.dumps = plan.map(\.report)
        let bytesTotal = plan.filter { $0.report.status != .skipped }.reduce(UInt64(0)) { $0 + $1.size }

        for (index, entry) in plan.enumerated() where entry.report.status != .skipped {
            var dumpReport = entry.report
            logger.info("dump started", metadata: ["dump.file": "\(entry.path)", "dump.bytes": "\(entry.size)"])
            do {
                let outcome = try migrate(entry, index: index, of: plan.count, state: &state, bytesTotal: bytesTotal, started: started)
                dumpReport.counts = outcome.counts
                dumpReport.status = configuration.dryRun ? .planned : .completed
                apply(outcome, to: &state)
                report.dumps[index] = dumpReport
                var metadata = dumpReport.counts.logMetadata(file: entry.path)
                metadata["dump.path"] = "\(outcome.path.rawValue)"
                logger.info("dump finished", metadata: metadata)
            } catch {
                dumpReport.status = .failed
                dumpReport.error = Migrator.describe(error)
                if let partial = error as? DumpFailure { dumpReport.counts = partial.counts }
                report.dumps[index] = dumpReport
                report.status = (error as? DumpFailure)?.underlying is TooManyRejects ? .rejects : .failed
                report.message = "\(entry.report.name): \(dumpReport.error ?? "failed"); later dumps were not processed"
                logger.error("dump failed", metadata: ["dump.file": "\(entry.path)", "error": "\(dumpReport.error ?? "")"])
                break
            }
            state.bytesDone += entry.size
        }
        report.products = state.rows.indices.compactMap { i in
            state.rows[i].map { rows in
                ProductReport(imei: state.products.imeis[i], watermarkBefore: state.watermarksBefore[i],
                              watermarkAfter: state.watermarks[i], rows: rows)
            }
        }
        let result = finish()
        if let runID = report.runID {
            try? store.finishRun(runID, report: result, exitCode: result.status.exitCode)
        }
        return result
    }

    // MARK: Planning

    struct PlannedDump {
        var path: String
        var size: UInt64
        var fingerprint: String?
        var report: DumpReport
    }

    /// Dumps in the given order; a nightly run skips those completed with the same fingerprint.
    /// A dump that cannot be fingerprinted is left to fail when it is read.
    private func plan(completed: [String: String]) -> [PlannedDump] {
        configuration.dumps.map { path in
            let name = (path as NSString).lastPathComponent
            let fingerprint = try? DumpFingerprint.of(path: path)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
            let skipped = fingerprint != nil && completed[name] == fingerprint
            return PlannedDump(path: path, size: size, fingerprint: fingerprint,
                               report: DumpReport(name: name, status: skipped ? .skipped : .planned))
        }
    }

    // MARK: One dump

    struct DumpOutcome {
        var counts: DumpCounts
        /// Per product with a candidate: its latest candidate time (the watermark advance), its
        /// rows, and, in a nightly dry run, the fields at that time.
        var tally: ProductTally
        /// The path the dump took.
        var path: DumpPath
    }

    /// A failure inside a dump, with the counts gathered until then.
    struct DumpFailure: Error {
        var underlying: Error
        var counts: DumpCounts
    }

    struct TooManyRejects: Error, CustomStringConvertible {
        let limit: Int
        var description: String { "more than \(limit) rejected lines (--max-rejects \(limit))" }
    }

    /// Reads one dump and applies it in one transaction (read-only in a dry run), on the
    /// path `DumpPath.first` names; when that path refuses the dump, on the staged path.
    private func migrate(_ entry: PlannedDump, index: Int, of count: Int, state: inout RunState,
                         bytesTotal: UInt64, started: Date) throws -> DumpOutcome {
        let dump = try DumpFile(path: entry.path, options: configuration.reader)
        let bytesBefore = state.bytesDone
        let pointsBefore = state.pointsSoFar
        let report = { [progress] (points: Int, bytes: UInt64) -> Void in
            progress?(RunProgress(dump: dump.name, dumpIndex: index, dumpCount: count, bytesDone: bytesBefore + bytes,
                                  bytesTotal: bytesTotal, points: pointsBefore + points,
                                  elapsedSeconds: Date().timeIntervalSince(started)))
        }
        report(0, 0)
        var input = PassInput(entry: entry, dump: dump, products: state.products, watermarks: state.watermarks,
                              runID: state.runID, rejectsBefore: state.rejectsSoFar, rejectsReportedThrough: 0, progress: report)
        let path = DumpPath.first(for: configuration)
        var reached = 0
        do {
            return try pass(path, input, memory: &state.dryRun, reachedLine: &reached)
        } catch let failure as DumpFailure where failure.underlying is PathRefused {
            logger.info("dump read again on the staged path", metadata: [
                "dump.file": "\(entry.path)", "dump.path": "\(path.rawValue)", "reason": "\(failure.underlying)",
            ])
            // The first pass reported the rejects up to where it stopped; report only the rest.
            input.rejectsReportedThrough = reached
            return try pass(.staged, input, memory: &state.dryRun, reachedLine: &reached)
        }
    }

    private func pass(_ path: DumpPath, _ input: PassInput, memory: inout DryRunMemory?,
                      reachedLine: inout Int) throws -> DumpOutcome {
        var counts = DumpCounts()
        do {
            return try connection.transaction(readOnly: configuration.dryRun) {
                switch path {
                case .direct: try directPass(input, counts: &counts, reachedLine: &reachedLine)
                case .staged: try stagedPass(input, memory: &memory, counts: &counts, reachedLine: &reachedLine)
                case .counted: try countedPass(input, memory: memory, counts: &counts, reachedLine: &reachedLine)
                }
            }
        } catch {
            throw DumpFailure(underlying: error, counts: counts)
        }
    }

    func checkRejects(_ total: Int) throws {
        if let limit = configuration.maxRejects, total > limit { throw TooManyRejects(limit: limit) }
    }

    /// Carries a committed (or, in a dry run, planned) dump into the run's state.
    private func apply(_ outcome: DumpOutcome, to state: inout RunState) {
        state.dryRun?.remember(outcome.tally, watermarksBefore: state.watermarks)
        for id in outcome.tally.touched {
            let i = Int(id)
            state.watermarks[i] = Watermark.advanced(state.watermarks[i], to: outcome.tally.latest(id))
            state.rows[i] = (state.rows[i] ?? 0) + outcome.tally.inserted(id)
        }
        state.rejectsSoFar += outcome.counts.rejects
        state.pointsSoFar += outcome.counts.read
    }

    /// An error as one line for a report: no connection strings, no passwords.
    static func describe(_ error: Error) -> String {
        if let failure = error as? DumpFailure { return describe(failure.underlying) }
        return String(describing: error)
    }
}

extension RunReport.Status {
    /// The exit status of DESIGN.md for a run that ended with this status.
    public var exitReason: ExitReason {
        switch self {
        case .ok: .success
        case .failed: .dumpFailed
        case .locked: .locked
        case .rejects: .rejects
        }
    }

    public var exitCode: Int32 { exitReason.rawValue }
}

extension FieldValue {
    /// The `telemetry` columns: numbers and booleans (1/0) go to `value`, strings to `value_text`.
    var columns: (value: Double?, text: String?) {
        switch self {
        case .float(let d): (d, nil)
        case .integer(let i): (Double(i), nil)
        case .unsigned(let u): (Double(u), nil)
        case .boolean(let b): (b ? 1 : 0, nil)
        case .string(let s): (nil, s)
        }
    }
}

extension Point {
    /// A short description for the reject file of a point that was well-formed but rejected.
    var summary: String {
        "\(measurement),product_imei=\(imei) \(field) \(time)"
    }
}

extension DumpCounts {
    func logMetadata(file: String) -> Logger.Metadata {
        [
            "dump.file": "\(file)", "dump.read": "\(read)", "dump.inserted": "\(inserted)", "dump.stale": "\(stale)",
            "dump.present": "\(present)", "dump.unknown_product": "\(unknownProduct)",
            "dump.other_measurement": "\(otherMeasurement)", "dump.malformed": "\(malformed)",
            "dump.duplicates": "\(duplicates)",
        ]
    }
}
