#!/usr/bin/env bash
# Real sources (issue 18): the whole pipeline on two messy sources of the
# test's own (test/sources/messy_a.sql, messy_b.sql), each with its ground
# truth, scored row by row: no row linked to a wrong customer or location,
# every undecided rule reported and nothing linked by a guess, every
# linkable row linked once the user declares the rule, placeholders
# replaced and real values kept, duplicates collapsed and counted,
# category spellings mapped and unknown ones reported, the same bytes under
# two session time zones, and a run with only customers and subscriptions.
# Prints TAP, with the figures of each source as comments. Needs
# PGHOST/PGPORT/PGUSER of a running cluster with normalize installed, and
# NZ_PG_BIN.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/tap.sh"
echo "1..68"

# Runs SQL from stdin in database $1 (default $db), psql variable src set;
# prints the rows unaligned, '|' between columns, or the error.
sql() {  # [database]
    psql_ -d "${1:-$db}" -At -v src="$src" -f - 2>&1 || true
}
q() {  # sql text
    printf '%s\n' "$1" | sql
}
qd() {  # database, sql text
    printf '%s\n' "$2" | sql "$1"
}
# The last line of the output, or the first error if there is one.
outcome() {
    local out
    out=$(cat)
    if grep -q 'ERROR:' <<<"$out"; then grep -m1 'ERROR:' <<<"$out" | sed 's/^psql:[^ ]* //'; else tail -n 1 <<<"$out"; fi
}
note() {  # prints stdin as TAP comments
    sed 's/^/# /'
}
# Runs the whole pipeline in session time zone $2 (extra arguments $3);
# its fate is read from pipeline_runs, or, when no run started, from the
# error the CALL left in $call_error.
call_error=$(mktemp)
trap 'rm -f "$call_error"' EXIT
pipeline() {  # database, time zone, [extra arguments]
    PGTZ=$2 psql_ -d "$1" -c "CALL normalize.run_pipeline(seed => 42, months => 6${3:+, $3})" 2>&1 >/dev/null \
        | grep -m1 'ERROR:' >"$call_error" || true
}
last_run() {  # database: status of the last run, and where it stopped; or why none started
    local fate
    fate=$(psql_ -d "$1" -At -c "SELECT status || coalesce(': ' || error, '') FROM normalize.pipeline_runs ORDER BY run_id DESC LIMIT 1" 2>&1 || true)
    echo "${fate:-no run: $(cat "$call_error")}"
}
fresh_source_db() {  # database: made afresh with normalize and the source built and registered
    psql_ -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null 2>&1
    psql_ -d "$1" -c "CREATE EXTENSION normalize" >/dev/null
    psql_ -d "$1" -v src="$src" -f "$here/sources/$src.sql" >/dev/null
    psql_ -d "$1" -v src="$src" -f "$here/sources/${src}_register.sql" >/dev/null
}

