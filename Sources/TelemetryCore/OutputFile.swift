import Foundation

/// Writing a report or metrics file whole: readers never see half of it.
public enum OutputFile {
    /// Writes `text` to `path`: into a temporary file next to it (a hidden name, which the
    /// textfile collector ignores), then `rename(2)` over `path`. A path that exists and is not
    /// a regular file (`/dev/null`, `/dev/stdout`, a FIFO) is written in place instead: renaming
    /// over it would replace the device with a file.
    public static func write(_ text: String, to path: String) throws {
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
            defer { try? handle.close() }
            try handle.write(contentsOf: Data(text.utf8))
            return
        }
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try Data(text.utf8).write(to: temporary)
            guard rename(temporary.path, url.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}
