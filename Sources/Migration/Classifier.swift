/// What becomes of one point.
public enum PointClass: Sendable, Equatable {
    /// To be inserted (or counted as `present` when its row already exists).
    case candidate
    /// Older than the product's watermark: a nightly run leaves it to a backfill.
    case stale
    /// The IMEI is not in `product`.
    case unknownProduct
    /// A backfill's point outside its IMEIs or its (since, until] window.
    case filtered
}

/// Decides the class of a point in a given run mode. Pure: no I/O.
public struct Classifier: Sendable {
    public let mode: RunMode

    public init(mode: RunMode) {
        self.mode = mode
    }

    /// - Parameters:
    ///   - time: the point's time in microseconds.
    ///   - isProduct: whether the IMEI is in `product`.
    ///   - watermark: W(p) as committed before the current dump (nil: no history row).
    public func classify(imei: String, time: Int64, isProduct: Bool, watermark: Int64?) -> PointClass {
        classify(selected: selects(imei: imei), time: time, isProduct: isProduct, watermark: watermark)
    }

    /// Whether the run takes points of this IMEI at all: a nightly takes every IMEI, a
    /// backfill its own. The same for every point of a product, so a reader asks it once
    /// per run of a product's points and passes it to `classify(selected:...)`.
    public func selects(imei: String) -> Bool {
        switch mode {
        case .nightly: true
        case .backfill(let selection): selection.imeis.contains(imei)
        }
    }

    /// `classify(imei:...)` with the IMEI's `selects(imei:)` already known.
    public func classify(selected: Bool, time: Int64, isProduct: Bool, watermark: Int64?) -> PointClass {
        switch mode {
        case .nightly:
            guard isProduct else { return .unknownProduct }
            // Points exactly at W(p) stay candidates: another field of that instant may
            // arrive in a later dump and must not be lost.
            if let watermark, time < watermark { return .stale }
            return .candidate
        case .backfill(let selection):
            guard selected else { return .filtered }
            if let since = selection.since, time <= since { return .filtered }
            if let until = selection.until, time > until { return .filtered }
            // A backfill takes its window whatever W says; it cannot see unknown products
            // because its IMEIs are checked against `product` before anything is read.
            return isProduct ? .candidate : .unknownProduct
        }
    }
}
