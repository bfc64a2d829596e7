-- The API contract: every function exists with the volatility, strictness,
-- parallel label and search_path the conventions ask for, and a comment.
\set ON_ERROR_STOP true
\set QUIET true
BEGIN;
SELECT plan(14);

CREATE TEMP TABLE expected_functions (signature text, kind text, volatility text, strict boolean, parallel text);
INSERT INTO expected_functions VALUES
    ('random_normal(bigint,double precision,double precision,bigint,double precision,double precision)', 'f', 'i', true, 's'),
    ('random_normal_for(text,double precision,double precision,bigint,double precision,double precision,text,text)', 'f', 'i', true, 's'),
    ('random_lognormal(bigint,double precision,double precision,bigint,double precision,double precision)', 'f', 'i', true, 's'),
    ('random_lognormal_for(text,double precision,double precision,bigint,double precision,double precision,text,text)', 'f', 'i', true, 's'),
    ('random_beta(bigint,double precision,double precision,bigint,double precision,double precision)', 'f', 'i', true, 's'),
    ('random_beta_for(text,double precision,double precision,bigint,double precision,double precision,text,text)', 'f', 'i', true, 's'),
    ('random_gamma(bigint,double precision,double precision,bigint,double precision,double precision)', 'f', 'i', true, 's'),
    ('random_gamma_for(text,double precision,double precision,bigint,double precision,double precision,text,text)', 'f', 'i', true, 's'),
    ('random_exponential(bigint,double precision,bigint,double precision,double precision)', 'f', 'i', true, 's'),
    ('random_exponential_for(text,double precision,bigint,double precision,double precision,text,text)', 'f', 'i', true, 's'),
    ('random_uniform(bigint,double precision,double precision,bigint)', 'f', 'i', true, 's'),
    ('random_uniform_for(text,double precision,double precision,bigint,text,text)', 'f', 'i', true, 's'),
    ('random_poisson(bigint,double precision,bigint)', 'f', 'i', true, 's'),
    ('random_poisson_for(text,double precision,bigint,text,text)', 'f', 'i', true, 's'),
    ('random_bernoulli(bigint,double precision,bigint)', 'f', 'i', true, 's'),
    ('random_bernoulli_for(text,double precision,bigint,text,text)', 'f', 'i', true, 's'),
    ('random_sample(text,double precision[],bigint,bigint,double precision,double precision)', 'f', 'i', true, 's'),
    ('random_sample_for(text,text,double precision[],bigint,double precision,double precision,text,text)', 'f', 'i', true, 's'),
    ('family_parameters(text)', 'f', 'i', true, 's'),
    ('check_distribution(text,double precision[],double precision,double precision)', 'f', 'i', true, 's'),
    ('distribution_cdf(double precision,text,double precision[],double precision,double precision)', 'f', 'i', true, 's'),
    ('profile_params(text,jsonb)', 'f', 'i', true, 's'),
    ('mark_user_rows()', 'f', 'v', false, 'u'),
    ('sample_profile(text,bigint,bigint)', 'f', 's', true, 's'),
    ('draw(text,text,bigint,text,text)', 'f', 's', true, 's'),
    ('ks_accum(internal,double precision,text,double precision[])', 'f', 'i', false, 's'),
    ('ks_accum(internal,double precision,text,double precision[],double precision,double precision)', 'f', 'i', false, 's'),
    ('ks_accum_profile(internal,double precision,text)', 'f', 's', false, 's'),
    ('ks_final(internal)', 'f', 'i', false, 's'),
    ('ks_test(double precision,text,double precision[])', 'a', 'i', false, 's'),
    ('ks_test(double precision,text,double precision[],double precision,double precision)', 'a', 'i', false, 's'),
    ('ks_test(double precision,text)', 'a', 'i', false, 's'),
    ('validate_profiles(bigint,bigint,double precision)', 'f', 's', true, 's'),
    ('assess_sources()', 'f', 's', false, 'u'),
    ('check_source(text,regclass,jsonb)', 'f', 's', true, 's'),
    ('create_demo_source(text,bigint,boolean,integer)', 'f', 'v', false, 'u'),
    ('demo_check_arguments(text,bigint,boolean,integer)', 'f', 'i', false, 's'),
    ('demo_prepare_schema(text,boolean)', 'f', 'v', true, 'u'),
    ('demo_create_tables(text)', 'f', 'v', true, 'u'),
    ('demo_weight_sql(text)', 'f', 'i', true, 's'),
    ('demo_customers(text,bigint,bigint)', 'f', 'v', true, 'u'),
    ('demo_locations(text,bigint,bigint,bigint)', 'f', 'v', true, 'u'),
    ('demo_subscriptions(text,bigint,bigint,bigint,bigint,bigint,bigint)', 'f', 'v', true, 'u'),
    ('demo_devices(text,bigint,bigint,bigint,bigint,bigint,bigint)', 'f', 'v', true, 'u'),
    ('demo_users(text,bigint,bigint,bigint,bigint,bigint,bigint,bigint)', 'f', 'v', true, 'u'),
    ('demo_campaigns(text,bigint,bigint,bigint)', 'f', 'v', true, 'u'),
    ('demo_declare_offset(text)', 'f', 'v', true, 'u'),
    ('drop_temp_table(text)', 'f', 'v', true, 'u'),
    ('id_digits(text)', 'f', 'i', true, 's'),
    ('id_number(text)', 'f', 'i', true, 's'),
    ('id_prefix(text)', 'f', 'i', true, 's'),
    ('normalize_id(text)', 'f', 'i', true, 's'),
    ('normalize_id(text,boolean)', 'f', 'i', true, 's'),
    ('reconcile_ids(text,double precision,double precision)', 'f', 'v', false, 'u'),
    ('register_source(text,regclass,jsonb,text)', 'f', 'v', true, 'u'),
    ('unregister_source(text)', 'f', 'v', false, 'u'),
    ('is_registered(text)', 'f', 's', true, 's'),
    ('require_time_zone(text)', 'f', 's', true, 's'),
    ('fold_category(text)', 'f', 'i', true, 's'),
    ('unknown_categories(regclass,text,text)', 'f', 's', true, 'u'),
    ('require_sources()', 'f', 's', false, 'u'),
    ('resolve_reference(text,text,text[],bigint[],text,double precision,double precision,text,text)', 'f', 'v', true, 'u'),
    ('require_orphan_policy(text)', 'f', 'i', false, 's'),
    ('require_staged(text,text)', 'f', 's', false, 's'),
    ('clear_reconciliation()', 'f', 'v', false, 'u'),
    ('restore_foreign_keys()', 'f', 'v', false, 'u'),
    ('loaded_columns(text)', 'f', 's', true, 's'),
    ('load_customers()', 'f', 'v', false, 'u'),
    ('stage_location_targets(text,text,text)', 'f', 'v', true, 'u'),
    ('keyed_source_query(text)', 'f', 's', true, 's'),
    ('entity_rows_query(text,text,bigint,text,text,text,text)', 'f', 's', true, 'u'),
    ('load_entity(text,text,bigint,text,text,text,text)', 'f', 'v', true, 'u'),
    ('record_unlinked_rows(text,text,text)', 'f', 'v', true, 'u'),
    ('record_link_issues(text,text,text)', 'f', 'v', true, 'u'),
    ('build_account_map(text[],text[])', 'f', 'v', true, 'u'),
    ('reconcile_counts(jsonb,jsonb)', 'f', 's', true, 'u'),
    ('require_rule_thresholds(double precision,double precision)', 'f', 'i', true, 's'),
    ('declared_rule(text,text)', 'f', 's', true, 'u'),
    ('score_consistency(text,text,text[],bigint[],text[],bigint[],text,text)', 'f', 'v', true, 'u'),
    ('rule_contenders(text,text,double precision,double precision)', 'f', 's', true, 'u'),
    ('rule_in_doubt(text,text,double precision,double precision)', 'f', 's', true, 'u'),
    ('choose_rule(text,text,double precision,double precision)', 'f', 'v', true, 'u'),
    ('stage_entity(text)', 'f', 'v', true, 'u'),
    ('settle_keys(text)', 'f', 'v', true, 'u'),
    ('settle_key_case(text)', 'f', 'v', true, 'u'),
    ('try_primary_key(text,text)', 'f', 'v', true, 'u'),
    ('case_variants(text)', 'f', 's', true, 'u'),
    ('reference_targets(text,text)', 'f', 'v', true, 'u'),
    ('require_entity(text)', 'f', 's', false, 's'),
    ('require_reference(text,text)', 'f', 's', false, 's'),
    ('require_between(text,double precision,double precision,double precision)', 'f', 'i', false, 's'),
    ('require_history_as_of(date,integer)', 'f', 'i', true, 's'),
    ('require_range(text,numeric,numeric,numeric,text)', 'f', 'i', false, 's'),
    ('column_finding(bigint,bigint,bigint,bigint,boolean)', 'f', 'i', false, 's'),
    ('repair_values(bigint)', 'f', 'v', false, 'u'),
    ('fills_its_grid(numeric[])', 'f', 'i', true, 's'),
    ('scan_placeholders(text,text,boolean)', 'f', 's', true, 'u'),
    ('tier_for_mrr(numeric)', 'f', 's', true, 's'),
    ('generate_history(text,text,double precision,integer,date,bigint,date,double precision,double precision)', 'f', 's', false, 's'),
    ('build_history(integer,date,bigint,text[])', 'f', 'v', false, 'u'),
    ('fill_account_rollups(regclass,regclass,regclass,date)', 'f', 'v', false, 'u'),
    ('latest_snapshot(text)', 'f', 's', true, 'u'),
    ('generate_device_history(text,double precision,integer,date,bigint,double precision,double precision)', 'f', 'i', false, 's'),
    ('generate_user_history(text,text,double precision,integer,date,bigint,date,text[])', 'f', 'i', false, 's'),
    ('generate_histories(regclass,integer,date,bigint,double precision,double precision)', 'f', 's', false, 'r'),
    ('feature_reads(text,text,integer,integer,integer)', 'f', 'i', false, 's'),
    ('feature_ref(text,integer,integer,text[])', 'f', 'i', false, 's'),
    ('feature_expression(text,text,integer,integer,integer,text[])', 'f', 'i', false, 's'),
    ('feature_view_sql(text)', 'f', 's', true, 's'),
    ('require_feature_entity(text)', 'f', 's', false, 's'),
    ('refresh_features()', 'f', 'v', false, 'u'),
    ('write_feature_rows(text,regclass,regclass)', 'f', 'v', false, 'u'),
    ('stage_feature_rows(text,regclass)', 'f', 'v', false, 'u'),
    ('write_feature_part(text,regclass,regclass,text,text)', 'f', 'v', false, 'u'),
    ('feature_store_disagreements(text,integer)', 'f', 's', false, 'u'),
    ('customer_features_at(date)', 'f', 's', true, 's'),
    ('device_features_at(date)', 'f', 's', true, 's'),
    ('user_features_at(date)', 'f', 's', true, 's'),
    ('feature_null_rates()', 'f', 's', false, 's'),
    ('assign_splits(text,double precision,double precision,regclass)', 'f', 'v', false, 'u'),
    ('balance_samples(regclass,regclass,text,text,text,double precision,boolean,bigint)', 'f', 'v', false, 'u'),
    ('build_training_sets(bigint,double precision,double precision,text,double precision,double precision,boolean)', 'f', 'v', false, 'u'),
    ('rule_candidates(text,text,text[],bigint[],text[],boolean)', 'f', 'v', true, 'u'),
    ('score_id_rules(text[],bigint[],text[],boolean)', 'f', 'i', true, 's'),
    ('match_id_values(text,bigint,text[],bigint[],text[],text[],boolean)', 'f', 'i', true, 's'),
    ('value_counts_step(internal,text)', 'f', 'i', false, 's'),
    ('value_counts_final(internal)', 'f', 'i', false, 's'),
    ('value_counts(text)', 'a', 'i', false, 's'),
    ('source_query(text,text[])', 'f', 's', false, 's'),
    ('stable_key(text,bigint)', 'f', 'i', true, 's'),
    ('stable_key(text,text)', 'f', 'i', true, 's'),
    ('stable_key(text,text,boolean)', 'f', 'i', true, 's'),
    ('stage_reference(text,text)', 'f', 'v', true, 'u'),
    ('suggest_id_rules()', 'f', 'v', false, 'u'),
    ('use_sources(text,text)', 'f', 'v', true, 'u'),
    ('validate_relationships()', 'f', 's', false, 's'),
    ('wilson_interval(bigint,bigint,double precision)', 'f', 'i', true, 's'),
    ('quality_count(text,text,text)', 'f', 'v', true, 'u'),
    ('store_check_counts(text)', 'f', 's', false, 'u'),
    ('store_checks(text)', 'f', 's', false, 'u'),
    ('checked_feature_entities()', 'f', 's', false, 's'),
    ('quality_completeness()', 'f', 'v', false, 'u'),
    ('quality_type_consistency()', 'f', 'v', false, 'u'),
    ('quality_distributions()', 'f', 'v', false, 'u'),
    ('quality_temporal()', 'f', 'v', false, 'u'),
    ('quality_labels()', 'f', 'v', false, 'u'),
    ('quality_leakage()', 'f', 'v', false, 'u'),
    ('quality_feature_coverage()', 'f', 's', false, 'u'),
    ('measure_sources()', 'f', 's', false, 'u'),
    ('clear_outputs(text)', 'f', 'v', false, 'u'),
    ('phases_from(text)', 'f', 's', false, 'u'),
    ('empty_phases_from(text,boolean)', 'f', 'v', false, 'u'),
    ('stage_phase(text)', 'f', 'v', false, 'u'),
    ('swap_in_phase(text)', 'f', 'v', false, 'u'),
    ('ready_staging_table(text)', 'f', 'v', true, 'u'),
    ('swap_table_storage(regclass,regclass)', 'f', 'v', true, 'u'),
    ('worker_count()', 'f', 's', false, 's'),
    ('run_in_parts(text,integer)', 'f', 'v', true, 'u'),
    ('part_count()', 'f', 's', false, 's'),
    ('discard_staging(text)', 'f', 'v', true, 'u'),
    ('record_source_metrics(bigint)', 'f', 'v', true, 'u'),
    ('readiness_metrics("normalize".quality_check[])', 'f', 'v', false, 'u'),
    ('quality_checks()', 'f', 'v', false, 'u'),
    ('ml_readiness_report()', 'f', 'v', false, 'u'),
    ('pipeline_lock()', 'f', 'v', true, 'u'),
    ('pipeline_unlock()', 'f', 'v', true, 'u'),
    ('pipeline_lock_holder()', 'f', 'v', false, 's'),
    ('begin_progress(text,text,bigint)', 'f', 'v', true, 'u'),
    ('end_progress()', 'f', 'v', true, 'u'),
    ('pipeline_begin(jsonb,boolean)', 'f', 'v', true, 'u'),
    ('input_fingerprint()', 'f', 's', false, 'u'),
    ('pipeline_next_phase(bigint)', 'f', 'v', true, 'u'),
    ('pipeline_run_phase(bigint,text)', 'f', 'v', true, 'u'),
    ('pipeline_fail(bigint,text,text)', 'f', 'v', true, 'u'),
    ('pipeline_finish(bigint)', 'f', 'v', true, 'u'),
    ('run_pipeline(bigint,integer,date,text,boolean,double precision,double precision,integer)', 'p', 'v', false, 'u'),
    ('annual_churn_by_tier(double precision)', 'f', 's', true, 's'),
    ('profile_values(text)', 'f', 's', true, 'u'),
    ('html_escape(text)', 'f', 'i', true, 's'),
    ('svg_histogram(text,double precision,double precision,bigint[],double precision[])', 'f', 'i', true, 's'),
    ('svg_bars(text,text[],double precision[],double precision[],double precision[],double precision[],double precision[],text)', 'f', 'i', false, 's'),
    ('readiness_report_html()', 'f', 'v', false, 'u');

