-- Phase 1 of the plan: ID reconciliation. Discovers how each source's
-- references spell the IDs they point at, builds the master account map and
-- an id map for every entity, and fills the normalized tables with VARCHAR
-- keys and enforced foreign keys. Sources are only read.

-- The references the product resolves: each source's account reference to
-- the customers, and the devices' location reference.
CREATE TABLE @extschema@.reference_kinds (
    entity        text NOT NULL,
    reference     text NOT NULL,
    source_column text NOT NULL,
    target_entity text NOT NULL,
    target_column text NOT NULL,
    required      boolean NOT NULL,
    PRIMARY KEY (entity, reference)
);
COMMENT ON TABLE @extschema@.reference_kinds IS
    'The references between sources that reconciliation resolves; required references make a row an orphan when unresolved';
INSERT INTO @extschema@.reference_kinds VALUES
    ('subscriptions', 'account', 'account_id', 'customers', 'customer_id', true),
    ('devices', 'account', 'account_id', 'customers', 'customer_id', true),
    ('devices', 'location', 'location_id', 'locations', 'location_id', false),
    ('users', 'account', 'account_id', 'customers', 'customer_id', true),
    ('locations', 'account', 'account_id', 'customers', 'customer_id', true),
    ('campaigns', 'account', 'account_id', 'customers', 'customer_id', true);

CREATE TABLE @extschema@.entity_kinds (
    entity    text PRIMARY KEY,
    kind      text NOT NULL UNIQUE,
    id_column text NOT NULL,
    position  integer NOT NULL
);
COMMENT ON TABLE @extschema@.entity_kinds IS
    'Each source entity, the kind its stable keys carry, and its ID column';
INSERT INTO @extschema@.entity_kinds VALUES
    ('customers', 'account', 'customer_id', 1),
    ('locations', 'location', 'location_id', 2),
    ('subscriptions', 'subscription', 'subscription_id', 3),
    ('devices', 'device', 'device_id', 4),
    ('users', 'user', 'user_id', 5),
    ('campaigns', 'campaign', 'campaign_id', 6);

