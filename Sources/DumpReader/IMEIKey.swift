/// An IMEI of 1-15 ASCII digits as one number, exactly: the digits' value times 16 plus
/// their count, so that "0123" and "123" stay apart. Selected points always have such an
/// IMEI (the parser rejects the line otherwise), so per-product state can be found by an
/// integer hash instead of hashing a `String`.
public enum IMEIKey {
    /// The key of `imei`; nil unless it is 1-15 ASCII digits.
    @inlinable
    public static func of(_ imei: String) -> UInt64? {
        // Through the contiguous bytes: iterating `utf8` costs ten times as much a digit.
        var imei = imei
        return imei.withUTF8 { of($0) }
    }

    /// The key of the IMEI written as these bytes; nil unless they are 1-15 ASCII digits.
    @inlinable
    public static func of(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard bytes.count >= 1, bytes.count <= 15 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            let digit = byte &- 0x30
            guard digit < 10 else { return nil }
            value = value &* 10 &+ UInt64(digit)
        }
        return value &* 16 &+ UInt64(bytes.count)
    }
}
