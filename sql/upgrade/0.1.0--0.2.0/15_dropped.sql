
-- What 0.2.0 no longer has: value maps are matched in C++
-- (match_id_values), so the SQL expression builder of a rule is gone.
DROP FUNCTION @extschema@.rule_match_sql(text, text, text);
-- Staged reference values travel as arrays (value_counts) instead of temp
-- tables: the steps that read or wrote those tables take and return them.
DROP FUNCTION @extschema@.rule_candidates(text, text);
DROP FUNCTION @extschema@.stage_reference(text, text);
DROP FUNCTION @extschema@.resolve_reference(text, text, text, float8);
DROP FUNCTION @extschema@.stage_entity(text);
