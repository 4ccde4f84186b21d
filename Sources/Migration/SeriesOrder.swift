import TelemetryCore

/// Checks, point by point, that the times of every series (product, field) strictly
/// increase in file order. When that holds for a whole dump, the dump repeats no
/// (product_imei, field, time), so its rows can be counted without deduplicating them.
/// `influx_inspect export` writes series by series, each in time order, so its dumps pass;
/// a dump that fails is not wrong, it only needs the staged path.
///
/// The series of the current product are kept in a short list; when the product changes,
/// they are appended to a log, and only when a product comes back after another one is the
/// log turned into a hash table (`IntegerTable`). An export writes each product's lines
/// together, so its dumps cost no hashing and only sequential memory traffic.
///
/// A series is a product id and a field ordinal: the caller numbers the fields (one
/// `FieldNames` for the whole dump, so that one field always has one ordinal).
///
/// Memory grows with the number of series in the dump (12 bytes each in the log, 32 in the
/// table), not with its points.
struct SeriesOrder {
    /// The current product and its series so far (the first `currentCount` entries of
    /// `current`, which keeps its entries from product to product): field ordinal and latest time.
    private var currentProduct: Int32 = -1
    private var current: [(ordinal: UInt64, latest: Int64)] = []
    private var currentCount = 0
    /// Products whose series were left (by id; grows as needed).
    private var left: [Bool]
    /// The series of the products left, while none came back, in two arrays: a compact key
    /// (`compactKey`) and the latest time.
    private var logKeys: [UInt32] = []
    private var logLatest: [Int64] = []
    /// The same, once a product came back.
    private var table: IntegerTable?

    /// - Parameter products: how many product ids to expect (more only cost a reallocation).
    init(products: Int = 0) {
        left = [Bool](repeating: false, count: products)
    }

    /// True when `time` is later than every earlier time of the series.
    mutating func admit(product: Int32, fieldOrdinal: Int, time: Int64) -> Bool {
        if product != currentProduct { enter(product) }
        let ordinal = UInt64(fieldOrdinal)
        for i in 0..<currentCount where current[i].ordinal == ordinal {
            guard time > current[i].latest else { return false }
            current[i].latest = time
            return true
        }
        let earlier = table?[Self.key(product, ordinal)] ?? .min
        let series = (ordinal, max(time, earlier))
        if currentCount < current.count { current[currentCount] = series } else { current.append(series) }
        currentCount += 1
        return time > earlier
    }

    /// Leaves the current product (logging its series) and makes `product` current.
    private mutating func enter(_ product: Int32) {
        if currentProduct >= 0 {
            let id = Int(currentProduct)
            if id >= left.count { left += [Bool](repeating: false, count: max(id + 1 - left.count, left.count)) }
            left[id] = true
            for i in 0..<currentCount { record(currentProduct, current[i].ordinal, current[i].latest) }
        }
        currentCount = 0
        currentProduct = product
        if table == nil, Int(product) < left.count, left[Int(product)] {
            // The product comes back: from now on its earlier series must be found by key.
            makeTable()
        }
    }

    /// Keeps the latest time of a series left behind: in the log while it can, else in the table.
    private mutating func record(_ product: Int32, _ ordinal: UInt64, _ latest: Int64) {
        if table == nil, let compact = Self.compactKey(product, ordinal) {
            logKeys.append(compact)
            logLatest.append(latest)
            return
        }
        if table == nil { makeTable() }
        table![Self.key(product, ordinal)] = latest
    }

    /// Moves the log into the table, which holds every series left from then on.
    private mutating func makeTable() {
        var table = IntegerTable(capacity: logKeys.count)
        for (compact, latest) in zip(logKeys, logLatest) {
            table[Self.key(Int32(compact >> 8), UInt64(compact & 0xFF))] = latest
        }
        self.table = table
        logKeys = []
        logLatest = []
    }

    /// Product id in the high 24 bits, field ordinal in the low 8; nil when they do not fit
    /// (more than 16 million products or 256 fields: the table takes over).
    private static func compactKey(_ product: Int32, _ ordinal: UInt64) -> UInt32? {
        guard product < 1 << 24, ordinal < 1 << 8 else { return nil }
        return UInt32(product) << 8 | UInt32(ordinal)
    }

    /// Product id in the low 32 bits, field ordinal in the high ones: exact, no two series share a key.
    private static func key(_ product: Int32, _ ordinal: UInt64) -> UInt64 {
        UInt64(UInt32(bitPattern: product)) | ordinal << 32
    }
}
