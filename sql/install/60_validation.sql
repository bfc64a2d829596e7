-- Phase 6 of the plan, the statistics it stands on: one-sample
-- Kolmogorov-Smirnov tests against a family or a profile, truncation
-- included, with Boost.Math's CDFs.

CREATE TYPE @extschema@.ks_result AS (
    statistic float8,
    n         bigint,
    p_value   float8
);
COMMENT ON TYPE @extschema@.ks_result IS
    'A Kolmogorov-Smirnov test: D = sup |F_n - F|, the sample size, and the asymptotic p-value';

CREATE FUNCTION @extschema@.ks_accum(internal, float8, text, float8[])
RETURNS internal
AS 'MODULE_PATHNAME', 'nz_ks_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ks_accum(internal, float8, text, float8[]) IS
    'Transition function of ks_test(value, family, params)';

CREATE FUNCTION @extschema@.ks_accum(internal, float8, text, float8[], float8, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'nz_ks_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ks_accum(internal, float8, text, float8[], float8, float8) IS
    'Transition function of ks_test(value, family, params, lower, upper)';

CREATE FUNCTION @extschema@.ks_accum_profile(internal, float8, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'nz_ks_accum_profile'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ks_accum_profile(internal, float8, text) IS
    'Transition function of ks_test(value, profile)';

CREATE FUNCTION @extschema@.ks_final(internal)
RETURNS @extschema@.ks_result
AS 'MODULE_PATHNAME', 'nz_ks_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ks_final(internal) IS
    'Final function of the ks_test aggregates';

CREATE AGGREGATE @extschema@.ks_test(value float8, family text, params float8[]) (
    SFUNC = @extschema@.ks_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.ks_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.ks_test(float8, text, float8[]) IS
    'One-sample Kolmogorov-Smirnov test of the values against a family with parameters params';

CREATE AGGREGATE @extschema@.ks_test(value float8, family text, params float8[],
                                     lower float8, upper float8) (
    SFUNC = @extschema@.ks_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.ks_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.ks_test(float8, text, float8[], float8, float8) IS
    'One-sample Kolmogorov-Smirnov test of the values against a family restricted to [lower, upper]';

CREATE AGGREGATE @extschema@.ks_test(value float8, profile text) (
    SFUNC = @extschema@.ks_accum_profile,
    STYPE = internal,
    FINALFUNC = @extschema@.ks_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.ks_test(float8, text) IS
    'One-sample Kolmogorov-Smirnov test of the values against a named profile';

-- True, or an error naming the argument, for a value that must lie strictly
-- between two bounds; lets SQL-language functions check their arguments.
CREATE FUNCTION @extschema@.require_between(argument text, value float8, low float8, high float8)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- As in require_range: a NULL bound would let every value through.
    IF argument IS NULL OR low IS NULL OR high IS NULL THEN
        RAISE EXCEPTION '% of require_between must not be NULL',
                        CASE WHEN argument IS NULL THEN 'argument' WHEN low IS NULL THEN 'low' ELSE 'high' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'require_between checks an argument of a normalize function: name it, and give both bounds.';
    END IF;
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', argument
            USING ERRCODE = 'null_value_not_allowed', HINT = format('Pass a value strictly between %s and %s.', low, high);
    END IF;
    IF NOT (value > low AND value < high) THEN
        RAISE EXCEPTION '% must be between % and %, got %', argument, low, high, value
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Pass a value strictly between %s and %s.', low, high);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.require_between(text, float8, float8, float8) IS
    'Internal: true if low < value < high, else an error naming the argument';

CREATE FUNCTION @extschema@.validate_profiles(
    n bigint DEFAULT 100000,
    seed bigint DEFAULT 42,
    alpha float8 DEFAULT 0.01)
RETURNS TABLE (profile text, family text, n bigint, statistic float8, p_value float8,
               passed boolean)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.name, p.family, (t.r).n, (t.r).statistic, (t.r).p_value, (t.r).p_value >= alpha
      FROM normalize.distribution_profiles AS p
     CROSS JOIN LATERAL (
            SELECT normalize.ks_test(x, p.name) AS r
              FROM normalize.sample_profile(p.name, n, seed) AS x) AS t
     WHERE normalize.require_between('alpha', alpha, 0, 1)
       AND normalize.require_range('n', n, 1, 10000000000, 'Ask for the number of values to draw from each profile, such as 100000.')
     ORDER BY p.name
$$;
COMMENT ON FUNCTION @extschema@.validate_profiles(bigint, bigint, float8) IS
    'Draws n values from every profile and tests them against the profile''s own distribution; passed when p_value >= alpha';
