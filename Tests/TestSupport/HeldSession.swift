import Foundation

/// A `psql` session on a test database that holds what its script takes (a row or a lock in
/// an open transaction, an advisory lock) until `end()`.
///
/// Ended with SIGKILL: it inherits this test process's ignored SIGTERM, and a process that
/// outlives its test (a wrapper's tool) may hold a copy of its input pipe, so that an end of
/// input may never come.
public final class HeldSession {
    /// A condition for `holding`: a session of the database is idle in an open transaction
    /// (its statements done, what they took held).
    public static let idleInTransaction = """
        EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction')
        """

    private let process = Process()
    private let input = Pipe()
    private var ended = false

    /// Starts `psql` on `db` (as `applicationName`, when given), sends it `script`, and waits
    /// until `holding` (an SQL condition) is true.
    public init(on db: TestDatabase, script: String, holding: String, applicationName: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-q", "-d", db.name]
        if let applicationName {
            process.environment = ProcessInfo.processInfo.environment.merging(["PGAPPNAME": applicationName]) { $1 }
        }
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data((script + "\n").utf8))
        guard try db.becomes(holding) else {
            end()
            throw TestFailure("the psql session did not come to hold what its script takes: \(script)")
        }
    }

    /// Ends the session: its transaction rolls back, its locks are released.
    public func end() {
        guard !ended else { return }
        ended = true
        try? input.fileHandleForWriting.close()
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { end() }
}

/// A FIFO made at `path`, with a reader (`cat`) collecting what is written into it.
public final class FIFOReader {
    public let path: String
    private let reader = Process()
    private let output = Pipe()

    public init(path: String) throws {
        self.path = path
        guard mkfifo(path, 0o600) == 0 else { throw TestFailure("mkfifo \(path) failed: errno \(errno)") }
        reader.executableURL = URL(fileURLWithPath: "/bin/cat")
        reader.arguments = [path]
        reader.standardOutput = output
        try reader.run()
    }

    /// Whether `path` is still a FIFO (no writer replaced it).
    public var isStillAFIFO: Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO
    }

    /// What was written into the FIFO, once its writers are done. A reader that no writer
    /// reached would wait for ever: it is given an end of input (the FIFO opened and closed
    /// once), or, when the FIFO was replaced, ended.
    public func received() -> String {
        if isStillAFIFO {
            let descriptor = open(path, O_WRONLY | O_NONBLOCK)
            if descriptor >= 0 { close(descriptor) }
        } else {
            kill(reader.processIdentifier, SIGKILL)
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        reader.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