# Views that score the product against the source's truth. They live in
# schema nz_check, outside normalize (whose every table is compared across
# time zones) and outside the source.
scoring_views() {
    psql_ -d "$db" -v src="$src" >/dev/null <<'SQL'
CREATE SCHEMA nz_check;
-- What became of every source row the truth knows, by its raw ID: linked
-- (to which true customer), or kept out and why.
CREATE VIEW nz_check.outcomes AS
SELECT t.entity, t.source_id, t.customer AS truth, coalesce(m.linked, false) AS linked, tc.customer AS linked_to, q.reasons
  FROM :"src".truth_rows AS t
  LEFT JOIN (SELECT x.entity, x.source_id, bool_or(x.status IN ('linked', 'assigned')) AS linked,
                    max(x.account_key) AS account_key
               FROM normalize.id_map AS x GROUP BY 1, 2) AS m ON m.entity = t.entity AND m.source_id = t.source_id
  LEFT JOIN normalize.accounts AS a ON a.account_key = m.account_key
  LEFT JOIN :"src".truth_customers AS tc ON tc.raw_id = a.source_id
  LEFT JOIN (SELECT y.entity, y.source_id, string_agg(DISTINCT y.reason, ', ') AS reasons
               FROM normalize.quarantine AS y WHERE NOT y.kept GROUP BY 1, 2) AS q ON q.entity = t.entity AND q.source_id = t.source_id;
CREATE VIEW nz_check.figures AS
SELECT o.entity,
       count(*) FILTER (WHERE o.truth IS NOT NULL) AS linkable,
       count(*) FILTER (WHERE o.linked AND o.linked_to = o.truth) AS linked_right,
       count(*) FILTER (WHERE o.linked AND o.linked_to IS DISTINCT FROM o.truth) AS linked_wrong,
       count(*) FILTER (WHERE NOT o.linked AND o.reasons LIKE '%ambiguous%') AS ambiguous,
       count(*) FILTER (WHERE NOT o.linked AND coalesce(o.reasons, '') NOT LIKE '%ambiguous%') AS quarantined,
       count(*) FILTER (WHERE o.truth IS NOT NULL AND NOT o.linked AND coalesce(o.reasons, '') NOT LIKE '%ambiguous%')
           AS linkable_quarantined,
       count(*) FILTER (WHERE o.truth IS NULL) AS orphans,
       count(*) FILTER (WHERE o.truth IS NULL AND NOT o.linked) AS orphans_kept_out
  FROM nz_check.outcomes AS o GROUP BY o.entity;
-- Where each device was put, against where it is.
CREATE VIEW nz_check.device_locations AS
SELECT t.source_id, t.location AS truth, tl.location AS located_at, l.account_key = d.account_key AS own_account,
       d.source_location_ref
  FROM :"src".truth_rows AS t
  JOIN normalize.devices AS d ON d.source_id = t.source_id
  LEFT JOIN normalize.locations AS l ON l.location_key = d.location_key
  LEFT JOIN :"src".truth_locations AS tl ON tl.raw_id = l.source_id
 WHERE t.entity = 'devices';
-- Every repaired value of a row the normalized tables hold, against the
-- truth: agree when its provenance is the expected one and its value the
-- expected one (where the truth fixes it).
CREATE VIEW nz_check.repaired AS
SELECT t.*, n.value, n.source,
       n.source IS NOT DISTINCT FROM t.expected_source AND (t.expected IS NULL OR n.value = t.expected) AS agree
  FROM :"src".truth_values AS t
  JOIN (SELECT 'accounts' AS table_name, 'mrr' AS column_name, source_id, mrr AS value, mrr_source AS source
          FROM normalize.accounts
        UNION ALL SELECT 'devices', 'health_score', source_id, health_score, health_score_source FROM normalize.devices
        UNION ALL SELECT 'devices', 'uptime', source_id, uptime, uptime_source FROM normalize.devices
        UNION ALL SELECT 'users', 'engagement_score', source_id, engagement_score, engagement_score_source
          FROM normalize.users) AS n USING (table_name, column_name, source_id);
-- Each category value of the normalized tables against its spelling on
-- the kept row: the canonical value, or the spelling itself when no
-- vocabulary could know it.
CREATE VIEW nz_check.categories AS
SELECT k.category, k.source_id, k.spelling, c.canonical, n.value,
       n.value IS NOT DISTINCT FROM CASE c.canonical WHEN 'unknown' THEN k.spelling ELSE c.canonical END AS agree
  FROM :"src".truth_category_kept AS k
  JOIN :"src".truth_categories AS c USING (category, spelling)
  JOIN (SELECT 'customer tier' AS category, source_id, coalesce(tier_observed, tier) AS value FROM normalize.accounts
        UNION ALL SELECT 'subscription status', source_id, status FROM normalize.subscriptions
        UNION ALL SELECT 'device status', source_id, status FROM normalize.devices
        UNION ALL SELECT 'user role', source_id, role FROM normalize.users) AS n USING (category, source_id);
SQL
}

