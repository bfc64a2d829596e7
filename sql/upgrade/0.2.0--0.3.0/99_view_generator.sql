-- The feature view generator: feature_reads lists the values each feature
-- reads from earlier rows, and feature_ref writes their places in the
-- packed array directly, where feature_view_sql used to rewrite its own
-- text with regular expressions. The views it generates are unchanged.

DROP FUNCTION @extschema@.feature_expression(text, text, integer, integer, integer);
DROP FUNCTION @extschema@.feature_ref(text, integer, integer);

-- What one feature reads from earlier rows: each value it takes k > 0
-- rows back. The view generator packs all of an entity's such values into
-- one array per row and lags that array once per distinct k, so it needs
-- the list before it writes any feature's SQL; feature_expression takes
-- its references from the same list. The arguments are checked here.
CREATE OR REPLACE FUNCTION @extschema@.feature_reads(metric text, aggregation text, n integer, cadence integer, smallest integer)
RETURNS TABLE (col text, k integer)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Checked before any SQL is built from them: a NULL would be spliced in
    -- as nothing, and a cadence of 0 would divide by zero.
    IF metric IS NULL OR aggregation IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN metric IS NULL THEN 'metric' ELSE 'aggregation' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass a metric and an aggregation of normalize.feature_catalog.';
    END IF;
    IF aggregation = 'last' THEN
        RETURN;
    END IF;
    PERFORM normalize.require_range('cadence', cadence, 1, 'infinity',
                                    'Pass the rows between two cutoffs, such as 7 for weekly cutoffs of daily rows.');
    IF aggregation NOT IN ('mean', 'sum', 'stddev', 'slope', 'min', 'max', 'change', 'pct_change', 'growth_rate')
       OR n IS NULL OR n < 2 OR smallest IS NULL OR smallest < 1 OR smallest > n THEN
        RAISE EXCEPTION 'no windowed feature is % over % periods (cadence %, smallest window %)',
                        aggregation, n, cadence, smallest
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The aggregations and windows of normalize.feature_catalog are the ones the generator knows.';
    END IF;
    IF aggregation IN ('change', 'pct_change', 'growth_rate') THEN
        RETURN QUERY VALUES (metric, n);
        RETURN;
    END IF;
    -- The window's count of known values: a window is NULL unless complete.
    RETURN QUERY VALUES ('_n_' || metric, n);
    RETURN QUERY
    SELECT x.prefix || metric, n
      FROM unnest(CASE aggregation WHEN 'stddev' THEN ARRAY['_s1_', '_s2_'] WHEN 'slope' THEN ARRAY['_s1_', '_sx_']
                                   WHEN 'min' THEN ARRAY[]::text[] WHEN 'max' THEN ARRAY[]::text[]
                                   ELSE ARRAY['_s1_'] END) AS x(prefix);
    -- The smallest-window extremes that cover the window, the row's own
    -- (k = 0) aside.
    IF aggregation IN ('min', 'max') THEN
        RETURN QUERY
        SELECT '_b' || aggregation || '_' || metric, o.k
          FROM (SELECT generate_series(smallest, n - smallest, smallest) AS k UNION SELECT n - smallest) AS o
         WHERE o.k > 0 ORDER BY o.k;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.feature_reads(text, text, integer, integer, integer) IS
    'Internal: the values one windowed feature reads some rows back (column, rows back), for the feature view generator';

