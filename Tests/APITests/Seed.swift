import PostgresClient

/// Known rows, inserted through SQL, that the live tests query and check against: each
/// expectation is computed from these values in Swift, independently of the server.
struct RTCSeed {
    let imei: String
    let status: String
    let time: String
    let reason: String
    let info: String?
    let latestMessage: String?

    /// `YYYY-MM-DD HH:MM:SS` sorts as time does.
    var timeMicros: String { time }
    var latestMicros: String? { latestMessage }

    static let products = ["100000000000001", "100000000000002", "100000000000003", "100000000000004"]

    /// Ids are 1...rows.count in this order.
    static let rows: [RTCSeed] = [
        RTCSeed(imei: products[0], status: "online", time: "2024-01-01 00:00:00", reason: "message-received", info: nil, latestMessage: "2024-01-01 00:00:00"),
        RTCSeed(imei: products[0], status: "offline", time: "2024-01-02 10:00:00", reason: "low-battery-voltage", info: "battery 10.9 V", latestMessage: "2024-01-02 09:59:00"),
        RTCSeed(imei: products[0], status: "online", time: "2024-01-03 08:30:00", reason: "user-request", info: nil, latestMessage: "2024-01-03 08:31:00"),
        RTCSeed(imei: products[1], status: "offline", time: "2024-01-01 12:00:00", reason: "sleep-mode", info: "Sleep until dawn", latestMessage: nil),
        RTCSeed(imei: products[1], status: "online", time: "2024-01-04 06:00:00", reason: "message-received", info: nil, latestMessage: "2024-01-04 06:00:00"),
        RTCSeed(imei: products[1], status: "offline", time: "2024-01-05 23:59:59", reason: "inactivity", info: "no message for 24 h", latestMessage: "2024-01-04 23:59:59"),
        RTCSeed(imei: products[2], status: "offline", time: "2024-01-02 00:00:00", reason: "unknown", info: nil, latestMessage: nil),
        RTCSeed(imei: products[2], status: "online", time: "2024-01-06 00:00:01", reason: "user-request", info: "o'brien; DROP TABLE product; --", latestMessage: "2024-01-06 00:00:02"),
        RTCSeed(imei: products[3], status: "online", time: "2024-01-07 12:00:00", reason: "message-received", info: "100% ok", latestMessage: "2024-01-07 11:00:00"),
        RTCSeed(imei: products[3], status: "offline", time: "2024-01-08 12:00:00", reason: "low-battery-voltage", info: "LOW battery", latestMessage: "2024-01-08 12:00:00"),
    ]

    static func insertAll(on sql: PostgresConnection) throws {
        for imei in products {
            try sql.execute("INSERT INTO product (product_imei) VALUES ($1)", [.text(imei)])
        }
        for (i, imei) in products.enumerated() {
            try sql.execute("""
                INSERT INTO product_migration_history (product_imei, latest_migration_timestamp, last_migrated_at, created_by, modified_at, modified_by)
                VALUES ($1, $2::timestamp, $3::timestamp, 'telemetry-migrate', $4::timestamp, $5)
                """, [.text(imei), .text("2024-02-0\(i + 1) 00:00:00"), .text("2024-03-01 01:02:03"),
                      i == 0 ? .null : .text("2024-03-01 01:02:03"), i == 0 ? .null : .text("telemetry-migrate")])
        }
        for row in rows {
            try sql.execute("""
                INSERT INTO rtc_connection_history (product_imei, connection_status, connection_status_time,
                    connection_status_reason, connection_status_info, latest_message_time, created_by)
                VALUES ($1, $2, $3::timestamp, $4, $5, $6::timestamp, 'seed')
                """, [.text(row.imei), .text(row.status), .text(row.time), .text(row.reason),
                      row.info.map { .text($0) } ?? .null, row.latestMessage.map { .text($0) } ?? .null])
        }
    }

    /// Ids of the seed rows matching `predicate`, ascending.
    static func ids(where predicate: (RTCSeed) -> Bool) -> [Int] {
        rows.enumerated().filter { predicate($0.element) }.map { $0.offset + 1 }
    }
}
