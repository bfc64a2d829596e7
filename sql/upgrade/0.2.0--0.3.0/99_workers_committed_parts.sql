-- The heaviest statements of the history and the features run in parts,
-- written by background workers that commit each part apart
-- (run_in_parts), into staging tables that a worker made, and made ready
-- for the swap (keys, statistics) by workers too; a failed phase's
-- staging tables are dropped when its failure is recorded. (The phases'
-- functions that use them are in the parts that first replaced them.)
-- The quality checks' counts can use parallel workers.

-- write_feature_rows for a phase's staging table (stage_phase): with more
-- than one process, background workers write ranges of keys each, every
-- range committed on its own (run_in_parts), where the session has
-- written nothing yet. A failure leaves their rows in the staging table,
-- which the phase's next start drops; a table of the user's must come and
-- go with the transaction, so write_feature_rows never does this.
CREATE OR REPLACE FUNCTION @extschema@.stage_feature_rows(entity text, target regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_stage_feature_rows'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stage_feature_rows(text, regclass) IS
    'Internal: write_feature_rows into a phase''s staging table, by background workers that commit a range of keys each where the transaction has written nothing yet; returns the rows written';

-- One range of keys of write_feature_rows, written by this process alone:
-- what each background worker of stage_feature_rows runs.
CREATE OR REPLACE FUNCTION @extschema@.write_feature_part(entity text, target regclass, base regclass, lower text, upper text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_write_feature_part'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.write_feature_part(text, regclass, regclass, text, text) IS
    'Internal: appends to target the features of the entity''s keys from lower up to upper (NULL: no bound), on this process alone, as write_feature_rows does for all; returns the rows written';

-- Counts the rows of from_sql (a relation or a parenthesized query with an
-- alias) and those for which `failing` holds, with the first five distinct
-- failing keys: the shape every row-level check reports.
CREATE OR REPLACE FUNCTION @extschema@.quality_count(from_sql text, key_sql text, failing text,
                                          OUT total bigint, OUT failing_rows bigint, OUT sample_keys text[])
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Counts alone, which the planner can split among parallel workers (an
    -- ordered aggregate of the keys would keep the scan on one process);
    -- the keys of the first failing rows in a second pass, only when
    -- there are any.
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE coalesce(%2$s, false)) FROM %1$s', from_sql, failing)
       INTO total, failing_rows;
    sample_keys := ARRAY[]::text[];
    IF failing_rows > 0 THEN
        EXECUTE format('SELECT coalesce(array_agg(s.k ORDER BY s.k), ARRAY[]::text[])
                          FROM (SELECT DISTINCT (%2$s)::text AS k FROM %1$s WHERE coalesce(%3$s, false)
                                 ORDER BY 1 LIMIT 5) AS s',
                       from_sql, key_sql, failing)
           INTO sample_keys;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.quality_count(text, text, text) IS
    'Internal: rows, failing rows and a sample of failing keys of one row-level quality check';

-- A statement run once per part ($1 the part, from 0; $2 the parts), in
-- background workers when the caller's transaction has written nothing
-- yet, each part committed on its own (see src/glue/committed_parts.hpp);
-- otherwise in the caller, part after part. The phases write their
-- heaviest tables so, from every core.
CREATE OR REPLACE FUNCTION @extschema@.run_in_parts(statement text, parts integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_run_in_parts'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.run_in_parts(text, integer) IS
    'Internal: runs a statement once per part ($1 the part from 0, $2 the parts), in background workers that commit each part when the transaction has written nothing yet, else in this session; returns the rows written (a command''s, or the sum of a query''s bigint column)';

-- The parts a phase splits its heaviest statements into: several per
-- process, so that a process done early takes another part.
CREATE OR REPLACE FUNCTION @extschema@.part_count()
RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN normalize.worker_count() OPERATOR(pg_catalog.=) 1 THEN 1
            ELSE 4 OPERATOR(pg_catalog.*) normalize.worker_count() END;
COMMENT ON FUNCTION @extschema@.part_count() IS
    'Internal: the parts a phase splits its heaviest statements into (run_in_parts): four per process, or one with one process';

-- A staging table made ready for the swap: the indexes of the table it
-- replaces (a key as a key), built now that the rows are in, and its
-- statistics. One table per call, so that swap_in_phase can hand the
-- tables to background workers (run_in_parts), several at once.
CREATE OR REPLACE FUNCTION @extschema@.ready_staging_table(t text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    def text;
BEGIN
    IF to_regclass(format('normalize.%I', 'next_' || t)) IS NULL OR to_regclass(format('normalize.%I', t)) IS NULL THEN
        RAISE EXCEPTION 'there is no staging table normalize.% for normalize.%', quote_ident('next_' || t), quote_ident(t)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'normalize.stage_phase() makes a phase''s staging tables.';
    END IF;
    -- (A staging table given indexes of its own keeps them: the swap
    -- checks that they are its table's.)
    FOR def IN SELECT CASE WHEN c.oid IS NOT NULL
                           THEN format('ALTER TABLE normalize.%I ADD %s', 'next_' || t, pg_get_constraintdef(c.oid))
                           ELSE format('CREATE %sINDEX ON normalize.%I%s', CASE WHEN i.indisunique THEN 'UNIQUE ' END,
                                       'next_' || t, substr(d.def, strpos(d.def, ' USING ')))
                      END
                 FROM pg_index AS i
                CROSS JOIN LATERAL (SELECT pg_get_indexdef(i.indexrelid) AS def) AS d
                 LEFT JOIN pg_constraint AS c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                                             AND c.contype IN ('p', 'u', 'x')
                WHERE i.indrelid = format('normalize.%I', t)::regclass
                  AND NOT EXISTS (SELECT FROM pg_index AS x
                                   WHERE x.indrelid = format('normalize.%I', 'next_' || t)::regclass)
                ORDER BY i.indexrelid LOOP
        EXECUTE def;
    END LOOP;
    EXECUTE format('ANALYZE normalize.%I', 'next_' || t);
END
$$;
COMMENT ON FUNCTION @extschema@.ready_staging_table(text) IS
    'Internal: builds on the staging table next_<t> the indexes of normalize.<t> and analyzes it, before the swap';

-- The staging tables a phase left (its workers' parts are committed, and
-- the phase's rollback did not take them back); returns how many.
CREATE OR REPLACE FUNCTION @extschema@.discard_staging(phase text)
RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
    dropped integer := 0;
BEGIN
    FOR t IN SELECT w FROM normalize.phases_from(discard_staging.phase) AS x CROSS JOIN LATERAL unnest(x.writes) AS w
              WHERE x.name = discard_staging.phase
                AND to_regclass(format('normalize.%I', 'next_' || w)) IS NOT NULL LOOP
        EXECUTE format('DROP TABLE normalize.%I', 'next_' || t);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;
COMMENT ON FUNCTION @extschema@.discard_staging(text) IS
    'Internal: drops the staging tables (next_<table>) a failed phase left behind; returns how many';

