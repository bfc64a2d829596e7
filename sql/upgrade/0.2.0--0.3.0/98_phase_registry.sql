-- The phase registry (the scale issue, point 4): pipeline_phase_kinds
-- declares the phases in order, the tables each replaces and the phases
-- each is built on. clear_outputs empties a phase's tables and those of
-- every phase built on it, in place of the TRUNCATE lists that
-- reconcile_ids, build_history, refresh_features and build_training_sets
-- carried; repair_values now empties the history built on the previous
-- repair too. run_pipeline takes its phases from the registry. And, from
-- the same issue's profile: build_history runs without JIT and analyzes
-- the history it wrote, which the features read at once;
-- build_training_sets finds each device cutoff's failures in a table of
-- the failures alone.

CREATE TABLE @extschema@.pipeline_phase_kinds (
    phase    text PRIMARY KEY,
    position integer NOT NULL UNIQUE,
    writes   text[] NOT NULL,
    built_on text[] NOT NULL,
    CHECK (NOT phase = ANY (built_on))
);
COMMENT ON TABLE @extschema@.pipeline_phase_kinds IS
    'The phase registry: each phase of the pipeline in order, the tables it replaces, and the phases it is built on';
COMMENT ON COLUMN @extschema@.pipeline_phase_kinds.writes IS
    'Tables of schema normalize the phase empties and fills (repair also rewrites columns of the normalized tables)';
COMMENT ON COLUMN @extschema@.pipeline_phase_kinds.built_on IS
    'The phases whose results this phase reads: replacing theirs empties this one''s';
INSERT INTO @extschema@.pipeline_phase_kinds (phase, position, writes, built_on) VALUES
    ('reconcile', 1, ARRAY['accounts', 'locations', 'subscriptions', 'devices', 'users', 'campaigns', 'account_map',
                           'unlinked_rows', 'quarantine', 'key_collisions', 'key_case', 'reconciliation_rules',
                           'source_metrics'], '{}'),
    ('repair', 2, ARRAY['repair_summary'], ARRAY['reconcile']),
    ('history', 3, ARRAY['history_info', 'account_snapshots', 'device_days', 'user_weeks', 'lifecycle_events',
                         'account_rollups'],
     ARRAY['reconcile', 'repair']),
    ('features', 4, ARRAY['customer_feature_store', 'device_feature_store', 'user_feature_store'], ARRAY['history']),
    ('training', 5, ARRAY['churn_samples', 'clv_samples', 'device_health_samples', 'training_info'],
     ARRAY['history', 'features']),
    ('quality', 6, '{}', ARRAY['reconcile', 'repair', 'history', 'features', 'training']);

-- Empties what a reconciliation rebuilds, and what was built on it. The
-- keys and foreign keys of the normalized tables are dropped, to be added
-- again once the tables are loaded: one sort per primary key and one
-- validating join per foreign key, instead of work for every row.
CREATE OR REPLACE FUNCTION @extschema@.clear_reconciliation()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    ALTER TABLE normalize.account_map DROP CONSTRAINT account_map_account_key_fkey;
    FOR r IN SELECT e.table_name, k.reference FROM normalize.reference_kinds AS k
               JOIN normalize.entity_kinds AS e USING (entity) ORDER BY e.position, k.reference LOOP
        EXECUTE format('ALTER TABLE normalize.%I DROP CONSTRAINT %I', r.table_name,
                       format('%s_%s_fk', r.table_name, r.reference));
    END LOOP;
    FOR r IN SELECT e.table_name FROM normalize.entity_kinds AS e ORDER BY e.position LOOP
        EXECUTE format('ALTER TABLE normalize.%I DROP CONSTRAINT %I', r.table_name, r.table_name || '_pkey');
    END LOOP;
    DROP INDEX normalize.account_map_raw_value_key;
    -- The tables, and what was built on them: that describes entities and
    -- repaired values that are gone, and keeping it would mix two
    -- generations.
    IF cardinality(normalize.clear_outputs('reconcile')) > 0 THEN
        RAISE NOTICE 'the repaired values and the history of the previous reconciliation were cleared'
            USING HINT = 'Run normalize.repair_values() and normalize.build_history() again.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.clear_reconciliation() IS
    'Internal: empties the normalized tables, maps and what was built on them, and drops their keys, at the start of reconcile_ids';

