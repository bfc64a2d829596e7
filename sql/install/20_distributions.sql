-- Phase 2 of the plan: statistically valid values. Seeded generators for
-- every family the plan's appendix names, the profiles table that holds the
-- appendix's distributions as data, and the functions that draw from them.
--
-- Every generator is IMMUTABLE: its output is a function of its arguments
-- alone (see "Random streams" in README.md). All are STRICT: a NULL argument
-- gives NULL (or, for the set-returning forms, no rows).

-- Families -----------------------------------------------------------------

CREATE FUNCTION @extschema@.family_parameters(family text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'nz_family_parameters'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.family_parameters(text) IS
    'The names of the parameters a distribution family takes, in the order params[] gives them';

CREATE FUNCTION @extschema@.check_distribution(
    family text,
    params float8[],
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity')
RETURNS boolean
AS 'MODULE_PATHNAME', 'nz_check_distribution'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.check_distribution(text, float8[], float8, float8) IS
    'True if the generators accept this family, parameters and range; otherwise raises the error they would raise';

CREATE FUNCTION @extschema@.distribution_cdf(
    x float8,
    family text,
    params float8[],
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_distribution_cdf'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.distribution_cdf(float8, text, float8[], float8, float8) IS
    'P(X <= x) for the family restricted to [lower, upper], computed with Boost.Math: the distribution the generators draw from';

-- Generators ---------------------------------------------------------------

CREATE FUNCTION @extschema@.random_normal(
    n bigint,
    mean float8 DEFAULT 0,
    sd float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity')
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_normal'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_normal(bigint, float8, float8, bigint, float8, float8) IS
    'n values of the normal distribution with the given mean and standard deviation, truncated to [lower, upper] (never clamped), from the stream of seed';

CREATE FUNCTION @extschema@.random_normal_for(
    key text,
    mean float8 DEFAULT 0,
    sd float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity',
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_normal_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_normal_for(text, float8, float8, bigint, float8, float8, text, text) IS
    'The value for one key of the normal distribution with the given mean and standard deviation, truncated to [lower, upper]: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_lognormal(
    n bigint,
    mu float8 DEFAULT 0,
    sigma float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity')
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_lognormal'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_lognormal(bigint, float8, float8, bigint, float8, float8) IS
    'n values of the log-normal distribution: exp of a normal with mean mu and standard deviation sigma, truncated to [lower, upper] (never clamped), from the stream of seed';

CREATE FUNCTION @extschema@.random_lognormal_for(
    key text,
    mu float8 DEFAULT 0,
    sigma float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity',
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_lognormal_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_lognormal_for(text, float8, float8, bigint, float8, float8, text, text) IS
    'The value for one key of the log-normal distribution: exp of a normal with mean mu and standard deviation sigma, truncated to [lower, upper]: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_beta(
    n bigint,
    alpha float8,
    beta float8,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 1)
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_beta'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_beta(bigint, float8, float8, bigint, float8, float8) IS
    'n values of the beta(alpha, beta) distribution on [0, 1], mapped linearly onto [lower, upper], from the stream of seed';

CREATE FUNCTION @extschema@.random_beta_for(
    key text,
    alpha float8,
    beta float8,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 1,
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_beta_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_beta_for(text, float8, float8, bigint, float8, float8, text, text) IS
    'The value for one key of the beta(alpha, beta) distribution on [0, 1], mapped linearly onto [lower, upper]: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_gamma(
    n bigint,
    shape float8,
    scale float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity')
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_gamma'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_gamma(bigint, float8, float8, bigint, float8, float8) IS
    'n values of the gamma distribution with the given shape and scale (mean shape * scale), truncated to [lower, upper] (never clamped), from the stream of seed';

CREATE FUNCTION @extschema@.random_gamma_for(
    key text,
    shape float8,
    scale float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity',
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_gamma_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_gamma_for(text, float8, float8, bigint, float8, float8, text, text) IS
    'The value for one key of the gamma distribution with the given shape and scale (mean shape * scale), truncated to [lower, upper]: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_exponential(
    n bigint,
    rate float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity')
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_exponential'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_exponential(bigint, float8, bigint, float8, float8) IS
    'n values of the exponential distribution with the given rate (mean 1 / rate), truncated to [lower, upper] (never clamped), from the stream of seed';

CREATE FUNCTION @extschema@.random_exponential_for(
    key text,
    rate float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity',
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_exponential_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_exponential_for(text, float8, bigint, float8, float8, text, text) IS
    'The value for one key of the exponential distribution with the given rate (mean 1 / rate), truncated to [lower, upper]: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_uniform(
    n bigint,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 1,
    seed bigint DEFAULT 42)
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_uniform'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_uniform(bigint, float8, float8, bigint) IS
    'n values uniform on [lower, upper), from the stream of seed';

CREATE FUNCTION @extschema@.random_uniform_for(
    key text,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_uniform_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_uniform_for(text, float8, float8, bigint, text, text) IS
    'The value for one key of the uniform distribution on [lower, upper): the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_poisson(
    n bigint,
    lambda float8,
    seed bigint DEFAULT 42)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'nz_random_poisson'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_poisson(bigint, float8, bigint) IS
    'n counts from the Poisson distribution with mean lambda, from the stream of seed';

CREATE FUNCTION @extschema@.random_poisson_for(
    key text,
    lambda float8,
    seed bigint DEFAULT 42,
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_random_poisson_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_poisson_for(text, float8, bigint, text, text) IS
    'The Poisson count with mean lambda for one key: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_bernoulli(
    n bigint,
    p float8,
    seed bigint DEFAULT 42)
RETURNS SETOF boolean
AS 'MODULE_PATHNAME', 'nz_random_bernoulli'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_bernoulli(bigint, float8, bigint) IS
    'n Bernoulli trials, each true with probability p, from the stream of seed';

CREATE FUNCTION @extschema@.random_bernoulli_for(
    key text,
    p float8,
    seed bigint DEFAULT 42,
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS boolean
AS 'MODULE_PATHNAME', 'nz_random_bernoulli_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_bernoulli_for(text, float8, bigint, text, text) IS
    'The Bernoulli trial with probability p for one key: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_sample(
    family text,
    params float8[],
    n bigint,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity')
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_sample'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_sample(text, float8[], bigint, bigint, float8, float8) IS
    'n values of the named family with parameters params (see family_parameters), restricted to [lower, upper]; the same values as the family''s own function';

CREATE FUNCTION @extschema@.random_sample_for(
    key text,
    family text,
    params float8[],
    seed bigint DEFAULT 42,
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity',
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_sample_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_sample_for(text, text, float8[], bigint, float8, float8, text, text) IS
    'The value for one key of the named family: the first draw of stream (seed, kind, key, purpose)';

-- Profiles: the plan's appendix as data ----------------------------------

-- Turns a profile's jsonb parameters into the float8[] the generators take,
-- in the family's order, and says exactly what is wrong when it cannot.
CREATE FUNCTION @extschema@.profile_params(family text, params jsonb)
RETURNS float8[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    names text[] := normalize.family_parameters(family);
    unknown text;
    name text;
    result float8[] := '{}';
BEGIN
    IF jsonb_typeof(params) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'params must be a JSON object, got %', params
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Give the %s parameters by name, such as %s.', family,
                                (SELECT jsonb_object_agg(n, 1) FROM unnest(names) AS n));
    END IF;
    SELECT string_agg(k, ', ' ORDER BY k) INTO unknown
      FROM jsonb_object_keys(params) AS k
     WHERE k <> ALL (names);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'params has keys that the % family does not take: %', family, unknown
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('The %s family takes: %s.', family,
                                coalesce(array_to_string(names, ', '), 'no parameters'));
    END IF;
    FOREACH name IN ARRAY names LOOP
        IF jsonb_typeof(params -> name) IS DISTINCT FROM 'number' THEN
            RAISE EXCEPTION 'params must give % a number, got %', name,
                    coalesce((params -> name)::text, 'nothing')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('The %s family takes: %s.', family,
                                    array_to_string(names, ', '));
        END IF;
        result := result || (params ->> name)::float8;
    END LOOP;
    RETURN result;
END
$$;
COMMENT ON FUNCTION @extschema@.profile_params(text, jsonb) IS
    'The float8[] of a profile''s jsonb parameters in the family''s order; raises a clear error for missing, extra or non-numeric keys';

CREATE TABLE @extschema@.distribution_profiles (
    name        text PRIMARY KEY,
    family      text NOT NULL,
    params      jsonb NOT NULL,
    lower       float8,
    upper       float8,
    description text NOT NULL DEFAULT '',
    shipped     boolean NOT NULL DEFAULT false,
    CONSTRAINT distribution_profiles_valid CHECK (
        @extschema@.check_distribution(
            family, @extschema@.profile_params(family, params),
            coalesce(lower, '-infinity'), coalesce(upper, 'infinity')))
);
COMMENT ON TABLE @extschema@.distribution_profiles IS
    'Named distributions the pipeline draws from: the plan''s appendix as shipped, editable by users';
COMMENT ON COLUMN @extschema@.distribution_profiles.params IS
    'Parameters by name, as family_parameters(family) lists them, such as {"mu": 9.5, "sigma": 0.8}';
COMMENT ON COLUMN @extschema@.distribution_profiles.lower IS
    'Truncation bound (beta: the value 0 maps to; uniform: the support); NULL for none';
COMMENT ON COLUMN @extschema@.distribution_profiles.upper IS
    'Truncation bound (beta: the value 1 maps to; uniform: the support); NULL for none';
COMMENT ON COLUMN @extschema@.distribution_profiles.shipped IS
    'True for rows as the extension installed them; any edit makes the row the user''s';

INSERT INTO @extschema@.distribution_profiles
    (name, family, params, lower, upper, description, shipped)
VALUES
    ('mrr_tier_1', 'lognormal', '{"mu": 9.5, "sigma": 0.8}', 5000, 50000,
     'Monthly recurring revenue of a Tier 1 customer, USD', true),
    ('mrr_tier_2', 'lognormal', '{"mu": 7.8, "sigma": 0.6}', 1000, 5000,
     'Monthly recurring revenue of a Tier 2 customer, USD', true),
    ('mrr_tier_3', 'lognormal', '{"mu": 6.2, "sigma": 0.5}', 200, 1000,
     'Monthly recurring revenue of a Tier 3 customer, USD', true),
    ('mrr_tier_4', 'lognormal', '{"mu": 4.5, "sigma": 0.4}', 50, 200,
     'Monthly recurring revenue of a Tier 4 customer, USD', true),
    ('device_health', 'normal', '{"mean": 75, "sd": 15}', 0, 100,
     'Health score of a device whose status is unknown, 0-100', true),
    ('health_operational', 'beta', '{"alpha": 4, "beta": 1.5}', 60, 95,
     'Health score of an operational device, 0-100', true),
    ('health_maintenance', 'normal', '{"mean": 50, "sd": 5}', 40, 60,
     'Health score of a device in maintenance, 0-100', true),
    ('health_critical', 'exponential', '{"rate": 0.1}', 10, 40,
     'Health score of a critical device, 0-100', true),
    ('device_uptime', 'beta', '{"alpha": 9, "beta": 1}', 0, 100,
     'Uptime of a device, percent', true),
    ('engagement_admin', 'beta', '{"alpha": 4, "beta": 1.2}', 70, 95,
     'Engagement score of an admin user, 0-100', true),
    ('engagement_manager', 'normal', '{"mean": 65, "sd": 10}', 50, 80,
     'Engagement score of a manager, 0-100', true),
    ('engagement_standard', 'gamma', '{"shape": 2, "scale": 15}', 20, 70,
     'Engagement score of a standard user, 0-100', true),
    ('churn_annual_tier_1', 'uniform', '{}', 0.05, 0.10,
     'Annual churn rate of Tier 1 customers', true),
    ('churn_annual_tier_2', 'uniform', '{}', 0.10, 0.15,
     'Annual churn rate of Tier 2 customers', true),
    ('churn_annual_tier_3', 'uniform', '{}', 0.15, 0.25,
     'Annual churn rate of Tier 3 customers', true),
    ('churn_annual_tier_4', 'uniform', '{}', 0.25, 0.40,
     'Annual churn rate of Tier 4 customers', true);

-- A user's row (a new one, or an edited shipped one) is the user's from then
-- on. pg_dump keeps user rows only; on restore, CREATE EXTENSION inserts the
-- shipped rows first and the dump's user rows then replace them by name.
-- Shared by every table the extension ships rows in and users may edit
-- (profiles, tier mix, category vocabulary). The trigger's arguments name
-- the key columns.
CREATE FUNCTION @extschema@.mark_user_rows()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('DELETE FROM %I.%I WHERE %s AND shipped', TG_TABLE_SCHEMA, TG_TABLE_NAME,
                       (SELECT string_agg(format('%I = ($1).%I', k, k), ' AND ') FROM unnest(TG_ARGV) AS k))
          USING NEW;
    END IF;
    NEW.shipped := false;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.mark_user_rows() IS
    'Trigger: rows written by users are theirs, and replace a shipped row with the same key (the trigger arguments name the key columns)';

CREATE TRIGGER distribution_profiles_user_rows
    BEFORE INSERT OR UPDATE ON @extschema@.distribution_profiles
    FOR EACH ROW EXECUTE FUNCTION @extschema@.mark_user_rows('name');

SELECT pg_catalog.pg_extension_config_dump('@extschema@.distribution_profiles', 'WHERE NOT shipped');

CREATE FUNCTION @extschema@.sample_profile(profile text, n bigint, seed bigint DEFAULT 42)
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_sample_profile'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.sample_profile(text, bigint, bigint) IS
    'n values from a named profile, from stream (seed, series, '''', profile): profiles sampled with one seed are independent';

CREATE FUNCTION @extschema@.draw(
    profile text,
    key text,
    seed bigint DEFAULT 42,
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_draw'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.draw(text, text, bigint, text, text) IS
    'The value of a named profile for one key: the first draw of stream (seed, kind, key, purpose), purpose defaulting to the profile''s name';
