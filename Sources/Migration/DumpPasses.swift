import DumpReader
import PostgresClient
import TelemetryCore

/// What one pass over a dump reads, and what it reports.
struct PassInput {
    let entry: Migrator.PlannedDump
    let dump: DumpFile
    let products: ProductIndex
    /// W(p) by product id before the dump (in a dry run, as the dumps before it would leave it).
    let watermarks: [Int64?]
    /// The run's `migrate_run` row (nil in a dry run).
    let runID: Int64?
    /// Rejects of the run before this dump, for `--max-rejects`.
    let rejectsBefore: Int
    /// Rejects on lines up to this one were already reported by an earlier pass over the dump.
    var rejectsReportedThrough: Int
    /// Points read and compressed bytes consumed so far in this dump.
    let progress: (Int, UInt64) -> Void
}

/// A point's product id and watermark, looked up once per run of points of the same product.
private struct ProductLookup {
    let products: ProductIndex
    let watermarks: [Int64?]
    private var imei: String?
    private var id: Int32?
    private var watermark: Int64?

    init(products: ProductIndex, watermarks: [Int64?]) {
        self.products = products
        self.watermarks = watermarks
    }

    /// The product's id (nil when the IMEI is not a product) and W(p).
    mutating func facts(_ imei: String) -> (id: Int32?, watermark: Int64?) {
        if imei != self.imei {
            self.imei = imei
            id = products.id(of: imei)
            watermark = id.map { watermarks[Int($0)] } ?? nil
        }
        return (id, watermark)
    }
}

extension Migrator {
    /// Reads the dump, counts and classifies every event, reports rejects, and hands each
    /// candidate on with its product's id and W(p) as it was before the dump. `reachedLine`
    /// follows the last line handled, so that a pass stopped midway knows which rejects it reported.
    func scan(_ input: PassInput, counts: inout DumpCounts, reachedLine: inout Int,
              _ take: (Point, _ product: Int32, _ time: Int64, _ watermark: Int64?) throws -> Void) throws {
        var lookup = ProductLookup(products: input.products, watermarks: input.watermarks)
        let dump = input.dump
        try dump.read { event in
            switch event {
            case .point(let point):
                reachedLine = point.line
                counts.read += 1
                let time = UTCTime.micros(fromNanos: point.time)
                counts.observe(time: time)
                let product = lookup.facts(point.imei)
                switch classifier.classify(imei: point.imei, time: time, isProduct: product.id != nil,
                                           watermark: product.watermark) {
                case .candidate:
                    try take(point, product.id!, time, product.watermark)
                case .stale:
                    counts.stale += 1
                case .filtered:
                    counts.filtered += 1
                case .unknownProduct:
                    counts.unknownProduct += 1
                    if point.line > input.rejectsReportedThrough {
                        rejects?.reject(file: dump.name, line: point.line, column: nil,
                                        reason: "unknown product \(point.imei)", raw: point.summary)
                    }
                    try checkRejects(input.rejectsBefore + counts.rejects)
                }
                if counts.read & 0xFFFF == 0 { input.progress(counts.read, dump.bytesConsumed) }
            case .other(let point):
                reachedLine = point.line
                counts.otherMeasurement += 1
            case .malformed(let reject):
                reachedLine = reject.line
                counts.malformed += 1
                if reject.line > input.rejectsReportedThrough {
                    rejects?.reject(file: reject.file, line: reject.line, column: reject.column,
                                    reason: reject.reason, raw: reject.raw)
                }
                try checkRejects(input.rejectsBefore + counts.rejects)
            }
        }
    }

    /// `DumpPath.staged`: every candidate into the stage, then one deduplicating insert.
    func stagedPass(_ input: PassInput, memory: inout DryRunMemory?, counts: inout DumpCounts,
                    reachedLine: inout Int) throws -> DumpOutcome {
        if var dry = memory, dry.unsaved {
            // The staged dry insert consults `migrate_dry_inserted`; give it what counted dumps remembered.
            try store.rememberDryRunRows(dry.rows(watermarks: input.watermarks, products: input.products))
            dry.unsaved = false
            memory = dry
        }
        var tally = ProductTally(productCount: input.products.count, tracksFields: memory != nil)
        var sequence: Int64 = 0
        try store.stage { writer in
            try scan(input, counts: &counts, reachedLine: &reachedLine) { point, product, time, _ in
                sequence += 1
                let (value, text) = point.value.columns
                writer.appendStaged(sequence: sequence, imei: point.imei, field: point.field, time: time,
                                    value: value, text: text)
                tally.add(product: product, field: point.field, time: time, inserted: false)
            }
        }
        let (distinct, insertedPerProduct) = try store.insertStaged(dryRun: configuration.dryRun)
        tally.addInserted(insertedPerProduct, products: input.products)
        counts.duplicates = Int(sequence) - distinct
        counts.inserted = tally.totalInserted
        counts.present = distinct - counts.inserted
        return try commitDump(input, DumpOutcome(counts: counts, tally: tally, path: .staged))
    }

