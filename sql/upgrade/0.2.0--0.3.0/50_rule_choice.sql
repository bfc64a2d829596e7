-- Rule choice (issue 18, classes 1 and 6): a rule without a free
-- parameter is preferred to an offset unless the offset links clearly
-- more (ambiguity_margin); offsets the rows cannot tell apart are marked
-- ambiguous and link nothing until the user declares the rule in the new
-- id_rule_overrides (kept by pg_dump); devices' locations are told apart
-- by the share linked to the device's own account. min_share gates only
-- offsets, and run_pipeline passes min_share and ambiguity_margin on.

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

ALTER TABLE @extschema@.reconciliation_rules
    ADD COLUMN consistent bigint,
    ADD COLUMN status text NOT NULL DEFAULT 'not used' CHECK (status IN ('used', 'declared', 'ambiguous', 'not used'));
UPDATE @extschema@.reconciliation_rules SET status = 'used' WHERE chosen;
ALTER TABLE @extschema@.reconciliation_rules ALTER COLUMN status DROP DEFAULT;
COMMENT ON COLUMN @extschema@.reconciliation_rules.consistent IS
    'Of the rows linked, those whose target belongs to the row''s own account (devices.location: the location is the device''s account''s); counted when the rows linked alone do not decide';
COMMENT ON COLUMN @extschema@.reconciliation_rules.status IS
    'used: chosen from the data; declared: given in id_rule_overrides; ambiguous: one of the rules the data could not tell apart, none of which links; not used';

CREATE FUNCTION @extschema@.require_rule_thresholds(min_share float8, ambiguity_margin float8)
RETURNS void
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (min_share > 0 AND min_share <= 1) THEN
        RAISE EXCEPTION 'min_share must be in (0, 1], got %', min_share
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of a column''s rows an offset rule must link to be used, such as 0.5.';
    END IF;
    IF NOT (ambiguity_margin >= 0 AND ambiguity_margin < 1) THEN
        RAISE EXCEPTION 'ambiguity_margin must be in [0, 1), got %', ambiguity_margin
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of a column''s rows within which two rules count as equally good, such as 0.1.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_rule_thresholds(float8, float8) IS
    'Internal: raises a clear error unless min_share is in (0, 1] and ambiguity_margin in [0, 1)';

CREATE FUNCTION @extschema@.declared_rule(entity text, reference text, OUT rule text, OUT "offset" bigint)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
    registered text;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO o FROM normalize.id_rule_overrides AS x
     WHERE x.entity = declared_rule.entity AND x.reference = declared_rule.reference;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT s.relation::text INTO registered FROM normalize.sources AS s WHERE s.entity = declared_rule.entity;
    IF o.source IS NOT NULL AND to_regclass(o.source) IS DISTINCT FROM registered::regclass THEN
        RAISE NOTICE 'the rule declared for %.% applies to %, not to the registered %; it is not used',
                     entity, reference, o.source, coalesce(registered, '(none)')
            USING HINT = 'Update or delete its row in normalize.id_rule_overrides.';
        RETURN;
    END IF;
    rule := o.rule;
    "offset" := o."offset";
END
$$;
COMMENT ON FUNCTION @extschema@.declared_rule(text, text) IS
    'Internal: the rule id_rule_overrides declares for a reference, when it applies to the registered source';

DROP PROCEDURE @extschema@.run_pipeline(bigint, integer, date, text, boolean);
CREATE PROCEDURE @extschema@.run_pipeline(seed bigint DEFAULT 42, months integer DEFAULT 24,
                                          as_of date DEFAULT NULL,
                                          orphan_policy text DEFAULT 'quarantine',
                                          restart boolean DEFAULT false, min_share float8 DEFAULT 0.5,
                                          ambiguity_margin float8 DEFAULT 0.1)
LANGUAGE plpgsql
AS $$
DECLARE
    run bigint;
    phase text;
    failure text;
    failure_state text;
    failure_detail text;
    failure_hint text;
