-- Placeholders row by row (issue 18, class 2): values that stand for
-- "unknown" are found per value (declared in placeholder_values, kept by
-- pg_dump, or one dominant value), not only per column; coarse
-- measurements that fill their grid are kept; scores on a 0-1 scale are
-- rescaled. repair_values, which reads them, is replaced in 70_categories.

CREATE TABLE @extschema@.placeholder_values (
    table_name  text NOT NULL,
    column_name text NOT NULL,
    value       numeric NOT NULL,
    placeholder boolean NOT NULL DEFAULT true,
    note        text NOT NULL DEFAULT '',
    shipped     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (table_name, column_name, value),
    CHECK ((table_name, column_name) IN (('accounts', 'mrr'), ('devices', 'health_score'), ('devices', 'uptime'),
                                         ('users', 'engagement_score')))
);
COMMENT ON TABLE @extschema@.placeholder_values IS
    'Values of a repaired column that are placeholders wherever they appear (placeholder), or real values detection must keep (not placeholder)';
INSERT INTO @extschema@.placeholder_values (table_name, column_name, value, placeholder, note, shipped) VALUES
    ('accounts', 'mrr', 0, true, 'no revenue recorded (the plan''s "$0 MRR"); derived from paying subscriptions, else drawn', true);
CREATE TRIGGER placeholder_values_user_rows
    BEFORE INSERT OR UPDATE ON @extschema@.placeholder_values
    FOR EACH ROW EXECUTE FUNCTION @extschema@.mark_user_rows('table_name', 'column_name', 'value');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.placeholder_values', 'WHERE NOT shipped');

CREATE FUNCTION @extschema@.fills_its_grid(vals numeric[])
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(DISTINCT v) > 1
           AND (max(v) - min(v)) * power(10::numeric, max(scale(trim_scale(v)))) + 1 = count(DISTINCT v)
      FROM unnest(vals) AS v
     WHERE v IS NOT NULL
$$;
COMMENT ON FUNCTION @extschema@.fills_its_grid(numeric[]) IS
    'Internal: whether distinct values fill every step of their precision between their least and greatest (a coarse measurement rather than placeholders)';

CREATE FUNCTION @extschema@.scan_placeholders(table_name text, column_name text, score boolean,
                                              OUT finding text, OUT placeholders numeric[], OUT kept numeric[],
                                              OUT unit_scale boolean, OUT n bigint, OUT n_distinct bigint,
                                              OUT mean numeric)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
    dominant record;
BEGIN
    IF (table_name, column_name) NOT IN (('accounts', 'mrr'), ('devices', 'health_score'), ('devices', 'uptime'),
                                         ('users', 'engagement_score')) THEN
        RAISE EXCEPTION 'no repaired column %.%', table_name, column_name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The repaired columns are accounts.mrr, devices.health_score, devices.uptime and users.engagement_score.';
    END IF;
    SELECT coalesce(array_agg(p.value) FILTER (WHERE p.placeholder), '{}'), coalesce(array_agg(p.value) FILTER (WHERE NOT p.placeholder), '{}')
      INTO placeholders, kept
      FROM normalize.placeholder_values AS p
     WHERE p.table_name = scan_placeholders.table_name AND p.column_name = scan_placeholders.column_name;
    EXECUTE format($q$
        WITH c AS (SELECT t.%1$I AS x, count(*) AS rows FROM normalize.%2$I AS t GROUP BY t.%1$I)
        SELECT sum(c.rows)::bigint AS n, coalesce(sum(c.rows) FILTER (WHERE c.x IS NULL), 0)::bigint AS n_null,
               coalesce(sum(c.rows) FILTER (WHERE c.x = 0), 0)::bigint AS n_zero, count(c.x) AS n_distinct,
               sum(c.x * c.rows) / nullif(sum(c.rows) FILTER (WHERE c.x IS NOT NULL), 0) AS mean,
               array_agg(c.x) FILTER (WHERE c.x IS NOT NULL) AS vals
          FROM c$q$, column_name || '_observed', table_name)
      INTO s;
    n := coalesce(s.n, 0);
    n_distinct := s.n_distinct;
    mean := s.mean;
    finding := normalize.column_finding(n, s.n_null, s.n_zero, s.n_distinct, false);
    IF finding LIKE 'only % distinct values' AND normalize.fills_its_grid(s.vals) THEN
        finding := NULL;
    END IF;
    IF finding IS NULL THEN
        EXECUTE format($q$
            WITH c AS (SELECT t.%1$I AS x, count(*) AS rows FROM normalize.%2$I AS t
                        WHERE t.%1$I IS NOT NULL GROUP BY t.%1$I)
            SELECT c.x, c.rows, sum(c.rows) OVER () AS total, count(*) OVER () AS values
              FROM c ORDER BY c.rows DESC, c.x LIMIT 1$q$, column_name || '_observed', table_name)
          INTO dominant;
        IF dominant.rows * 2 >= dominant.total AND dominant.values - 1 >= 3 AND NOT dominant.x = ANY (kept)
           AND NOT dominant.x = ANY (placeholders) THEN
            placeholders := placeholders || dominant.x;
        END IF;
    END IF;
    IF finding IS NULL AND cardinality(placeholders) > 0 THEN
        SELECT array_agg(v ORDER BY v) INTO placeholders FROM unnest(placeholders) AS v;
        EXECUTE format('SELECT count(*) FROM normalize.%I AS t WHERE t.%I = ANY ($1)', table_name, column_name || '_observed')
           INTO s USING placeholders;
        IF s.count > 0 THEN
            finding := format('placeholder %s in %s of %s rows', array_to_string(placeholders, ', '), s.count, n);
        END IF;
    END IF;
    IF score AND finding IS NULL THEN
        EXECUTE format($q$
            SELECT count(DISTINCT t.%1$I) >= 3 AND max(t.%1$I) <= 1 AND min(t.%1$I) >= 0
              FROM normalize.%2$I AS t WHERE NOT t.%1$I = ANY ($1)$q$, column_name || '_observed', table_name)
          INTO unit_scale USING placeholders;
    END IF;
    unit_scale := coalesce(unit_scale, false);
    IF unit_scale THEN
        finding := 'on a 0-1 scale';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.scan_placeholders(text, text, boolean) IS
    'Internal: what repair_values finds in an observed column: a whole-column finding, the placeholder values row by row (declared, or one dominant value), and whether scores are on a 0-1 scale';
