import DumpReader
import Foundation
import Logging
import PostgresClient

/// A run unit's part of a dump failed: the dump fails, the units that committed keep it.
struct UnitFailed: Error, CustomStringConvertible {
    let unit: String
    let underlying: Error
    var description: String { "unit \(unit): \(underlying)" }
}

extension Migrator {
    /// The writer of a run of several units (`--workers N`, not dry): one connection each,
    /// opened with `connect` and prepared; nil for a run of one unit or a dry run, which
    /// read and write on the run's own connection.
    func unitWriter() throws -> UnitDumpWriter? {
        let units = configuration.units
        guard units.count > 1, !configuration.dryRun else { return nil }
        guard let connect else { throw UsageError("a run of \(units.count) units needs a way to open connections") }
        let connections = try units.map { unit in
            let connection = try connect(unit)
            stop?.watch(connection)
            try MigrationStore(connection: connection, unit: unit.name).prepareSession(dryRun: false)
            return connection
        }
        return UnitDumpWriter(units: units, connections: connections, configuration: configuration)
    }

    /// For unit `index`, a reading of the dump for its candidates only, on a file handle
    /// and a context of its own (so that the unit's thread shares nothing with the reader's),
    /// with the lines already found refused (`DumpContext.refusedLines`) malformed.
    func rereadings(of context: DumpContext, units: UnitPlan) -> (Int) -> UnitRereading {
        let (entry, products, watermarks, runID) = (context.entry, context.products, context.watermarks, context.runID)
        let (routing, refusedLines, reader, classifier, stop) = (context.routing, context.refusedLines, configuration.reader,
                                                                 classifier, stop)
        return { index in
            { take in
                let own = DumpContext(entry: entry, dump: try DumpFile(path: entry.path, options: reader), products: products,
                                      watermarks: watermarks, runID: runID, rejectsBefore: 0, maxRejects: nil, sink: nil,
                                      stop: stop, progress: { _, _ in })
                own.routing = routing?.restricted(to: [index], of: units)
                own.refusedLines = refusedLines
                try Candidates(context: own, classifier: classifier).again(take)
            }
        }
    }

    /// Reads one dump once and writes it through the pending units' connections, each unit
    /// committing its own part (`UnitDumpWriter`). The units whose strategy refused the dump
    /// read it again, on the staged strategy, for their products only; so do the units whose
    /// rows PostgreSQL refused for their data, once the lines of those rows are found and
    /// counted malformed (`isolateRefusedLines`, as in a run of one unit). The committed
    /// units' watermarks and rows go into `state` even when another unit failed; then this
    /// throws `UnitFailed`, and the run stops after this dump.
    func migrateUnits(_ context: DumpContext, pending: [Int], units: UnitPlan, writer: UnitDumpWriter,
                      state: inout RunState) throws -> DumpOutcome {
        let strategy = WriteStrategy.first(for: configuration, memory: nil)
        context.beginPass()
        let candidates = Candidates(context: context, classifier: classifier)
        var results = try writer.write(context, pending: pending, strategy: strategy,
                                       read: { try candidates.forEach($0) },
                                       rereading: rereadings(of: context, units: units))
        // The points each committed unit's completed-dump record claims: the dump's read count
        // when it committed, which isolating refused lines later lowers.
        var recorded: [Int: Int] = [:]
        func noteCommitted() {
            for (index, result) in results where result.isCommitted { recorded[index] = recorded[index] ?? context.counts.read }
        }
        noteCommitted()
        let routing = context.routing
        defer { context.routing = routing }
        var isolation = RefusedRowIsolation()
        var stagedUnits: [Int] = []
        do {
            while let again = try unitsToWriteAgain(results, context, units: units, isolation: &isolation) {
                logger.info("dump read again on the staged strategy", metadata: [
                    "dump.file": "\(context.entry.path)", "dump.strategy": "\(strategy.name)",
                    "units": "\(again.map { writer.units[$0].name })",
                ])
                context.routing = routing?.restricted(to: again, of: units)
                results.merge(try writer.write(context, pending: again, strategy: .staged,
                                               read: { try candidates.again($0) },
                                               rereading: rereadings(of: context, units: units))) { $1 }
                stagedUnits += again
                context.routing = routing
                noteCommitted()
            }
        } catch {
            _ = settle(results, pending: pending, writer: writer, state: &state)
            // Over `--max-rejects` once the refused lines were counted (a whole pass): what the
            // committed units' records claim is known.
            if error is TooManyRejects { correctRecordedPoints(recorded, read: context.counts.read, context, writer: writer) }
            throw error
        }
        var counts = context.counts
        let (written, failure) = settle(results, pending: pending, writer: writer, state: &state)
        // Also when another unit failed: what the committed units' records claim stays committed.
        correctRecordedPoints(recorded, read: counts.read, context, writer: writer)
        if let failure { throw failure }
        counts.inserted += written.inserted
        counts.present += written.present
        counts.duplicates += written.duplicates
        // The log names the strategy that took the dump's last candidates.
        return DumpOutcome(counts: counts, tally: ProductTally(productCount: 0),
                           strategy: stagedUnits.isEmpty ? strategy.name : "staged")
    }

