/// Checks, point by point, that the times of every series (product, field) strictly
/// increase in file order. When that holds for a whole dump, the dump repeats no
/// (product_imei, field, time), so its rows can be counted without deduplicating them.
/// `influx_inspect export` writes series by series, each in time order, so its dumps pass;
/// a dump that fails is not wrong, it only needs the staged path.
///
/// Memory grows with the number of series in the dump (16 bytes each), not with its points.
struct SeriesOrder {
    /// Series key → latest time. A key packs the IMEI's digits (50 bits), its length (4 bits)
    /// and the field's ordinal (10 bits), so it is exact: no two series share a key.
    private var latest: [UInt64: Int64] = [:]
    private var fieldOrdinals: [String: UInt64] = [:]
    private var currentIMEI = ""
    private var currentField = ""
    private var currentKey: UInt64?
    private var currentLatest = Int64.min

    /// The most distinct fields a dump may have for the check (10 bits of the key).
    static let maxFields = 1 << 10

    /// True when `time` is later than every earlier time of the series; false when it is not,
    /// or when the series cannot be keyed (an IMEI that is not 1-15 digits, too many fields).
    mutating func admit(imei: String, field: String, time: Int64) -> Bool {
        if currentKey == nil || imei != currentIMEI || field != currentField {
            guard select(imei: imei, field: field) else { return false }
        }
        guard time > currentLatest else { return false }
        currentLatest = time
        return true
    }

    private mutating func select(imei: String, field: String) -> Bool {
        if let currentKey { latest[currentKey] = currentLatest }
        currentKey = nil
        guard let imeiCode = Self.code(imei: imei), let ordinal = ordinal(of: field) else { return false }
        let key = imeiCode | ordinal << 54
        currentKey = key
        currentIMEI = imei
        currentField = field
        currentLatest = latest[key] ?? .min
        return true
    }

    private mutating func ordinal(of field: String) -> UInt64? {
        if let known = fieldOrdinals[field] { return known }
        guard fieldOrdinals.count < Self.maxFields else { return nil }
        let next = UInt64(fieldOrdinals.count)
        fieldOrdinals[field] = next
        return next
    }

    /// The IMEI's digits as a number, with its length in bits 50-53 so that leading zeros count.
    static func code(imei: String) -> UInt64? {
        var value: UInt64 = 0
        var length: UInt64 = 0
        for byte in imei.utf8 {
            guard byte >= 0x30, byte <= 0x39, length < 15 else { return nil }
            value = value * 10 + UInt64(byte - 0x30)
            length += 1
        }
        guard length > 0 else { return nil }
        return value | length << 50
    }
}
