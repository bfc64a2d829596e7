
-- What 0.2.0 no longer has: value maps are matched in C++
-- (match_id_values), so the SQL expression builder of a rule is gone.
DROP FUNCTION @extschema@.rule_match_sql(text, text, text);
