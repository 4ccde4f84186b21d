/// What a nightly dry run knows of the rows its earlier dumps would have inserted, kept
/// small by the watermark invariant: those rows all lie at or before the dry W(p), and a
/// later dump's candidates at or after it, so the only rows they can meet are those exactly
/// at W(p). This remembers their fields, product by product.
struct DryRunMemory {
    /// W(p) by product id as committed when the run started: only a candidate at this time
    /// can find its row in `telemetry`.
    let committed: [Int64?]
    /// By product id: fields of the rows that earlier dumps of this run would insert exactly
    /// at the dry W(p).
    private var fieldsAtWatermark: [FieldList]
    /// True when `fieldsAtWatermark` holds rows that `migrate_dry_inserted` (which the staged
    /// path consults) does not have yet.
    var unsaved = false

    init(committed: [Int64?]) {
        self.committed = committed
        fieldsAtWatermark = [FieldList](repeating: FieldList(), count: committed.count)
    }

    /// Whether an earlier dump of this run would insert (product, field) at the dry W(p).
    func wouldInsert(product: Int32, field: String) -> Bool {
        fieldsAtWatermark[Int(product)].contains(field)
    }

    /// Takes in a dump's candidates, given the dry watermarks before it: a product whose
    /// watermark moves keeps only the fields at its new watermark; one that stays adds them.
    mutating func remember(_ tally: ProductTally, watermarksBefore: [Int64?]) {
        for id in tally.touched {
            let latest = tally.latest(id)
            guard let before = watermarksBefore[Int(id)], latest <= before else {
                fieldsAtWatermark[Int(id)] = tally.fieldsAtLatest(id)
                unsaved = true
                continue
            }
            if latest == before {
                for field in tally.fieldsAtLatest(id) { fieldsAtWatermark[Int(id)].insert(field) }
                unsaved = true
            }
        }
    }

    /// The remembered rows, for `migrate_dry_inserted`, given the dry watermarks.
    func rows(watermarks: [Int64?], products: ProductIndex) -> [(imei: String, field: String, time: Int64)] {
        fieldsAtWatermark.indices.flatMap { i in
            watermarks[i].map { time in fieldsAtWatermark[i].map { (imei: products.imeis[i], field: $0, time: time) } } ?? []
        }
    }
}

/// Field names, each once, the first (mostly the only one) held inline: a fleet's worth of
/// these, one per product, costs no allocation per product.
struct FieldList: Sequence {
    private var first: String?
    private var more: [String] = []

    func contains(_ field: String) -> Bool {
        first == field || more.contains(field)
    }

    /// Adds `field` unless it is there already.
    mutating func insert(_ field: String) {
        if first == nil {
            first = field
        } else if !contains(field) {
            more.append(field)
        }
    }

    mutating func removeAll() {
        first = nil
        more.removeAll(keepingCapacity: true)
    }

    func makeIterator() -> some IteratorProtocol<String> {
        ((first.map { [$0] } ?? []) + more).makeIterator()
    }
}
