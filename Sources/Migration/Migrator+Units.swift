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
            let connection = try connect()
            try MigrationStore(connection: connection, unit: unit.name).prepareSession(dryRun: false)
            return connection
        }
        return UnitDumpWriter(units: units, connections: connections, configuration: configuration)
    }

    /// For unit `index`, a reading of the dump for its candidates only, on a file handle
    /// and a context of its own (so that the unit's thread shares nothing with the reader's).
    func rereadings(of context: DumpContext, units: UnitPlan) -> (Int) -> UnitRereading {
        let (entry, products, watermarks, runID) = (context.entry, context.products, context.watermarks, context.runID)
        let (routing, reader, classifier) = (context.routing, configuration.reader, classifier)
        return { index in
            { take in
                let own = DumpContext(entry: entry, dump: try DumpFile(path: entry.path, options: reader), products: products,
                                      watermarks: watermarks, runID: runID, rejectsBefore: 0, maxRejects: nil, sink: nil,
                                      progress: { _, _ in })
                own.routing = routing?.restricted(to: [index], of: units)
                try Candidates(context: own, classifier: classifier).again(take)
            }
        }
    }

    /// Reads one dump once and writes it through the pending units' connections, each unit
    /// committing its own part (`UnitDumpWriter`); the units whose strategy refused the dump
    /// read it again, on the staged strategy, for their products only. The committed units'
    /// watermarks and rows go into `state` even when another unit failed; then this throws
    /// `UnitFailed`, and the run stops after this dump.
    func migrateUnits(_ context: DumpContext, pending: [Int], units: UnitPlan, writer: UnitDumpWriter,
                      state: inout RunState) throws -> DumpOutcome {
        let strategy = WriteStrategy.first(for: configuration, memory: nil)
        context.beginPass()
        let candidates = Candidates(context: context, classifier: classifier)
        let rereading = rereadings(of: context, units: units)
        var results = try writer.write(context, pending: pending, strategy: strategy,
                                       read: { try candidates.forEach($0) },
                                       rereading: rereading)
        let refused = results.keys.filter { if case .refused = results[$0]! { true } else { false } }.sorted()
        if !refused.isEmpty, !results.values.contains(where: { if case .failed = $0 { true } else { false } }) {
            logger.info("dump read again on the staged strategy", metadata: [
                "dump.file": "\(context.entry.path)", "dump.strategy": "\(strategy.name)",
                "units": "\(refused.map { writer.units[$0].name })",
            ])
            let routing = context.routing
            defer { context.routing = routing }
            context.routing = routing?.restricted(to: refused, of: units)
            let again = try writer.write(context, pending: refused, strategy: .staged,
                                         read: { try candidates.again($0) },
                                         rereading: rereading)
            results.merge(again) { $1 }
        }
        var counts = context.counts
        var failure: UnitFailed?
        for index in pending {
            switch results[index]! {
            case .committed(let written):
                apply(written.tally, to: &state)
                counts.inserted += written.inserted
                counts.present += written.present
                counts.duplicates += written.duplicates
            case .refused(let refusal):
                failure = failure ?? UnitFailed(unit: writer.units[index].name, underlying: refusal)
            case .failed(let error):
                failure = failure ?? UnitFailed(unit: writer.units[index].name, underlying: error)
            }
        }
        if let failure { throw failure }
        // The log names the strategy that took the dump's last candidates.
        return DumpOutcome(counts: counts, tally: ProductTally(productCount: 0), strategy: refused.isEmpty ? strategy.name : "staged")
    }
}
