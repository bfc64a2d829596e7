-- Phase 5 of the plan: labeled training sets. Samples are (entity, cutoff)
-- pairs of the feature stores; labels look only after the cutoff, features
-- only at or before it. A sample whose label window runs past the history's
-- as_of is left out (censored), as is one of an account that had churned by
-- its cutoff.

-- The samples, labels, split and weight of each set; the features are
-- joined from the stores by the *_training_set views.
CREATE TABLE @extschema@.churn_samples (
    account_key   varchar COLLATE "C" NOT NULL,
    as_of         date NOT NULL,
    split         text NOT NULL CHECK (split IN ('train', 'validation', 'test')),
    churned_30d   boolean NOT NULL,
    churned_60d   boolean NOT NULL,
    churned_90d   boolean NOT NULL,
    sample_weight float8 NOT NULL,
    PRIMARY KEY (account_key, as_of)
);
COMMENT ON TABLE @extschema@.churn_samples IS
    'Churn samples of the last build_training_sets(): account, cutoff, split, labels and weight';

CREATE TABLE @extschema@.clv_samples (
    account_key   varchar COLLATE "C" NOT NULL,
    as_of         date NOT NULL,
    split         text NOT NULL CHECK (split IN ('train', 'validation', 'test')),
    tier          text NOT NULL,
    revenue_12m   float8 NOT NULL,
    sample_weight float8 NOT NULL,
    PRIMARY KEY (account_key, as_of)
);
COMMENT ON TABLE @extschema@.clv_samples IS
    'Customer lifetime value samples of the last build_training_sets(): revenue over the 12 months after the cutoff (0 after churn)';

CREATE TABLE @extschema@.device_health_samples (
    device_key    varchar COLLATE "C" NOT NULL,
    as_of         date NOT NULL,
    split         text NOT NULL CHECK (split IN ('train', 'validation', 'test')),
    device_type   text,
    failed_7d     boolean NOT NULL,
    failed_14d    boolean NOT NULL,
    failed_30d    boolean NOT NULL,
    sample_weight float8 NOT NULL,
    PRIMARY KEY (device_key, as_of)
);
COMMENT ON TABLE @extschema@.device_health_samples IS
    'Device health samples of the last build_training_sets(): device, cutoff, split, failure labels and weight';

