-- Phase 1 of the plan: verify that every join works, and measure the
-- sources as the plan's "Current State Assessment" does.

CREATE FUNCTION @extschema@.validate_relationships()
RETURNS TABLE (check_name text, total bigint, linked bigint, orphaned bigint, status text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- Every foreign key of the normalized tables, checked by a join rather
    -- than trusted to the constraint, so a disabled or dropped key shows.
    WITH held AS (
        SELECT q.entity FROM normalize.quarantine AS q
         WHERE q.reference = 'account' AND q.reason = 'ambiguous rule' AND NOT q.kept)
    SELECT v.check_name, v.total, v.linked, v.orphaned, v.status FROM (
    SELECT c.ord, c.check_name, c.total, c.linked, c.total - c.linked AS orphaned,
           CASE WHEN c.linked = c.total THEN 'pass' ELSE 'fail' END AS status
      FROM (
        -- Rows held back because the rows of their reference did not
        -- decide its rule should link, and count against: a relationship
        -- whose every row waits for the user's word does not pass as
        -- "nothing to check".
        SELECT 'subscriptions.account_key -> accounts' AS check_name, 1 AS ord, '{subscriptions}'::text[] AS needs,
               count(*) + (SELECT count(*) FROM held WHERE held.entity = 'subscriptions') AS total,
               count(a.account_key) AS linked
          FROM normalize.subscriptions AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'devices.account_key -> accounts', 2, '{devices}',
               count(*) + (SELECT count(*) FROM held WHERE held.entity = 'devices'), count(a.account_key)
          FROM normalize.devices AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        -- A device that names a location should have one: a location link
        -- lost (no match, another account's) counts against, so that
        -- losing them all cannot pass as "nothing to check".
        SELECT 'devices.location_key -> locations', 3, '{devices,locations}',
               count(*) FILTER (WHERE x.location_key IS NOT NULL OR normalize.normalize_id(x.source_location_ref) IS NOT NULL),
               count(l.location_key)
          FROM normalize.devices AS x LEFT JOIN normalize.locations AS l USING (location_key)
        UNION ALL
        SELECT 'devices.location_key -> a location of the device''s own account', 4, '{devices,locations}',
               count(*) FILTER (WHERE x.location_key IS NOT NULL OR normalize.normalize_id(x.source_location_ref) IS NOT NULL),
               count(l.location_key)
          FROM normalize.devices AS x
          LEFT JOIN normalize.locations AS l ON l.location_key = x.location_key AND l.account_key = x.account_key
        UNION ALL
        SELECT 'users.account_key -> accounts', 5, '{users}',
               count(*) + (SELECT count(*) FROM held WHERE held.entity = 'users'), count(a.account_key)
          FROM normalize.users AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'locations.account_key -> accounts', 6, '{locations}',
               count(*) + (SELECT count(*) FROM held WHERE held.entity = 'locations'), count(a.account_key)
          FROM normalize.locations AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'campaigns.account_key -> accounts', 7, '{campaigns}',
               count(*) + (SELECT count(*) FROM held WHERE held.entity = 'campaigns'), count(a.account_key)
          FROM normalize.campaigns AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'account_map.account_key -> accounts', 8, '{}', count(*), count(a.account_key)
          FROM normalize.account_map AS x LEFT JOIN normalize.accounts AS a USING (account_key)
      ) AS c
     -- A relationship of an entity without a source is not there to check
     -- (the readiness report names what was not registered).
     WHERE NOT EXISTS (SELECT 1 FROM unnest(c.needs) AS n WHERE NOT normalize.is_registered(n))
    UNION ALL
    -- What became of the source rows: linked or assigned rows are in the
    -- normalized tables; the rest are quarantined, dropped or superseded.
    SELECT 100 + e.position, format('source %s rows in the normalized tables', m.entity), count(*),
           count(*) FILTER (WHERE m.status IN ('linked', 'assigned')),
           count(*) FILTER (WHERE m.status IN ('quarantined', 'dropped')),
           'info'
      FROM normalize.id_map AS m
      JOIN normalize.entity_kinds AS e USING (entity)
     GROUP BY m.entity, e.position
    ) AS v ORDER BY v.ord
$$;
COMMENT ON FUNCTION @extschema@.validate_relationships() IS
    'One row per relationship of the normalized tables whose entities have sources (total: the rows that should link, a device that names a location and a row held back by an undecided rule included; linked, orphaned, pass/fail), and per source how many rows reached them';

CREATE FUNCTION @extschema@.assess_sources()
RETURNS TABLE (entity text, metric text, value numeric, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    q text;
BEGIN
    PERFORM normalize.require_sources();
    FOR e IN SELECT * FROM normalize.entity_kinds AS k ORDER BY k.position LOOP
        IF NOT normalize.is_registered(e.entity) THEN
            RETURN QUERY SELECT e.entity, 'rows'::text, NULL::numeric, 'not registered'::text;
            CONTINUE;
        END IF;
        q := normalize.source_query(e.entity);
        RETURN QUERY EXECUTE format($f$
            SELECT %1$L, 'rows', count(*)::numeric, NULL::text FROM (%2$s) AS s
            UNION ALL
            SELECT %1$L, 'distinct snapshot dates', count(DISTINCT s.snapshot_date)::numeric,
                   'history depth: ' || coalesce(to_char(min(s.snapshot_date), 'YYYY-MM-DD') || ' to ' ||
                                                 to_char(max(s.snapshot_date), 'YYYY-MM-DD'), 'no dates')
              FROM (%2$s) AS s
            UNION ALL
            SELECT %1$L, 'ID column type', NULL,
                   (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a
                     WHERE a.attrelid = src.relation AND a.attname = src.columns ->> %3$L)
              FROM normalize.sources AS src WHERE src.entity = %1$L
            $f$, e.entity, q, e.id_column);
    END LOOP;

    -- Account references: their type, their range, and how many match a
    -- customer ID as they stand (what a naive join would link).
    FOR e IN SELECT k.* FROM normalize.reference_kinds AS k
               JOIN normalize.entity_kinds AS ek USING (entity)
              WHERE normalize.is_registered(k.entity) AND normalize.is_registered(k.target_entity)
              ORDER BY ek.position, k.reference LOOP
        RETURN QUERY EXECUTE format($f$
            WITH r AS (SELECT s.%3$I AS raw FROM (%1$s) AS s),
                 t AS (SELECT DISTINCT s.%5$I::text AS raw FROM (%4$s) AS s)
            SELECT %2$L, %6$L || ' reference type', NULL::numeric,
                   (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a
                     WHERE a.attrelid = src.relation AND a.attname = src.columns ->> %3$L)
              FROM normalize.sources AS src WHERE src.entity = %2$L
            UNION ALL
            SELECT %2$L, %6$L || ' references joining as they stand',
                   round(100.0 * count(*) FILTER (WHERE r.raw IN (SELECT raw FROM t)) / nullif(count(*), 0), 1),
                   'percent of rows; examples: ' || (SELECT string_agg(quote_literal(x.raw), ', ')
                                                      FROM (SELECT DISTINCT raw FROM r WHERE raw IS NOT NULL
                                                             ORDER BY raw LIMIT 3) AS x)
              FROM r
            UNION ALL
            SELECT %2$L, %6$L || ' references missing',
                   round(100.0 * count(*) FILTER (WHERE normalize.normalize_id(r.raw) IS NULL) / nullif(count(*), 0), 1),
                   'percent of rows'
              FROM r
            $f$, normalize.source_query(e.entity), e.entity, e.source_column,
                 normalize.source_query(e.target_entity), e.target_column, e.reference);
    END LOOP;

    -- One type for account IDs everywhere, or a mix (the plan's "mixed
    -- VARCHAR/INTEGER").
    RETURN QUERY
    WITH t AS (
        SELECT src.entity, format_type(a.atttypid, a.atttypmod) AS type_name
          FROM normalize.sources AS src
          JOIN normalize.reference_kinds AS k ON k.entity = src.entity AND k.reference = 'account'
          JOIN pg_attribute AS a ON a.attrelid = src.relation AND a.attname = src.columns ->> k.source_column
        UNION ALL
        SELECT src.entity, format_type(a.atttypid, a.atttypmod)
          FROM normalize.sources AS src
          JOIN pg_attribute AS a ON a.attrelid = src.relation AND a.attname = src.columns ->> 'customer_id'
         WHERE src.entity = 'customers')
    SELECT 'all'::text, 'account ID types'::text, count(DISTINCT t.type_name)::numeric,
           string_agg(DISTINCT t.type_name || ' (' || (SELECT string_agg(u.entity, ', ' ORDER BY u.entity)
                                                          FROM t AS u WHERE u.type_name = t.type_name) || ')', '; ')
      FROM t;

    -- The synthetic values the plan lists, of the entities registered.
    RETURN QUERY EXECUTE format($f$
        SELECT 'customers', 'distinct tiers', count(DISTINCT s.tier)::numeric, string_agg(DISTINCT s.tier, ', ')
          FROM (%1$s) AS s
        UNION ALL
        SELECT 'customers', 'share with zero MRR', round(100.0 * count(*) FILTER (WHERE s.mrr = 0) / nullif(count(*), 0), 1),
               'percent of customers'
          FROM (%1$s) AS s
        $f$, normalize.source_query('customers'));
    IF normalize.is_registered('subscriptions') THEN
        RETURN QUERY EXECUTE format($f$
            SELECT 'subscriptions', 'rows with positive MRR', count(*) FILTER (WHERE s.mrr > 0)::numeric, NULL
              FROM (%1$s) AS s
            $f$, normalize.source_query('subscriptions'));
    END IF;
    IF normalize.is_registered('devices') THEN
        RETURN QUERY EXECUTE format($f$
            SELECT 'devices', 'mean health score', round(avg(s.health_score), 2),
                   count(DISTINCT s.health_score) || ' distinct values: ' ||
                   (SELECT string_agg(v::text, ', ' ORDER BY v) FROM (SELECT DISTINCT x.health_score AS v FROM (%1$s) AS x
                                                                       ORDER BY 1 LIMIT 5) AS d)
              FROM (%1$s) AS s
            $f$, normalize.source_query('devices'));
    END IF;
    IF normalize.is_registered('users') THEN
        RETURN QUERY EXECUTE format($f$
            SELECT 'users', 'mean engagement score', round(avg(s.engagement_score), 2),
                   count(DISTINCT s.engagement_score) || ' distinct values'
              FROM (%1$s) AS s
            $f$, normalize.source_query('users'));
    END IF;
    IF normalize.is_registered('devices') THEN
        RETURN QUERY EXECUTE format($f$
            SELECT 'devices', 'share without a location', round(100.0 * count(*) FILTER (WHERE s.location_id IS NULL) / nullif(count(*), 0), 1),
                   'percent of devices'
              FROM (%1$s) AS s
            $f$, normalize.source_query('devices'));
    END IF;

    -- Columns of categories: the values no spelling of the vocabulary
    -- matches (source_query passes them on as they are).
    FOR e IN SELECT c.* FROM normalize.source_contract AS c JOIN normalize.entity_kinds AS k USING (entity)
              WHERE c.category IS NOT NULL AND normalize.is_registered(c.entity) ORDER BY k.position, c.column_name LOOP
        RETURN QUERY EXECUTE format($f$
            SELECT %1$L::text, %2$L || ' values unknown', coalesce(sum(u.rows), 0)::numeric,
                   coalesce('rows: ' || string_agg(format('%%s (%%s)', u.value, u.rows), ', ' ORDER BY u.rows DESC, u.value COLLATE "C"),
                            'every value is a known ' || %3$L)
              FROM (SELECT x.v AS value, count(*) AS rows FROM (SELECT s.%4$I::text AS v FROM (%5$s) AS s) AS x
                     WHERE x.v IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM normalize.category_values AS c WHERE c.category = %3$L AND c.value = x.v)
                     GROUP BY x.v) AS u
            $f$, e.entity, e.column_name, e.category, e.column_name, normalize.source_query(e.entity));
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.assess_sources() IS
    'The "before" picture of the registered sources: counts, history depth, ID types, how references join as they stand, the synthetic values the plan lists, and category values the vocabulary does not know';
