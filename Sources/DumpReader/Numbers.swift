/// Byte-level number parsing for line protocol and CSV cells. Nothing here allocates on the
/// common path.
enum Numbers {
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }

    /// `[-]digits` as Int64; nil when empty, not all digits or out of range.
    static func int64(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        let negative = b.count > 0 && b[0] == 0x2D
        if negative { i = 1 }
        guard i < b.count else { return nil }
        // The first 18 digits cannot overflow; only further digits need checks.
        let fastEnd = min(b.count, i + 18)
        var value: Int64 = 0
        while i + 8 <= fastEnd {  // eight at a time (a timestamp has 19)
            guard let eight = eightDigits(b, at: i) else { return nil }
            value = value &* 100_000_000 &+ Int64(eight)
            i += 8
        }
        while i < fastEnd {
            let d = b[i] &- 0x30
            guard d < 10 else { return nil }
            value = value &* 10 &+ Int64(d)
            i += 1
        }
        if negative { value = -value }
        while i < b.count {
            let d = b[i] &- 0x30
            guard d < 10 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int64(d)) : m.addingReportingOverflow(Int64(d))
            guard !o1, !o2 else { return nil }
            value = s
            i += 1
        }
        return value
    }

    /// The value of the eight ASCII digits at `b[i..<i + 8]`, in a few word operations
    /// (Lemire's SWAR parsing); nil unless all eight are digits.
    @inline(__always)
    static func eightDigits(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> UInt64? {
        let word = UInt64(littleEndian: UnsafeRawPointer(b.baseAddress! + i).loadUnaligned(as: UInt64.self))
        // Each byte is 0x30-0x39: its high nibble is 3, and adding 6 leaves it 3.
        let high: UInt64 = 0xF0F0_F0F0_F0F0_F0F0, threes: UInt64 = 0x3030_3030_3030_3030
        guard word & high == threes, (word &+ 0x0606_0606_0606_0606) & high == threes else { return nil }
        var v = word & 0x0F0F_0F0F_0F0F_0F0F
        v = (v &* 2561) >> 8
        v = ((v & 0x00FF_00FF_00FF_00FF) &* 6_553_601) >> 16
        return ((v & 0x0000_FFFF_0000_FFFF) &* 42_949_672_960_001) >> 32
    }

    /// `digits` as UInt64; nil when empty, not all digits or out of range.
    static func uint64(_ b: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard b.count > 0 else { return nil }
        var value: UInt64 = 0
        for byte in b {
            let d = byte &- 0x30
            guard d < 10 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1, !o2 else { return nil }
            value = s
        }
        return value
    }

    /// True when `b` is only digits with an optional leading '-', the form of an integer literal.
    static func isIntegerLiteral(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        if b.count > 0 && b[0] == 0x2D { i = 1 }
        guard i < b.count else { return false }
        while i < b.count { guard isDigit(b[i]) else { return false }; i += 1 }
        return true
    }

    private static let exactPowers: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// A float as InfluxDB accepts it: `[-]digits[.digits][(e|E)[+|-]digits]` with at least one
    /// mantissa digit (`1`, `-1.5`, `.5`, `1e3`, `2.5e-07`, Go's `g` format). nil when the syntax
    /// is wrong or the value is not finite. Exact: a fast path for short mantissas, the
    /// standard library's correctly rounded parser otherwise.
    static func double(_ b: UnsafeBufferPointer<UInt8>) -> Double? {
        var i = 0
        let n = b.count
        let negative = n > 0 && b[0] == 0x2D
        if negative { i = 1 }
        var mantissa: UInt64 = 0
        var mantissaDigits = 0
        var digitsSeen = 0
        var scale = 0
        while i < n, isDigit(b[i]) {
            if mantissaDigits < 19 {
                mantissa = mantissa &* 10 &+ UInt64(b[i] &- 0x30)
                if mantissa != 0 { mantissaDigits += 1 }
            } else {
                scale += 1
            }
            digitsSeen += 1
            i += 1
        }
        if i < n, b[i] == 0x2E {
            i += 1
            while i < n, isDigit(b[i]) {
                if mantissaDigits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(b[i] &- 0x30)
                    if mantissa != 0 { mantissaDigits += 1 }
                    scale -= 1
                }
                digitsSeen += 1
                i += 1
            }
        }
        guard digitsSeen > 0 else { return nil }
        var exponent = 0
        if i < n, b[i] == 0x65 || b[i] == 0x45 {
            i += 1
            var expNegative = false
            if i < n, b[i] == 0x2B || b[i] == 0x2D {
                expNegative = b[i] == 0x2D
                i += 1
            }
            let start = i
            while i < n, isDigit(b[i]) {
                if exponent < 100_000 { exponent = exponent * 10 + Int(b[i] &- 0x30) }
                i += 1
            }
            guard i > start else { return nil }
            if expNegative { exponent = -exponent }
        }
        guard i == n else { return nil }
        let total = scale + exponent
        if mantissaDigits <= 15, mantissa < (1 << 53), abs(total) <= 22 {
            var value = Double(mantissa)
            value = total >= 0 ? value * exactPowers[total] : value / exactPowers[-total]
            return negative ? -value : value
        }
        if mantissa == 0 { return negative ? -0.0 : 0.0 }
        guard let value = Double(String(decoding: b, as: UTF8.self)), value.isFinite else { return nil }
        return value
    }
}
