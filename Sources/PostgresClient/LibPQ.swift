import CLibPQ
import Foundation

/// Thin wrappers over libpq calls that need pointer handling. Every pointer stays inside
/// these functions; callers get Swift values.
enum LibPQ {
    /// `PQconnectdbParams` with `expand_dbname`: a `dbname` holding a URL or conninfo is
    /// expanded in place, and later keys override earlier ones.
    static func connect(_ parameters: [(String, String)]) -> OpaquePointer? {
        withCStrings(parameters.map { $0.0 }) { keywords in
            withCStrings(parameters.map { $0.1 }) { values in
                // Both arrays must end with NULL.
                var k = Array(keywords) + [nil]
                var v = Array(values) + [nil]
                return k.withUnsafeMutableBufferPointer { kp in
                    v.withUnsafeMutableBufferPointer { vp in
                        PQconnectdbParams(kp.baseAddress, vp.baseAddress, 1)
                    }
                }
            }
        }
    }

    /// Calls `body` with C strings for `strings` (NULL for nil), valid only during the call.
    static func withCStrings<T>(_ strings: [String?], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> T) -> T {
        let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer($0) }
        return pointers.withUnsafeBufferPointer(body)
    }

    static func errorMessage(_ connection: OpaquePointer) -> String {
        trimmed(String(cString: PQerrorMessage(connection)))
    }

    static func resultErrorMessage(_ result: OpaquePointer) -> String? {
        guard let text = PQresultErrorMessage(result) else { return nil }
        let message = trimmed(String(cString: text))
        return message.isEmpty ? nil : message
    }

    /// The error's SQLSTATE, primary message, detail, hint and the server function that raised it.
    static func errorFields(of result: OpaquePointer)
        -> (sqlState: String?, primary: String?, detail: String?, hint: String?, function: String?) {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        return (field("C"), field("M"), field("D"), field("H"), field("R"))
    }

    /// All rows as text, copied out of the result.
    static func rows(of result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var values: [String?] = []
        values.reserveCapacity(rowCount * columnCount)
        for row in 0..<Int32(rowCount) {
            let inPlace = PostgresResultRow(result: result, row: row)
            for column in 0..<columnCount { values.append(inPlace.string(column)) }
        }
        return PostgresRows(columns: columns, values: values)
    }

    static func affectedRows(of result: OpaquePointer) -> Int {
        PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
    }

    /// The command tag's first word: `COMMIT`, `ROLLBACK`, `INSERT`, ...
    static func commandStatus(of result: OpaquePointer) -> String {
        let tag = PQcmdStatus(result).map { String(cString: $0) } ?? ""
        return String(tag.split(separator: " ").first ?? "")
    }

    /// Gets the connection out of a COPY state nobody asked for.
    static func abandonCopy(_ connection: OpaquePointer, _ status: ExecStatusType) {
        if status == PGRES_COPY_IN || status == PGRES_COPY_BOTH {
            _ = PQputCopyEnd(connection, "unexpected COPY FROM STDIN")
        }
        if status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
            var buffer: UnsafeMutablePointer<CChar>?
            while PQgetCopyData(connection, &buffer, 0) >= 0 {
                if let b = buffer { PQfreemem(b) }
                buffer = nil
            }
        }
    }

    /// Passwords in a URL or conninfo (`password`, `sslpassword`), as libpq parses them.
    static func passwords(inConninfo conninfo: String) -> [String] {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            return []
        }
        defer { PQconninfoFree(options) }
        var found: [String] = []
        var option = options
        while let keyword = option.pointee.keyword {
            let name = String(cString: keyword)
            if name == "password" || name == "sslpassword", let value = option.pointee.val {
                found.append(String(cString: value))
            }
            option = option.successor()
        }
        return found
    }

    private static func trimmed(_ s: String) -> String {
        var s = Substring(s)
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
