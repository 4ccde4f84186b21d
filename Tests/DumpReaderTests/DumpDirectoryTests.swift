import DumpReader
import Foundation
import Testing
import TestSupport

/// Every non-hidden, non-directory entry of a dumps directory is a dump: listed at its place in
/// byte order of name, and read or failed with a clear reason, never skipped (issue 12, 4-5).
@Suite struct DumpDirectoryTests {
    static let line = "telemetry,product_imei=001409288034695 v=1 1\n"

    /// A fresh directory holding `a.lp`, `z.lp` and a hidden file and a sub-directory (both ignored).
    func directory() throws -> String {
        let dir = (try temporaryFile([], name: "placeholder") as NSString).deletingLastPathComponent + "/dumps"
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        for name in ["a.lp", "z.lp", ".hidden"] {
            try Data(Self.line.utf8).write(to: URL(fileURLWithPath: dir + "/" + name))
        }
        return dir
    }

    func sh(_ script: String, in dir: String) throws {
        let result = run("/bin/sh", ["-c", script], currentDirectory: dir)
        try #require(result.status == 0, "\(script): \(result.stderr)")
    }

    func names(_ dir: String) throws -> [String] {
        try DumpDirectory.list(dir).map { String($0.split(separator: "/").last!) }
    }

    /// The reason `DumpFile` gives for the entry, or nil when it reads to its end.
    func failure(_ path: String) -> String? {
        do {
            _ = try readAll(path)
            return nil
        } catch let error as DumpError {
            return error.reason
        } catch {
            return "\(error)"
        }
    }

    @Test func danglingSymbolicLinkIsListedAndFails() throws {
        let dir = try directory()
        try sh("ln -s nowhere.lp m.lp", in: dir)
        #expect(try names(dir) == ["a.lp", "m.lp", "z.lp"])
        #expect(failure(dir + "/m.lp") == "cannot open: dangling symbolic link")
        #expect(throws: DumpError.self) { try DumpFingerprint.of(path: dir + "/m.lp") }
    }

    @Test func symbolicLinkToADumpIsRead() throws {
        let dir = try directory()
        try sh("ln -s a.lp b.lp && ln -s sub c", in: dir)
        #expect(try names(dir) == ["a.lp", "b.lp", "z.lp"])
        #expect(failure(dir + "/b.lp") == nil)
    }

    @Test(.timeLimit(.minutes(1))) func fifoIsListedAndFailsWithoutHanging() throws {
        let dir = try directory()
        try sh("mkfifo m.lp", in: dir)
        #expect(try names(dir) == ["a.lp", "m.lp", "z.lp"])
        #expect(failure(dir + "/m.lp") == "not a regular file (a FIFO)")
        #expect(throws: DumpError.self) { try DumpFingerprint.of(path: dir + "/m.lp") }
    }

    @Test func unreadableFileIsListedAndFailsUnlessRoot() throws {
        let dir = try directory()
        try sh("chmod 000 z.lp", in: dir)
        #expect(try names(dir) == ["a.lp", "z.lp"])
        // root reads any file; anyone else gets the reason.
        #expect(failure(dir + "/z.lp") == (geteuid() == 0 ? nil : "cannot open: Permission denied"))
    }

    @Test func nameThatIsNotUTF8IsListedEscapedAndFails() throws {
        let dir = try directory()
        try sh("printf '%s' '\(Self.line)' > \"$(printf 'm\\377\\376.lp')\"", in: dir)
        let listed = try names(dir)
        #expect(listed == ["a.lp", #"m\xFF\xFE.lp"#, "z.lp"])
        #expect(failure(dir + #"/m\xFF\xFE.lp"#) == "file name is not valid UTF-8")
        #expect(failure(dir + #"/m\xFF.lp"#) == "cannot open: No such file or directory")
    }

    @Test func nameOrderIsByteOrderOfTheRawName() throws {
        let dir = try directory()
        try sh("touch \"$(printf 'b\\377')\" bz Z", in: dir)
        // Raw bytes: "Z" < "a.lp" < "b\xff" > "bz" since 0xFF > "z".
        #expect(try names(dir) == ["Z", "a.lp", "bz", #"b\xFF"#, "z.lp"])
    }
}
