import Foundation
import PostgresClient

/// API tokens in `api_token`: 64 random hex characters handed out once, stored only as
/// their SHA-256 (computed by PostgreSQL, so no crypto code here).
///
/// Invariant: a token is valid while `expires_at > now`; a use sets `last_used_at := now,
/// expires_at := now + 3 hours` unless `last_used_at` is less than `touchInterval` old, so
/// a token expires 3 hours after its last use (give or take `touchInterval`), or after its
/// creation when never used. Authentication writes at most once per token per interval.
public enum APITokens {
    /// The idle time after which a token expires, as a PostgreSQL interval.
    public static let idleLifetime = "3 hours"
    /// A use within this interval of the last recorded one is not written again.
    public static let touchInterval = "1 minute"
    /// The length of a token (and the only length accepted).
    public static let length = 64

    static let hashSQL = "encode(sha256(convert_to($1::text, 'UTF8')), 'hex')"
    static let nowSQL = "(now() AT TIME ZONE 'UTC')"

    /// What the database says of a valid token.
    public struct Validity: Sendable, Equatable {
        public let permission: Permission
        /// Seconds until it expires (after this use's extension).
        public let secondsLeft: Double
    }

    /// The permission of a valid token, whose life it extends (a write only when the last
    /// recorded use is older than `touchInterval`); nil when the token is unknown or expired.
    /// Safe to repeat.
    public static func authenticate(_ token: String, on connection: PostgresConnection) throws -> Validity? {
        let rows = try connection.query("""
            SELECT permission, last_used_at IS NULL OR last_used_at < \(nowSQL) - interval '\(touchInterval)',
                   extract(epoch FROM expires_at - \(nowSQL))::float8
            FROM api_token WHERE token_hash = \(hashSQL) AND expires_at > \(nowSQL)
            """, [.text(token)])
        guard let row = rows.first, let name = row.string(0), let permission = Permission(name: name) else { return nil }
        var secondsLeft = row.double(2) ?? 0
        if row.bool(1) == true {
            let touched = try connection.query("""
                UPDATE api_token SET last_used_at = \(nowSQL), expires_at = \(nowSQL) + interval '\(idleLifetime)'
                WHERE token_hash = \(hashSQL) AND expires_at > \(nowSQL)
                RETURNING extract(epoch FROM expires_at - \(nowSQL))::float8
                """, [.text(token)])
            guard let left = touched.first?.double(0) else { return nil }  // expired or deleted meanwhile
            secondsLeft = left
        }
        return Validity(permission: permission, secondsLeft: secondsLeft)
    }

    /// Creates a token for `user` with `permission` and returns it: the only time its
    /// clear text exists.
    public static func create(user: String, permission: Permission, on connection: PostgresConnection) throws -> String {
        let token = generate()
        try connection.execute("""
            INSERT INTO api_token (token_hash, user_email, permission, created_at, expires_at)
            VALUES (\(hashSQL), $2::text, $3::text, \(nowSQL), \(nowSQL) + interval '\(idleLifetime)')
            """, [.text(token), .text(user), .text(permission.name)])
        return token
    }

    /// 64 hex digits from the system's cryptographically secure generator (256 bits).
    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<length).map { _ in digits[Int(generator.next() % 16)] })
    }

    /// The token of an `Authorization: Token token=<token>` header (quotes allowed), or nil.
    public static func token(fromAuthorization header: String?) -> String? {
        guard let header else { return nil }
        // The usual spelling, `Token token=<64 characters>`, without trimming or case folding.
        let usual = "Token token="
        if header.utf8.count == usual.utf8.count + length, header.utf8.starts(with: usual.utf8),
           header.utf8.dropFirst(usual.utf8.count).allSatisfy(isTokenCharacter) {
            return String(header.dropFirst(usual.count))
        }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("token ") else { return nil }
        var rest = trimmed.dropFirst(6).drop(while: { $0 == " " })
        guard rest.lowercased().hasPrefix("token=") else { return nil }
        rest = rest.dropFirst(6)
        if rest.hasPrefix("\""), rest.hasSuffix("\""), rest.count >= 2 { rest = rest.dropFirst().dropLast() }
        let token = String(rest)
        guard token.count == length, token.utf8.allSatisfy(isTokenCharacter) else { return nil }
        return token
    }

    /// ASCII letters and digits.
    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }
}
