/// A dump that cannot be read to its end: it cannot be opened, an I/O error occurred, or its
/// gzip stream is truncated or corrupt. `offset` is the compressed byte offset where it was found.
public struct DumpError: Error, CustomStringConvertible, Sendable, Hashable {
    public var file: String
    /// Byte offset in the file on disk (compressed bytes), when known.
    public var offset: UInt64?
    public var reason: String

    public init(file: String, offset: UInt64?, reason: String) {
        self.file = file
        self.offset = offset
        self.reason = reason
    }

    public var description: String {
        "\(file)\(offset.map { " at byte \($0)" } ?? ""): \(reason)"
    }
}
