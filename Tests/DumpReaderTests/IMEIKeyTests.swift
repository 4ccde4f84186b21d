import DumpReader
import PropertyBased
import Testing

@Suite struct IMEIKeyTests {
    @Test func keyIsTheValueTimesSixteenPlusTheDigitCount() {
        #expect(IMEIKey.of("123") == 123 * 16 + 3)
        #expect(IMEIKey.of("0123") == 123 * 16 + 4)
        #expect(IMEIKey.of("999999999999999") == 999_999_999_999_999 * 16 + 15)
    }

    @Test(arguments: ["", "1234567890123456", "12a", "-12", " 12", "١٢٣", "12\u{0}"])
    func notAnIMEIHasNoKey(_ text: String) {
        #expect(IMEIKey.of(text) == nil)
    }

    /// Two IMEIs share a key only when they are the same text.
    @Test func keysOfDifferentIMEIsDiffer() async {
        let imei = Gen<Character?>.element(of: Array("0123456789") as [Character]).map { $0! }.string(of: 1...15)
        await propertyCheck(count: 500, input: imei, imei) { a, b in
            #expect((IMEIKey.of(a) == IMEIKey.of(b)) == (a == b))
            #expect(IMEIKey.of(a) != nil)
        }
    }
}
