-- Phase 1 of the plan: deterministic ID rules. The C++ functions that read
-- raw IDs and make the keys of the normalized schema.

CREATE FUNCTION @extschema@.normalize_id(raw text)
RETURNS text
AS 'MODULE_PATHNAME', 'nz_normalize_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_id(text) IS
    'Canonical text of a raw ID: blanks (Unicode too) trimmed and braces around it dropped, lower-case, the leading zeros and a .000 tail of a number (after an optional prefix without digits) dropped; NULL when blank';

CREATE FUNCTION @extschema@.normalize_id(raw text, keep_case boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'nz_normalize_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_id(text, boolean) IS
    'Canonical text of a raw ID, as normalize_id(raw), with its case kept when keep_case';

CREATE FUNCTION @extschema@.id_number(raw text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_id_number'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.id_number(text) IS
    'The number of an ID made of an optional prefix and a number (''ACCT-0042'' gives 42); NULL otherwise';

CREATE FUNCTION @extschema@.id_prefix(raw text)
RETURNS text
AS 'MODULE_PATHNAME', 'nz_id_prefix'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.id_prefix(text) IS
    'The normalized prefix before the number of an ID (''ACCT-0042'' gives ''acct-''; a bare number gives ''''); NULL when the ID is not a prefixed number';

CREATE FUNCTION @extschema@.id_digits(raw text)
RETURNS integer
AS 'MODULE_PATHNAME', 'nz_id_digits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.id_digits(text) IS
    'How many digits the number of an ID is spelled with, zero padding included (''ACCT-0042'' gives 4)';

CREATE FUNCTION @extschema@.stable_key(kind text, raw text)
RETURNS varchar
AS 'MODULE_PATHNAME', 'nz_stable_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.stable_key(text, text) IS
    'The deterministic key of an entity, kind:normalized-id (''account'', '' 0042'' gives ''account:42''); an ID over 256 bytes keeps its first 64 and a SHA-1 digest; NULL when the ID is blank';

CREATE FUNCTION @extschema@.stable_key(kind text, raw text, keep_case boolean)
RETURNS varchar
AS 'MODULE_PATHNAME', 'nz_stable_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.stable_key(text, text, boolean) IS
    'The deterministic key of an entity, as stable_key(kind, raw), with the ID''s case kept when keep_case (for sources whose IDs differ only by case)';

CREATE FUNCTION @extschema@.stable_key(kind text, raw bigint)
RETURNS varchar
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN normalize.stable_key(kind, raw::text);
COMMENT ON FUNCTION @extschema@.stable_key(text, bigint) IS
    'The deterministic key of an entity with a numeric ID';
