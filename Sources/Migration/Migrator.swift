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
    /// Called once, when the run holds its lock (a dry run: where it would take it), before
    /// any reject; throws when the rejects could not be kept (exit 2, nothing read).
    func open() throws
    /// Throws when the rejects cannot be kept (the reject file's disk is full): the dump fails.
    func reject(file: String, line: Int, column: Int?, reason: String, raw: String) throws
    /// Makes the rejects received so far durable. Called when a reading of a dump ends, before
    /// the transaction that read it commits: so a committed dump's rejects outlive the process,
    /// and a failure to keep them fails the dump (rolled back, read again next night).
    func flush() throws
}

extension RejectSink {
    public func open() throws {}
    public func flush() throws {}
}

/// A run refused before anything was read (exit code 2).
public struct UsageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs nightly and backfill migrations: the executor of the rules in `Watermark` and
/// `Classifier`, one transaction per dump and run unit: on one connection for a run of one
/// unit (`all`, or a shard's process), on one connection per unit for `--workers N` (see
/// `UnitDumpWriter`, and docs/workers.md for why any mix of splits ends in the same state).
///
/// Exactly-once rests on three facts: a dump's rows, its watermark advances and its
/// completed-dump record commit together or not at all; a completed dump is not read
/// again; and inserts never overwrite (a direct COPY fails on an existing key, and the dump
/// is then redone on the staged path, which inserts with `ON CONFLICT DO NOTHING`; see
/// `WriteStrategy`). So a run killed at any moment and run again ends in the state of one
/// uninterrupted run.
public final class Migrator {
    /// As given, but for `stagedOnly`, which the run sets when `telemetry`'s column types
    /// rule the direct path out (`run`).
    private(set) var configuration: RunConfiguration
    let connection: PostgresConnection
    private(set) var store: MigrationStore
    let classifier: Classifier
    let logger: Logger
    let rejects: RejectSink?
    let progress: ((RunProgress) -> Void)?
    /// Opens another connection to the same database for a unit of `--workers N` (named for
    /// that unit in `pg_stat_activity`).
    let connect: ((RunUnit) throws -> PostgresConnection)?
    /// Set when the run is asked to stop early (a signal).
    let stop: StopRequest?

    /// - Parameter connect: opens the extra connections of a run of more than one unit
    ///   (`RunConfiguration.units`); without it, such a run is refused (`UsageError`).
    /// - Parameter stop: a request to stop early; the run watches its connections with it.
    public init(configuration: RunConfiguration, connection: PostgresConnection, logger: Logger,
                rejects: RejectSink? = nil, progress: ((RunProgress) -> Void)? = nil,
                connect: ((RunUnit) throws -> PostgresConnection)? = nil, stop: StopRequest? = nil) {
        self.connect = connect
        self.stop = stop
        self.configuration = configuration
        self.connection = connection
        self.store = MigrationStore(connection: connection, unit: configuration.unit)
        self.classifier = Classifier(mode: configuration.mode)
        self.logger = logger
        self.rejects = rejects
        self.progress = progress
        stop?.watch(connection)
    }

    /// State carried from dump to dump.
    struct RunState {
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

        // A dry run writes nothing, so it needs no writer's lock. A shard's process takes its
        // shard's lock; a run of every product, split into units by `--workers` or not, `all`'s.
        var lock = RunLock(unit: (configuration.shard ?? .all).name)
        var locked = false
        defer { if locked { try? lock.release(on: connection) } }
        if !configuration.dryRun {
            guard try lock.acquire(on: connection) else {
                let holder = (try? lock.holder(on: connection)) ?? nil
                report.status = .locked
                report.message = "another run of unit '\(lock.refusedUnit)' holds the lock" + (holder.map { ": \($0)" } ?? "")
                return finish()
            }
            locked = true
        }
        try rejects?.open()

