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
    position  integer NOT NULL,
    table_name text NOT NULL UNIQUE,
    required  boolean NOT NULL,
    feature_entity text UNIQUE,
    base_view text UNIQUE,
    cadence   integer CHECK (cadence > 0),
    smallest_window integer CHECK (smallest_window > 0),
    CHECK ((feature_entity IS NULL) = (base_view IS NULL) AND (feature_entity IS NULL) = (cadence IS NULL)
           AND (feature_entity IS NULL) = (smallest_window IS NULL))
);
COMMENT ON TABLE @extschema@.entity_kinds IS
    'The entity vocabulary: each source entity, the kind its stable keys carry, its ID column, its normalized table, whether a run needs its source, and the features built on it';
COMMENT ON COLUMN @extschema@.entity_kinds.required IS
    'Every other entity hangs off the customers; a source without some of the others is run on what it has';
COMMENT ON COLUMN @extschema@.entity_kinds.feature_entity IS
    'The entity of the feature catalog, views and stores built on it (customer_features, ...), if any';
COMMENT ON COLUMN @extschema@.entity_kinds.base_view IS
    'The view of one row per entity and period of history that its features are computed from';
COMMENT ON COLUMN @extschema@.entity_kinds.cadence IS
    'Periods of the base view between two feature cutoffs (devices: 7 days)';
COMMENT ON COLUMN @extschema@.entity_kinds.smallest_window IS
    'The shortest feature window, in periods of the base view';
INSERT INTO @extschema@.entity_kinds VALUES
    ('customers', 'account', 'customer_id', 1, 'accounts', true, 'customer', 'customer_feature_base', 1, 3),
    ('locations', 'location', 'location_id', 2, 'locations', false, NULL, NULL, NULL, NULL),
    ('subscriptions', 'subscription', 'subscription_id', 3, 'subscriptions', false, NULL, NULL, NULL, NULL),
    ('devices', 'device', 'device_id', 4, 'devices', false, 'device', 'device_feature_base', 7, 7),
    ('users', 'user', 'user_id', 5, 'users', false, 'user', 'user_feature_base', 1, 4),
    ('campaigns', 'campaign', 'campaign_id', 6, 'campaigns', false, NULL, NULL, NULL, NULL);

-- Whether an entity has a registered source: the phases skip what a source
-- does not have, and say so, rather than read an empty table as "none".
CREATE FUNCTION @extschema@.is_registered(entity text)
RETURNS boolean
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A misspelt name would read as "not registered": refused instead.
    PERFORM normalize.require_entity(entity);
    RETURN EXISTS (SELECT 1 FROM normalize.sources AS s WHERE s.entity = is_registered.entity);
END
$$;
COMMENT ON FUNCTION @extschema@.is_registered(text) IS
    'Whether a source is registered for an entity (customers, subscriptions, devices, users, locations, campaigns)';

-- The internal steps of reconciliation take an entity (and a reference)
-- by name; these refuse names that are not in the tables above.
CREATE FUNCTION @extschema@.require_entity(entity text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF entity IS NULL THEN
        RAISE EXCEPTION 'entity must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'The entities are customers, subscriptions, devices, users, locations and campaigns.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM normalize.entity_kinds AS e WHERE e.entity = require_entity.entity) THEN
        RAISE EXCEPTION 'unknown entity "%"', entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The entities are customers, subscriptions, devices, users, locations and campaigns.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_entity(text) IS
    'Internal: raises a clear error unless entity names one of normalize.entity_kinds';

-- The feature functions take a feature entity by name: this refuses any
-- other and gives its row of entity_kinds.
CREATE FUNCTION @extschema@.require_feature_entity(entity text)
RETURNS @extschema@.entity_kinds
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k record;
BEGIN
    IF entity IS NULL THEN
        RAISE EXCEPTION 'entity must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a feature entity of normalize.entity_kinds.';
    END IF;
    SELECT * INTO k FROM normalize.entity_kinds AS x WHERE x.feature_entity = require_feature_entity.entity;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'entity must be %, got "%"',
                        (SELECT regexp_replace(string_agg(x.feature_entity, ', ' ORDER BY x.position), ', ([^,]*)$', ' or \1')
                           FROM normalize.entity_kinds AS x),
                        entity
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass a feature entity of normalize.entity_kinds.';
    END IF;
    RETURN k;
END
$$;
COMMENT ON FUNCTION @extschema@.require_feature_entity(text) IS
    'Internal: the row of normalize.entity_kinds of a feature entity (customer, device, user), or a clear error';

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

-- When the data do not decide between two rules (dense IDs: offsets k and
-- k+1 link nearly as many rows), reconcile_ids links nothing by either and
-- waits for the user's word, given here. source names the relation the
-- rule was declared for (as normalize.sources.relation reads): registering
-- another relation for the entity makes the declaration not apply, rather
-- than carry a rule over to data it was not meant for.
CREATE TABLE @extschema@.id_rule_overrides (
    entity      text NOT NULL,
    reference   text NOT NULL,
    rule        text NOT NULL CHECK (rule IN ('exact', 'normalized', 'number', 'offset', 'none')),
    "offset"    bigint,
    source      text,
    note        text NOT NULL DEFAULT '',
    PRIMARY KEY (entity, reference),
    FOREIGN KEY (entity, reference) REFERENCES @extschema@.reference_kinds (entity, reference),
    CHECK (("offset" IS NOT NULL) = (rule = 'offset'))
);
COMMENT ON TABLE @extschema@.id_rule_overrides IS
    'User-declared linking rules: the rule a reference links by, in place of the one discovery would choose (none: only the crosswalk links it); applies while source is NULL or names the registered relation';
