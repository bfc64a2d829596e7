-- Phase 4: the feature views, generated from the catalog by
-- feature_view_sql. (Kept in a file of its own: the upgrade from 0.1.0
-- replays it to regenerate the views.)

-- The SELECT of an entity's feature view, from its catalog rows.
CREATE FUNCTION @extschema@.feature_view_sql(entity text)
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

-- The feature views: generated here, once, from the catalog.
DO $$
BEGIN
    EXECUTE 'CREATE VIEW @extschema@.customer_features AS ' || @extschema@.feature_view_sql('customer');
    EXECUTE 'CREATE VIEW @extschema@.device_features AS ' || @extschema@.feature_view_sql('device');
    EXECUTE 'CREATE VIEW @extschema@.user_features AS ' || @extschema@.feature_view_sql('user');
END
$$;
COMMENT ON VIEW @extschema@.customer_features IS
    'Point-in-time customer features, one row per account and month-end cutoff (the last at the history''s as_of); see feature_catalog';
COMMENT ON VIEW @extschema@.device_features IS
    'Point-in-time device features, one row per device and cutoff (every 7 days back from the history''s as_of); see feature_catalog';
COMMENT ON VIEW @extschema@.user_features IS
    'Point-in-time user features, one row per user and month-end cutoff; see feature_catalog';
