import ArgumentParser
import Foundation
import Logging
import Migration
import PostgresClient
import TelemetryCore

/// How log lines look on standard error.
enum LogFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// `2024-10-03T02:00:01.123Z info dump started dump.file=... dump.bytes=...`, for people.
    case text
    /// One JSON object per line: `ts`, `level`, `label`, `message`, `metadata`, for machines.
    case json
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `--log-format` and `--log-level`, on the commands that log (nightly, backfill, status).
struct LogOptionGroup: ParsableArguments {
    @Option(name: .customLong("log-format"), help: "Log lines on standard error: text (for people) or json (one object per line).")
    var logFormat: LogFormat = .text

    @Option(name: .customLong("log-level"), help: "Least severe level logged: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info
}

/// A command whose logging is configured by `LogOptionGroup`.
protocol LoggingCommand {
    var logging: LogOptionGroup { get }
}

extension TelemetryMigrate.Nightly: LoggingCommand {}
extension TelemetryMigrate.Backfill: LoggingCommand {}
extension TelemetryMigrate.Status: LoggingCommand {}

enum LogSetup {
    /// Bootstraps swift-log once, from the parsed command's options. Commands without
    /// `LogOptionGroup` keep swift-log's default (text on standard error, level info).
    static func bootstrap(for command: ParsableCommand) {
        guard let options = (command as? LoggingCommand)?.logging else { return }
        let secrets = Secrets.fromEnvironment(arguments: CommandLine.arguments)
        let toTerminal = isatty(STDERR_FILENO) == 1
        LoggingSystem.bootstrap { label in
            StandardErrorLogHandler(label: label, format: options.logFormat, logLevel: options.logLevel,
                                    secrets: secrets, clearsProgressLine: toTerminal)
        }
    }
}

extension Secrets {
    /// Passwords this process knows about (`PGPASSWORD`, the password of `--database-url` or
    /// `DATABASE_URL`), scrubbed from every log line as a second line of defence: the
    /// PostgreSQL client already redacts its messages.
    static func fromEnvironment(arguments: [String]) -> Secrets {
        let env = ProcessInfo.processInfo.environment
        var urls = [env["DATABASE_URL"]].compactMap { $0 }
        for (index, argument) in arguments.enumerated() {
            if argument == "--database-url", index + 1 < arguments.count { urls.append(arguments[index + 1]) }
            if argument.hasPrefix("--database-url=") { urls.append(String(argument.dropFirst("--database-url=".count))) }
        }
        return Secrets(connectionStrings: urls, passwords: [env["PGPASSWORD"]].compactMap { $0 })
    }
}

/// Writes one line per event to standard error, as text or JSON.
struct StandardErrorLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let secrets: Secrets
    /// On a terminal, erase a progress line before writing over it.
    let clearsProgressLine: Bool

    init(label: String, format: LogFormat, logLevel: Logger.Level, secrets: Secrets, clearsProgressLine: Bool) {
        self.label = label
        self.format = format
        self.logLevel = logLevel
        self.secrets = secrets
        self.clearsProgressLine = clearsProgressLine
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let timestamp = Self.timestamp(Date())
        let line: String
        switch format {
        case .text: line = textLine(ts: timestamp, level: event.level, message: "\(event.message)", metadata: merged)
        case .json: line = jsonLine(ts: timestamp, level: event.level, message: "\(event.message)", metadata: merged)
        }
        let prefix = clearsProgressLine ? "\r\u{1B}[2K" : ""
        FileHandle.standardError.write(Data((prefix + secrets.scrub(line) + "\n").utf8))
    }

    func textLine(ts: String, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var line = "\(ts) \(level.rawValue) \(label): \(message)"
        for key in metadata.keys.sorted() {
            let value = Self.text(metadata[key]!)
            let needsQuotes = value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" })
            line += " \(key)=" + (needsQuotes ? "\"" + value.replacingOccurrences(of: "\"", with: "\\\"") + "\"" : value)
        }
        return line.replacingOccurrences(of: "\n", with: "\\n")
    }

    func jsonLine(ts: String, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var json = JSONWriter(style: .compact)
        json.object { json in
            json.member("ts", ts)
            json.member("level", level.rawValue)
            json.member("label", label)
            json.member("message", message)
            json.key("metadata")
            Self.write(.dictionary(metadata), to: &json)
        }
        return json.output
    }

    static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let values): "[" + values.map(text).joined(separator: ",") + "]"
        case .dictionary(let d): "{" + d.keys.sorted().map { "\($0)=\(text(d[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// A metadata value as JSON; dictionary keys in sorted order.
    static func write(_ value: Logger.Metadata.Value, to json: inout JSONWriter) {
        switch value {
        case .string(let s): json.value(s)
        case .stringConvertible(let c): json.value(c.description)
        case .array(let values): json.array { json in for v in values { write(v, to: &json) } }
        case .dictionary(let d): json.object { json in for k in d.keys.sorted() { json.key(k); write(d[k]!, to: &json) } }
        }
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        let millis = Int((date.timeIntervalSince1970 - Double(seconds)) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), millis)
    }
}

/// Passes rejected lines on to the reject file (when there is one) and logs them: the first
/// `loggedInFull` at `warning` with file, line and reason, all of them at `debug`, so a run
/// with a million bad lines does not flood cron mail (the report counts them all).
final class LoggingRejectSink: RejectSink {
    private let file: RejectFile?
    private let logger: Logger
    private let loggedInFull: Int
    private var count = 0

    init(file: RejectFile?, logger: Logger, loggedInFull: Int = 10) {
        self.file = file
        self.logger = logger
        self.loggedInFull = loggedInFull
    }

    func reject(file name: String, line: Int, column: Int?, reason: String, raw: String) throws {
        try file?.reject(file: name, line: line, column: column, reason: reason, raw: raw)
        count += 1
        // Built only when the line is logged: past the first few, most runs log no debug.
        func metadata() -> Logger.Metadata {
            var metadata: Logger.Metadata = ["dump.file": "\(name)", "line": "\(line)", "reason": "\(reason)"]
            if let column { metadata["column"] = "\(column)" }
            return metadata
        }
        if count <= loggedInFull {
            logger.warning("line rejected", metadata: metadata())
            if count == loggedInFull {
                logger.warning("further rejected lines are logged at debug level only; the report counts them and the reject file lists them")
            }
        } else {
            logger.debug("line rejected", metadata: metadata())
        }
    }

    func open() throws { try file?.open() }

    func flush() throws { try file?.flush() }
}
