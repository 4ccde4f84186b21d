import PostgresClient
import TestSupport

/// Runs `body` with a connection to a fresh, empty database, dropped afterwards.
func withDatabase<T>(_ label: String = "pg", _ body: (TestDatabase, PostgresConnection) throws -> T) throws -> T {
    let database = try TestDatabase.create(label: label)
    defer { database.drop() }
    let connection = try PostgresConnection(url: database.url)
    defer { connection.close() }
    return try body(database, connection)
}

/// Catches the `PostgresError` that `body` throws; nil when it throws nothing (or something else).
func postgresError(_ body: () throws -> Void) -> PostgresError? {
    do {
        try body()
        return nil
    } catch let error as PostgresError {
        return error
    } catch {
        return nil
    }
}
