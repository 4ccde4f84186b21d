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

/// One product's W(p) := max(W(p), time), as a dump's transaction writes it.
struct WatermarkAdvance {
    let imei: String
    /// Microseconds.
    let time: Int64
    /// Whether the run knew a history row of the product (W(p) not nil before the dump).
    let hasRow: Bool
}

extension ProductTally {
    /// The advances of the touched products, given W(p) as known before the dump, in product
    /// id order, which is `product_imei`'s byte order (`ProductIndex`): new history rows go
    /// into the table's indexes in key order.
    func advances(products: ProductIndex, watermarks: [Int64?]) -> [WatermarkAdvance] {
        touched.sorted().map { WatermarkAdvance(imei: products.imei($0), time: latest($0), hasRow: watermarks[Int($0)] != nil) }
    }
}
