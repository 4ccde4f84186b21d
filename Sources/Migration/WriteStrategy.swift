/// How one dump's candidates reach `telemetry` (or, in a dry run, get counted). Every
/// strategy gives the same rows and the same counts; they differ in cost.
///
/// The fast strategies rest on the watermark invariant (see `Watermark`): every row of
/// product p lies at or before W(p), so a candidate later than W(p) cannot be present yet,
/// and only candidates exactly at W(p) need the database's word.
///
/// A strategy takes the candidates the scan hands it (`Candidates`) inside the dump's
/// transaction and returns what it wrote (`DumpWrite`); the Migrator then commits the dump
/// in one step (`Migrator.commitDump`).
enum WriteStrategy {
    /// Nightly: candidates later than W(p) go by binary COPY straight into `telemetry`;
    /// those exactly at W(p) go through the stage after it. Refused (the COPY fails on the
    /// table's key) when the dump repeats a (product_imei, field, time).
    case direct
    /// Every candidate is copied into the stage, deduplicated (the last one in the file
    /// wins) and inserted with `ON CONFLICT DO NOTHING`: exact for any input, at the cost of
    /// a second pass inside PostgreSQL. Backfills always take it: their candidates may lie
    /// anywhere before W(p).
    case staged
    /// Nightly dry run: counted in memory against what the earlier dumps of the run would
    /// have inserted; only candidates exactly at W(p) are looked up. Refused when a series'
    /// times do not increase, since the dump may then repeat a point. When `telemetry` has a
    /// CHECK, which only rows sent to the server meet, the candidates are also copied into a
    /// probe of it (`MigrationStore.probesRefusals`).
    case counted(DryRunMemory)

    /// The name in the logs (`dump.strategy`).
    var name: String {
        switch self {
        case .direct: "direct"
        case .staged: "staged"
        case .counted: "counted"
        }
    }

    /// The strategy a dump is tried on first; `memory` is the nightly dry run's.
    static func first(for configuration: RunConfiguration, memory: DryRunMemory?) -> WriteStrategy {
        guard configuration.mode == .nightly, !configuration.stagedOnly else { return .staged }
        if configuration.dryRun { return memory.map { .counted($0) } ?? .staged }
        return .direct
    }

    /// Writes (or counts) the candidates inside the dump's transaction.
    func write(_ candidates: some CandidateSource, store: MigrationStore, configuration: RunConfiguration) throws -> DumpWrite {
        let products = candidates.products
        switch self {
        case .direct:
            return try DirectWrite(store: store, products: products, atWatermarkBuffer: configuration.atWatermarkBuffer)
                .write(candidates)
        case .staged:
            return try StagedWrite(store: store, products: products, dryRun: configuration.dryRun).write(candidates)
        case .counted(let memory):
            return try CountedWrite(store: store, products: products, memory: memory).write(candidates)
        }
    }
}

/// What a write strategy did with a dump's candidates: per product, the latest candidate
/// time and the rows inserted (`tally`), and how many candidates were already present or
/// overridden by a later line of the dump.
struct DumpWrite {
    var tally: ProductTally
    var present = 0
    var duplicates = 0
    var inserted: Int { tally.totalInserted }
}

/// A strategy that does not apply to a dump: its transaction is rolled back and the dump
/// is read again on the staged strategy.
struct StrategyRefused: Error, CustomStringConvertible {
    let description: String
}
