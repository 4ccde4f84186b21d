/// An API token's permission level. Levels are totally ordered,
/// `overview < technical < admin < factory < system`, and a level allows everything the
/// levels below it allow.
public enum Permission: Int, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case overview, technical, admin, factory, system

    /// The name stored in `api_token.permission` and accepted on the command line.
    public var name: String {
        switch self {
        case .overview: "OVERVIEW"
        case .technical: "TECHNICAL"
        case .admin: "ADMIN"
        case .factory: "FACTORY"
        case .system: "SYSTEM"
        }
    }

    /// Parses a stored or typed level name, case-insensitively.
    public init?(name: String) {
        guard let level = Self.allCases.first(where: { $0.name == name.uppercased() }) else { return nil }
        self = level
    }

    public var description: String { name }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
