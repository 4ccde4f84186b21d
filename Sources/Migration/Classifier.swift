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
        switch mode {
        case .nightly:
            guard isProduct else { return .unknownProduct }
            // Points exactly at W(p) stay candidates: another field of that instant may
            // arrive in a later dump and must not be lost.
            if let watermark, time < watermark { return .stale }
            return .candidate
        case .backfill(let selection):
            guard selection.imeis.contains(imei) else { return .filtered }
            if let since = selection.since, time <= since { return .filtered }
            if let until = selection.until, time > until { return .filtered }
            // A backfill takes its window whatever W says; it cannot see unknown products
            // because its IMEIs are checked against `product` before anything is read.
            return isProduct ? .candidate : .unknownProduct
        }
    }
}
