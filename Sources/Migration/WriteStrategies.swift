import DumpReader
import PostgresClient
import TelemetryCore

/// `WriteStrategy.staged`: every candidate into the stage, then one deduplicating insert.
struct StagedWrite {
    let store: MigrationStore
    let products: ProductIndex
    /// Counts what would be inserted instead (and remembers the fields a dry run needs).
    let dryRun: Bool

    func write(_ candidates: some CandidateSource) throws -> DumpWrite {
        var tally = ProductTally(productCount: products.count, tracksFields: dryRun)
        var sequence: Int64 = 0
        try store.stage { writer in
            try candidates.forEach { candidate in
                sequence += 1
                try writer.appendStaged(sequence: sequence, candidate)
                tally.add(product: candidate.product, field: candidate.point.field, time: candidate.time, inserted: false)
            }
        }
        let (distinct, insertedPerProduct) = try store.insertStaged(dryRun: dryRun)
        tally.addInserted(insertedPerProduct, products: products)
        return DumpWrite(tally: tally, present: distinct - tally.totalInserted, duplicates: Int(sequence) - distinct)
    }
}

/// `WriteStrategy.direct`: candidates later than W(p) by COPY into `telemetry`; those
/// exactly at W(p) kept aside and staged after it (read again from the dump when too many).
struct DirectWrite {
    let store: MigrationStore
    let products: ProductIndex
    /// Candidates at W(p) kept in memory; beyond this the dump is read again for them.
    let atWatermarkBuffer: Int

    func write(_ candidates: some CandidateSource) throws -> DumpWrite {
        var tally = ProductTally(productCount: products.count)
        var atWatermark: [Candidate] = []
        var overflow = false
        do {
            try store.copyIntoTelemetry { writer in
                try candidates.forEach { candidate in
                    if candidate.time == candidate.watermark {
                        if atWatermark.count < atWatermarkBuffer { atWatermark.append(candidate) } else { overflow = true }
                        tally.add(product: candidate.product, field: candidate.point.field, time: candidate.time, inserted: false)
                    } else {
                        try writer.appendTelemetry(candidate)
                        tally.add(product: candidate.product, field: candidate.point.field, time: candidate.time, inserted: true)
                    }
                }
            }
        } catch let error as PostgresError where error.sqlState == .uniqueViolation {
            throw StrategyRefused(description: "the dump repeats a (product_imei, field, time): \(error.message)")
        }
        var write = DumpWrite(tally: tally)
        guard overflow || !atWatermark.isEmpty else { return write }
        let direct = tally.totalInserted
        var staged: Int64 = 0
        try store.stage { writer in
            func append(_ candidate: Candidate) throws {
                staged += 1
                try writer.appendStaged(sequence: staged, candidate)
            }
            if overflow {
                try candidates.again { candidate in if candidate.time == candidate.watermark { try append(candidate) } }
            } else {
                try atWatermark.forEach(append)
            }
        }
        let (distinct, fromStage) = try store.insertStaged(dryRun: false)
        write.tally.addInserted(fromStage, products: products)
        write.duplicates = Int(staged) - distinct
        write.present = distinct - (write.tally.totalInserted - direct)
        return write
    }
}

/// `WriteStrategy.counted`: a nightly dry run counts in memory. A candidate later than W(p)
/// would be inserted, unless the dump repeats it, which `SeriesOrder` rules out. One
/// exactly at W(p) is present when an earlier dump of the run would insert it
/// (`DryRunMemory`) or, at the committed W(p), when `telemetry` has it: those are staged
/// during the read (with a sequence number from 1) and looked up after it. When `telemetry`
/// has a CHECK (`MigrationStore.probesRefusals`), every candidate is staged (the others with
/// sequence number 0) and copied into the CHECK's probe, which refuses what the real run's
/// write would (all distinct, by `SeriesOrder`).
struct CountedWrite {
    let store: MigrationStore
    let products: ProductIndex
    let memory: DryRunMemory

    func write(_ candidates: some CandidateSource) throws -> DumpWrite {
        var tally = ProductTally(productCount: products.count, tracksFields: true)
        var order = SeriesOrder(products: products.count)
        var staged: Int64 = 0
        var rememberedPresent = 0
        try store.stage { writer in
            try candidates.forEach { candidate in
                let (product, field, time) = (candidate.product, candidate.point.field, candidate.time)
                let ordinal = tally.ordinal(of: field)  // one lookup of the name serves both
                guard order.admit(product: product, fieldOrdinal: ordinal, time: time) else {
                    throw StrategyRefused(description: "line \(candidate.point.line): times of \(candidate.point.imei) \(field) do not increase")
                }
                var inserted = true
                var lookedUp = false
                if time == candidate.watermark {
                    if memory.wouldInsert(product: product, field: field) {
                        rememberedPresent += 1
                        inserted = false
                    } else if time == memory.committed[Int(product)] {
                        lookedUp = true
                        inserted = false
                    }
                }
                if lookedUp {
                    staged += 1
                    try writer.appendStaged(sequence: staged, candidate)
                } else if store.probesRefusals {
                    try writer.appendStaged(sequence: inserted ? 0 : -1, candidate)  // numbered as `probeStaged` reads them
                }
                tally.add(product: product, fieldOrdinal: ordinal, time: time, inserted: inserted)
            }
        }
        if store.probesRefusals { try store.probeStaged(distinct: true) }
        var lookedUpPresent = 0
        if staged > 0 {
            for (imei, found) in try store.stagedPresence() {
                lookedUpPresent += found.present
                if let id = products.id(of: imei) { tally.addInserted(product: id, rows: found.staged - found.present) }
            }
        }
        return DumpWrite(tally: tally, present: rememberedPresent + lookedUpPresent)
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

extension BinaryCopyWriter {
    /// A candidate as one `telemetry` row.
    mutating func appendTelemetry(_ candidate: Candidate) throws {
        let (value, text) = candidate.point.value.columns
        try appendTelemetry(imei: candidate.point.imei, field: candidate.point.field, time: candidate.time, value: value, text: text)
    }

    /// A candidate as one stage row (with `present`, one of the refusal probe's stage).
    mutating func appendStaged(sequence: Int64, _ candidate: Candidate, present: Bool? = nil) throws {
        let (value, text) = candidate.point.value.columns
        try appendStaged(sequence: sequence, imei: candidate.point.imei, field: candidate.point.field, time: candidate.time,
                     value: value, text: text, present: present)
    }
}