        logger.info("run started", metadata: [
            "run.mode": "\(configuration.mode.name)", "run.dry_run": "\(configuration.dryRun)",
            "run.units": "\(configuration.units.map(\.name).joined(separator: ", "))",
        ])
        var state = RunState()
        try store.prepareSession(dryRun: configuration.dryRun)
        if configuration.dryRun { try store.prepareRefusalProbe() }
        if configuration.mode == .nightly, !configuration.dryRun, !configuration.stagedOnly,
           let columns = try store.columnsTheBinaryCopyCannotFill() {
            // The stage has the job's types; its insert casts them to the operator's.
            logger.warning("telemetry's column types are not the job's: every dump goes through the stage",
                           metadata: ["columns": "\(columns)"])
            configuration.stagedOnly = true
        }
        state.products = ProductIndex(try store.productIMEIs())
        if case .backfill(let selection) = configuration.mode {
            let unknown = selection.imeis.filter { state.products.id(of: $0) == nil }.sorted()
            guard unknown.isEmpty else {
                throw UsageError("not a product: \(unknown.joined(separator: ", ")) (backfill takes IMEIs from the product table)")
            }
        }
        // Before the run's record: a connection that cannot be opened leaves no run `running`.
        let writer = try unitWriter()
        defer { writer?.stop() }
        if !configuration.dryRun {
            try store.abortOrphanedRuns()
            state.runID = try store.startRun(mode: configuration.mode.name, host: ProcessInfo.processInfo.hostName,
                                              pid: ProcessInfo.processInfo.processIdentifier)
        }
        report.runID = state.runID
        let units = UnitPlan(units: configuration.units, products: state.products,
                             records: configuration.mode == .nightly ? try store.completedDumpsOfEveryUnit() : [:])
        state.watermarks = try store.watermarks(of: configuration.shard ?? .all, products: state.products)
        state.watermarksBefore = state.watermarks
        state.rows = [Int?](repeating: nil, count: state.products.count)
        if configuration.dryRun && configuration.mode == .nightly {
            state.dryRun = DryRunMemory(committed: state.watermarks)
        }
        let plan = plan(units)
        report.dumps = plan.map(\.report)
        let bytesTotal = plan.filter { $0.report.status != .skipped }.reduce(UInt64(0)) { $0 + $1.size }

