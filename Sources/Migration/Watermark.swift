/// The watermark rules of DESIGN.md, as pure functions on values.
///
/// W(p) is `latest_migration_timestamp` of product p in microseconds, or nil (minus
/// infinity) when p has no `product_migration_history` row.
///
/// Invariants, held by every writer of this job:
/// - W(p) never decreases: every update is `W(p) := max(W(p), t)`.
/// - Every `telemetry` row of p has `time <= W(p)`: rows are only inserted in the same
///   transaction that advances W(p) to at least their time. Hence a candidate later than
///   W(p) can never be present already; only candidates exactly at W(p) may be.
/// - A nightly run reads W(p) as committed before each dump, so a dump is classified
///   against the watermarks the previous dumps left.
public enum Watermark {
    /// `max(W, t)`, with nil as minus infinity.
    @inlinable
    public static func advanced(_ watermark: Int64?, to time: Int64) -> Int64 {
        guard let watermark else { return time }
        return max(watermark, time)
    }
}
