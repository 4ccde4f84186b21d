import PostgresClient

/// The layout of the tables on a Citus cluster (docs/citus.md): `telemetry`,
/// `product_migration_history` and `rtc_connection_history` distributed by `product_imei`,
/// co-located; `product` a reference table; the job's bookkeeping (`migrate_*`, `api_token`)
/// local tables of the coordinator.
///
/// Detected, not configured: the layout applies when the database has the `citus`
/// extension, and a plain PostgreSQL is left as it is. A distributed table's primary key
/// must contain the distribution column, so the histories' `serial` keys become
/// `(<id>, product_imei)`: ids stay unique (one sequence), a GET by id still finds one row.
///
/// Invariant: `migrate_citus_layout()` is idempotent; each step checks Citus' catalog first,
/// so it may run on every `schema apply` (a database that gets the extension after version 5
/// is laid out by the next apply).
public enum CitusLayout {
    /// Creates (or replaces) the function and runs it. Version 5 of the schema.
    static let version5 = SchemaMigration(version: 5, description: "citus layout when the citus extension is present", sql: """
        CREATE OR REPLACE FUNCTION migrate_citus_layout() RETURNS text LANGUAGE plpgsql AS $layout$
        DECLARE
            done text[] := '{}';
            tbl text;
            pk text;
            id_column text;
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
                RETURN 'not a citus database';
            END IF;
            -- One connection per worker: DDL after parallel shard work in one transaction fails otherwise.
            PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
            IF migrate_citus_type('product') IS DISTINCT FROM 'reference' THEN
                PERFORM create_reference_table('product');
                done := done || 'product: reference table'::text;
            END IF;
            IF migrate_citus_type('telemetry') IS DISTINCT FROM 'distributed' THEN
                PERFORM create_distributed_table('telemetry', 'product_imei');
                PERFORM migrate_citus_drop_local_data('telemetry');
                done := done || 'telemetry: distributed by product_imei'::text;
            END IF;
            FOREACH tbl IN ARRAY ARRAY['product_migration_history', 'rtc_connection_history'] LOOP
                CONTINUE WHEN to_regclass(tbl) IS NULL
                    OR migrate_citus_type(tbl) IS NOT DISTINCT FROM 'distributed';
                id_column := tbl || '_id';
                -- The primary key must hold the distribution column: (<id>, product_imei).
                SELECT c.conname INTO pk FROM pg_constraint c
                WHERE c.conrelid = tbl::regclass AND c.contype = 'p';
                IF pk IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM pg_constraint c JOIN pg_attribute a
                        ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                    WHERE c.conrelid = tbl::regclass AND c.contype = 'p' AND a.attname = 'product_imei'
                ) THEN
                    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', tbl, pk);
                    pk := NULL;
                END IF;
                IF pk IS NULL THEN
                    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (%I, product_imei)', tbl, id_column);
                END IF;
                PERFORM create_distributed_table(tbl, 'product_imei', colocate_with => 'telemetry');
                PERFORM migrate_citus_drop_local_data(tbl);
                done := done || (tbl || ': distributed by product_imei, primary key (' || id_column || ', product_imei)');
            END LOOP;
            RETURN CASE WHEN cardinality(done) = 0 THEN 'laid out already' ELSE array_to_string(done, '; ') END;
        END
        $layout$;

        -- 'distributed', 'reference', 'local' (a Citus local table) or NULL (a plain table). From
        -- the catalog of the node: the citus_tables view asks every node for sizes, as the current role.
        CREATE OR REPLACE FUNCTION migrate_citus_type(tbl text) RETURNS text LANGUAGE plpgsql STABLE AS $type$
        DECLARE kind text;
        BEGIN
            EXECUTE $q$SELECT CASE WHEN partmethod = 'h' THEN 'distributed'
                                   WHEN partmethod = 'n' AND repmodel = 't' THEN 'reference' ELSE 'local' END
                       FROM pg_dist_partition WHERE logicalrelid = $1::regclass$q$ INTO kind USING tbl;
            RETURN kind;
        END
        $type$;

        -- After a table with rows is distributed, its old local copy is dead weight on the coordinator.
        CREATE OR REPLACE FUNCTION migrate_citus_drop_local_data(tbl text) RETURNS void LANGUAGE plpgsql AS $drop$
        BEGIN
            PERFORM truncate_local_data_after_distributing_table(tbl::regclass);
        EXCEPTION WHEN OTHERS THEN
            NULL;  -- nothing to truncate, or referenced locally: the rows only cost space
        END
        $drop$;

        SELECT migrate_citus_layout()
        """)

    /// True when the database has the `citus` extension (read-only).
    public static func isCitus(_ connection: PostgresConnection) throws -> Bool {
        try connection.query("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')").first?.bool(0) == true
    }

    /// Lays out the tables when the database has the `citus` extension and version 5 is
    /// applied: nothing to do on a laid-out or plain database. Returns the function's word.
    @discardableResult
    static func applyIfCitus(on connection: PostgresConnection) throws -> String? {
        guard try isCitus(connection),
              try connection.query("SELECT to_regproc('migrate_citus_layout') IS NOT NULL").first?.bool(0) == true
        else { return nil }
        return try connection.query("SELECT migrate_citus_layout()").first?.string(0)
    }
}