CREATE TEMP VIEW actual_functions AS
SELECT p.oid, (p.proname::text COLLATE "default") || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' AS full_signature,
       (p.proname::text COLLATE "default") || '(' || coalesce((SELECT string_agg(format_type(t, NULL), ',' ORDER BY i)
                                       FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, i)), '') || ')' AS signature,
       p.prokind::text AS kind, p.provolatile::text AS volatility, p.proisstrict AS strict,
       p.proparallel::text AS parallel,
       p.prolang, p.proconfig
  FROM pg_proc AS p
 WHERE p.pronamespace = 'normalize'::regnamespace;

SELECT set_eq(
    'SELECT signature FROM actual_functions',
    'SELECT signature FROM expected_functions',
    'the extension installs exactly the documented functions');

SELECT results_eq(
    'SELECT signature, kind, volatility, strict, parallel FROM actual_functions ORDER BY signature',
    'SELECT signature, kind, volatility, strict, parallel FROM expected_functions ORDER BY signature',
    'every function has the declared kind, volatility, strictness and parallel label');

SELECT is_empty(
    $$SELECT signature FROM actual_functions WHERE obj_description(oid, 'pg_proc') IS NULL$$,
    'every function and aggregate has a comment');

-- Procedures are the exception: one with a SET clause may not commit, and
-- run_pipeline commits after each phase (its body calls only functions
-- that pin the path, by qualified names).
SELECT is_empty(
    $$SELECT signature FROM actual_functions
       WHERE prolang IN (SELECT oid FROM pg_language WHERE lanname IN ('sql', 'plpgsql'))
         AND kind <> 'p'
         AND NOT coalesce(proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
    'every SQL and PL/pgSQL function pins search_path');

SELECT is_empty(
    $$SELECT p.proname FROM pg_proc AS p
       WHERE p.pronamespace = 'normalize'::regnamespace AND p.prosecdef$$,
    'no function is SECURITY DEFINER');

SELECT has_table('normalize', 'distribution_profiles', 'the profiles table exists');
SELECT has_table('normalize', 'sources', 'the sources table exists');
SELECT col_is_pk('normalize', 'distribution_profiles', 'name', 'profiles are keyed by name');
SELECT has_type('normalize', 'ks_result', 'ks_test returns normalize.ks_result');
SELECT has_type('normalize', 'value_counts_result', 'value_counts returns normalize.value_counts_result');
SELECT set_eq(
    $$SELECT c.relname::text, x.cond FROM pg_extension AS e, unnest(e.extconfig, e.extcondition) AS x(oid, cond)
        JOIN pg_class AS c ON c.oid = x.oid WHERE e.extname = 'normalize'$$,
    $$VALUES ('distribution_profiles', 'WHERE NOT shipped'), ('sources', ''), ('id_crosswalk', ''),
             ('tier_mix', 'WHERE NOT shipped'), ('device_types', 'WHERE NOT shipped'),
             ('quality_thresholds', 'WHERE NOT shipped'),
             ('accounts', ''), ('locations', ''), ('subscriptions', ''), ('devices', ''), ('users', ''), ('campaigns', ''),
             ('account_map', ''), ('unlinked_rows', ''), ('quarantine', ''), ('key_collisions', ''), ('key_case', ''),
             ('id_rule_overrides', ''), ('category_values', 'WHERE NOT shipped'),
             ('category_spellings', 'WHERE NOT shipped'), ('placeholder_values', 'WHERE NOT shipped'),
             ('reconciliation_rules', ''), ('repair_summary', ''), ('history_info', ''), ('account_snapshots', ''),
             ('device_days', ''), ('user_weeks', ''), ('lifecycle_events', ''), ('account_rollups', ''),
             ('customer_feature_store', ''),
             ('device_feature_store', ''), ('user_feature_store', ''), ('training_info', ''), ('churn_samples', ''),
             ('clv_samples', ''), ('device_health_samples', ''), ('source_metrics', ''), ('pipeline_runs', ''),
             ('pipeline_phases', ''),
             ('pipeline_runs_run_id_seq', '')$$,
    'pg_dump keeps the user''s profiles, registered sources, crosswalk, declared rules, category vocabulary, placeholder values, tier mix, device types and quality thresholds, and every result');

-- The phase registry names real tables, each replaced by one phase, and a
-- phase is built only on earlier ones.
SELECT is_empty(
    $$SELECT w FROM normalize.pipeline_phase_kinds AS k, unnest(k.writes) AS w
       WHERE to_regclass(format('normalize.%I', w)) IS NULL$$,
    'every table the phase registry names exists');
SELECT is_empty(
    $$SELECT w FROM normalize.pipeline_phase_kinds AS k, unnest(k.writes) AS w GROUP BY w HAVING count(*) > 1$$,
    'each table is replaced by one phase');
SELECT is_empty(
    $$SELECT k.phase, b FROM normalize.pipeline_phase_kinds AS k, unnest(k.built_on) AS b
       WHERE NOT EXISTS (SELECT 1 FROM normalize.pipeline_phase_kinds AS e WHERE e.phase = b AND e.position < k.position)$$,
    'each phase is built only on earlier phases');

SELECT * FROM finish();
ROLLBACK;