-- The internal steps of reconciliation take an entity (and a reference)
-- by name; these refuse names that are not in the tables above.
CREATE FUNCTION @extschema@.require_entity(entity text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF entity IS NULL OR NOT EXISTS (SELECT 1 FROM normalize.entity_kinds AS e WHERE e.entity = require_entity.entity) THEN
        RAISE EXCEPTION 'unknown entity "%"', entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The entities are customers, subscriptions, devices, users, locations and campaigns.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_entity(text) IS
    'Internal: raises a clear error unless entity names one of normalize.entity_kinds';

CREATE FUNCTION @extschema@.require_reference(entity text, reference text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM normalize.reference_kinds AS k
                    WHERE k.entity = require_reference.entity AND k.reference = require_reference.reference) THEN
        RAISE EXCEPTION 'unknown reference %.%', coalesce(entity, 'NULL'), coalesce(reference, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The references are listed in normalize.reference_kinds, such as devices.location.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_reference(text, text) IS
    'Internal: raises a clear error unless (entity, reference) is one of normalize.reference_kinds';

CREATE TABLE @extschema@.id_crosswalk (
    entity     text NOT NULL,
    reference  text NOT NULL DEFAULT 'account',
    raw_value  text NOT NULL,
    target_id  text NOT NULL,
    note       text NOT NULL DEFAULT '',
    PRIMARY KEY (entity, reference, raw_value),
    FOREIGN KEY (entity, reference) REFERENCES @extschema@.reference_kinds (entity, reference)
);
COMMENT ON TABLE @extschema@.id_crosswalk IS
    'User-given links: the raw reference value raw_value of an entity points at the target''s raw ID target_id; takes precedence over discovered rules';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.id_crosswalk', '');

-- The normalized entity tables -----------------------------------------------

CREATE TABLE @extschema@.accounts (
    account_key   varchar COLLATE "C" PRIMARY KEY,
    source_id     text NOT NULL,
    name          text,
    tier          text,
    mrr           numeric,
    industry      text,
    country       text,
    created_at    date,
    snapshot_date date,
    -- Provenance, set by repair_values: the value as observed, and where the
    -- value in use came from (observed, derived from other data, generated).
    mrr_observed  numeric,
    mrr_source    text NOT NULL DEFAULT 'observed',
    tier_observed text,
    tier_source   text NOT NULL DEFAULT 'observed'
);
COMMENT ON TABLE @extschema@.accounts IS 'Normalized customers, keyed by stable_key(''account'', customer_id)';

CREATE TABLE @extschema@.locations (
    location_key       varchar COLLATE "C" PRIMARY KEY,
    account_key        varchar COLLATE "C" NOT NULL,
    source_id          text NOT NULL,
    source_account_ref text,
    account_rule       text NOT NULL,
    account_assigned   boolean NOT NULL DEFAULT false,
    account_issue      text,
    name               text,
    city               text,
    country            text,
    snapshot_date      date,
    CONSTRAINT locations_account_fk FOREIGN KEY (account_key) REFERENCES @extschema@.accounts
);
COMMENT ON TABLE @extschema@.locations IS 'Normalized locations, linked to their account';

CREATE TABLE @extschema@.subscriptions (
    subscription_key   varchar COLLATE "C" PRIMARY KEY,
    account_key        varchar COLLATE "C" NOT NULL,
    source_id          text NOT NULL,
    source_account_ref text,
    account_rule       text NOT NULL,
    account_assigned   boolean NOT NULL DEFAULT false,
    account_issue      text,
    plan               text,
    mrr                numeric,
    status             text,
    start_date         date,
    end_date           date,
    snapshot_date      date,
    CONSTRAINT subscriptions_account_fk FOREIGN KEY (account_key) REFERENCES @extschema@.accounts
);
COMMENT ON TABLE @extschema@.subscriptions IS 'Normalized subscriptions, linked to their account';

CREATE TABLE @extschema@.devices (
    device_key          varchar COLLATE "C" PRIMARY KEY,
    account_key         varchar COLLATE "C" NOT NULL,
    location_key        varchar COLLATE "C",
    source_id           text NOT NULL,
    source_account_ref  text,
    account_rule        text NOT NULL,
    account_assigned    boolean NOT NULL DEFAULT false,
    account_issue       text,
    source_location_ref text,
    location_rule       text,
    location_assigned   boolean NOT NULL DEFAULT false,
    location_issue      text,
    device_type         text,
    status              text,
    health_score        numeric,
    uptime              numeric,
    snapshot_date       date,
    health_score_observed numeric,
    health_score_source text NOT NULL DEFAULT 'observed',
    uptime_observed     numeric,
    uptime_source       text NOT NULL DEFAULT 'observed',
    CONSTRAINT devices_account_fk FOREIGN KEY (account_key) REFERENCES @extschema@.accounts,
    CONSTRAINT devices_location_fk FOREIGN KEY (location_key) REFERENCES @extschema@.locations
);
COMMENT ON TABLE @extschema@.devices IS 'Normalized devices, linked to their account and, where known, their location';

CREATE TABLE @extschema@.users (
    user_key           varchar COLLATE "C" PRIMARY KEY,
    account_key        varchar COLLATE "C" NOT NULL,
    source_id          text NOT NULL,
    source_account_ref text,
    account_rule       text NOT NULL,
    account_assigned   boolean NOT NULL DEFAULT false,
    account_issue      text,
    role               text,
    engagement_score   numeric,
    last_login         date,
    snapshot_date      date,
    engagement_score_observed numeric,
    engagement_score_source text NOT NULL DEFAULT 'observed',
    CONSTRAINT users_account_fk FOREIGN KEY (account_key) REFERENCES @extschema@.accounts
);
COMMENT ON TABLE @extschema@.users IS 'Normalized users, linked to their account';

CREATE TABLE @extschema@.campaigns (
    campaign_key       varchar COLLATE "C" PRIMARY KEY,
    account_key        varchar COLLATE "C" NOT NULL,
    source_id          text NOT NULL,
    source_account_ref text,
    account_rule       text NOT NULL,
    account_assigned   boolean NOT NULL DEFAULT false,
    account_issue      text,
    name               text,
    channel            text,
    budget             numeric,
    start_date         date,
    snapshot_date      date,
    CONSTRAINT campaigns_account_fk FOREIGN KEY (account_key) REFERENCES @extschema@.accounts
);
COMMENT ON TABLE @extschema@.campaigns IS 'Normalized campaigns, linked to their account';

-- The maps and the record of what reconciliation did ------------------------

CREATE TABLE @extschema@.account_map (
    entity      text NOT NULL,
    raw_value   text NOT NULL,
    account_key varchar COLLATE "C" NOT NULL REFERENCES @extschema@.accounts,
    rule        text NOT NULL,
    rows        bigint NOT NULL,
    PRIMARY KEY (entity, raw_value)
);
COMMENT ON TABLE @extschema@.account_map IS
    'The master account mapping: every raw account ID or reference seen in a source, the account it denotes, and the rule that said so';

CREATE TABLE @extschema@.unlinked_rows (
    entity     text NOT NULL,
    source_id  text,
    entity_key varchar COLLATE "C",
    status     text NOT NULL CHECK (status IN ('quarantined', 'dropped', 'superseded'))
);
COMMENT ON TABLE @extschema@.unlinked_rows IS
    'The source rows that did not reach the normalized tables, and why; id_map adds the rows that did';

CREATE TABLE @extschema@.quarantine (
    entity    text NOT NULL,
    source_id text,
    reference text,
    raw_value text,
    reason    text NOT NULL,
    kept      boolean NOT NULL
);
COMMENT ON TABLE @extschema@.quarantine IS
    'Rows (kept = false) or links (kept = true: the row stays, without the link) that reconciliation could not resolve, with the reason';

CREATE TABLE @extschema@.key_collisions (
    entity     text NOT NULL,
    entity_key varchar COLLATE "C" NOT NULL,
    source_ids text[] NOT NULL,
    PRIMARY KEY (entity, entity_key)
);
COMMENT ON TABLE @extschema@.key_collisions IS
    'Distinct source rows whose IDs normalize to one key on the same snapshot date; all of them are quarantined';

CREATE TABLE @extschema@.reconciliation_rules (
    entity    text NOT NULL,
    reference text NOT NULL,
    rule      text NOT NULL,
    parameter text,
    linked    bigint NOT NULL,
    total     bigint NOT NULL,
    chosen    boolean NOT NULL
);
COMMENT ON TABLE @extschema@.reconciliation_rules IS
    'The candidate rules of the last reconciliation, with the rows each links, and which one was used; over 20,000 distinct values, counts are of a deterministic sample';

-- The id map: one row per source row of every entity. Rows that reached the
-- normalized tables are read from them, so a reconciliation writes each
-- linked row once.
CREATE VIEW @extschema@.id_map AS
    SELECT 'customers'::text AS entity, a.source_id, a.account_key AS entity_key, a.account_key, 'linked'::text AS status
      FROM @extschema@.accounts AS a
    UNION ALL
    SELECT 'locations', l.source_id, l.location_key, l.account_key,
           CASE WHEN l.account_assigned THEN 'assigned' ELSE 'linked' END
      FROM @extschema@.locations AS l
    UNION ALL
    SELECT 'subscriptions', x.source_id, x.subscription_key, x.account_key,
           CASE WHEN x.account_assigned THEN 'assigned' ELSE 'linked' END
      FROM @extschema@.subscriptions AS x
    UNION ALL
    SELECT 'devices', d.source_id, d.device_key, d.account_key,
           CASE WHEN d.account_assigned THEN 'assigned' ELSE 'linked' END
      FROM @extschema@.devices AS d
    UNION ALL
    SELECT 'users', u.source_id, u.user_key, u.account_key,
           CASE WHEN u.account_assigned THEN 'assigned' ELSE 'linked' END
      FROM @extschema@.users AS u
    UNION ALL
    SELECT 'campaigns', c.source_id, c.campaign_key, c.account_key,
           CASE WHEN c.account_assigned THEN 'assigned' ELSE 'linked' END
      FROM @extschema@.campaigns AS c
    UNION ALL
    SELECT r.entity, r.source_id, r.entity_key, NULL::varchar, r.status
      FROM @extschema@.unlinked_rows AS r;
COMMENT ON VIEW @extschema@.id_map IS
    'One row per source row of every entity: its stable key, its account, and what became of it (linked, assigned, quarantined, dropped, superseded)';

-- Rule discovery -------------------------------------------------------------

-- Candidate rules linking the raw values in temp table nz_cand_refs (raw,
-- rows) to the IDs in nz_cand_targets (raw): how many rows each would link.
-- Offsets are looked for among the differences between the smallest and
-- the largest numbers on both sides, and the power of ten below the
-- smallest reference when references and targets do not overlap.
CREATE FUNCTION @extschema@.rule_candidates(entity text, reference text)
RETURNS TABLE (rule text, parameter text, linked bigint, total bigint)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n_total bigint;
    n_distinct bigint;
    step bigint;
    prepared boolean;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    -- Scoring a rule needs a few thousand distinct values, not all of them:
    -- above 20,000 a deterministic hash sample of about 20,000 is scored
    -- (linked and total then count the sampled rows).
    SELECT count(*) INTO n_distinct FROM nz_cand_refs;
    step := greatest(1, ceil(n_distinct / 20000.0))::bigint;
    CREATE TEMP TABLE nz_cand_r ON COMMIT DROP AS
        SELECT r.raw, r.rows, normalize.normalize_id(r.raw) AS norm, normalize.id_number(r.raw) AS num
          FROM nz_cand_refs AS r
         WHERE r.raw IS NOT NULL AND (step = 1 OR abs(hashtext(r.raw)::bigint) % step = 0);
    SELECT coalesce(sum(r.rows), 0) INTO n_total FROM nz_cand_refs AS r
     WHERE step = 1 OR r.raw IS NULL OR abs(hashtext(r.raw)::bigint) % step = 0;
    -- A caller that scores several references against one target may
    -- prepare nz_cand_t (raw, norm, num) once; otherwise it is built here.
    prepared := to_regclass('pg_temp.nz_cand_t') IS NOT NULL;
    IF NOT prepared THEN
        CREATE TEMP TABLE nz_cand_t ON COMMIT DROP AS
            SELECT DISTINCT t.raw, normalize.normalize_id(t.raw) AS norm, normalize.id_number(t.raw) AS num
              FROM nz_cand_targets AS t WHERE t.raw IS NOT NULL;
        ANALYZE nz_cand_t;
    END IF;
    ANALYZE nz_cand_r;

    rule := 'crosswalk'; parameter := NULL; total := n_total;
    SELECT coalesce(sum(r.rows), 0) INTO linked FROM nz_cand_r AS r
     WHERE EXISTS (SELECT 1 FROM normalize.id_crosswalk AS x
                    WHERE x.entity = rule_candidates.entity AND x.reference = rule_candidates.reference
                      AND x.raw_value = r.raw);
    RETURN NEXT;
    rule := 'exact';
    SELECT coalesce(sum(r.rows), 0) INTO linked FROM nz_cand_r AS r
     WHERE EXISTS (SELECT 1 FROM nz_cand_t AS t WHERE t.raw = r.raw);
    RETURN NEXT;
    rule := 'normalized';
    SELECT coalesce(sum(r.rows), 0) INTO linked FROM nz_cand_r AS r
     WHERE EXISTS (SELECT 1 FROM nz_cand_t AS t WHERE t.norm = r.norm);
    RETURN NEXT;
    rule := 'number';
    SELECT coalesce(sum(r.rows), 0) INTO linked FROM nz_cand_r AS r
     WHERE EXISTS (SELECT 1 FROM nz_cand_t AS t WHERE t.num = r.num);
    RETURN NEXT;

    rule := 'offset';
    RETURN QUERY
    WITH r_low AS (SELECT DISTINCT num FROM nz_cand_r WHERE num IS NOT NULL ORDER BY num LIMIT 200),
         t_low AS (SELECT DISTINCT num FROM nz_cand_t WHERE num IS NOT NULL ORDER BY num LIMIT 200),
         r_high AS (SELECT DISTINCT num FROM nz_cand_r WHERE num IS NOT NULL ORDER BY num DESC LIMIT 200),
         t_high AS (SELECT DISTINCT num FROM nz_cand_t WHERE num IS NOT NULL ORDER BY num DESC LIMIT 200),
         diffs AS (SELECT r.num - t.num AS k FROM r_low AS r, t_low AS t
                   UNION ALL
                   SELECT r.num - t.num FROM r_high AS r, t_high AS t),
         frequent AS (SELECT k FROM diffs WHERE k <> 0 GROUP BY k HAVING count(*) >= 2
                       ORDER BY count(*) DESC, abs(k) LIMIT 5),
         power AS (SELECT (10::numeric ^ floor(log(10, min(r.num)::numeric)))::bigint AS k
                     FROM nz_cand_r AS r
                   HAVING min(r.num) > 0
                      AND min(r.num) > (SELECT max(t.num) FROM nz_cand_t AS t)),
         candidates AS (SELECT k FROM frequent UNION SELECT k FROM power WHERE k IS NOT NULL)
    SELECT 'offset', c.k::text,
           (SELECT coalesce(sum(r.rows), 0) FROM nz_cand_r AS r
             WHERE EXISTS (SELECT 1 FROM nz_cand_t AS t WHERE t.num = r.num - c.k))::bigint,
           n_total
      FROM candidates AS c;
    DROP TABLE nz_cand_r;
    IF NOT prepared THEN
        DROP TABLE nz_cand_t;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.rule_candidates(text, text) IS
    'Internal: scores the candidate rules for the references staged in nz_cand_refs against the IDs in nz_cand_targets';

-- Stages one reference's values and its targets' IDs for rule_candidates.
CREATE FUNCTION @extschema@.stage_reference(entity text, reference text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = stage_reference.entity AND k.reference = stage_reference.reference;
    PERFORM normalize.drop_temp_table('nz_cand_refs');
    PERFORM normalize.drop_temp_table('nz_cand_targets');
    EXECUTE format('CREATE TEMP TABLE nz_cand_refs ON COMMIT DROP AS
                    SELECT %I AS raw, count(*) AS rows FROM (%s) AS s GROUP BY 1',
                   ref.source_column, normalize.source_query(entity));
    EXECUTE format('CREATE TEMP TABLE nz_cand_targets ON COMMIT DROP AS
                    SELECT DISTINCT %I AS raw FROM (%s) AS s',
                   ref.target_column, normalize.source_query(ref.target_entity));
END
$$;
COMMENT ON FUNCTION @extschema@.stage_reference(text, text) IS
    'Internal: stages a reference''s raw values and its target''s raw IDs in temp tables for rule_candidates';

CREATE FUNCTION @extschema@.suggest_id_rules()
RETURNS TABLE (entity text, reference text, source_column text, target text, rule text,
               parameter text, linked bigint, total bigint, share float8, rank integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
BEGIN
    PERFORM normalize.require_sources();
    FOR ref IN
        SELECT k.* FROM normalize.reference_kinds AS k
          JOIN normalize.entity_kinds AS e USING (entity)
         ORDER BY e.position, k.reference
    LOOP
        PERFORM normalize.stage_reference(ref.entity, ref.reference);
        RETURN QUERY
        SELECT ref.entity, ref.reference, (s.columns ->> ref.source_column),
               format('%s.%s', ref.target_entity, ref.target_column),
               c.rule, c.parameter, c.linked, c.total,
               CASE WHEN c.total > 0 THEN c.linked::float8 / c.total ELSE 0 END,
               (row_number() OVER (ORDER BY c.linked DESC,
                                   array_position(ARRAY['crosswalk', 'exact', 'normalized', 'number', 'offset'], c.rule),
                                   abs(c.parameter::numeric)))::integer
          FROM normalize.rule_candidates(ref.entity, ref.reference) AS c,
               normalize.sources AS s
         WHERE s.entity = ref.entity
         ORDER BY 10;
        DROP TABLE nz_cand_refs;
        DROP TABLE nz_cand_targets;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.suggest_id_rules() IS
    'For each reference column of each source, the candidate linking rules (exact, normalized, number, offset, crosswalk) with the share of rows each links, best first';

CREATE FUNCTION @extschema@.require_sources()
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
BEGIN
    SELECT string_agg(e.entity, ', ' ORDER BY e.position) INTO missing
      FROM normalize.entity_kinds AS e
     WHERE NOT EXISTS (SELECT 1 FROM normalize.sources AS s WHERE s.entity = e.entity);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'no source is registered for %', missing
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register the raw tables first with normalize.use_sources(schema) or normalize.register_source(entity, relation, columns).';
    END IF;
    -- A registered relation may have been dropped or altered since.
    PERFORM normalize.check_source(s.entity, s.relation,
                                   (SELECT coalesce(jsonb_object_agg(k, v), '{}')
                                      FROM jsonb_each_text(s.columns) AS j(k, v) WHERE k <> v))
       FROM normalize.sources AS s;
END
$$;
COMMENT ON FUNCTION @extschema@.require_sources() IS
    'Internal: raises a clear error unless all six sources are registered and still match the contract';
