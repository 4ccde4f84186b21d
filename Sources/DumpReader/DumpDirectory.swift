#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Listing a dumps directory (DESIGN.md, "Inputs").
///
/// Every entry that is not hidden and not a directory is a dump, whatever it is: a dangling
/// symbolic link, a FIFO or an unreadable file is listed, and fails when it is opened, at its
/// place in the order, instead of being skipped in silence. Entries are read with `readdir`,
/// as bytes, so a name that is not valid UTF-8 is listed too: under a displayable name with
/// each invalid byte written `\xHH`, whose open fails with "file name is not valid UTF-8".
public enum DumpDirectory {
    /// The dumps of `directory`, sorted by byte order of file name; full paths.
    public static func list(_ directory: String) throws -> [String] {
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        return try entries(directory)
            .filter { $0.first != 0x2E && !isDirectory(Array(base.utf8) + $0) }
            .sorted { $0.lexicographicallyPrecedes($1) }
            .map { base + displayName($0) }
    }

    /// True when `path` names an entry that `list` escaped: its directory holds a name that is
    /// not valid UTF-8 and escapes to the last component of `path`.
    public static func isEscapedName(_ path: String) -> Bool {
        guard let slash = path.lastIndex(of: "/") else { return false }
        let name = String(path[path.index(after: slash)...])
        guard name.contains("\\x"), let names = try? entries(String(path[...slash])) else { return false }
        return names.contains { String(validating: $0, as: UTF8.self) == nil && displayName($0) == name }
    }

    /// The raw names in `directory` other than `.` and `..`.
    static func entries(_ directory: String) throws -> [[UInt8]] {
        guard let stream = opendir(directory) else {
            throw DumpError(file: directory, offset: nil,
                            reason: "cannot list directory: \(String(cString: strerror(errno)))")
        }
        defer { closedir(stream) }
        var names: [[UInt8]] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        return names
    }

    /// Whether the path (bytes) is a directory, following symbolic links; false when it cannot be stat'ed.
    private static func isDirectory(_ path: [UInt8]) -> Bool {
        var info = stat()
        let found = (path + [0]).withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { stat($0.baseAddress!, &info) == 0 }
        }
        return found && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The name as a String: itself when valid UTF-8, else with each invalid byte as `\xHH`.
    static func displayName(_ name: [UInt8]) -> String {
        if let valid = String(validating: name, as: UTF8.self) { return valid }
        var out = ""
        var i = 0
        while i < name.count {
            // A valid scalar has no valid proper prefix, so the first length that validates is it.
            let valid = (1...4).first { i + $0 <= name.count && String(validating: name[i..<i + $0], as: UTF8.self) != nil }
            if let length = valid {
                out += String(decoding: name[i..<i + length], as: UTF8.self)
                i += length
            } else {
                let hex = String(name[i], radix: 16, uppercase: true)
                out += "\\x" + (hex.count == 1 ? "0" : "") + hex
                i += 1
            }
        }
        return out
    }
}