# Every table of schema normalize (but the run log, and the times things
# were built or measured and by which run), and the readiness report, as
# one digest per line; read in UTC so that only what the runs wrote can
# differ.
digests() {
    PGTZ=UTC sql <<'SQL'
CREATE TEMP TABLE d (name text, digest text);
DO $$
DECLARE
    t record;
    cols text;
    digest text;
BEGIN
    FOR t IN SELECT c.oid, c.relname FROM pg_class AS c
              WHERE c.relnamespace = 'normalize'::regnamespace AND c.relkind IN ('r', 'p', 'm')
                AND c.relname NOT IN ('pipeline_runs', 'pipeline_phases') ORDER BY c.relname LOOP
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
          FROM pg_attribute AS a
         WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname NOT IN ('built_at', 'measured_at', 'run_id');
        EXECUTE format('SELECT md5(coalesce(string_agg(x::text, E''\n'' ORDER BY x::text COLLATE "C"), '''')) FROM (SELECT %s FROM normalize.%I) AS x',
                       cols, t.relname) INTO digest;
        INSERT INTO d VALUES (t.relname, digest);
    END LOOP;
END $$;
INSERT INTO d SELECT 'ml_readiness_report()', md5(string_agg(r::text, E'\n' ORDER BY r::text COLLATE "C"))
  FROM normalize.ml_readiness_report() AS r;
SELECT name || ' ' || digest FROM d ORDER BY name;
SQL
}

figures() {  # heading
    echo "# $src, $1: rows per entity against the truth"
    q "SELECT format('%-14s linkable %4s  linked right %4s  linked wrong %3s  ambiguous (pending the user) %3s  quarantined %4s (of them linkable %3s; orphans %3s, kept out %3s)',
                     entity, linkable, linked_right, linked_wrong, ambiguous, quarantined, linkable_quarantined, orphans, orphans_kept_out)
         FROM nz_check.figures ORDER BY entity" | note
    q "SELECT format('%-14s linked right %4s  linked wrong %3s  ambiguous %3s  quarantined %4s',
                     'all', sum(linked_right), sum(linked_wrong), sum(ambiguous), sum(quarantined)) FROM nz_check.figures" | note
    q "SELECT format('%-14s located right %4s  located wrong %3s  at another account''s %3s  without %3s (truly none %s)', 'device sites',
                     count(*) FILTER (WHERE located_at = truth), count(*) FILTER (WHERE located_at IS DISTINCT FROM truth AND located_at IS NOT NULL),
                     count(*) FILTER (WHERE NOT own_account), count(*) FILTER (WHERE located_at IS NULL), count(*) FILTER (WHERE truth IS NULL))
         FROM nz_check.device_locations" | note
}

# The checks every source gets, on the run the user ends with.
common_checks() {
    local s=$src
    check "$s: every linkable row of every entity links to its true customer (linkable|linked right)" \
          "$(q "SELECT sum(linkable) FROM nz_check.figures")|$(q "SELECT sum(linkable) FROM nz_check.figures")" \
          "$(q "SELECT sum(linkable) || '|' || sum(linked_right) FROM nz_check.figures")"
    if [ "$(q "SELECT sum(linkable) = sum(linked_right) FROM nz_check.figures")" != t ]; then
        q "SELECT 'not linked right: ' || entity || ' ' || source_id || ' (truth ' || coalesce(truth, 'orphan') || ', got '
                  || coalesce(linked_to, 'nothing') || coalesce(', ' || reasons, '') || ')'
             FROM nz_check.outcomes WHERE truth IS NOT NULL AND linked_to IS DISTINCT FROM truth ORDER BY 1 LIMIT 8" | note
    fi
    check "$s: no row is linked to a wrong customer" "0" "$(q "SELECT sum(linked_wrong) FROM nz_check.figures")"
    check "$s: every orphan is kept out, none linked (orphans|kept out)" \
          "$(q "SELECT sum(orphans) || '|' || sum(orphans) FROM nz_check.figures")" \
          "$(q "SELECT sum(orphans) || '|' || sum(orphans_kept_out) FROM nz_check.figures")"
    check "$s: every device with a site is at its true site, of its own account; none elsewhere (right|wrong|another account's)" \
          "$(q "SELECT count(*) FILTER (WHERE truth IS NOT NULL) || '|0|0' FROM nz_check.device_locations")" \
          "$(q "SELECT count(*) FILTER (WHERE located_at = truth) || '|' || count(*) FILTER (WHERE located_at IS DISTINCT FROM truth AND located_at IS NOT NULL)
                       || '|' || count(*) FILTER (WHERE NOT own_account) FROM nz_check.device_locations")"
    check "$s: validate_relationships: every account link passes; the lost site links are exactly the devices naming no real site" \
          "pass|$(q "SELECT count(*) FROM nz_check.device_locations WHERE truth IS NULL AND normalize.normalize_id(source_location_ref) IS NOT NULL")" \
          "$(q "SELECT CASE WHEN bool_and(status = 'pass') FILTER (WHERE check_name NOT LIKE 'devices.location_key%') THEN 'pass' ELSE 'fail' END
                       || '|' || max(orphaned) FILTER (WHERE check_name = 'devices.location_key -> locations')
                  FROM normalize.validate_relationships() WHERE status <> 'info'")"
    check "$s: the feature engine's stores agree with the feature views on every row and feature (customer|device|user: rows compared, differing)" \
          "true 0|true 0|true 0" \
          "$(q "SELECT string_agg((x.n > 0) || ' ' || x.d, '|' ORDER BY e)
                  FROM unnest(ARRAY['customer', 'device', 'user']) AS e,
                       LATERAL (SELECT max(rows) AS n, sum(differing) AS d
                                  FROM normalize.feature_store_disagreements(e)) AS x")"
    check "$s: the readiness report's data completeness is below 100% while rows are quarantined" "t" \
          "$(q "SELECT after < 100 FROM normalize.ml_readiness_report() WHERE metric = 'Data completeness'")"

    # Placeholders, row by row.
    local col
    for col in "devices health_score" "devices uptime" "users engagement_score" "accounts mrr"; do
        set -- $col
        check "$s: $1.$2: placeholders replaced, real values kept with their provenance (placeholders|real values right)" \
              "$(q "SELECT count(*) FILTER (WHERE placeholder) || '|' || count(*) FILTER (WHERE NOT placeholder)
                      FROM nz_check.repaired WHERE table_name = '$1' AND column_name = '$2'")" \
              "$(q "SELECT count(*) FILTER (WHERE placeholder AND agree) || '|' || count(*) FILTER (WHERE NOT placeholder AND agree)
                      FROM nz_check.repaired WHERE table_name = '$1' AND column_name = '$2'")"
        q "SELECT format('%s %s (%s): expected %s %s, got %s %s', table_name, source_id,
                         CASE WHEN placeholder THEN 'placeholder' ELSE 'real' END, expected_source,
                         coalesce(expected::text, ''), source, value)
             FROM nz_check.repaired WHERE table_name = '$1' AND column_name = '$2' AND NOT agree
            ORDER BY placeholder, source_id LIMIT 4" | note
    done

    # Duplicates and collisions.
    check "$s: exact duplicate rows collapse to one, counted per entity" \
          "$(q "SELECT string_agg(entity || '=' || n, ' ' ORDER BY entity) FROM (SELECT entity, sum(extra_rows) AS n FROM :\"src\".truth_duplicates WHERE kind = 'exact' GROUP BY 1) AS x")" \
          "$(q "SELECT string_agg(entity || '=' || n, ' ' ORDER BY entity) FROM (SELECT entity, count(*) AS n FROM normalize.unlinked_rows WHERE status = 'duplicate' GROUP BY 1) AS x")"
    check "$s: the children of duplicated customers all link to them" \
          "$(q "SELECT count(*) FROM nz_check.outcomes AS o WHERE o.truth IN (SELECT c.customer FROM :\"src\".truth_customers AS c JOIN :\"src\".truth_duplicates AS d ON d.entity = 'customers' AND d.source_id = c.raw_id)")" \
          "$(q "SELECT count(*) FROM nz_check.outcomes AS o WHERE o.linked AND o.linked_to = o.truth AND o.truth IN (SELECT c.customer FROM :\"src\".truth_customers AS c JOIN :\"src\".truth_duplicates AS d ON d.entity = 'customers' AND d.source_id = c.raw_id)")"
    check "$s: a conflicting duplicate is reported in key_collisions, one row kept, the other quarantined (reported|quarantined)" \
          "$(q "SELECT count(*) || '|' || sum(extra_rows) FROM :\"src\".truth_duplicates WHERE kind = 'conflict'")" \
          "$(q "SELECT (SELECT count(*) FROM :\"src\".truth_duplicates AS d JOIN normalize.key_collisions AS k
                          ON k.entity = d.entity AND k.kept_source_id = d.source_id AND k.resolution = 'most complete row kept'
                        WHERE d.kind = 'conflict') || '|' ||
                       (SELECT count(*) FROM :\"src\".truth_duplicates AS d JOIN normalize.quarantine AS x
                          ON x.entity = d.entity AND x.source_id = d.source_id AND x.reason = 'key collision' AND NOT x.kept
                        WHERE d.kind = 'conflict')")"
    check "$s: older snapshots of the customers are superseded, counted" \
          "$(q "SELECT value FROM :\"src\".truth_facts WHERE fact = 'superseded customers'")" \
          "$(q "SELECT count(*) FROM normalize.unlinked_rows WHERE entity = 'customers' AND status = 'superseded'")"
    check "$s: no key holds two true customers" "0" \
          "$(q "SELECT count(*) FROM (SELECT m.entity_key FROM normalize.id_map AS m JOIN :\"src\".truth_customers AS c ON c.raw_id = m.source_id
                                      WHERE m.entity = 'customers' AND m.entity_key IS NOT NULL
                                      GROUP BY 1 HAVING count(DISTINCT c.customer) > 1) AS x")"
    check "$s: every key shared by distinct raw IDs is reported in key_collisions" "0" \
          "$(q "SELECT count(*) FROM (SELECT m.entity, m.entity_key FROM normalize.id_map AS m WHERE m.entity_key IS NOT NULL
                                      GROUP BY 1, 2 HAVING count(DISTINCT m.source_id COLLATE \"C\") > 1) AS x
                 WHERE NOT EXISTS (SELECT 1 FROM normalize.key_collisions AS k WHERE k.entity = x.entity AND k.entity_key = x.entity_key)")"
    check "$s: one account per true customer (accounts|distinct customers they are)" \
          "$(q "SELECT n || '|' || n FROM (SELECT count(DISTINCT customer) AS n FROM :\"src\".truth_customers WHERE customer <> 'B-long') AS x")" \
          "$(q "SELECT count(*) || '|' || count(DISTINCT c.customer) FROM normalize.accounts AS a
                  LEFT JOIN :\"src\".truth_customers AS c ON c.raw_id = a.source_id")"

    # Categories.
    check "$s: every category spelling reads as its canonical value, unknown ones as spelled (rows|right)" \
          "$(q "SELECT count(*) || '|' || count(*) FROM nz_check.categories")" \
          "$(q "SELECT count(*) || '|' || count(*) FILTER (WHERE agree) FROM nz_check.categories")"
    q "SELECT format('%s %s: %L read as %L, expected %L', category, source_id, spelling, value, canonical)
         FROM nz_check.categories WHERE NOT agree ORDER BY category, source_id LIMIT 4" | note
    check "$s: assess_sources reports the rows of each column the vocabulary does not know" \
          "$(q "SELECT string_agg(category || '=' || n, ' ' ORDER BY category) FROM (
                    SELECT r.category, count(*) AS n FROM :\"src\".truth_category_rows AS r
                      JOIN :\"src\".truth_categories AS c USING (category, spelling) WHERE c.canonical = 'unknown' GROUP BY 1) AS x")" \
          "$(q "SELECT string_agg(category || '=' || value, ' ' ORDER BY category) FROM (
                    SELECT CASE entity || '.' || metric WHEN 'customers.tier values unknown' THEN 'customer tier'
                                WHEN 'subscriptions.status values unknown' THEN 'subscription status'
                                WHEN 'devices.status values unknown' THEN 'device status'
                                WHEN 'users.role values unknown' THEN 'user role' END AS category, value
                      FROM normalize.assess_sources() WHERE metric LIKE '% values unknown' AND value > 0) AS x")"
    check "$s: quality_checks does not pass a column with unknown values, and names each of them" \
          "$(q "SELECT string_agg(DISTINCT category, ', ' ORDER BY category) FROM nz_check.categories WHERE canonical = 'unknown'")" \
          "$(q "SELECT string_agg(x.category, ', ' ORDER BY x.category) FROM (
                    SELECT v.category FROM (VALUES ('customer tier', 'accounts.tier'), ('subscription status', 'subscriptions.status'),
                                                   ('device status', 'devices.status'), ('user role', 'users.role')) AS v(category, entity)
                      JOIN normalize.quality_checks() AS k ON k.entity = v.entity AND k.check_name = 'category values known'
                     WHERE k.status <> 'pass'
                       AND NOT EXISTS (SELECT 1 FROM nz_check.categories AS c WHERE c.category = v.category AND c.canonical = 'unknown'
                                          AND position(c.spelling || ' (' IN k.detail) = 0)) AS x")"
    check "$s: as_of defaults to the latest snapshot date of the sources" \
          "$(q "SELECT value FROM :\"src\".truth_facts WHERE fact = 'as_of'")" \
          "$(q "SELECT arguments ->> 'as_of' FROM normalize.pipeline_runs ORDER BY run_id DESC LIMIT 1")"
}

# The same sources, the same results, under another session time zone.
time_zone_check() {
    local before after
    before=$(digests)
    pipeline "$db" Pacific/Kiritimati "restart => true"
    after=$(digests)
    check "$src: every table of schema normalize has the same bytes under session TimeZone UTC and Pacific/Kiritimati" "$before" "$after"
    if [ "$before" != "$after" ]; then
        diff <(echo "$before") <(echo "$after") | grep '^[<>]' | note || true
    fi
}

# Only customers and subscriptions registered: every phase still runs, the
# absent entities' sets are empty, and the report says what was missing.
optional_entities_check() {
    local cs=${db}_cs
    fresh_source_db "$cs"
    psql_ -d "$cs" -c "DELETE FROM normalize.sources WHERE entity NOT IN ('customers', 'subscriptions')" >/dev/null
    pipeline "$cs" UTC
    local fate
    fate=$(last_run "$cs")
    check "$src: a run with only customers and subscriptions registered completes every phase" "done" "$fate"
    check "$src: ... the device and user stores and the device health set are empty, the customers' are not" \
          "0|0|0|true|true" \
          "$(qd "$cs" "SELECT (SELECT count(*) FROM normalize.device_feature_store) || '|' || (SELECT count(*) FROM normalize.user_feature_store)
                       || '|' || (SELECT count(*) FROM normalize.device_health_samples)
                       || '|' || (SELECT count(*) > 0 FROM normalize.customer_feature_store)
                       || '|' || (SELECT count(*) > 0 FROM normalize.churn_samples)" | outcome)"
    check "$src: ... the readiness report names each entity that was not available" "t" \
          "$(qd "$cs" "SELECT bool_and(position(e IN r.text) > 0)
                         FROM (SELECT string_agg(detail, ' ') AS text FROM normalize.ml_readiness_report()) AS r,
                              unnest(ARRAY['devices', 'users', 'locations', 'campaigns']) AS e" | outcome)"
    psql_ -d postgres -c "DROP DATABASE $cs" >/dev/null
}

# messy_a ------------------------------------------------------------------
src=messy_a
db=nz_messy_a
started=$SECONDS
fresh_source_db "$db"
scoring_views
# First, as a user would: nothing declared.
pipeline "$db" UTC
check "$src: the first run completes every phase" "done" "$(last_run "$db")"
figures "first run, nothing declared"
check "$src: campaigns.account is marked ambiguous between offsets 499, 500 and 501, and no rule of it is chosen" "true|0" \
      "$(q "SELECT ((SELECT count(*) FROM normalize.reconciliation_rules WHERE entity = 'campaigns' AND reference = 'account'
                     AND status = 'ambiguous' AND parameter IN ('499', '500', '501')) = 3)::text || '|'
                || (SELECT count(*) FROM normalize.reconciliation_rules WHERE entity = 'campaigns' AND reference = 'account' AND chosen)")"
check "$src: nothing is linked by a guess: no campaign linked, each with a reference quarantined as undecided (linked|undecided)" \
      "0|$(q "SELECT count(*) FROM :\"src\".truth_rows WHERE entity = 'campaigns' AND customer IS NOT NULL")" \
      "$(q "SELECT (SELECT count(*) FROM normalize.campaigns) || '|'
                || (SELECT count(*) FROM normalize.quarantine WHERE entity = 'campaigns' AND reason = 'ambiguous rule' AND NOT kept)")"
check "$src: the quality check 'reference rule decided' fails for campaigns.account" "fail" \
      "$(q "SELECT status FROM normalize.quality_checks() WHERE check_name = 'reference rule decided' AND entity = 'campaigns.account'")"
check "$src: the readiness report fails data completeness and names the undecided rule" "false|true" \
      "$(q "SELECT passed || '|' || (detail LIKE '%undecided rules: %campaigns.account%') FROM normalize.ml_readiness_report() WHERE metric = 'Data completeness'")"
check "$src: validate_relationships fails the campaigns' link to accounts, which links nothing" "fail" \
      "$(q "SELECT string_agg(status, ',') FROM normalize.validate_relationships() WHERE check_name LIKE 'campaigns%'")"
check "$src: first run: no row is linked to a wrong customer" "0" "$(q "SELECT sum(linked_wrong) FROM nz_check.figures")"
# The user settles it.
q "INSERT INTO normalize.id_rule_overrides (entity, reference, rule, \"offset\", source, note)
   SELECT 'campaigns', 'account', 'offset', 500, format('%I.campaigns', :'src'), 'the marketing tool adds 500'" >/dev/null
pipeline "$db" UTC "restart => true"
check "$src: with the offset declared, the run completes every phase" "done" "$(last_run "$db")"
figures "offset 500 declared for campaigns.account"
check "$src: the declared rule is used, and every campaign with a reference links to its customer (status|linkable|right)" \
      "declared|$(q "SELECT linkable || '|' || linkable FROM nz_check.figures WHERE entity = 'campaigns'")" \
      "$(q "SELECT (SELECT status FROM normalize.reconciliation_rules WHERE entity = 'campaigns' AND reference = 'account' AND chosen)
                || '|' || linkable || '|' || linked_right FROM nz_check.figures WHERE entity = 'campaigns'")"
check "$src: the users' exact references link though they are a minority of the column (rule used|linkable|right)" \
      "true|$(q "SELECT linkable || '|' || linkable FROM nz_check.figures WHERE entity = 'users'")" \
      "$(q "SELECT (SELECT bool_or(chosen AND rule IN ('exact', 'normalized', 'number')) FROM normalize.reconciliation_rules WHERE entity = 'users')
                || '|' || linkable || '|' || linked_right FROM nz_check.figures WHERE entity = 'users'")"
check "$src: devices.location: the offset that puts devices at their own account's sites wins over the number rule" "offset 10" \
      "$(q "SELECT concat_ws(' ', rule, parameter) FROM normalize.reconciliation_rules WHERE entity = 'devices' AND reference = 'location' AND chosen")"
common_checks
time_zone_check
optional_entities_check
echo "# $src: $((SECONDS - started)) s"

# messy_b ------------------------------------------------------------------
src=messy_b
db=nz_messy_b
started=$SECONDS
fresh_source_db "$db"
scoring_views
pipeline "$db" UTC
check "$src: the run completes every phase" "done" "$(last_run "$db")"
figures "the run"
check "$src: customers' keys keep case: IDs of one snapshot differ only by case" "t" \
      "$(q "SELECT keep_case FROM normalize.key_case WHERE entity = 'customers'")"
check "$src: the campaigns naming a customer link though they are a minority of the column (linkable|right)" \
      "$(q "SELECT linkable || '|' || linkable FROM nz_check.figures WHERE entity = 'campaigns'")" \
      "$(q "SELECT linkable || '|' || linked_right FROM nz_check.figures WHERE entity = 'campaigns'")"
check "$src: the two IDs over 3,000 bytes have two short keys" "2|true" \
      "$(q "SELECT count(DISTINCT account_key) || '|' || bool_and(octet_length(account_key) < 300) FROM normalize.accounts WHERE octet_length(source_id) > 3000")"
common_checks
time_zone_check
# One more customer, whose ID is 3,200 bytes that do not compress.
check "$src: an ID of 3,200 bytes that do not compress is reconciled like any other" "1" \
      "$(q "SELECT count(*) FROM normalize.sources AS s,
                   normalize.register_source('customers', format('%I.customers_long_ids', :'src')::regclass, s.columns, s.time_zone)
             WHERE s.entity = 'customers';
            SELECT count(*) FROM normalize.reconcile_ids();
            SELECT count(*) FROM normalize.accounts WHERE octet_length(source_id) = 3200" | outcome)"
optional_entities_check
echo "# $src: $((SECONDS - started)) s"

psql_ -d postgres -c "DROP DATABASE nz_messy_a" -c "DROP DATABASE nz_messy_b" >/dev/null
echo "# total: $SECONDS s"
[ "$failed" -eq 0 ]