        for (index, entry) in plan.enumerated() where entry.report.status != .skipped {
            if let reason = stop?.reason {
                report.status = .failed
                report.message = "stopped by \(reason) before \(entry.report.name); it and later dumps were not processed"
                logger.warning("run stopped", metadata: ["reason": "\(reason)", "dump.file": "\(entry.path)"])
                break
            }
            var dumpReport = entry.report
            logger.info("dump started", metadata: ["dump.file": "\(entry.path)", "dump.bytes": "\(entry.size)"])
            var context: DumpContext?
            do {
                let dump = try DumpFile(path: entry.path, options: configuration.reader)
                let current = makeContext(entry, dump: dump, index: index, of: plan.count, state: state,
                                          bytesTotal: bytesTotal, started: started)
                current.routing = units.routing(pending: entry.pending, done: entry.done)
                context = current
                let outcome = try whileWriting {
                    try writer.map { try migrateUnits(current, pending: entry.pending, units: units, writer: $0, state: &state) }
                        ?? migrate(current, memory: &state.dryRun)
                }
                dumpReport.counts = outcome.counts
                dumpReport.status = configuration.dryRun ? .planned : .completed
                apply(outcome, to: &state)
                report.dumps[index] = dumpReport
                var metadata = dumpReport.counts.logMetadata(file: entry.path)
                metadata["dump.strategy"] = "\(outcome.strategy)"
                logger.info("dump finished", metadata: metadata)
            } catch {
                // Asked to stop during the dump, a cancelled statement is the stop.
                let error = stop?.reason.flatMap { RunStopped.isStop(error) ? RunStopped(reason: $0) : nil } ?? error
                dumpReport.status = .failed
                dumpReport.error = String(describing: error)
                if let context { dumpReport.counts = context.counts.uncommitted }
                report.dumps[index] = dumpReport
                report.status = error is TooManyRejects ? .rejects : .failed
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
        var result = finish()
        if let runID = report.runID {
            do {
                do {
                    try store.finishRun(runID, report: result, exitCode: result.status.exitCode)
                } catch where stop?.reason != nil && RunStopped.isStop(error) {
                    // A stop's cancel that reached the server late: the record is written again.
                    try store.finishRun(runID, report: result, exitCode: result.status.exitCode)
                }
            } catch {
                // The dumps committed, but `status` would show the run as running, then aborted: say so, and exit non-zero.
                logger.error("run record not updated", metadata: ["run.id": "\(runID)", "error": "\(error)"])
                let failure = "the run's record (migrate_run \(runID)) was not updated: \(error)"
                if result.status == .ok { result.status = .failed }
                result.message = result.message.map { $0 + "; " + failure } ?? failure
            }
        }
        return result
    }

    /// Runs `body`, one dump's reading and writing, with a stop request's cancels armed.
    private func whileWriting<T>(_ body: () throws -> T) throws -> T {
        guard let stop else { return try body() }
        return try stop.whileWriting(body)
    }

    // MARK: Planning

    struct PlannedDump {
        var path: String
        var size: UInt64
        var fingerprint: String?
        var report: DumpReport
        /// The run's units (indices into `RunConfiguration.units`) that still have to apply it.
        var pending: [Int]
        /// The units of any split that completed it with this fingerprint.
        var done: [RunUnit]
    }

    /// Dumps in the given order; a nightly run skips those completed, with the same
    /// fingerprint, for every unit of the run (`UnitPlan`). A dump that cannot be
    /// fingerprinted is left to fail when it is read.
    private func plan(_ units: UnitPlan) -> [PlannedDump] {
        configuration.dumps.map { path in
            let name = (path as NSString).lastPathComponent
            let fingerprint = try? DumpFingerprint.of(path: path)
            // `stat` alone: FileManager's attributes also read /etc/passwd and /etc/group, a dump.
            let size = (try? DumpFile.regularFileSize(path)) ?? 0
            let done = units.done(name, fingerprint: fingerprint)
            let pending = units.pending(done)
            return PlannedDump(path: path, size: size, fingerprint: fingerprint,
                               report: DumpReport(name: name, status: pending.isEmpty ? .skipped : .planned),
                               pending: pending, done: done)
        }
    }

    // MARK: One dump

    struct DumpOutcome {
        var counts: DumpCounts
        /// Per product with a candidate: its latest candidate time (the watermark advance), its
        /// rows, and, in a nightly dry run, the fields at that time.
        var tally: ProductTally
        /// The name of the strategy the dump took.
        var strategy: String
    }

    /// The context of one dump, its progress reported against the whole run.
    private func makeContext(_ entry: PlannedDump, dump: DumpFile, index: Int, of count: Int, state: RunState,
                             bytesTotal: UInt64, started: Date) -> DumpContext {
        let bytesBefore = state.bytesDone
        let pointsBefore = state.pointsSoFar
        let report = { [progress] (points: Int, bytes: UInt64) -> Void in
            progress?(RunProgress(dump: dump.name, dumpIndex: index, dumpCount: count, bytesDone: bytesBefore + bytes,
                                  bytesTotal: bytesTotal, points: pointsBefore + points,
                                  elapsedSeconds: Date().timeIntervalSince(started)))
        }
        report(0, 0)
        return DumpContext(entry: entry, dump: dump, products: state.products, watermarks: state.watermarks,
                           runID: state.runID, rejectsBefore: state.rejectsSoFar, maxRejects: configuration.maxRejects,
                           sink: rejects, stop: stop, progress: report)
    }

    /// Reads one dump and applies it in one transaction (read-only in a dry run), on the
    /// strategy `WriteStrategy.first` names; when that strategy refuses the dump, on the staged
    /// one; when PostgreSQL refuses rows for their data, again on the staged one with the
    /// lines of those rows malformed (`isolateRefusedLines`).
    private func migrate(_ context: DumpContext, memory: inout DryRunMemory?) throws -> DumpOutcome {
        do {
            return try migrateOnce(context, memory: &memory)
        } catch var error as PostgresError where error.refusesData {
            var isolation = RefusedRowIsolation()
            while try isolateRefusedLines(after: error, context, memory: memory, &isolation) {
                do {
                    return try attempt(.staged, context, memory: &memory)
                } catch let again as PostgresError where again.refusesData {
                    error = again
                }
            }
            throw error
        }
    }

    /// How far the isolation of a dump's refused rows has gone.
    struct RefusedRowIsolation {
        /// The dump has been written on the staged strategy since a refusal.
        var stagedTried = false
        /// The units (indices; none for a run of one unit) whose candidates the last probe
        /// found no new line among, or nil: the staged strategy writes exactly the rows it
        /// probed, so a refusal of theirs after it is none the probe can find.
        var foundNothingAmong: Set<Int>?
    }

    /// Defence in depth (DESIGN.md, "A point"): after PostgreSQL refused rows of the dump for
    /// their data, finds the lines of the rows it refuses among the candidates `context` routes
    /// (`RefusedLines`) and adds them to `context.refusedLines`, so that the next reading
    /// rejects them as malformed. True when the dump is worth writing again on the staged
    /// strategy: new lines were found, or, the first time, none was, since a refused row may be
    /// one a later line of the dump overrides (the staged strategy drops it before inserting;
    /// the direct one copies every line). Each round finds a line or ends, so it terminates.
    /// In a dry run, the rows its earlier dumps would have written count as written
    /// (`migrate_dry_inserted` and `memory`), as they will be when the real run comes.
    func isolateRefusedLines(after error: PostgresError, _ context: DumpContext, units: Set<Int> = [],
                             memory: DryRunMemory? = nil, _ isolation: inout RefusedRowIsolation) throws -> Bool {
        if isolation.stagedTried, let none = isolation.foundNothingAmong, units.isSubset(of: none) { return false }
        logger.warning("PostgreSQL refused rows of the dump; finding their lines", metadata: [
            "dump.file": "\(context.entry.path)", "error": "\(error)",
        ])
        var probe = RefusedLines(connection: connection)
        if configuration.dryRun { probe.presentAlsoIn = ["migrate_dry_inserted"] }
        if let memory {
            probe.remembered = { $0.time == $0.watermark && memory.wouldInsert(product: $0.product, field: $0.point.field) }
        }
        let found = try probe.find(Candidates(context: context, classifier: classifier))
        let new = context.refusedLines.isEmpty ? found : found.filter { context.refusedLines[$0.key] == nil }
        isolation.foundNothingAmong = new.isEmpty ? units : nil
        guard !new.isEmpty || !isolation.stagedTried else { return false }
        if context.refusedLines.isEmpty { context.refusedLines = new } else { context.refusedLines.merge(new) { old, _ in old } }
        isolation.stagedTried = true
        return true
    }

    private func migrateOnce(_ context: DumpContext, memory: inout DryRunMemory?) throws -> DumpOutcome {
        let strategy = WriteStrategy.first(for: configuration, memory: memory)
        do {
            return try attempt(strategy, context, memory: &memory)
        } catch let refused as StrategyRefused {
            logger.info("dump read again on the staged strategy", metadata: [
                "dump.file": "\(context.entry.path)", "dump.strategy": "\(strategy.name)", "reason": "\(refused)",
            ])
            return try attempt(.staged, context, memory: &memory)
        }
    }

    /// One pass over the dump on one strategy, in one transaction that `commitDump` ends.
    private func attempt(_ strategy: WriteStrategy, _ context: DumpContext,
                         memory: inout DryRunMemory?) throws -> DumpOutcome {
        context.beginPass()
        // The memory counts as saved only once the transaction that saved it commits: a pass
        // rolled back (a dump read again for rows PostgreSQL refused) takes its saved rows with it.
        var pending = memory
        let outcome = try connection.transaction(readOnly: configuration.dryRun) {
            if case .staged = strategy, var dry = pending, dry.unsaved {
                // The staged dry insert consults `migrate_dry_inserted`; give it what counted dumps remembered.
                try store.rememberDryRunRows(dry.rows(watermarks: context.watermarks, products: context.products))
                dry.unsaved = false
                pending = dry
            }
            let written = try strategy.write(Candidates(context: context, classifier: classifier), store: store,
                                             configuration: configuration)
            context.count {
                $0.inserted = written.inserted
                $0.present = written.present
                $0.duplicates = written.duplicates
            }
            let outcome = DumpOutcome(counts: context.counts, tally: written.tally, strategy: strategy.name)
            try commitDump(context, outcome)
            return outcome
        }
        memory = pending
        return outcome
    }

    /// The end of a dump's transaction: watermarks advanced, and, for a nightly run, the dump
    /// recorded as completed; nothing in a dry run. The transaction commits when this returns.
    private func commitDump(_ context: DumpContext, _ outcome: DumpOutcome) throws {
        guard !configuration.dryRun else { return }
        try store.advanceWatermarks(outcome.tally.advances(products: context.products, watermarks: context.watermarks),
                                    actor: configuration.actor)
        if configuration.mode == .nightly, let fingerprint = context.entry.fingerprint {
            try store.recordCompletedDump(name: context.dump.name, fingerprint: fingerprint, runID: context.runID,
                                          counts: outcome.counts)
        }
    }

    /// Carries a committed (or, in a dry run, planned) dump into the run's state.
    private func apply(_ outcome: DumpOutcome, to state: inout RunState) {
        apply(outcome.tally, to: &state)
        state.rejectsSoFar += outcome.counts.rejects
        state.pointsSoFar += outcome.counts.read
    }

    /// Carries the watermarks and rows of a committed (or planned) write into the run's state.
    func apply(_ tally: ProductTally, to state: inout RunState) {
        state.dryRun?.remember(tally, watermarksBefore: state.watermarks)
        for id in tally.touched {
            let i = Int(id)
            state.watermarks[i] = Watermark.advanced(state.watermarks[i], to: tally.latest(id))
            state.rows[i] = (state.rows[i] ?? 0) + tally.inserted(id)
        }
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