-- A value k rows back in the feature view: the column itself, or its place
-- in the row's packed array (packed lists the array's values), lagged over
-- the cutoff rows (__a<k / cadence>) when k is a multiple of the rows
-- between cutoffs, or before the rows were thinned to the cutoffs
-- (__lag<k>) when not.
CREATE OR REPLACE FUNCTION @extschema@.feature_ref(col text, k integer, cadence integer, packed text[])
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    place integer;
BEGIN
    PERFORM normalize.require_range('k', k, 0, 'infinity', 'Pass how many rows back, 0 for the row itself.');
    PERFORM normalize.require_range('cadence', cadence, 1, 'infinity',
                                    'Pass the rows between two cutoffs, such as 7 for weekly cutoffs of daily rows.');
    IF col IS NULL THEN
        RAISE EXCEPTION 'col must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the name of a column of the view.';
    END IF;
    IF k = 0 THEN
        RETURN quote_ident(col);
    END IF;
    place := array_position(packed, col);
    IF place IS NULL THEN
        RAISE EXCEPTION 'col "%" is not among the packed values %', col, coalesce(packed::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pack every value normalize.feature_reads lists for the entity''s features.';
    END IF;
    RETURN CASE WHEN k % cadence = 0 THEN format('(__a%s)[%s]', k / cadence, place)
                ELSE format('(__lag%s)[%s]', k, place) END;
END
$$;
COMMENT ON FUNCTION @extschema@.feature_ref(text, integer, integer, text[]) IS
    'Internal: the SQL for a column k rows back in the feature view, from its place among the packed values';

-- The SQL of one windowed feature over the running sums (_n_, _s1_, _s2_,
-- _sx_ of each metric) and the running minimum and maximum over the
-- smallest window (_bmin_, _bmax_): sums over a window are differences of
-- running sums, and the minimum over a window is the least of a few
-- smallest-window minima that cover it. Each is O(1) per row, where
-- framed window aggregates over daily rows would cost the window's length.
-- The values from earlier rows are those feature_reads lists, placed in
-- the packed array.
CREATE OR REPLACE FUNCTION @extschema@.feature_expression(metric text, aggregation text, n integer, cadence integer, smallest integer,
                                               packed text[])
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    back jsonb;
    s1 text;
    s2 text;
    sx text;
    complete text;
    extremes text;
BEGIN
    -- The SQL of each value read n rows back, by column; feature_reads
    -- checks the arguments.
    SELECT coalesce(jsonb_object_agg(r.col, normalize.feature_ref(r.col, r.k, cadence, packed)) FILTER (WHERE r.k = n),
                    '{}')
      INTO back
      FROM normalize.feature_reads(metric, aggregation, n, cadence, smallest) AS r;
    IF aggregation = 'last' THEN
        RETURN quote_ident(metric);
    END IF;
    IF aggregation IN ('min', 'max') THEN
        SELECT quote_ident('_b' || aggregation || '_' || metric)
               || string_agg(', ' || normalize.feature_ref(r.col, r.k, cadence, packed), '' ORDER BY r.k)
          INTO extremes
          FROM normalize.feature_reads(metric, aggregation, n, cadence, smallest) AS r
         WHERE r.col = '_b' || aggregation || '_' || metric;
        -- A window as small as the smallest: the row's own extreme alone.
        extremes := coalesce(extremes, quote_ident('_b' || aggregation || '_' || metric));
    END IF;
    complete := format('(%s - coalesce(%s, 0)) = %s', quote_ident('_n_' || metric), back ->> ('_n_' || metric), n);
    s1 := format('(%s - coalesce(%s, 0))', quote_ident('_s1_' || metric), back ->> ('_s1_' || metric));
    s2 := format('(%s - coalesce(%s, 0))', quote_ident('_s2_' || metric), back ->> ('_s2_' || metric));
    sx := format('(%s - coalesce(%s, 0))', quote_ident('_sx_' || metric), back ->> ('_sx_' || metric));
    RETURN CASE aggregation
        WHEN 'mean' THEN format('CASE WHEN %s THEN %s / %s END', complete, s1, n)
        WHEN 'sum' THEN format('CASE WHEN %s THEN %s END', complete, s1)
        WHEN 'stddev' THEN format('CASE WHEN %s THEN sqrt(greatest(0, (%s - %s ^ 2 / %s) / %s)) END',
                                  complete, s2, s1, n, n - 1)
        WHEN 'slope' THEN format('CASE WHEN %s THEN (%s - (t - %s) * %s) / %s END',
                                 complete, sx, (n - 1) / 2.0, s1, n * (n * n - 1) / 12.0)
        -- The row's own smallest-window extreme, then those further back,
        -- nearest first.
        WHEN 'min' THEN format('CASE WHEN %s THEN least(%s) END', complete, extremes)
        WHEN 'max' THEN format('CASE WHEN %s THEN greatest(%s) END', complete, extremes)
        WHEN 'change' THEN format('%I - %s', metric, back ->> metric)
        WHEN 'pct_change' THEN format('(%1$I - %2$s) / NULLIF(abs(%2$s), 0)', metric, back ->> metric)
        WHEN 'growth_rate' THEN format('CASE WHEN %1$I > 0 AND %2$s > 0 THEN power(%1$I / %2$s, 1.0 / %3$s) - 1 END',
                                       metric, back ->> metric, n)
    END;
END
$$;
COMMENT ON FUNCTION @extschema@.feature_expression(text, text, integer, integer, integer, text[]) IS
    'Internal: the SQL of one windowed feature over running sums, for the feature view generator';

-- The SELECT of an entity's feature view, from its catalog rows.
CREATE OR REPLACE FUNCTION @extschema@.feature_view_sql(entity text)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base text;
    key text;
    cadence integer;
    smallest integer;
    running text;
    features text;
    packed text[];
    shifts text;
    aligned text;
BEGIN
    SELECT k.base_view, k.kind || '_key', k.cadence, k.smallest_window INTO base, key, cadence, smallest
      FROM normalize.require_feature_entity(entity) AS k;
    SELECT string_agg(format('count(%1$I) OVER c AS %2$I, sum(%1$I) OVER c AS %3$I, sum(%1$I * %1$I) OVER c AS %4$I, '
                             'sum(t * %1$I) OVER c AS %5$I, min(%1$I) OVER s AS %6$I, max(%1$I) OVER s AS %7$I',
                             m, '_n_' || m, '_s1_' || m, '_s2_' || m, '_sx_' || m, '_bmin_' || m, '_bmax_' || m),
                      ', ' ORDER BY m)
      INTO running
      FROM (SELECT DISTINCT c.source_metric AS m FROM normalize.feature_catalog AS c
             WHERE c.entity = feature_view_sql.entity AND c.aggregation <> 'last') AS metrics;
    -- Every value a feature reads some rows back is packed, once per row,
    -- into one array, and each distinct shift lags that array: a few
    -- window calls per row instead of one per (value, shift). Shifts that
    -- are whole numbers of cutoffs lag the thinned rows (__a), the others
    -- the rows before thinning (__lag).
    WITH reads AS (
        SELECT r.col, r.k
          FROM normalize.feature_catalog AS c
         CROSS JOIN LATERAL normalize.feature_reads(c.source_metric, c.aggregation, c.window_size, cadence, smallest) AS r
         WHERE c.entity = feature_view_sql.entity)
    SELECT (SELECT array_agg(DISTINCT x.col COLLATE "C" ORDER BY x.col COLLATE "C") FROM reads AS x),
           (SELECT string_agg(format('lag(__arr, %1$s) OVER o AS __lag%1$s', d.k), ', ' ORDER BY d.k)
              FROM (SELECT DISTINCT x.k FROM reads AS x WHERE x.k % cadence <> 0) AS d),
           (SELECT string_agg(format('lag(__arr, %1$s) OVER w AS __a%1$s', d.k), ', ' ORDER BY d.k)
              FROM (SELECT DISTINCT x.k / cadence AS k FROM reads AS x WHERE x.k % cadence = 0) AS d)
      INTO packed, shifts, aligned;
    SELECT string_agg(format('(%s)::%s AS %I',
                             normalize.feature_expression(c.source_metric, c.aggregation, c.window_size, cadence, smallest,
                                                          packed),
                             c.data_type, c.feature), ', ' ORDER BY c.position)
      INTO features
      FROM normalize.feature_catalog AS c WHERE c.entity = feature_view_sql.entity;
    RETURN format($q$
SELECT %1$I, as_of, %2$s
  FROM (SELECT l3.* %9$s
          FROM (SELECT l2.* %3$s
                  FROM (SELECT l1.*, %10$s AS __arr
                          FROM (SELECT b.*, %4$s
                                  FROM %5$I.%6$I AS b
                                WINDOW o AS (PARTITION BY b.%1$I ORDER BY b.t),
                                       c AS (o ROWS UNBOUNDED PRECEDING), s AS (o ROWS %7$s PRECEDING)) AS l1) AS l2
                WINDOW o AS (PARTITION BY l2.%1$I ORDER BY l2.t)) AS l3
         WHERE %8$s
        WINDOW w AS (PARTITION BY %1$I ORDER BY t)) AS l4
 WHERE is_cutoff$q$,
        key, features, coalesce(', ' || shifts, ''), running, 'normalize', base, smallest - 1,
        CASE WHEN cadence > 1 THEN 'is_cutoff' ELSE 'true' END, coalesce(', ' || aligned, ''),
        coalesce('ARRAY[' || (SELECT string_agg(format('%I::float8', p), ', ' ORDER BY i)
                                FROM unnest(packed) WITH ORDINALITY AS u(p, i)) || ']', 'NULL::float8[]'));
END
$$;
COMMENT ON FUNCTION @extschema@.feature_view_sql(text) IS
    'Internal: the SQL of customer_features, device_features or user_features, generated from the feature catalog';

