import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The library that inflates gzip dumps: ISA-L's igzip (about 0.4 of zlib's instructions for the same dump) or zlib.
///
/// `TELEMETRY_MIGRATE_INFLATE` chooses: `auto` (the default, also when unset or empty) takes
/// ISA-L when it is usable (`isa-l/igzip_lib.h` was present at build time and `libisal.so.2`
/// loads at run time) and zlib otherwise; `isal` requires ISA-L (a configuration error when it
/// is not usable, never a silent fallback); `zlib` always takes zlib. Both give the same bytes
/// and reject the same damage (docs/reader.md, "gzip").
public enum InflateBackend: String, Sendable, CaseIterable, CustomStringConvertible {
    case zlib
    case isal

    /// The environment variable that chooses the backend.
    public static let environmentVariable = "TELEMETRY_MIGRATE_INFLATE"

    /// Whether ISA-L can be used in this process (its library is loaded on the first ask).
    public static var isalAvailable: Bool { czlib_isal_available() != 0 }

    public var description: String { rawValue }

    /// The backend that `TELEMETRY_MIGRATE_INFLATE` chooses in this process (see the type's doc).
    public static func chosen() throws(InflateChoiceError) -> InflateBackend {
        try chosen(by: getenv(environmentVariable).map { String(cString: $0) })
    }

    /// The backend that `value` of `TELEMETRY_MIGRATE_INFLATE` chooses (nil: unset).
    public static func chosen(by value: String?) throws(InflateChoiceError) -> InflateBackend {
        try chosen(by: value, isalUsable: isalAvailable)
    }

    /// The choice as it would be with ISA-L usable or not (tests take both sides on any machine).
    @_spi(Testing)
    public static func chosen(by value: String?, isalUsable: Bool) throws(InflateChoiceError) -> InflateBackend {
        switch value ?? "" {
        case "", "auto":
            return isalUsable ? .isal : .zlib
        case "zlib":
            return .zlib
        case "isal":
            guard isalUsable else {
                throw InflateChoiceError(description: "\(environmentVariable)=isal, but ISA-L cannot be used: "
                                         + "libisal.so.2 does not load or the build had no isa-l/igzip_lib.h (install libisal-dev)")
            }
            return .isal
        case let other:
            throw InflateChoiceError(description: "\(environmentVariable) must be auto, isal or zlib, not '\(other)'")
        }
    }

    /// The backend reads started on this task use, when set (tests choose one per read).
    @TaskLocal static var override: InflateBackend?

    /// Runs `body` with every dump read it starts on this task inflated by `backend`
    /// (whatever `TELEMETRY_MIGRATE_INFLATE` says); for tests that cover both backends.
    @_spi(Testing)
    public static func with<T>(_ backend: InflateBackend, _ body: () throws -> T) rethrows -> T {
        try $override.withValue(backend, operation: body)
    }

    /// The backend for a read starting now: the task's override, else the environment's choice.
    static func forRead() throws(InflateChoiceError) -> InflateBackend {
        if let override { return override }
        return try chosen()
    }
}

/// `TELEMETRY_MIGRATE_INFLATE` names an unknown backend, or `isal` where ISA-L is not usable.
public struct InflateChoiceError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
