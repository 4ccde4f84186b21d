import DumpReader
import TelemetryCore

/// The run's products as dense ids (0..<count), read once from `product`, so that per-product
/// state lives in arrays indexed by id rather than in dictionaries keyed by IMEI: a point
/// then costs one integer hash of its IMEI (`IMEIKey`), however many products the fleet has.
struct ProductIndex {
    /// IMEI of each id.
    let imeis: [String]
    /// Ids of the IMEIs that are 1-15 digits, by `IMEIKey`: every IMEI a selected point can have.
    private let numericIDs: IntegerTable
    /// Ids of the other IMEIs of `product` (no point ever matches them; kept for `byID`).
    private let otherIDs: [String: Int32]

    /// From IMEIs in any order (repeats count once); ids follow IMEI order. IMEIs already
    /// strictly in order (as `MigrationStore.productIMEIs` reads them) are taken as they are.
    init(_ products: [String]) {
        let inOrder = zip(products, products.dropFirst()).allSatisfy { $0 < $1 }
        let imeis = inOrder ? products : Array(Set(products)).sorted()
        self.imeis = imeis
        var numericIDs = IntegerTable(capacity: imeis.count)
        var otherIDs = [String: Int32]()
        for (id, imei) in imeis.enumerated() {
            if let key = IMEIKey.of(imei) { numericIDs[key] = Int64(id) } else { otherIDs[imei] = Int32(id) }
        }
        self.numericIDs = numericIDs
        self.otherIDs = otherIDs
    }

    var count: Int { imeis.count }

    /// The id of a product; nil when the IMEI is not in `product`.
    func id(of imei: String) -> Int32? {
        if let key = IMEIKey.of(imei) { return numericIDs[key].map { Int32(truncatingIfNeeded: $0) } }
        return otherIDs[imei]
    }

    /// The id of a product, tried first as the one after `previous`: ids follow IMEI order,
    /// and so do an export's lines, so the next product is mostly found without hashing.
    func id(of imei: String, after previous: Int32?) -> Int32? {
        if let previous, Int(previous) + 1 < imeis.count, imeis[Int(previous) + 1] == imei { return previous + 1 }
        return id(of: imei)
    }

    func imei(_ id: Int32) -> String { imeis[Int(id)] }

    /// Watermarks by id from watermarks by IMEI (IMEIs that are not products are left out).
    func byID(_ watermarks: [String: Int64]) -> [Int64?] {
        var table = [Int64?](repeating: nil, count: count)
        for (imei, time) in watermarks {
            if let id = id(of: imei) { table[Int(id)] = time }
        }
        return table
    }
}