    /// Sets the completed-dump records of the units that committed before refused lines were
    /// found (`recorded`: unit index → the points their record claims) to the points the report
    /// counts, `read`. Bookkeeping only: the units' parts are committed, so a failure here is
    /// logged and does not fail the dump.
    private func correctRecordedPoints(_ recorded: [Int: Int], read: Int, _ context: DumpContext, writer: UnitDumpWriter) {
        let miscounted = recorded.filter { $0.value != read }.map { writer.units[$0.key].name }
        guard configuration.mode == .nightly, !miscounted.isEmpty, let runID = context.runID else { return }
        do {
            try store.correctRecordedPoints(dump: context.dump.name, runID: runID, units: miscounted, points: read)
        } catch {
            logger.warning("completed-dump records not corrected", metadata: [
                "dump.file": "\(context.entry.path)", "units": "\(miscounted)", "error": "\(error)",
            ])
        }
    }

    /// Carries the committed units' watermarks and rows into `state` (also when the dump
    /// fails: what they committed stays committed); returns what they wrote, summed, and the
    /// failure to report: the first unit's error, else the first unit's strategy refusal (a
    /// unit left refused only because another failed).
    private func settle(_ results: [Int: UnitDumpWriter.UnitResult], pending: [Int], writer: UnitDumpWriter,
                        state: inout RunState) -> (written: DumpCounts, failure: UnitFailed?) {
        var written = DumpCounts()
        var failure: UnitFailed?
        var refused: UnitFailed?
        for index in pending {
            switch results[index] {
            case .committed(let write):
                apply(write.tally, to: &state)
                written.inserted += write.inserted
                written.present += write.present
                written.duplicates += write.duplicates
            case .refused(let refusal):
                refused = refused ?? UnitFailed(unit: writer.units[index].name, underlying: refusal)
            case .failed(let error):
                failure = failure ?? UnitFailed(unit: writer.units[index].name, underlying: error)
            case nil:
                break
            }
        }
        return (written, failure ?? refused)
    }

    /// The units to write again on the staged strategy, or nil: those whose strategy refused
    /// the dump, and those whose rows PostgreSQL refused for their data once their refused
    /// lines are isolated (found among those units' candidates, then the whole dump counted
    /// again with them malformed: the report's counts, and those the units written again
    /// record). Nil when a unit failed otherwise (the dump fails; the next run reads it again
    /// for that unit) or when the isolation has nothing more to try.
    private func unitsToWriteAgain(_ results: [Int: UnitDumpWriter.UnitResult], _ context: DumpContext, units: UnitPlan,
                                   isolation: inout RefusedRowIsolation) throws -> [Int]? {
        var strategyRefused: [Int] = []
        var dataRefused: [Int] = []
        var refusal: PostgresError?
        for (index, result) in results {
            switch result {
            case .committed: break
            case .refused: strategyRefused.append(index)
            case .failed(let error as PostgresError) where error.refusesData:
                dataRefused.append(index)
                refusal = refusal ?? error
            case .failed: return nil
            }
        }
        if let refusal {
            let routing = context.routing
            defer { context.routing = routing }
            context.routing = routing?.restricted(to: dataRefused, of: units)
            let before = context.refusedLines.count
            guard try isolateRefusedLines(after: refusal, context, units: Set(dataRefused), &isolation) else { return nil }
            if context.refusedLines.count > before {
                context.routing = routing
                context.beginPass()
                try context.countingWhole { try Candidates(context: context, classifier: classifier).forEach { _ in } }
            }
        }
        let again = (strategyRefused + dataRefused).sorted()
        return again.isEmpty ? nil : again
    }
}

extension UnitDumpWriter.UnitResult {
    var isCommitted: Bool {
        if case .committed = self { return true }
        return false
    }
}