CREATE OR REPLACE FUNCTION @extschema@.repair_values(seed bigint DEFAULT 42)
RETURNS SETOF @extschema@.repair_summary
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col record;
    scan record;
    whole boolean;
    tier_whole boolean;
    stats record;
    mrr_range record;
    beyond record;
BEGIN
    IF seed IS NULL THEN
        RAISE EXCEPTION 'seed must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave it out for the default, 42.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM normalize.accounts) THEN
        RAISE EXCEPTION 'the normalized tables are empty'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.reconcile_ids() first: repair works on the reconciled entities.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.repair_values'));
    -- The history was simulated to end at the repaired values that are
    -- about to change: keeping it would mix two generations.
    IF cardinality(normalize.clear_outputs('repair')) > 0 THEN
        RAISE NOTICE 'the history, features and training sets built on the previous repair were cleared'
            USING HINT = 'Run normalize.build_history() again.';
    END IF;

    -- Observed values are kept beside the repaired ones, once: a second run
    -- starts from the same observations and gives the same result.
    UPDATE normalize.accounts SET mrr_observed = mrr, tier_observed = tier WHERE mrr_source = 'observed' AND tier_source = 'observed';
    UPDATE normalize.devices SET health_score_observed = health_score, uptime_observed = uptime
     WHERE health_score_source = 'observed' AND uptime_source = 'observed';
    UPDATE normalize.users SET engagement_score_observed = engagement_score WHERE engagement_score_source = 'observed';

    -- Accounts: an observed revenue is kept unless it is a placeholder (the
    -- whole column degenerate, or the value declared or found one: $0 is,
    -- as shipped, or outside every tier's range); a placeholder is replaced
    -- by the sum of the account's paying subscriptions where there are any
    -- (derived), else drawn from the profile of the account's tier, its
    -- observed one when known, else one drawn from tier_mix (generated).
    -- The tier follows from a derived revenue. A numeric NaN or Infinity
    -- is no revenue (NaN compares above every number, so "> 0" alone would
    -- keep it).
    scan := normalize.scan_placeholders('accounts', 'mrr', false);
    whole := scan.finding IS NOT NULL AND scan.finding NOT LIKE 'placeholder %';
    SELECT count(*) AS n, count(DISTINCT tier_observed) AS n_distinct INTO stats FROM normalize.accounts;
    -- A tier column that is one value for all (the demo's "all Tier 4")
    -- says nothing of any account.
    tier_whole := normalize.column_finding(stats.n, 0, 0, stats.n_distinct, true) IS NOT NULL;
    -- Revenue outside every tier's range (999999.99, -1) is a sentinel,
    -- not a customer: the tiers' profiles say what revenue can be (a
    -- profile without a bound leaves that side open). Replaced values are
    -- counted below, so that real revenue beyond the ranges is not lost
    -- without a word.
    SELECT CASE WHEN bool_and(p.lower IS NOT NULL) THEN min(p.lower) ELSE '-Infinity' END AS lower,
           CASE WHEN bool_and(p.upper IS NOT NULL) THEN max(p.upper) ELSE 'Infinity' END AS upper
      INTO mrr_range
      FROM normalize.distribution_profiles AS p
     WHERE p.name IN (SELECT 'mrr_' || lower(replace(v.value, ' ', '_')) FROM normalize.category_values AS v
                       WHERE v.category = 'customer tier');
    mrr_range.lower := coalesce(mrr_range.lower, '-Infinity');
    mrr_range.upper := coalesce(mrr_range.upper, 'Infinity');
    WITH paying AS (
        SELECT s.account_key, sum(s.mrr) AS mrr
          FROM normalize.subscriptions AS s
         WHERE s.mrr > 0 AND s.mrr < 'Infinity'
           AND (s.status IS NULL OR EXISTS (SELECT 1 FROM normalize.category_values AS v
                                             WHERE v.category = 'subscription status' AND v.value = s.status AND v.paying))
         GROUP BY s.account_key),
    mix AS (
        SELECT m.tier, sum(m.weight) OVER (ORDER BY m.position) / sum(m.weight) OVER () AS upto
          FROM normalize.tier_mix AS m),
    decided AS (
        SELECT a.account_key, p.mrr AS paying_mrr,
               -- A tier the vocabulary does not know ('Gold') says nothing
               -- the history can use: the revenue decides it instead.
               EXISTS (SELECT 1 FROM normalize.category_values AS v
                        WHERE v.category = 'customer tier' AND v.value = a.tier_observed) AS tier_known,
               CASE WHEN a.mrr_observed = ANY (scan.kept)
                         OR (a.mrr_observed >= 0 AND a.mrr_observed < 'Infinity'
                             AND a.mrr_observed BETWEEN mrr_range.lower AND mrr_range.upper
                             AND NOT whole AND NOT a.mrr_observed = ANY (scan.placeholders)) THEN 'observed'
                    WHEN p.mrr IS NOT NULL THEN 'derived' ELSE 'generated' END AS source
          FROM normalize.accounts AS a LEFT JOIN paying AS p USING (account_key)),
    drawn AS (
        SELECT d.account_key, d.source, d.paying_mrr, d.tier_known,
               d.tier_known AND NOT tier_whole AS keep_tier,
               CASE WHEN d.source = 'generated' AND d.tier_known AND NOT tier_whole THEN a.tier_observed
                    WHEN d.source = 'generated' THEN
                   (SELECT m.tier FROM mix AS m
                     WHERE m.upto >= normalize.random_uniform_for(d.account_key, 0, 1, seed, 'account', 'tier')
                     ORDER BY m.upto LIMIT 1) END AS drawn_tier
          FROM decided AS d JOIN normalize.accounts AS a USING (account_key))
    UPDATE normalize.accounts AS a
       SET mrr = CASE x.source WHEN 'observed' THEN a.mrr_observed
                               WHEN 'derived' THEN x.paying_mrr
                               ELSE round(normalize.draw('mrr_tier_' || substr(x.drawn_tier, 6), a.account_key, seed,
                                                         'account', 'mrr')::numeric, 2) END,
           mrr_source = x.source,
           tier = CASE x.source WHEN 'generated' THEN x.drawn_tier
                                WHEN 'derived' THEN normalize.tier_for_mrr(x.paying_mrr)
                                WHEN 'observed' THEN CASE WHEN x.tier_known THEN a.tier_observed
                                                          ELSE normalize.tier_for_mrr(a.mrr_observed) END END,
           tier_source = CASE x.source WHEN 'generated' THEN CASE WHEN x.keep_tier THEN 'observed' ELSE 'generated' END
                                       WHEN 'derived' THEN 'derived'
                                       ELSE CASE WHEN x.tier_known THEN 'observed' ELSE 'derived' END END
      FROM drawn AS x WHERE x.account_key = a.account_key;
    SELECT count(*) AS n, min(a.mrr_observed) AS low, max(a.mrr_observed) AS high INTO beyond
      FROM normalize.accounts AS a
     WHERE NOT whole AND a.mrr_observed >= 0 AND a.mrr_observed < 'Infinity'
       AND NOT a.mrr_observed BETWEEN mrr_range.lower AND mrr_range.upper
       AND NOT a.mrr_observed = ANY (scan.kept) AND NOT a.mrr_observed = ANY (scan.placeholders);
    IF beyond.n > 0 THEN
        RAISE NOTICE '% accounts'' revenue lies outside every tier''s range (% to %), from % to %: replaced as placeholders',
                     beyond.n, mrr_range.lower, mrr_range.upper, beyond.low, beyond.high
            USING HINT = 'If they are real, declare the values real in normalize.placeholder_values (placeholder = false), or widen the bounds of the mrr_tier_* profiles.';
    END IF;
    INSERT INTO normalize.repair_summary
    SELECT 'accounts', 'mrr', coalesce(scan.finding, 'plausible'),
           CASE WHEN whole THEN 'sum of paying subscriptions where known, else drawn from the tier''s profile'
                ELSE 'kept observed values; placeholders (' || array_to_string(scan.placeholders, ', ')
                     || format('), missing ones and those outside every tier''s range (%s to %s): ', mrr_range.lower, mrr_range.upper)
                     || 'sum of paying subscriptions where known, else drawn from the tier''s profile' END,
           scan.n, count(*) FILTER (WHERE a.mrr_source <> 'observed'), count(*) FILTER (WHERE a.mrr_source = 'observed'),
           scan.n_distinct, round(scan.mean, 2), count(DISTINCT a.mrr), round(avg(a.mrr), 2)
      FROM normalize.accounts AS a;
    INSERT INTO normalize.repair_summary
    SELECT 'accounts', 'tier',
           coalesce(normalize.column_finding(stats.n, 0, 0, stats.n_distinct, true), 'plausible'),
           CASE WHEN tier_whole THEN 'follows the revenue; drawn from tier_mix where the revenue is unknown'
                ELSE 'kept where the vocabulary knows it, unless the revenue is derived from paying subscriptions; '
                     'otherwise follows the revenue, or is drawn from tier_mix where the revenue is unknown' END,
           stats.n, count(*) FILTER (WHERE a.tier_source <> 'observed'), count(*) FILTER (WHERE a.tier_source = 'observed'),
           stats.n_distinct, NULL, count(DISTINCT a.tier), NULL
      FROM normalize.accounts AS a;

    -- Device and user scores, drawn from the profile of each row's context
    -- where they are placeholders.
    FOR col IN
        SELECT * FROM (VALUES
            ('devices', 'health_score', 'device_key', 'device',
             $p$coalesce((SELECT v.profile FROM normalize.category_values AS v
                           WHERE v.category = 'device status' AND v.value = t.status), 'device_health')$p$,
             'drawn from the profile of the device''s status'),
            ('devices', 'uptime', 'device_key', 'device', $p$'device_uptime'$p$, 'drawn from device_uptime'),
            ('users', 'engagement_score', 'user_key', 'user',
             $p$coalesce((SELECT v.profile FROM normalize.category_values AS v
                           WHERE v.category = 'user role' AND v.value = t.role), 'engagement_standard')$p$,
             'drawn from the profile of the user''s role')
        ) AS v(table_name, column_name, key_column, kind, profile_sql, how)
        -- An entity without a source has no values to judge or repair.
        WHERE normalize.is_registered((SELECT k.entity FROM normalize.entity_kinds AS k WHERE k.table_name = v.table_name))
    LOOP
        -- Row by row: a value is kept (observed) unless it is missing,
        -- outside 0-100, a placeholder value, or in a column that is one as
        -- a whole; values declared real are kept whatever the column. Scores
        -- on a 0-1 scale are multiplied by 100 (rescaled).
        scan := normalize.scan_placeholders(col.table_name, col.column_name, true);
        whole := scan.finding IS NOT NULL AND scan.finding NOT LIKE 'placeholder %' AND NOT scan.unit_scale;
        EXECUTE format($q$
            UPDATE normalize.%1$I AS t
               SET %2$I = CASE x.source WHEN 'observed' THEN t.%3$I WHEN 'rescaled' THEN round(t.%3$I * 100, 2)
                               ELSE round(normalize.draw(%5$s, t.%6$I, %7$s, %8$L, %2$L)::numeric, 2) END,
                   %4$I = x.source
              FROM (SELECT s.ctid AS row_id,
                           CASE WHEN s.%3$I IS NULL THEN 'generated'
                                WHEN s.%3$I = ANY ($1) THEN 'observed'
                                WHEN $3 OR s.%3$I = ANY ($2) OR NOT s.%3$I BETWEEN 0 AND 100 THEN 'generated'
                                WHEN $4 THEN 'rescaled'
                                ELSE 'observed' END AS source
                      FROM normalize.%1$I AS s) AS x
             WHERE x.row_id = t.ctid
            $q$, col.table_name, col.column_name, col.column_name || '_observed', col.column_name || '_source',
                 col.profile_sql, col.key_column, seed, col.kind)
        USING scan.kept, scan.placeholders, whole, scan.unit_scale;
        EXECUTE format($q$
            INSERT INTO normalize.repair_summary
            SELECT %1$L, %2$L, %3$L, %4$L, %5$s, count(*) FILTER (WHERE %6$I = 'generated'),
                   count(*) FILTER (WHERE %6$I <> 'generated'), %7$s, round(%8$s::numeric, 2),
                   count(DISTINCT %2$I), round(avg(%2$I), 2)
              FROM normalize.%1$I$q$,
            col.table_name, col.column_name, coalesce(scan.finding, 'plausible'),
            CASE WHEN whole THEN col.how
                 WHEN scan.unit_scale THEN 'multiplied by 100 (rescaled); missing or out-of-range values ' || col.how
                 WHEN scan.finding IS NOT NULL THEN 'placeholder, missing and out-of-range values ' || col.how || '; the others kept'
                 ELSE 'kept values in 0-100; missing or out-of-range ones ' || col.how END,
            scan.n, col.column_name || '_source', scan.n_distinct, coalesce(scan.mean::text, 'NULL'));
    END LOOP;

    RETURN QUERY SELECT * FROM normalize.repair_summary ORDER BY table_name, column_name;
END
$$;
COMMENT ON FUNCTION @extschema@.repair_values(bigint) IS
    'Replaces placeholder values of the normalized tables, row by row (a degenerate column, declared placeholder values, a dominant value, missing or out-of-range ones), with keyed draws from the profiles (MRR by tier, health by status, engagement by role, uptime) or the paying subscriptions, keeping real values and their provenance; scores on a 0-1 scale are rescaled';

-- Takes the pipeline's lock for this session, then starts a run or resumes
-- the last one. A run resumes when it did not finish (failed, or still
-- marked running by a CALL that ended with an error or a session that is
-- gone: holding the lock, no other run can be under way) and was called
-- with the same arguments on the same inputs (input_fingerprint);
-- otherwise, or with restart, a new run starts from the first phase.
-- Returns the run's id.
CREATE OR REPLACE FUNCTION @extschema@.pipeline_begin(arguments jsonb, restart boolean)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    holder integer;
    last record;
    run bigint;
    fingerprint text;
BEGIN
    IF NOT normalize.pipeline_lock() THEN
        holder := normalize.pipeline_lock_holder();
        RAISE EXCEPTION 'normalize.run_pipeline is already running in this database'
            USING ERRCODE = 'lock_not_available',
                  DETAIL = format('Session %s holds the pipeline''s lock.', coalesce(holder::text, '(unknown)')),
                  HINT = 'Wait for it to finish: SELECT * FROM normalize.pipeline_status shows how far it got.';
    END IF;

    SELECT * INTO last FROM normalize.pipeline_runs AS r ORDER BY r.run_id DESC LIMIT 1;
    fingerprint := normalize.input_fingerprint();
    IF NOT restart AND last.run_id IS NOT NULL AND last.status <> 'done' AND last.arguments = pipeline_begin.arguments
       AND last.inputs IS DISTINCT FROM fingerprint THEN
        RAISE NOTICE 'run_pipeline: the sources or the settings changed since run % started; starting over', last.run_id
            USING HINT = 'Resuming would mix tables built from the old inputs with the new.';
    ELSIF NOT restart AND last.run_id IS NOT NULL AND last.status <> 'done' AND last.arguments = pipeline_begin.arguments THEN
        run := last.run_id;
        UPDATE normalize.pipeline_runs AS r
           SET status = 'running', finished_at = NULL, error = NULL, backend_pid = pg_backend_pid()
         WHERE r.run_id = run;
        UPDATE normalize.pipeline_phases AS p SET status = 'pending', error = NULL
         WHERE p.run_id = run AND p.status <> 'done';
        RAISE NOTICE 'run_pipeline: resuming run % from phase %', run,
            (SELECT p.phase FROM normalize.pipeline_phases AS p WHERE p.run_id = run AND p.status <> 'done'
              ORDER BY p.position LIMIT 1);
        RETURN run;
    END IF;
    INSERT INTO normalize.pipeline_runs (arguments, status, inputs) VALUES (pipeline_begin.arguments, 'running', fingerprint)
    RETURNING run_id INTO run;
    IF last.run_id IS NOT NULL AND last.status <> 'done' THEN
        UPDATE normalize.pipeline_runs AS r SET status = 'failed', finished_at = coalesce(r.finished_at, clock_timestamp()),
               error = coalesce(r.error, 'superseded by run ' || run || ' before it finished')
         WHERE r.run_id = last.run_id;
        UPDATE normalize.pipeline_phases AS p SET status = 'failed', error = 'the run stopped in this phase'
         WHERE p.run_id = last.run_id AND p.status = 'running';
    END IF;
    INSERT INTO normalize.pipeline_phases (run_id, position, phase)
    SELECT run, k.position, k.phase FROM normalize.pipeline_phase_kinds AS k ORDER BY k.position;
    RAISE NOTICE 'run_pipeline: run % started', run;
    RETURN run;
END
$$;
COMMENT ON FUNCTION @extschema@.pipeline_begin(jsonb, boolean) IS
    'Internal: takes run_pipeline''s lock and starts a run, or resumes the last unfinished one with the same arguments';

