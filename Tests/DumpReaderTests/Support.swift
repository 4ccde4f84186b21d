import DumpReader
import Foundation
import TestSupport

/// Paths and helpers shared by the reader's tests.
enum Paths {
    /// The package root (Tests/DumpReaderTests/Support.swift is three levels down).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("fixtures")
    /// `shared/real-dumps`, beside the clone.
    static let realDumps = root.deletingLastPathComponent().appendingPathComponent("shared/real-dumps")
}

/// The inflate backends every gzip test runs with: both where ISA-L is usable, and always under
/// CI=true, where a missing ISA-L fails the ISA-L runs instead of dropping them (.ci/run
/// installs libisal-dev through jobs/lib/packages.sh).
let inflateBackends: [InflateBackend] = InflateBackend.isalAvailable || Requirement.isCI ? InflateBackend.allCases : [.zlib]

/// Everything a dump produced, in order.
struct ReadResult {
    var points: [Point] = []
    var others: [Point] = []
    var rejects: [Reject] = []
    var compression: Compression?
    var format: DumpFormat?
}

func readAll(_ path: String, options: ReaderOptions = ReaderOptions()) throws -> ReadResult {
    var result = ReadResult()
    let dump = try DumpFile(path: path, options: options)
    try dump.read { event in
        switch event {
        case .point(let p): result.points.append(p)
        case .other(let p): result.others.append(p)
        case .malformed(let r): result.rejects.append(r)
        }
    }
    result.compression = dump.compression
    result.format = dump.format
    return result
}

/// Writes bytes to a fresh temporary file and returns its path.
func temporaryFile(_ bytes: [UInt8], name: String = "dump") throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dumpreader-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
}

/// gzip-compresses bytes with the real `gzip` tool.
func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
    let input = try temporaryFile(bytes, name: "in")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "gzip -nc \"$0\"", input]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Array(data)
}

/// Parses line-protocol (or CSV) text through the whole reader, as a plain file.
func parse(_ text: String, options: ReaderOptions = ReaderOptions()) throws -> ReadResult {
    try readAll(temporaryFile(Array(text.utf8)), options: options)
}
