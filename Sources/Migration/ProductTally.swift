/// Per-product sums of one pass over one dump, by product id: the latest candidate time
/// (the watermark advance), the rows inserted, and, when asked, the fields of the
/// candidates at that latest time (what a nightly dry run must remember, see `DryRunMemory`).
struct ProductTally {
    let tracksFields: Bool
    /// Products with a candidate, in order of first candidate.
    private(set) var touched: [Int32] = []
    /// By id: the latest candidate time, µs (`Int64.min`: no candidate).
    private var latestTimes: [Int64]
    /// By id: rows inserted.
    private var insertedRows: [Int]
    /// The pass's field names, when `tracksFields`.
    private(set) var fieldNames = FieldNames()
    /// By id, when `tracksFields`: fields of the candidates at the latest time.
    private var fields: FieldSets

    init(productCount: Int, tracksFields: Bool = false) {
        self.tracksFields = tracksFields
        latestTimes = [Int64](repeating: .min, count: productCount)
        insertedRows = [Int](repeating: 0, count: productCount)
        fields = FieldSets(count: tracksFields ? productCount : 0)
    }

    /// The ordinal of `field` in `fieldNames` (a new one when the pass had not seen it).
    mutating func ordinal(of field: String) -> Int { fieldNames.ordinal(of: field) }

    /// Counts one candidate; `inserted` when the pass has inserted it (or would).
    mutating func add(product id: Int32, field: String, time: Int64, inserted: Bool) {
        add(product: id, fieldOrdinal: tracksFields ? ordinal(of: field) : 0, time: time, inserted: inserted)
    }

    /// `add(product:field:time:inserted:)` with the field's `ordinal(of:)` already known.
    mutating func add(product id: Int32, fieldOrdinal: Int, time: Int64, inserted: Bool) {
        let i = Int(id)
        let latest = latestTimes[i]
        if latest == .min { touched.append(id) }
        if time > latest {
            latestTimes[i] = time
            if tracksFields {
                fields.removeAll(in: id)
                fields.insert(fieldOrdinal, in: id)
            }
        } else if tracksFields, time == latest {
            fields.insert(fieldOrdinal, in: id)
        }
        if inserted { insertedRows[i] += 1 }
    }

    /// Adds rows that a product's candidates got through the stage.
    mutating func addInserted(product id: Int32, rows: Int) {
        insertedRows[Int(id)] += rows
    }

    /// The latest candidate time of a touched product.
    func latest(_ id: Int32) -> Int64 { latestTimes[Int(id)] }
    func inserted(_ id: Int32) -> Int { insertedRows[Int(id)] }
    var totalInserted: Int { touched.reduce(0) { $0 + insertedRows[Int($1)] } }

    /// Calls `body` with the ordinal (in `fieldNames`) of each field at a touched product's
    /// latest time, in order of first sight in the pass; none unless `tracksFields`.
    func forEachFieldAtLatest(_ id: Int32, _ body: (Int) -> Void) {
        if tracksFields { fields.forEach(in: id, body) }
    }
}
