import DumpReader
import TelemetryCore

/// A point to be inserted, as the scan hands it to a write strategy.
struct Candidate {
    let point: Point
    /// The product's id in the run's `ProductIndex`.
    let product: Int32
    /// Microseconds.
    let time: Int64
    /// W(p) before the dump.
    let watermark: Int64?
    /// The index of the run unit that takes it (`DumpRouting`; 0 in a run of one unit).
    var unit: Int8 = 0
}

/// The candidates of one dump: reading the dump classifies every event, counts it in the
/// context and reports rejects; candidates go on to the write strategy.
struct Candidates: CandidateSource {
    let context: DumpContext
    let classifier: Classifier

    var products: ProductIndex { context.products }

    /// Reads the dump once, counting everything, and hands each candidate to `take`.
    func forEach(_ take: (Candidate) throws -> Void) throws {
        try read(counting: true, take)
    }

    /// Reads the dump again for candidates kept aside: counts nothing, reports no reject twice.
    func again(_ take: (Candidate) throws -> Void) throws {
        try read(counting: false, take)
    }

    /// Counts go to a local `ReadingTally` and into the context's pass in one addition
    /// (`flush`) whenever something reads them (a reject checks `--max-rejects`, progress
    /// reports `read`) and at the end, thrown or not: the per-point path touches no shared state.
    private func read(counting: Bool, _ take: (Candidate) throws -> Void) throws {
        let context = self.context
        context.beginReading()
        var lookup = ProductLookup(products: context.products, watermarks: context.watermarks,
                                   routing: context.routing, classifier: classifier)
        let dump = context.dump
        // Fixed for the whole reading; mostly empty.
        let refusedLines = context.refusedLines
        var lastRefusedLine = 0
        var tally = ReadingTally()
        var readSinceProgress = 0
        defer { tally.flush(into: context, counting: counting) }
        try dump.read { event in
            switch event {
            case .point(let point):
                tally.reachedLine = point.line
                if !refusedLines.isEmpty, let reason = refusedLines[point.line] {
                    // The line is malformed, counted once; its points are not read.
                    guard point.line != lastRefusedLine else { return }
                    lastRefusedLine = point.line
                    tally.counts.malformed += 1
                    tally.flush(into: context, counting: counting)
                    try context.rejectRefused(line: point.line, reason: "refused by PostgreSQL: \(reason)", raw: point.summary)
                    return
                }
                let time = UTCTime.micros(fromNanos: point.time)
                tally.counts.read += 1
                tally.counts.observe(time: time)
                let product = lookup.facts(point.imei)
                if product.unit == UnitPlan.none {  // another unit's, or done with this dump
                    tally.counts.filtered += 1
                    return
                }
                switch classifier.classify(selected: product.selected, time: time, isProduct: product.id != nil,
                                           watermark: product.watermark) {
                case .candidate:
                    try take(Candidate(point: point, product: product.id!, time: time, watermark: product.watermark,
                                       unit: product.unit))
                case .stale:
                    tally.counts.stale += 1
                case .filtered:
                    tally.counts.filtered += 1
                case .unknownProduct:
                    tally.counts.unknownProduct += 1
                    tally.flush(into: context, counting: counting)
                    try context.reject(file: dump.name, line: point.line, column: nil,
                                       reason: "unknown product \(point.imei)", raw: point.summary)
                }
                readSinceProgress += 1
                if readSinceProgress == 0x10000 {
                    readSinceProgress = 0
                    try context.stop?.check()
                    if counting {
                        tally.flush(into: context, counting: counting)
                        context.reportProgress()
                    }
                }
            case .other(let point):
                tally.reachedLine = point.line
                tally.counts.read += 1
                tally.counts.otherMeasurement += 1
            case .malformed(let reject):
                tally.reachedLine = reject.line
                tally.counts.malformed += 1
                tally.flush(into: context, counting: counting)
                try context.reject(file: reject.file, line: reject.line, column: reject.column,
                                   reason: reject.reason, raw: reject.raw)
            }
        }
        // Before the transaction that took these candidates commits.
        try context.flushRejects()
    }
}

/// What one reading of a dump found, kept locally until `flush` adds it to the pass.
private struct ReadingTally {
    var counts = DumpCounts()
    var reachedLine = 0

    mutating func flush(into context: DumpContext, counting: Bool) {
        context.reached(line: reachedLine)
        if counting { context.count { $0.add(counts) } }
        counts = DumpCounts()
    }
}

/// A point's product id, watermark, run unit and whether the run selects it, looked up once
/// per run of points of the same product.
private struct ProductLookup {
    let products: ProductIndex
    let watermarks: [Int64?]
    let routing: DumpRouting?
    let classifier: Classifier
    private var imei: String?
    private var id: Int32?
    private var watermark: Int64?
    private var unit: Int8 = 0
    private var selected = true
    /// In a backfill, by product id: whether its selection takes the product, so that
    /// `Classifier.selects(imei:)` (a hashed set of strings) is asked only of unknown IMEIs.
    private let selectedIDs: [Bool]?

    init(products: ProductIndex, watermarks: [Int64?], routing: DumpRouting?, classifier: Classifier) {
        self.products = products
        self.watermarks = watermarks
        self.routing = routing
        self.classifier = classifier
        if case .backfill(let selection) = classifier.mode {
            var ids = [Bool](repeating: false, count: products.count)
            for imei in selection.imeis { if let id = products.id(of: imei) { ids[Int(id)] = true } }
            selectedIDs = ids
        } else {
            selectedIDs = nil
        }
    }

    /// The product's id (nil when the IMEI is not a product), W(p), the index of the unit
    /// that takes it (`UnitPlan.none`: not this run's, or done with the dump) and
    /// `Classifier.selects(imei:)`.
    mutating func facts(_ imei: String) -> (id: Int32?, watermark: Int64?, unit: Int8, selected: Bool) {
        if imei != self.imei {
            self.imei = imei
            id = products.id(of: imei, after: id)
            watermark = id.map { watermarks[Int($0)] } ?? nil
            unit = routing?.unit(of: id, imei: imei) ?? 0
            if let selectedIDs, let id { selected = selectedIDs[Int(id)] } else { selected = classifier.selects(imei: imei) }
        }
        return (id, watermark, unit, selected)
    }
}

extension Point {
    /// A short description for the reject file of a point that was well-formed but rejected.
    var summary: String {
        "\(measurement),product_imei=\(imei) \(field) \(time)"
    }
}