    /// `DumpPath.direct`: candidates later than W(p) by COPY into `telemetry`; those exactly
    /// at W(p) kept aside and staged after it (read again from the dump when too many).
    func directPass(_ input: PassInput, counts: inout DumpCounts, reachedLine: inout Int) throws -> DumpOutcome {
        var tally = ProductTally(productCount: input.products.count)
        var atWatermark: [StagedCandidate] = []
        var overflow = false
        do {
            try store.copyIntoTelemetry { writer in
                try scan(input, counts: &counts, reachedLine: &reachedLine) { point, product, time, watermark in
                    let (value, text) = point.value.columns
                    if time == watermark {
                        if atWatermark.count < configuration.atWatermarkBuffer {
                            atWatermark.append(StagedCandidate(imei: point.imei, field: point.field, time: time,
                                                               value: value, text: text))
                        } else {
                            overflow = true
                        }
                        tally.add(product: product, field: point.field, time: time, inserted: false)
                    } else {
                        writer.appendTelemetry(imei: point.imei, field: point.field, time: time, value: value, text: text)
                        tally.add(product: product, field: point.field, time: time, inserted: true)
                    }
                }
            }
        } catch let error as PostgresError where error.sqlState == "23505" {
            throw PathRefused(description: "the dump repeats a (product_imei, field, time): \(error.message)")
        }
        let direct = tally.totalInserted
        var staged = 0
        if overflow || !atWatermark.isEmpty {
            try store.stage { writer in
                if overflow {
                    // Read the dump again for them, counting nothing twice and reporting no reject.
                    var scratch = DumpCounts()
                    var line = 0
                    var again = input
                    again.rejectsReportedThrough = .max
                    try scan(again, counts: &scratch, reachedLine: &line) { point, _, time, watermark in
                        guard time == watermark else { return }
                        staged += 1
                        let (value, text) = point.value.columns
                        writer.appendStaged(sequence: Int64(staged), imei: point.imei, field: point.field, time: time,
                                            value: value, text: text)
                    }
                } else {
                    for candidate in atWatermark {
                        staged += 1
                        writer.appendStaged(sequence: Int64(staged), imei: candidate.imei, field: candidate.field,
                                            time: candidate.time, value: candidate.value, text: candidate.text)
                    }
                }
            }
            let (distinct, fromStage) = try store.insertStaged(dryRun: false)
            tally.addInserted(fromStage, products: input.products)
            counts.duplicates = staged - distinct
            counts.present = distinct - (tally.totalInserted - direct)
        }
        counts.inserted = tally.totalInserted
        return try commitDump(input, DumpOutcome(counts: counts, tally: tally, path: .direct))
    }

    /// `DumpPath.counted`: a nightly dry run counts in memory. A candidate later than W(p)
    /// would be inserted, unless the dump repeats it, which `SeriesOrder` rules out. One
    /// exactly at W(p) is present when an earlier dump of the run would insert it
    /// (`DryRunMemory`) or, at the committed W(p), when `telemetry` has it: those are staged
    /// during the read and looked up after it.
    func countedPass(_ input: PassInput, memory: DryRunMemory?, counts: inout DumpCounts,
                     reachedLine: inout Int) throws -> DumpOutcome {
        guard let memory else { preconditionFailure("the counted path is for nightly dry runs") }
        var tally = ProductTally(productCount: input.products.count, tracksFields: true)
        var order = SeriesOrder()
        var staged: Int64 = 0
        var rememberedPresent = 0
        try store.stage { writer in
            try scan(input, counts: &counts, reachedLine: &reachedLine) { point, product, time, watermark in
                guard order.admit(product: product, field: point.field, time: time) else {
                    throw PathRefused(description: "line \(point.line): times of \(point.imei) \(point.field) do not increase")
                }
                var inserted = true
                if time == watermark {
                    if memory.wouldInsert(product: product, field: point.field) {
                        rememberedPresent += 1
                        inserted = false
                    } else if time == memory.committed[Int(product)] {
                        staged += 1
                        writer.appendStaged(sequence: staged, imei: point.imei, field: point.field, time: time,
                                            value: nil, text: nil)
                        inserted = false
                    }
                }
                tally.add(product: product, field: point.field, time: time, inserted: inserted)
            }
        }
        var lookedUpPresent = 0
        if staged > 0 {
            for (imei, found) in try store.stagedPresence() {
                lookedUpPresent += found.present
                if let id = input.products.id(of: imei) { tally.addInserted(product: id, rows: found.staged - found.present) }
            }
        }
        counts.present = rememberedPresent + lookedUpPresent
        counts.inserted = tally.totalInserted
        return DumpOutcome(counts: counts, tally: tally, path: .counted)
    }

    /// The end of a dump's transaction: watermarks advanced, and, for a nightly run, the dump
    /// recorded as completed; nothing in a dry run.
    private func commitDump(_ input: PassInput, _ outcome: DumpOutcome) throws -> DumpOutcome {
        guard !configuration.dryRun else { return outcome }
        try store.advanceWatermarks(outcome.tally.touched.map { (input.products.imei($0), outcome.tally.latest($0)) },
                                    actor: configuration.actor)
        if configuration.mode == .nightly, let fingerprint = input.entry.fingerprint {
            try store.recordCompletedDump(name: input.dump.name, fingerprint: fingerprint, runID: input.runID,
                                          counts: outcome.counts)
        }
        return outcome
    }
}

extension ProductTally {
    /// Adds the rows the stage inserted, per IMEI.
    mutating func addInserted(_ rows: [String: Int], products: ProductIndex) {
        for (imei, count) in rows {
            if let id = products.id(of: imei) { addInserted(product: id, rows: count) }
        }
    }
}

/// A candidate kept aside until it can be staged.
struct StagedCandidate {
    var imei: String
    var field: String
    var time: Int64
    var value: Double?
    var text: String?
}
