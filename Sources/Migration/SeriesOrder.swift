/// Checks, point by point, that the times of every series (product, field) strictly
/// increase in file order. When that holds for a whole dump, the dump repeats no
/// (product_imei, field, time), so its rows can be counted without deduplicating them.
/// `influx_inspect export` writes series by series, each in time order, so its dumps pass;
/// a dump that fails is not wrong, it only needs the staged path.
///
/// Memory grows with the number of series in the dump (at most 32 bytes each), not with
/// its points.
struct SeriesOrder {
    private var latest = SeriesTable()
    private var fieldOrdinals: [String: UInt64] = [:]
    private var currentProduct: Int32 = -1
    private var currentField = ""
    private var currentKey: UInt64?
    private var currentLatest = Int64.min

    /// True when `time` is later than every earlier time of the series.
    mutating func admit(product: Int32, field: String, time: Int64) -> Bool {
        if currentKey == nil || product != currentProduct || field != currentField {
            select(product: product, field: field)
        }
        guard time > currentLatest else { return false }
        currentLatest = time
        return true
    }

    private mutating func select(product: Int32, field: String) {
        if let currentKey { latest[currentKey] = currentLatest }
        let ordinal: UInt64
        if field == currentField, let currentKey {
            ordinal = currentKey >> 32
        } else if let known = fieldOrdinals[field] {
            ordinal = known
        } else {
            ordinal = UInt64(fieldOrdinals.count)
            fieldOrdinals[field] = ordinal
        }
        // Product id in the low 32 bits, field ordinal in the high ones: exact, no two series share a key.
        let key = UInt64(UInt32(bitPattern: product)) | ordinal << 32
        currentKey = key
        currentProduct = product
        currentField = field
        currentLatest = latest[key] ?? .min
    }
}

/// A hash table from series key to time, with open addressing and a multiplicative hash:
/// one multiply and, mostly, one probe per lookup (a `Dictionary` seeds and runs SipHash).
/// Invariant: `keys[i] == 0` marks a free slot (stored keys are offset by one), and at most
/// half of the slots are used.
struct SeriesTable {
    private var keys = [UInt64](repeating: 0, count: 1 << 12)
    private var values = [Int64](repeating: 0, count: 1 << 12)
    private var shift: UInt64 = 64 - 12
    private var used = 0

    subscript(key: UInt64) -> Int64? {
        get {
            let stored = key &+ 1
            var i = slot(stored)
            while keys[i] != 0 {
                if keys[i] == stored { return values[i] }
                i = (i + 1) & (keys.count - 1)
            }
            return nil
        }
        set {
            guard let newValue else { preconditionFailure("SeriesTable does not remove keys") }
            let stored = key &+ 1
            var i = slot(stored)
            while keys[i] != 0 && keys[i] != stored { i = (i + 1) & (keys.count - 1) }
            if keys[i] == 0 {
                keys[i] = stored
                used += 1
            }
            values[i] = newValue
            if used * 2 > keys.count { grow() }
        }
    }

    @inline(__always)
    private func slot(_ stored: UInt64) -> Int {
        Int(truncatingIfNeeded: (stored &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
        values = [Int64](repeating: 0, count: oldKeys.count * 2)
        shift -= 1
        for (i, stored) in oldKeys.enumerated() where stored != 0 {
            var j = slot(stored)
            while keys[j] != 0 { j = (j + 1) & (keys.count - 1) }
            keys[j] = stored
            values[j] = oldValues[i]
        }
    }
}