BEGIN
    IF seed IS NULL OR months IS NULL OR orphan_policy IS NULL OR restart IS NULL
       OR min_share IS NULL OR ambiguity_margin IS NULL THEN
        RAISE EXCEPTION 'run_pipeline: seed, months, orphan_policy, restart, min_share and ambiguity_margin must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave an argument out for its default.';
    END IF;
    -- Without as_of, the history ends at the sources' latest snapshot, not
    -- on the day the pipeline happens to run.
    IF as_of IS NULL THEN
        PERFORM normalize.require_sources();
        as_of := normalize.latest_snapshot('sources');
    END IF;
    -- Refused before any phase runs, rather than when the history's is
    -- reached (an invalid months is the history phase's to report).
    IF months OPERATOR(pg_catalog.>=) 1 AND months OPERATOR(pg_catalog.<=) 600 THEN
        PERFORM normalize.require_history_as_of(as_of, months);
    END IF;
    PERFORM normalize.require_rule_thresholds(min_share, ambiguity_margin);
    -- The first statement of a transaction starts with it: a later one is
    -- inside a transaction block, where the commits after each phase fail.
    IF pg_catalog.statement_timestamp() OPERATOR(pg_catalog.<>) pg_catalog.transaction_timestamp() THEN
        RAISE EXCEPTION 'run_pipeline cannot run inside a transaction block'
            USING ERRCODE = 'active_sql_transaction',
                  HINT = 'CALL it on its own, outside BEGIN ... COMMIT: it commits after each phase.';
    END IF;
    PERFORM normalize.require_sources();
    run := normalize.pipeline_begin(pg_catalog.jsonb_build_object('seed', seed, 'months', months, 'as_of', as_of,
                                                                  'orphan_policy', orphan_policy,
                                                                  'min_share', min_share,
                                                                  'ambiguity_margin', ambiguity_margin),
                                    restart);
    COMMIT;
    LOOP
        phase := normalize.pipeline_next_phase(run);
        EXIT WHEN phase IS NULL;
        COMMIT;  -- "running" is visible to other sessions from here
        BEGIN
            PERFORM normalize.pipeline_run_phase(run, phase);
        EXCEPTION
            WHEN query_canceled OR others THEN
                GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT, failure_state = RETURNED_SQLSTATE,
                                        failure_detail = PG_EXCEPTION_DETAIL, failure_hint = PG_EXCEPTION_HINT;
        END;
        IF failure_state IS NOT NULL THEN
            PERFORM normalize.pipeline_fail(run, phase, failure);
            COMMIT;
            RAISE EXCEPTION 'run_pipeline: phase % failed: %', phase, failure
                USING ERRCODE = failure_state,
                      DETAIL = pg_catalog.btrim(pg_catalog.concat_ws(' ', failure_detail,
                                                    'The phases before it are done and committed; this one left nothing behind.')),
                      HINT = pg_catalog.btrim(pg_catalog.concat_ws(' ', failure_hint,
                                                  'CALL normalize.run_pipeline() again with the same arguments to resume from this phase, or with restart => true to start over.'));
        END IF;
        COMMIT;
    END LOOP;
    PERFORM normalize.pipeline_finish(run);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE @extschema@.run_pipeline(bigint, integer, date, text, boolean, float8, float8) IS
    'Runs the whole pipeline on the registered sources (reconcile, repair, history, features, training sets, quality checks), committing after each phase; one run at a time; resumes an unfinished run with the same arguments; min_share and ambiguity_margin are reconcile_ids''';

-- Shipped rows: the trigger that marks rows as the user's is held off.
ALTER TABLE @extschema@.quality_thresholds DISABLE TRIGGER quality_thresholds_user_rows;
INSERT INTO @extschema@.quality_thresholds (check_name, category, comparison, threshold, severity, description, shipped) VALUES
    ('source rows linked', 'completeness', '>=', 0.95, 'warn',
     'Share of an entity''s source rows (superseded snapshots and duplicates aside) linked by a rule or the crosswalk', true),
    ('reference rule decided', 'completeness', '>=', 1, 'fail',
     'Whether the rows of a reference decided its rule (an undecided one links nothing until declared in id_rule_overrides)', true);
ALTER TABLE @extschema@.quality_thresholds ENABLE TRIGGER quality_thresholds_user_rows;

