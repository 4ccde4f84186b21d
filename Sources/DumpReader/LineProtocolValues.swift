/// The values of a line-protocol field set: strings (validated for the selected measurement)
/// and unquoted scalars. Used by `LineProtocolParser` and, for cell values, `CSVParser`.
extension LineProtocolParser {
    /// A String of the bytes; when `validate`, invalid UTF-8 or a NUL byte is a problem.
    static func makeString(_ bytes: UnsafeBufferPointer<UInt8>, validate: Bool, column: Int?) -> Result<String, Problem> {
        guard validate else { return .success(String(decoding: bytes, as: UTF8.self)) }
        if bytes.contains(0) { return .failure(Problem(column: column, reason: "string value contains a NUL byte")) }
        guard let string = validatedUTF8(bytes) else {
            return .failure(Problem(column: column, reason: "string value is not valid UTF-8"))
        }
        return .success(string)
    }

    static func validatedUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An unquoted field value: boolean, `12i`, `12u` or a float.
    static func scalar(_ b: UnsafeBufferPointer<UInt8>) -> Result<FieldValue, Problem> {
        guard let first = b.first, let last = b.last else { return .failure(Problem(reason: "missing field value")) }
        switch first {
        case 0x74, 0x54, 0x66, 0x46:  // t T f F
            if let value = boolean(b) { return .success(.boolean(value)) }
            return .failure(Problem(reason: "invalid boolean"))
        default: break
        }
        if last == 0x69 {  // i
            let digits = UnsafeBufferPointer(rebasing: b[..<(b.count - 1)])
            if let value = Numbers.int64(digits) { return .success(.integer(value)) }
            return .failure(Problem(reason: Numbers.isIntegerLiteral(digits) ? "integer out of range" : "invalid integer"))
        }
        if last == 0x75 {  // u
            let digits = UnsafeBufferPointer(rebasing: b[..<(b.count - 1)])
            if let value = Numbers.uint64(digits) { return .success(.unsigned(value)) }
            let literal = Numbers.isIntegerLiteral(digits) && digits.first != 0x2D
            return .failure(Problem(reason: literal ? "unsigned integer out of range" : "invalid unsigned integer"))
        }
        if let value = Numbers.double(b) { return .success(.float(value)) }
        return .failure(Problem(reason: "invalid number"))
    }

    fileprivate static let trueWords = ["t", "T", "true", "True", "TRUE"].map { Array($0.utf8) }
    fileprivate static let falseWords = ["f", "F", "false", "False", "FALSE"].map { Array($0.utf8) }

    static func boolean(_ b: UnsafeBufferPointer<UInt8>) -> Bool? {
        if trueWords.contains(where: { $0.elementsEqual(b) }) { return true }
        if falseWords.contains(where: { $0.elementsEqual(b) }) { return false }
        return nil
    }
}

extension LineProtocolParser.Problem {
    init(reason: String) { self.init(column: nil, reason: reason) }
}
