/// An IMEI of 1-15 ASCII digits as one number, exactly: the digits' value times 16 plus
/// their count, so that "0123" and "123" stay apart. Selected points always have such an
/// IMEI (the parser rejects the line otherwise), so per-product state can be found by an
/// integer hash instead of hashing a `String`.
public enum IMEIKey {
    /// The key of `imei`; nil unless it is 1-15 ASCII digits.
    @inlinable
    public static func of(_ imei: String) -> UInt64? {
        var value: UInt64 = 0
        var length: UInt64 = 0
        for byte in imei.utf8 {
            let digit = byte &- 0x30
            guard digit < 10, length < 15 else { return nil }
            value = value &* 10 &+ UInt64(digit)
            length &+= 1
        }
        return length == 0 ? nil : value &* 16 &+ length
    }
}
