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

    private func read(counting: Bool, _ take: (Candidate) throws -> Void) throws {
        let context = self.context
        context.beginReading()
        var lookup = ProductLookup(products: context.products, watermarks: context.watermarks, routing: context.routing)
        let dump = context.dump
        var lastRefusedLine = 0
        try dump.read { event in
            switch event {
            case .point(let point):
                context.reached(line: point.line)
                if let reason = context.refusedLines[point.line] {
                    // The line is malformed, counted once; its points are not read.
                    guard point.line != lastRefusedLine else { return }
                    lastRefusedLine = point.line
                    if counting { context.count { $0.malformed += 1 } }
                    try context.rejectRefused(line: point.line, reason: "refused by PostgreSQL: \(reason)", raw: point.summary)
                    return
                }
                let time = UTCTime.micros(fromNanos: point.time)
                if counting { context.count { $0.read += 1; $0.observe(time: time) } }
                let product = lookup.facts(point.imei)
                if product.unit == UnitPlan.none {  // another unit's, or done with this dump
                    if counting { context.count { $0.filtered += 1 } }
                    return
                }
                switch classifier.classify(imei: point.imei, time: time, isProduct: product.id != nil,
                                           watermark: product.watermark) {
                case .candidate:
                    try take(Candidate(point: point, product: product.id!, time: time, watermark: product.watermark,
                                       unit: product.unit))
                case .stale:
                    if counting { context.count { $0.stale += 1 } }
                case .filtered:
                    if counting { context.count { $0.filtered += 1 } }
                case .unknownProduct:
                    if counting { context.count { $0.unknownProduct += 1 } }
                    try context.reject(file: dump.name, line: point.line, column: nil,
                                       reason: "unknown product \(point.imei)", raw: point.summary)
                }
                if counting, context.counts.read & 0xFFFF == 0 { context.reportProgress() }
            case .other(let point):
                context.reached(line: point.line)
                if counting { context.count { $0.read += 1; $0.otherMeasurement += 1 } }
            case .malformed(let reject):
                context.reached(line: reject.line)
                if counting { context.count { $0.malformed += 1 } }
                try context.reject(file: reject.file, line: reject.line, column: reject.column,
                                   reason: reject.reason, raw: reject.raw)
            }
        }
    }
}

/// A point's product id, watermark and run unit, looked up once per run of points of the same product.
private struct ProductLookup {
    let products: ProductIndex
    let watermarks: [Int64?]
    let routing: DumpRouting?
    private var imei: String?
    private var id: Int32?
    private var watermark: Int64?
    private var unit: Int8 = 0

    init(products: ProductIndex, watermarks: [Int64?], routing: DumpRouting?) {
        self.products = products
        self.watermarks = watermarks
        self.routing = routing
    }

    /// The product's id (nil when the IMEI is not a product), W(p), and the index of the
    /// unit that takes it (`UnitPlan.none`: not this run's, or done with the dump).
    mutating func facts(_ imei: String) -> (id: Int32?, watermark: Int64?, unit: Int8) {
        if imei != self.imei {
            self.imei = imei
            id = products.id(of: imei, after: id)
            watermark = id.map { watermarks[Int($0)] } ?? nil
            unit = routing?.unit(of: id, imei: imei) ?? 0
        }
        return (id, watermark, unit)
    }
}

extension Point {
    /// A short description for the reject file of a point that was well-formed but rejected.
    var summary: String {
        "\(measurement),product_imei=\(imei) \(field) \(time)"
    }
}
