/// How one dump's candidates reach `telemetry` (or, in a dry run, get counted). Every path
/// gives the same rows and the same counts; they differ in cost.
///
/// The fast paths rest on the watermark invariant (see `Watermark`): every row of product p
/// lies at or before W(p), so a candidate later than W(p) cannot be present yet, and only
/// candidates exactly at W(p) need the database's word.
enum DumpPath: String, Sendable {
    /// Nightly: candidates later than W(p) go by binary COPY straight into `telemetry`;
    /// those exactly at W(p) go through the stage after it. Refused (the COPY fails on the
    /// table's key) when the dump repeats a (product_imei, field, time).
    case direct
    /// Every candidate is copied into the stage, deduplicated (the last one in the file
    /// wins) and inserted with `ON CONFLICT DO NOTHING`: exact for any input, at the cost of
    /// a second pass inside PostgreSQL. Backfills always take it: their candidates may lie
    /// anywhere before W(p).
    case staged
    /// Nightly dry run: counted in memory; only candidates exactly at W(p) are looked up.
    /// Refused when a series' times do not increase, since the dump may then repeat a point.
    case counted

    /// The path a dump is tried on first.
    static func first(for configuration: RunConfiguration) -> DumpPath {
        guard configuration.mode == .nightly, !configuration.stagedOnly else { return .staged }
        return configuration.dryRun ? .counted : .direct
    }
}

/// A path that does not apply to a dump: its transaction is rolled back and the dump is
/// read again on the staged path.
struct PathRefused: Error, CustomStringConvertible {
    let description: String
}
