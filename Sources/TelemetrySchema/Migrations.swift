extension Schema {
    /// The SMART Solar tables the job touches, `telemetry`, and the job's bookkeeping.
    /// Tables are created only when missing: a real target database already has `product`
    /// (with more columns) and may have the history tables.
    static let version1 = SchemaMigration(version: 1, description: "products, histories, telemetry, run bookkeeping", sql: """
        CREATE TABLE IF NOT EXISTS product (
            product_imei varchar(15) PRIMARY KEY,
            created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
        );

        -- Exactly one row per IMEI, ever: the watermark W(p) of DESIGN.md.
        CREATE TABLE IF NOT EXISTS product_migration_history (
            product_migration_history_id serial PRIMARY KEY,
            product_imei varchar(15) NOT NULL UNIQUE REFERENCES product (product_imei),
            latest_migration_timestamp timestamp NOT NULL,
            last_migrated_at timestamp NOT NULL,
            created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
            created_by varchar(255),
            modified_at timestamp,
            modified_by varchar(255)
        );
        -- Also when the table existed before: the engine's ON CONFLICT (product_imei) needs it.
        CREATE UNIQUE INDEX IF NOT EXISTS product_migration_history_product_imei_key
            ON product_migration_history (product_imei);

        CREATE TABLE IF NOT EXISTS rtc_connection_history (
            rtc_connection_history_id serial PRIMARY KEY,
            product_imei varchar(15) NOT NULL REFERENCES product (product_imei),
            connection_status varchar(16) NOT NULL
                CHECK (connection_status IN ('offline', 'online')),
            connection_status_time timestamp NOT NULL,
            connection_status_reason varchar(32) NOT NULL
                CHECK (connection_status_reason IN ('low-battery-voltage', 'sleep-mode', 'unknown',
                                                    'user-request', 'inactivity', 'message-received')),
            connection_status_info text,
            latest_message_time timestamp,
            created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
            created_by varchar(255),
            modified_at timestamp,
            modified_by varchar(255)
        );

        -- One row per (product_imei, field, time); numbers, booleans (1/0) in value, strings in value_text.
        CREATE TABLE IF NOT EXISTS telemetry (
            product_imei varchar(15) NOT NULL,
            field text NOT NULL,
            time timestamp NOT NULL,
            value double precision,
            value_text text,
            PRIMARY KEY (product_imei, field, time)
        );

        CREATE TABLE IF NOT EXISTS migrate_run (
            run_id bigserial PRIMARY KEY,
            unit text NOT NULL,
            mode text NOT NULL,
            dry_run boolean NOT NULL,
            started_at timestamp NOT NULL,
            finished_at timestamp,
            status text NOT NULL,
            exit_code int,
            report jsonb,
            host text,
            pid int
        );

        -- Dumps completed per run unit, with the fingerprint that lets a nightly run skip them.
        CREATE TABLE IF NOT EXISTS migrate_dump (
            unit text NOT NULL,
            name text NOT NULL,
            fingerprint text NOT NULL,
            completed_at timestamp NOT NULL,
            run_id bigint REFERENCES migrate_run (run_id),
            points bigint NOT NULL DEFAULT 0,
            inserted bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (unit, name)
        )
        """)

    /// Bearer tokens of the SMART Solar API, stored as the hex SHA-256 of the token
    /// (computed in SQL: `encode(sha256(convert_to($1, 'UTF8')), 'hex')`).
    static let version2 = SchemaMigration(version: 2, description: "api tokens", sql: """
        CREATE TABLE IF NOT EXISTS api_token (
            token_hash text PRIMARY KEY,
            user_email text NOT NULL,
            permission text NOT NULL
                CHECK (permission IN ('OVERVIEW', 'TECHNICAL', 'ADMIN', 'FACTORY', 'SYSTEM')),
            created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
            last_used_at timestamp,
            expires_at timestamp NOT NULL
        )
        """)

    /// Every nightly dump updates the history row of each product it touches: with room left
    /// on each page those updates are HOT (no index entry, no bloat), about four times
    /// cheaper for a fleet of 100,000. Existing pages keep their layout until rewritten
    /// (`VACUUM FULL product_migration_history`, once). Also the index the API's time-ordered
    /// lists of `rtc_connection_history` need.
    static let version3 = SchemaMigration(version: 3, description: "history fillfactor, rtc time index", sql: """
        ALTER TABLE product_migration_history SET (fillfactor = 50);
        CREATE INDEX IF NOT EXISTS rtc_connection_history_time_idx
            ON rtc_connection_history (connection_status_time)
        """)

    /// The API's common lists: one product's connection history, in time order
    /// (`product_imei = $1 ORDER BY connection_status_time`), and the product filter alone.
    /// Valid on a table distributed by `product_imei` (Citus).
    static let version4 = SchemaMigration(version: 4, description: "rtc history index for the API", sql: """
        CREATE INDEX IF NOT EXISTS rtc_connection_history_product_time_idx
            ON rtc_connection_history (product_imei, connection_status_time)
        """)
}