CREATE TABLE @extschema@.training_info (
    singleton            boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seed                 bigint NOT NULL,
    strategy             text NOT NULL,
    train_share          float8 NOT NULL,
    validation_share     float8 NOT NULL,
    churn_positive_rate  float8,
    device_positive_rate float8,
    built_at             timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.training_info IS
    'The parameters of the last build_training_sets() (one row, or none)';

-- Assigns splits to the samples of relation `samples` (key, stratum,
-- ordinal u in [0, 1), as_of): grouped, each stratum's entities ranked by u
-- and cut at the shares, so no entity is in two splits and every stratum
-- has the requested shares; or by time, the earliest cutoffs for training.
CREATE FUNCTION @extschema@.assign_splits(strategy text, train_share float8, validation_share float8, samples regclass)
RETURNS TABLE (key varchar, as_of date, split text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
BEGIN
    -- Not STRICT: no split for want of an argument would look like no
    -- samples.
    IF strategy IS NULL OR train_share IS NULL OR validation_share IS NULL OR samples IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN strategy IS NULL THEN 'strategy'
                                                   WHEN train_share IS NULL THEN 'train_share'
                                                   WHEN validation_share IS NULL THEN 'validation_share' ELSE 'samples' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'assign_splits is a step of normalize.build_training_sets(); call that.';
    END IF;
    IF strategy NOT IN ('grouped', 'time') THEN
        RAISE EXCEPTION 'strategy must be grouped or time, got "%"', strategy
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- As build_training_sets checks them: the cuts below compare ranks with
    -- the shares, and a NaN share would put every sample in one split.
    IF NOT (train_share > 0 AND validation_share >= 0 AND train_share + validation_share < 1) THEN
        RAISE EXCEPTION 'train_share and validation_share must be positive and leave a share for test, got % and %',
                        train_share, validation_share
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Such as 0.70 and 0.15, leaving 0.15 for test.';
    END IF;
    SELECT string_agg(c, ', ' ORDER BY n) INTO missing
      FROM unnest(ARRAY['key', 'stratum', 'u', 'as_of']) WITH ORDINALITY AS x(c, n)
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute AS a
                        WHERE a.attrelid = samples AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'samples % lacks the columns %', samples, missing
            USING ERRCODE = 'undefined_column',
                  HINT = 'assign_splits is a step of normalize.build_training_sets(): it reads (key, stratum, u, as_of).';
    END IF;
    IF strategy = 'grouped' THEN
        RETURN QUERY EXECUTE format($q$
        WITH entities AS (
            SELECT DISTINCT i.key::varchar AS key, i.stratum::text AS stratum, i.u::float8 AS u FROM %1$s AS i),
        ranked AS (
            SELECT e.key, (row_number() OVER (PARTITION BY e.stratum ORDER BY e.u, e.key) - 0.5)
                          / count(*) OVER (PARTITION BY e.stratum) AS position
              FROM entities AS e)
        SELECT i.key::varchar, i.as_of::date,
               CASE WHEN r.position < $1 THEN 'train'
                    WHEN r.position < $1 + $2 THEN 'validation'
                    ELSE 'test' END
          FROM %1$s AS i JOIN ranked AS r ON r.key = i.key::varchar$q$, samples)
        USING train_share, validation_share;
    ELSE
        RETURN QUERY EXECUTE format($q$
        WITH ranked AS (
            SELECT i.key::varchar AS key, i.as_of::date AS as_of,
                   (rank() OVER (ORDER BY i.as_of) - 1)::float8 / count(*) OVER () AS position
              FROM %1$s AS i)
        SELECT r.key, r.as_of,
               CASE WHEN r.position < $1 THEN 'train'
                    WHEN r.position < $1 + $2 THEN 'validation'
                    ELSE 'test' END
          FROM ranked AS r$q$, samples)
        USING train_share, validation_share;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.assign_splits(text, float8, float8, regclass) IS
    'Internal: the split of every sample of a relation (key, stratum, u, as_of), during build_training_sets';

CREATE FUNCTION @extschema@.build_training_sets(
    seed bigint DEFAULT 42,
    train_share float8 DEFAULT 0.70,
    validation_share float8 DEFAULT 0.15,
    strategy text DEFAULT 'grouped',
    churn_positive_rate float8 DEFAULT 0.20,
    device_positive_rate float8 DEFAULT 0.20,
    balance_evaluation boolean DEFAULT false)
RETURNS TABLE (training_set text, split text, samples bigint, positives bigint, positive_share float8,
               weighted_positive_share float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    history date;
    arg text;
    split_input regclass;
BEGIN
    arg := CASE WHEN seed IS NULL THEN 'seed' WHEN train_share IS NULL THEN 'train_share'
                WHEN validation_share IS NULL THEN 'validation_share' WHEN strategy IS NULL THEN 'strategy'
                WHEN balance_evaluation IS NULL THEN 'balance_evaluation' END;
    IF arg IS NOT NULL THEN
        RAISE EXCEPTION '% must not be NULL', arg
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave the argument out for its default.';
    END IF;
    IF strategy NOT IN ('grouped', 'time') THEN
        RAISE EXCEPTION 'strategy must be grouped or time, got "%"', strategy
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'grouped keeps each entity in one split; time trains on the earliest cutoffs.';
    END IF;
    IF NOT (train_share > 0 AND validation_share >= 0 AND train_share + validation_share < 1) THEN
        RAISE EXCEPTION 'train_share and validation_share must be positive and leave a share for test, got % and %',
                        train_share, validation_share
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Such as 0.70 and 0.15, leaving 0.15 for test.';
    END IF;
    IF NOT (coalesce(churn_positive_rate, 0.5) > 0 AND coalesce(churn_positive_rate, 0.5) < 1
            AND coalesce(device_positive_rate, 0.5) > 0 AND coalesce(device_positive_rate, 0.5) < 1) THEN
        RAISE EXCEPTION 'churn_positive_rate and device_positive_rate must be in (0, 1), got % and %',
                        churn_positive_rate, device_positive_rate
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of positives wanted in the training split, or NULL to keep the natural rate.';
    END IF;
    SELECT h.as_of INTO history FROM normalize.history_info AS h;
    IF history IS NULL OR NOT EXISTS (SELECT 1 FROM normalize.customer_feature_store) THEN
        RAISE EXCEPTION 'there are no stored features to build training sets from'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.build_history() and normalize.refresh_features() first.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.build_training_sets'));
    -- Built beside the tables readers use, and swapped in at the end.
    PERFORM normalize.stage_phase('training');
    INSERT INTO normalize.next_training_info VALUES (true, seed, strategy, train_share, validation_share,
                                                     churn_positive_rate, device_positive_rate);

    -- Churn: accounts active at the cutoff, with 90 days observed after it.
    -- The churn date is the first day of the churn month, after the cutoff
    -- of the month before.
    PERFORM normalize.drop_temp_table('nz_churn');
    CREATE TEMP TABLE nz_churn ON COMMIT DROP AS
    WITH churn AS (
        SELECT s.account_key, min(s.month) AS churned_on
          FROM normalize.account_snapshots AS s WHERE s.status = 'churned' GROUP BY s.account_key)
    SELECT f.account_key, f.as_of,
           coalesce(c.churned_on <= f.as_of + 30, false) AS churned_30d,
           coalesce(c.churned_on <= f.as_of + 60, false) AS churned_60d,
           coalesce(c.churned_on <= f.as_of + 90, false) AS churned_90d,
           normalize.random_uniform_for(f.account_key, 0, 1, seed, 'account', 'split') AS u,
           normalize.random_uniform_for(f.account_key || '@' || f.as_of, 0, 1, seed, 'account', 'balance') AS v
      FROM normalize.customer_feature_store AS f
      LEFT JOIN churn AS c ON c.account_key = f.account_key
     WHERE f.as_of + 90 <= history
       AND (c.churned_on IS NULL OR c.churned_on > f.as_of);
    PERFORM normalize.drop_temp_table('nz_split_input');
    CREATE TEMP TABLE nz_split_input ON COMMIT DROP AS
    SELECT c.account_key::varchar AS key, bool_or(c.churned_90d) OVER (PARTITION BY c.account_key)::text AS stratum,
           c.u, c.as_of
      FROM nz_churn AS c;
    -- Looked up when run: the table is made afresh by every build.
    split_input := to_regclass('pg_temp.nz_split_input');
    -- The candidates, then the samples kept of them, written once.
    PERFORM normalize.drop_temp_table('nz_candidates');
    CREATE TEMP TABLE nz_candidates ON COMMIT DROP AS
    SELECT c.account_key, c.as_of, s.split, c.churned_30d, c.churned_60d, c.churned_90d, 1::float8 AS sample_weight
      FROM nz_churn AS c
      JOIN normalize.assign_splits(strategy, train_share, validation_share, split_input) AS s
        ON s.key = c.account_key AND s.as_of = c.as_of;
    PERFORM normalize.balance_samples(to_regclass('pg_temp.nz_candidates'), to_regclass('normalize.next_churn_samples'),
                                      'account_key', 'churned_90d', NULL, churn_positive_rate, balance_evaluation,
                                      seed);

    -- CLV: accounts active at the cutoff whose next 12 months are all
    -- observed; revenue after a churn is 0. Stratified by tier.
    PERFORM normalize.drop_temp_table('nz_clv');
    CREATE TEMP TABLE nz_clv ON COMMIT DROP AS
    SELECT f.account_key, f.as_of, s.tier,
           coalesce((SELECT sum(n.mrr) FROM normalize.account_snapshots AS n
                      WHERE n.account_key = f.account_key AND n.month > s.month
                        AND n.month <= s.month + interval '12 months'), 0) AS revenue_12m,
           normalize.random_uniform_for(f.account_key, 0, 1, seed, 'account', 'clv split') AS u
      FROM normalize.customer_feature_store AS f
      JOIN normalize.account_snapshots AS s
        ON s.account_key = f.account_key AND s.month = date_trunc('month', f.as_of)::date
     WHERE s.status = 'active'
       AND (s.month + interval '13 months' - interval '1 day')::date <= history;
    TRUNCATE nz_split_input;
    INSERT INTO nz_split_input
    SELECT c.account_key, a.tier, c.u, c.as_of
      FROM nz_clv AS c JOIN normalize.accounts AS a USING (account_key);
    INSERT INTO normalize.next_clv_samples
    SELECT c.account_key, c.as_of, s.split, c.tier, c.revenue_12m, 1
      FROM nz_clv AS c
      JOIN normalize.assign_splits(strategy, train_share, validation_share, split_input) AS s
        ON s.key = c.account_key AND s.as_of = c.as_of;

    -- Device health: failures in the 7, 14 and 30 days after the cutoff;
    -- stratified and balanced by device type.
    -- Failures are rare: one scan of the history picks them out, and each
    -- failure names the 30 days before it whose first failure within 30
    -- days it may be; the cutoffs then join the earliest of each day,
    -- instead of three probes of the whole history (or one per cutoff).
    PERFORM normalize.drop_temp_table('nz_failures');
    CREATE TEMP TABLE nz_failures ON COMMIT DROP AS
    SELECT x.device_key, x.day - b.before AS as_of, min(x.day) AS first_failure
      FROM normalize.device_days AS x CROSS JOIN generate_series(1, 30) AS b(before)
     WHERE x.failure
     GROUP BY x.device_key, x.day - b.before;
    ANALYZE nz_failures;
    PERFORM normalize.drop_temp_table('nz_device');
    CREATE TEMP TABLE nz_device ON COMMIT DROP AS
    SELECT f.device_key, f.as_of, f.device_type,
           coalesce(n.first_failure <= f.as_of + 7, false) AS failed_7d,
           coalesce(n.first_failure <= f.as_of + 14, false) AS failed_14d,
           n.first_failure IS NOT NULL AS failed_30d,
           normalize.random_uniform_for(f.device_key, 0, 1, seed, 'device', 'split') AS u
      FROM normalize.device_feature_store AS f
      LEFT JOIN nz_failures AS n ON n.device_key = f.device_key AND n.as_of = f.as_of
     WHERE f.as_of + 30 <= history;
    -- Grouped, a device's split is the device's: one row per device goes to
    -- assign_splits (dated 'infinity'), about a hundredth of the rows of
    -- one per cutoff, and each cutoff takes its device's; by time, each
    -- cutoff has its own.
    TRUNCATE nz_split_input;
    INSERT INTO nz_split_input
    SELECT d.device_key, coalesce(min(d.device_type), '') || '/' || bool_or(d.failed_30d), min(d.u),
           'infinity'::date
      FROM nz_device AS d
     WHERE strategy = 'grouped'
     GROUP BY d.device_key
    UNION ALL
    SELECT d.device_key, coalesce(d.device_type, '') || '/' || bool_or(d.failed_30d) OVER (PARTITION BY d.device_key),
           d.u, d.as_of
      FROM nz_device AS d
     WHERE strategy <> 'grouped';
    PERFORM normalize.drop_temp_table('nz_candidates');
    CREATE TEMP TABLE nz_candidates ON COMMIT DROP AS
    SELECT d.device_key, d.as_of, s.split, d.device_type, d.failed_7d, d.failed_14d, d.failed_30d,
           1::float8 AS sample_weight
      FROM nz_device AS d
      JOIN normalize.assign_splits(strategy, train_share, validation_share, split_input) AS s
        ON s.key = d.device_key
       AND s.as_of = CASE WHEN strategy = 'grouped' THEN 'infinity'::date ELSE d.as_of END;
    PERFORM normalize.balance_samples(to_regclass('pg_temp.nz_candidates'),
                                      to_regclass('normalize.next_device_health_samples'),
                                      'device_key', 'failed_30d', 'device_type', device_positive_rate,
                                      balance_evaluation, seed);
    PERFORM normalize.swap_in_phase('training');

    RETURN QUERY
    SELECT x.* FROM (
    SELECT 'churn'::text AS set_name, c.split AS split_name, count(*), count(*) FILTER (WHERE c.churned_90d),
           avg(c.churned_90d::int::float8), sum(c.sample_weight * c.churned_90d::int) / sum(c.sample_weight)
      FROM normalize.churn_samples AS c GROUP BY c.split
    UNION ALL
    SELECT 'clv', c.split, count(*), NULL, NULL, NULL FROM normalize.clv_samples AS c GROUP BY c.split
    UNION ALL
    SELECT 'device_health', d.split, count(*), count(*) FILTER (WHERE d.failed_30d),
           avg(d.failed_30d::int::float8), sum(d.sample_weight * d.failed_30d::int) / sum(d.sample_weight)
      FROM normalize.device_health_samples AS d GROUP BY d.split) AS x
    ORDER BY x.set_name, array_position(ARRAY['train', 'validation', 'test'], x.split_name);
END
$$;
COMMENT ON FUNCTION @extschema@.build_training_sets(bigint, float8, float8, text, float8, float8, boolean) IS
    'Builds the churn, CLV and device health training sets from the feature stores: censored labels, grouped (or time) splits stratified as the plan asks, and deterministic down-sampling of negatives to the target positive rates with weights that restore the natural rate';

-- Writes the candidate samples (a relation with the sample table's
-- columns) into target, down-sampling the negatives of the training split
-- (and of the other splits when asked) to a positive rate, per group when
-- a group column is given: the negatives kept are those whose (seed, key,
-- cutoff) draw ranks first, and they weigh what the dropped ones did. A
-- NULL rate keeps every candidate. The rows are written once, never
-- deleted or updated after.
CREATE FUNCTION @extschema@.balance_samples(candidates regclass, target regclass, key_column text, label text,
                                            group_column text, positive_rate float8, all_splits boolean, seed bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    grp text := coalesce('c.' || quote_ident(group_column), 'NULL::text');
    columns text;
BEGIN
    IF candidates IS NULL OR target IS NULL OR key_column IS NULL OR label IS NULL OR all_splits IS NULL
       OR seed IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
              CASE WHEN candidates IS NULL THEN 'candidates' WHEN target IS NULL THEN 'target'
                   WHEN key_column IS NULL THEN 'key_column' WHEN label IS NULL THEN 'label'
                   WHEN all_splits IS NULL THEN 'all_splits' ELSE 'seed' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'balance_samples is a step of normalize.build_training_sets(); call that.';
    END IF;
    -- The kept negatives are positives * (1 - rate) / rate, and their weight
    -- divides by that: a rate of 0 divides by zero, 1 keeps none, and the
    -- rest of (0, 1) is the only sense it has.
    IF NOT (positive_rate > 0 AND positive_rate < 1) THEN
        RAISE EXCEPTION 'positive_rate must be in (0, 1), got %', positive_rate
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of positives wanted in the training split, or NULL to keep the natural rate.';
    END IF;
    IF positive_rate IS NULL THEN
        EXECUTE format('INSERT INTO %s SELECT * FROM %s', target, candidates);
        RETURN;
    END IF;
    PERFORM normalize.drop_temp_table('nz_balance');
    EXECUTE format($q$
        CREATE TEMP TABLE nz_balance ON COMMIT DROP AS
        SELECT c.split, %3$s AS grp, count(*) FILTER (WHERE c.%2$I) AS positives,
               count(*) FILTER (WHERE NOT c.%2$I) AS negatives,
               ceil(count(*) FILTER (WHERE c.%2$I) * (1 - %4$s) / %4$s) AS keep
          FROM %1$s AS c WHERE c.split = 'train' OR %5$L
         GROUP BY c.split, %3$s$q$,
        candidates, label, grp, positive_rate, all_splits);
    -- The target's columns in its order, the weight computed in its place.
    SELECT string_agg(CASE WHEN a.attname = 'sample_weight'
                           THEN 'CASE WHEN w.keep < w.negatives AND NOT c.' || quote_ident(label)
                                || ' THEN w.negatives::float8 / w.keep ELSE c.sample_weight END'
                           ELSE 'c.' || quote_ident(a.attname) END, ', ' ORDER BY a.attnum)
      INTO columns
      FROM pg_attribute AS a WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped;
    -- The negatives subject to the down-sampling numbered in draw order,
    -- the other candidates passed through.
    EXECUTE format($q$
        INSERT INTO %1$s
        SELECT %7$s
          FROM (SELECT c.*, %5$s AS grp, NULL::bigint AS r
                  FROM %2$s AS c WHERE c.%4$I OR NOT (c.split = 'train' OR %8$L)
                UNION ALL
                SELECT c.*, %5$s,
                       row_number() OVER (PARTITION BY c.split, %5$s
                                          ORDER BY normalize.random_uniform_for(c.%3$I || '@' || c.as_of, 0, 1, %6$s,
                                                                                'sample', 'balance'),
                                                   c.%3$I, c.as_of)
                  FROM %2$s AS c WHERE NOT c.%4$I AND (c.split = 'train' OR %8$L)) AS c
          -- (A group's equality in a form the join can hash on: the
          -- candidates would otherwise meet every group of their split.)
          LEFT JOIN nz_balance AS w ON w.split = c.split AND coalesce(w.grp, '') = coalesce(c.grp, '')
                                   AND (w.grp IS NULL) = (c.grp IS NULL) AND w.positives > 0
         WHERE c.r IS NULL OR w.split IS NULL OR c.r <= w.keep$q$,
        target, candidates, key_column, label, grp, seed, columns, all_splits);
END
$$;
COMMENT ON FUNCTION @extschema@.balance_samples(regclass, regclass, text, text, text, float8, boolean, bigint) IS
    'Internal: writes candidate samples into a sample table with deterministic down-sampling of negatives to a positive rate, and restoring weights, during build_training_sets';

-- The training sets, ready for COPY ... TO: split, keys, labels, weight,
-- then every feature of the entity, in catalog order.
DO $$
DECLARE
    customer_cols text := (SELECT string_agg('f.' || quote_ident(c.feature), ', ' ORDER BY c.position)
                             FROM @extschema@.feature_catalog AS c WHERE c.entity = 'customer');
    device_cols text := (SELECT string_agg('f.' || quote_ident(c.feature), ', ' ORDER BY c.position)
                           FROM @extschema@.feature_catalog AS c WHERE c.entity = 'device');
BEGIN
    EXECUTE format('CREATE VIEW @extschema@.churn_training_set AS
        SELECT s.split, s.account_key, s.as_of, s.churned_30d, s.churned_60d, s.churned_90d, s.sample_weight, %s
          FROM @extschema@.churn_samples AS s
          JOIN @extschema@.customer_feature_store AS f ON f.account_key = s.account_key AND f.as_of = s.as_of',
        customer_cols);
    EXECUTE format('CREATE VIEW @extschema@.clv_training_set AS
        SELECT s.split, s.account_key, s.as_of, s.tier, s.revenue_12m, s.sample_weight, %s
          FROM @extschema@.clv_samples AS s
          JOIN @extschema@.customer_feature_store AS f ON f.account_key = s.account_key AND f.as_of = s.as_of',
        customer_cols);
    EXECUTE format('CREATE VIEW @extschema@.device_health_training_set AS
        SELECT s.split, s.device_key, s.as_of, s.failed_7d, s.failed_14d, s.failed_30d, s.sample_weight, %s
          FROM @extschema@.device_health_samples AS s
          JOIN @extschema@.device_feature_store AS f ON f.device_key = s.device_key AND f.as_of = s.as_of',
        device_cols);
END
$$;
COMMENT ON VIEW @extschema@.churn_training_set IS
    'The churn training set: split, account, cutoff, churned_30d/60d/90d, sample weight, and the customer features at the cutoff';
COMMENT ON VIEW @extschema@.clv_training_set IS
    'The CLV training set: split, account, cutoff, tier, revenue over the next 12 months, sample weight, and the customer features';
COMMENT ON VIEW @extschema@.device_health_training_set IS
    'The device health training set: split, device, cutoff, failed_7d/14d/30d, sample weight, and the device features';
