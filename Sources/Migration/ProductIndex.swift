/// The run's products as dense ids (0..<count), read once from `product`, so that per-product
/// state lives in arrays indexed by id rather than in dictionaries keyed by IMEI: a point
/// then costs one hash of its IMEI, however many products the fleet has.
struct ProductIndex {
    /// IMEI of each id.
    let imeis: [String]
    private let ids: [String: Int32]

    /// From IMEIs in any order (repeats count once); ids follow IMEI order.
    init(_ products: [String]) {
        let imeis = Array(Set(products)).sorted()
        self.imeis = imeis
        var ids = [String: Int32](minimumCapacity: imeis.count)
        for (id, imei) in imeis.enumerated() { ids[imei] = Int32(id) }
        self.ids = ids
    }

    var count: Int { imeis.count }

    /// The id of a product; nil when the IMEI is not in `product`.
    func id(of imei: String) -> Int32? { ids[imei] }

    func imei(_ id: Int32) -> String { imeis[Int(id)] }

    /// Watermarks by id from watermarks by IMEI (IMEIs that are not products are left out).
    func byID(_ watermarks: [String: Int64]) -> [Int64?] {
        var table = [Int64?](repeating: nil, count: count)
        for (imei, time) in watermarks {
            if let id = ids[imei] { table[Int(id)] = time }
        }
        return table
    }
}
