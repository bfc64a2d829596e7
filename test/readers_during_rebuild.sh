#!/usr/bin/env bash
# Readers during a rebuild. While one session rebuilds the features, the
# training sets and the history, another reads their results over and
# over, each read its own transaction with lock_timeout = 1s: no read may
# fail (none may wait past a second for a lock), and each must see all of
# the previous results or all of the new ones, never a half-built table.
# The training build is held up half-way (a third session locks the device
# history it reads last) so that reads surely fall inside it, and a long
# query holds the training samples when it comes to swap its results in,
# the case where a plain lock request would queue the readers behind it.
# Prints TAP. Needs PGHOST/PGPORT/PGUSER of a running cluster and NZ_PG_BIN.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
db=nz_readers
q() { psql_ -d "$db" -Atc "$1"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "1..12"
pipeline_db "$db" readers_raw

# What a reader sees of relations (tables, views or subqueries): rows and a
# digest of them, per relation. The large ones are read by their keys or
# counted, so that reads are short and many.
digest() {
    local sql="" r
    for r in "$@"; do
        sql="${sql:+$sql || ' '} || (SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)), 0) FROM $r AS t)"
    done
    echo "SELECT ''$sql"
}
# Reads the digest every 50 ms, each read in its own transaction, until the
# file stop exists; one line per read: epoch seconds, then what it saw.
# Errors (a lock waited for past a second) go to the .err file.
start_reader() {  # name, relations...
    local name=$1
    shift
    local read_sql
    read_sql="$(digest "$@")"
    rm -f "$work/stop"
    {
        echo "SET lock_timeout = '1s';"
        while [ ! -f "$work/stop" ]; do
            echo "SELECT extract(epoch FROM clock_timestamp()) || ' ' || ($read_sql);"
            sleep 0.05
        done
    } | "$NZ_PG_BIN/psql" -X -q -At -d "$db" >"$work/$name.out" 2>"$work/$name.err" &
    reader=$!
}
stop_reader() {
    touch "$work/stop"
    wait "$reader" || true
}
now() { date +%s.%N; }
# Reads that failed, and the distinct results seen outside the two given.
failed_reads() { grep -c ERROR "$work/$1.err" || true; }
other_results() {  # name, before, after
    cut -d' ' -f2- "$work/$1.out" | grep -vxF -e "$2" -e "$3" | sort -u | head -3 | tr '\n' ';' || true
}
reads_between() {  # name, from, to (epoch seconds)
    awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b' "$work/$1.out" | wc -l
}

# 1. The features: the same history gives the same stores, so a reader
# sees the same rows before, during and after; never an empty store.
stores=(normalize.customer_feature_store normalize.user_feature_store
        "(SELECT device_key, as_of FROM normalize.device_feature_store)")
before=$(q "$(digest "${stores[@]}")")
start_reader features "${stores[@]}"
from=$(now)
q "SELECT count(*) FROM normalize.refresh_features()" >/dev/null
to=$(now)
stop_reader
check "refresh_features: no read waited past a second" "0" "$(failed_reads features)"
check "refresh_features: every read saw the whole stores" "" "$(other_results features "$before" "$before")"
check "refresh_features: reads ran while it did (at least 3)" "yes" \
      "$([ "$(reads_between features "$from" "$to")" -ge 3 ] && echo yes || echo "no: $(reads_between features "$from" "$to")")"

# 2. The training sets, with another seed: the old sets until the new ones
# are in, whole. The build waits 4 s for the device history half-way, and
# from 3 s on a long query holds the churn samples for 4 s.
sets=(normalize.churn_training_set normalize.clv_training_set)
before=$(q "$(digest "${sets[@]}")")
"$NZ_PG_BIN/psql" -X -q -d "$db" -c "BEGIN" -c "LOCK TABLE normalize.device_days IN ACCESS EXCLUSIVE MODE" \
    -c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null 2>&1 &
holder=$!
( sleep 3; "$NZ_PG_BIN/psql" -X -q -d "$db" -c "BEGIN" -c "SELECT count(*) FROM normalize.churn_samples" \
      -c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null 2>&1 ) &
long_query=$!
sleep 0.5
start_reader training "${sets[@]}"
from=$(now)
q "SELECT count(*) FROM normalize.build_training_sets(seed => 7)" >/dev/null
to=$(now)
wait "$holder" "$long_query" || true
sleep 0.3
stop_reader
after=$(q "$(digest "${sets[@]}")")
check "build_training_sets: the new sets differ from the old" "yes" "$([ "$before" != "$after" ] && echo yes || echo no)"
check "build_training_sets: no read waited past a second, a long query holding the samples at the swap included" \
      "0" "$(failed_reads training)"
check "build_training_sets: every read saw the old sets or the new, whole" "" \
      "$(other_results training "$before" "$after")"
check "build_training_sets: reads saw the old sets while it ran (at least 20)" "yes" \
      "$(n=$(awk -v a="$from" -v b="$to" -v s="$before" '$1 >= a && $1 <= b && substr($0, index($0, " ") + 1) == s' \
               "$work/training.out" | wc -l); [ "$n" -ge 20 ] && echo yes || echo "no: $n")"
check "build_training_sets: the build waited for the long query, and then swapped its sets in" "yes" \
      "$(awk -v e="$to" -v f="$from" 'BEGIN { exit !(e - f >= 6) }' && [ "$(tail -1 "$work/training.out" | cut -d' ' -f2-)" = "$after" ] \
         && echo yes || echo "no: $from $to")"

# 3. The history, with another seed: the old one until the new one is in;
# the training sets built on the old one are emptied in the same instant.
tables=(normalize.account_snapshots normalize.history_info "(SELECT count(*) FROM normalize.device_days)")
before=$(q "$(digest "${tables[@]}")")
start_reader history "${tables[@]}"
from=$(now)
q "SELECT count(*) FROM normalize.build_history(months => 24, as_of => '2025-06-18', seed => 43)" >/dev/null
to=$(now)
stop_reader
after=$(q "$(digest "${tables[@]}")")
check "build_history: no read waited past a second" "0" "$(failed_reads history)"
check "build_history: every read saw the old history or the new, whole" "" "$(other_results history "$before" "$after")"
check "build_history: reads ran while it did (at least 3)" "yes" \
      "$([ "$(reads_between history "$from" "$to")" -ge 3 ] && echo yes || echo "no: $(reads_between history "$from" "$to")")"
check "build_history: the features and training sets built on the old history are gone, no staging table is left" \
      "0|0|0" "$(q "SELECT (SELECT count(*) FROM normalize.device_feature_store) || '|' || (SELECT count(*) FROM normalize.churn_samples)
                    || '|' || (SELECT count(*) FROM pg_class WHERE relname LIKE 'next\_%')")"
psql_ -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1 || true
[ "$failed" -eq 0 ]
