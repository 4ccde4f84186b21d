/// Per-point counters of one dump, or of a whole run (`malformed` counts lines).
///
/// Invariant, per dump and in the totals of committed dumps: read = inserted + present +
/// duplicates + stale + unknownProduct + otherMeasurement + filtered. A failed dump keeps
/// what was read before the failure, with inserted, present and duplicates 0 (nothing of it
/// committed), so the identity does not hold for it.
public struct DumpCounts: Sendable, Equatable {
    /// Every point of the dump, of any measurement.
    public var read = 0
    public var inserted = 0
    public var stale = 0
    public var present = 0
    public var unknownProduct = 0
    public var otherMeasurement = 0
    public var malformed = 0
    /// Candidates that a later line of the same dump overrode (last one wins).
    public var duplicates = 0
    /// Backfill only: points outside its IMEIs or window.
    public var filtered = 0
    /// Microseconds; nil when the dump had no point of the selected measurement.
    public var firstTime: Int64?
    public var lastTime: Int64?

    public init() {}

    /// Lines and points a run rejects: malformed lines plus points of unknown products.
    public var rejects: Int { malformed + unknownProduct }

    /// What is left of a dump that failed: its reading, none of its writing.
    public var uncommitted: DumpCounts {
        var counts = self
        counts.inserted = 0
        counts.present = 0
        counts.duplicates = 0
        return counts
    }

    public mutating func observe(time: Int64) {
        firstTime = firstTime.map { min($0, time) } ?? time
        lastTime = lastTime.map { max($0, time) } ?? time
    }

    public mutating func add(_ other: DumpCounts) {
        read += other.read
        inserted += other.inserted
        stale += other.stale
        present += other.present
        unknownProduct += other.unknownProduct
        otherMeasurement += other.otherMeasurement
        malformed += other.malformed
        duplicates += other.duplicates
        filtered += other.filtered
        if let t = other.firstTime { observe(time: t) }
        if let t = other.lastTime { observe(time: t) }
    }
}

public struct DumpReport: Sendable, Equatable {
    public enum Status: String, Sendable {
        case completed, skipped, failed, planned
    }
    public var name: String
    public var status: Status
    public var counts: DumpCounts
    public var error: String?

    public init(name: String, status: Status, counts: DumpCounts = DumpCounts(), error: String? = nil) {
        self.name = name
        self.status = status
        self.counts = counts
        self.error = error
    }
}

public struct ProductReport: Sendable, Equatable {
    public var imei: String
    /// Microseconds; nil when the product had no history row.
    public var watermarkBefore: Int64?
    public var watermarkAfter: Int64?
    /// Rows inserted (or that a dry run would insert) for this product.
    public var rows: Int

    public init(imei: String, watermarkBefore: Int64?, watermarkAfter: Int64?, rows: Int) {
        self.imei = imei
        self.watermarkBefore = watermarkBefore
        self.watermarkAfter = watermarkAfter
        self.rows = rows
    }
}

/// The report every run ends with (DESIGN.md, "The report").
public struct RunReport: Sendable, Equatable {
    public enum Status: String, Sendable {
        case ok, failed, locked, rejects
    }
    public var mode: String
    public var dryRun: Bool
    public var status: Status
    public var dumps: [DumpReport]
    /// Sorted by IMEI.
    public var products: [ProductReport]
    public var durationSeconds: Double
    /// Why the run stopped, when it did not succeed.
    public var message: String?
    /// The run's id in `migrate_run` (nil for dry runs and refused runs).
    public var runID: Int64?

    public init(mode: String, dryRun: Bool, status: Status = .ok, dumps: [DumpReport] = [],
                products: [ProductReport] = [], durationSeconds: Double = 0, message: String? = nil, runID: Int64? = nil) {
        self.mode = mode
        self.dryRun = dryRun
        self.status = status
        self.dumps = dumps
        self.products = products
        self.durationSeconds = durationSeconds
        self.message = message
        self.runID = runID
    }

    /// The sums over the dumps that committed (or, in a dry run, would): a failed dump's
    /// counts say what was read before it failed, not what the database holds.
    public var totals: DumpCounts {
        dumps.filter { $0.status != .failed }.reduce(into: DumpCounts()) { $0.add($1.counts) }
    }

    public var pointsPerSecond: Double {
        durationSeconds > 0 ? Double(totals.read) / durationSeconds : 0
    }
}
