import Foundation

/// The reject file: one CSV row per rejected line or point, `file,line,column,reason,raw`.
/// Buffered, and written out and synced whenever a reading of a dump ends (`flush`, before
/// the dump commits), so a run that dies still leaves the rejects of every committed dump.
public final class RejectFile: RejectSink {
    private let handle: FileHandle
    private var buffer = ""

    /// Creates (or truncates) the file and writes the header.
    public init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path)
        else {
            throw UsageError("cannot write the reject file \(path)")
        }
        self.handle = handle
        buffer = "file,line,column,reason,raw\n"
    }

    deinit {
        try? flush()
        try? handle.close()
    }

    /// Buffers the row; a write that fails (a full disk) throws from here or from `flush`.
    public func reject(file: String, line: Int, column: Int?, reason: String, raw: String) throws {
        buffer += [file, String(line), column.map(String.init) ?? "", reason, raw].map(csvEscape).joined(separator: ",") + "\n"
        if buffer.utf8.count > 64 * 1024 { try flush() }
    }

    /// Writes the buffered rows with the throwing `FileHandle` API, so a full disk is an error,
    /// not a trap, and syncs them; rows that could not be written stay buffered.
    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try handle.write(contentsOf: Data(buffer.utf8))
        buffer = ""
        try handle.synchronize()
    }
}
