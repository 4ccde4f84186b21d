import Foundation

/// The reject file: one CSV row per rejected line or point, `file,line,column,reason,raw`.
/// Created only once the run holds its lock (`open`), so a run refused by the lock never
/// touches the file of the run that holds it. Buffered, and written out whenever a reading of
/// a dump ends (`flush`, before the dump commits; synced when it is a regular file), so a run
/// that dies still leaves the rejects of every committed dump.
public final class RejectFile: RejectSink {
    private let path: String
    private var handle: FileHandle?
    /// False for a device or FIFO (`/dev/null`), which cannot be synced.
    private var syncs = true
    /// Rows written since the last sync.
    private var unsynced = false
    private var buffer = ""

    public init(path: String) {
        self.path = path
    }

    /// Creates (or truncates) the file and buffers the header. A path that exists and is not
    /// a regular file (`/dev/null`, a FIFO) is written in place: creating the file would
    /// replace the device with a regular file.
    public func open() throws {
        guard handle == nil else { return }
        var info = stat()
        syncs = !(stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG)
        guard !syncs || FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path)
        else {
            throw UsageError("cannot write the reject file \(path)")
        }
        self.handle = handle
        buffer = "file,line,column,reason,raw\n"
    }

    deinit {
        try? write()
        try? handle?.close()
    }

    /// Buffers the row; a write that fails (a full disk) throws from here or from `flush`.
    public func reject(file: String, line: Int, column: Int?, reason: String, raw: String) throws {
        buffer += [file, String(line), column.map(String.init) ?? "", reason, raw].map(csvEscape).joined(separator: ",") + "\n"
        if buffer.utf8.count > 64 * 1024 { try write() }
    }

    /// Writes the buffered rows and syncs them.
    public func flush() throws {
        try write()
        guard syncs, unsynced else { return }
        try handle?.synchronize()
        unsynced = false
    }

    /// Writes the buffered rows with the throwing `FileHandle` API, so a full disk is an error,
    /// not a trap; rows that could not be written stay buffered. Nothing before `open`.
    private func write() throws {
        guard let handle, !buffer.isEmpty else { return }
        try handle.write(contentsOf: Data(buffer.utf8))
        buffer = ""
        unsynced = true
    }
}
