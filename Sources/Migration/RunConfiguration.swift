import DumpReader

/// Which points a backfill takes: the points of `imeis` with time in (since, until].
public struct BackfillSelection: Sendable, Equatable {
    public var imeis: Set<String>
    /// Exclusive lower bound in microseconds; nil = unbounded.
    public var since: Int64?
    /// Inclusive upper bound in microseconds; nil = unbounded.
    public var until: Int64?

    public init(imeis: Set<String>, since: Int64? = nil, until: Int64? = nil) {
        self.imeis = imeis
        self.since = since
        self.until = until
    }
}

public enum RunMode: Sendable, Equatable {
    /// All products, new dumps only, points at or after each product's watermark.
    case nightly
    /// Some IMEIs, every dump, whatever the watermarks say.
    case backfill(BackfillSelection)

    public var name: String {
        switch self {
        case .nightly: "nightly"
        case .backfill: "backfill"
        }
    }
}

/// Everything a run needs to know, built by the CLI.
public struct RunConfiguration: Sendable {
    public var mode: RunMode
    public var dryRun: Bool
    /// Dump paths, already in processing order (byte order of file name).
    public var dumps: [String]
    public var reader: ReaderOptions
    /// `--shard K/N`: this process takes only the products of that unit (nil: every product).
    public var shard: RunUnit?
    /// `--workers N`: the connections one process writes through, one unit each (see `units`).
    public var workers: Int
    /// Rejected lines (malformed + unknown product) tolerated before the run fails with exit 4.
    public var maxRejects: Int?
    /// Written into the audit columns (`created_by`, `modified_by`).
    public var actor: String
    /// Take the staged strategy for every dump (see `WriteStrategy`): slower, never needed for
    /// correctness; for comparing the paths and as an operator's fallback.
    public var stagedOnly: Bool
    /// The most candidates exactly at W(p) that the direct path keeps in memory while its
    /// COPY runs; with more, it reads the dump a second time for them.
    public var atWatermarkBuffer: Int

    public init(mode: RunMode, dryRun: Bool = false, dumps: [String], reader: ReaderOptions = ReaderOptions(),
                shard: RunUnit? = nil, workers: Int = 1, maxRejects: Int? = nil, actor: String = "telemetry-migrate",
                stagedOnly: Bool = false, atWatermarkBuffer: Int = 1 << 16) {
        self.mode = mode
        self.dryRun = dryRun
        self.dumps = dumps
        self.reader = reader
        self.shard = shard
        self.workers = max(1, workers)
        self.maxRejects = maxRejects
        self.actor = actor
        self.stagedOnly = stagedOnly
        self.atWatermarkBuffer = atWatermarkBuffer
    }

    /// The units this run writes, one connection each: its shard (`--shard`), or the N
    /// shards of `--workers N`, or `all` (one worker, no shard). A shard's process writes
    /// through one connection, whatever `workers` says.
    public var units: [RunUnit] {
        if let shard { return [shard] }
        return RunUnit.shards(workers)
    }

    /// The name of a one-unit run's unit (`all` or `shard K/N`).
    public var unit: String { units.count == 1 ? units[0].name : "all" }
}
