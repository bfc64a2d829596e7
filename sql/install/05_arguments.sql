-- Argument checks shared by the SQL and PL/pgSQL functions: an error that
-- names the argument and its value, the same way everywhere. (Before every
-- other file: the feature views are generated at install time, through
-- functions that check their arguments with these.)

-- True, or an error naming the argument, for a number that must lie in
-- [low, high] (high infinite: at least low); NULL and NaN never do. In
-- numeric, so that a bigint is quoted exactly, as the caller passed it.
CREATE FUNCTION @extschema@.require_range(argument text, value numeric, low numeric, high numeric DEFAULT 'infinity',
                                          hint text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A NULL bound would let every value through, and a NULL name would
    -- make the message say nothing: mistakes of the caller, said as such.
    IF argument IS NULL OR low IS NULL OR high IS NULL THEN
        RAISE EXCEPTION '% of require_range must not be NULL',
                        CASE WHEN argument IS NULL THEN 'argument' WHEN low IS NULL THEN 'low' ELSE 'high' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'require_range checks an argument of a normalize function: name it, and give both bounds.';
    END IF;
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', argument
            USING ERRCODE = 'null_value_not_allowed', HINT = coalesce(hint, 'Pass a number.');
    END IF;
    IF NOT (value >= low AND value <= high) THEN
        IF high = 'infinity' THEN
            RAISE EXCEPTION '% must be at least %, got %', argument, low, value
                USING ERRCODE = 'invalid_parameter_value', HINT = coalesce(hint, format('Pass a number of at least %s.', low));
        END IF;
        RAISE EXCEPTION '% must be between % and %, got %', argument, low, high, value
            USING ERRCODE = 'invalid_parameter_value', HINT = coalesce(hint, format('Pass a number from %s to %s.', low, high));
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.require_range(text, numeric, numeric, numeric, text) IS
    'Internal: true if low <= value <= high (NULL and NaN never are), else an error naming the argument';