COMMENT ON COLUMN @extschema@.id_rule_overrides.source IS
    'The schema-qualified relation the rule was declared for; NULL: whatever relation is registered for the entity';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.id_rule_overrides', '');

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
    rows        bigint NOT NULL
);
COMMENT ON TABLE @extschema@.account_map IS
    'The master account mapping: every raw account ID or reference seen in a source, the account it denotes, and the rule that said so';
-- Unique by a digest of the raw value: a btree holds at most about 2,700
-- bytes a row, and a raw ID may be longer (one of 3,200 bytes that do not
-- compress failed the whole reconciliation).
CREATE UNIQUE INDEX account_map_raw_value_key ON @extschema@.account_map (entity, md5(raw_value));

CREATE TABLE @extschema@.unlinked_rows (
    entity     text NOT NULL,
    source_id  text,
    entity_key varchar COLLATE "C",
    status     text NOT NULL CHECK (status IN ('quarantined', 'dropped', 'superseded', 'duplicate'))
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

-- Keys that more than one source row normalized to, when the rows were
-- not plain snapshots of one ID: distinct raw IDs (any snapshot), or rows
-- that differ on the key's latest snapshot date. One row was kept: the
-- latest; on that date the most complete (most non-NULL columns), then the
-- byte-smallest raw ID, then the byte-smallest row text. (0.2.0 kept none:
-- its collisions, updated, read 'all quarantined'.)
CREATE TABLE @extschema@.key_collisions (
    entity         text NOT NULL,
    entity_key     varchar COLLATE "C" NOT NULL,
    source_ids     text[] NOT NULL,
    kept_source_id text,
    resolution     text NOT NULL
                   CHECK (resolution IN ('latest snapshot kept', 'most complete row kept', 'all quarantined')),
    PRIMARY KEY (entity, entity_key)
);
COMMENT ON TABLE @extschema@.key_collisions IS
    'Keys shared by distinct raw IDs or by rows that differ on one snapshot date: the raw IDs of every row sharing it, the one kept and by what rule (the others are superseded or quarantined)';

-- Whether an entity's keys keep the case of its IDs: they do when two IDs
-- of one snapshot differ only by case, which the source then means as two
-- entities (case-sensitive CRM IDs); references to it are matched with
-- case kept as well.
CREATE TABLE @extschema@.key_case (
    entity      text PRIMARY KEY,
    keep_case   boolean NOT NULL,
    example_ids text[]
);
COMMENT ON TABLE @extschema@.key_case IS
    'Per entity of the last reconciliation, whether its keys keep the case of its IDs, with IDs of one snapshot that differ only by case when they do';

-- The IDs of an entity's source that differ only by case within one
-- snapshot date (NULL dates count as one), grouped by their case-folded
-- form: what makes its keys keep case (see key_case).
CREATE FUNCTION @extschema@.case_variants(entity text)
RETURNS TABLE (folded text, snapshot_date date, ids text[])
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id_column text;
BEGIN
    PERFORM normalize.require_entity(entity);
    SELECT k.id_column INTO id_column FROM normalize.entity_kinds AS k WHERE k.entity = case_variants.entity;
    RETURN QUERY EXECUTE format($q$
        SELECT v.folded, v.snapshot_date, array_agg(DISTINCT v.raw ORDER BY v.raw)
          FROM (SELECT normalize.normalize_id(s.%1$I) AS folded, s.snapshot_date,
                       normalize.normalize_id(s.%1$I, true) AS cased, s.%1$I COLLATE "C" AS raw
                  FROM (%2$s) AS s) AS v
         WHERE v.folded IS NOT NULL
         GROUP BY v.folded, v.snapshot_date
        HAVING count(DISTINCT v.cased) > 1
         ORDER BY v.folded COLLATE "C", v.snapshot_date$q$,
        id_column, normalize.source_query(entity));
END
$$;
COMMENT ON FUNCTION @extschema@.case_variants(text) IS
    'The IDs of an entity''s source that differ only by case within one snapshot date, grouped by their case-folded form';

CREATE TABLE @extschema@.reconciliation_rules (
    entity    text NOT NULL,
    reference text NOT NULL,
    rule      text NOT NULL,
    parameter text,
    linked    bigint NOT NULL,
    total     bigint NOT NULL,
    chosen    boolean NOT NULL,
    consistent bigint,
    status    text NOT NULL CHECK (status IN ('used', 'declared', 'ambiguous', 'not used'))
);
COMMENT ON TABLE @extschema@.reconciliation_rules IS
    'The candidate rules of the last reconciliation, with the rows each links, and which one was used; over 20,000 distinct values, counts are of a deterministic sample';
COMMENT ON COLUMN @extschema@.reconciliation_rules.consistent IS
    'Of the rows linked, those whose target belongs to the row''s own account (devices.location: the location is the device''s account''s); counted when the rows linked alone do not decide';
COMMENT ON COLUMN @extschema@.reconciliation_rules.status IS
    'used: chosen from the data; declared: given in id_rule_overrides; ambiguous: one of the rules the data could not tell apart, none of which links; not used';

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
    'One row per source row of every entity: its stable key, its account, and what became of it (linked, assigned, quarantined, dropped, superseded, duplicate)';

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
     WHERE e.required AND NOT EXISTS (SELECT 1 FROM normalize.sources AS s WHERE s.entity = e.entity);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'no source is registered for %', missing
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'Every other entity hangs off the customers; the others are optional.',
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
    'Internal: raises a clear error unless a customers source is registered and every registered source still matches the contract';
