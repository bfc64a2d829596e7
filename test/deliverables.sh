#!/usr/bin/env bash
# README.md's map of the plan's 18 deliverables: every deliverable of the
# plan has a row, every install file it names exists, and every function,
# view, table or type it names is installed. Prints TAP. Needs
# PGHOST/PGPORT/PGUSER of a running cluster and NZ_PG_BIN.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
db=nz_deliverables
# The section's table as "deliverable|files|names", a row each.
rows=$(python3 - "$root/README.md" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
section = text.split("\n## The plan's deliverables\n", 1)[1].split("\n## ", 1)[0]
for line in section.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 3 and cells[0].startswith("`"):
        names = [n.split("(")[0].strip() for n in re.findall(r"`([^`]+)`", cells[2])]
        print("|".join([cells[0].strip("`"), " ".join(re.findall(r"`([^`]+)`", cells[1])), " ".join(names)]))
PY
)
echo "1..3"
expected=$(for i in $(seq -w 1 18); do echo "$i"; done)
check "the map has one row per deliverable, 01 to 18, in order" "$(echo $expected)" \
      "$(cut -d'|' -f1 <<<"$rows" | sed 's/_.*//' | tr '\n' ' ' | sed 's/ $//')"
check "every install file it names exists" "" \
      "$(for f in $(cut -d'|' -f2 <<<"$rows"); do [ -f "$root/sql/install/$f" ] || echo -n "$f "; done)"
psql_ -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql_ -d "$db" -c "CREATE EXTENSION normalize"
names=$(cut -d'|' -f3 <<<"$rows" | tr ' ' '\n' | sort -u | paste -sd, -)
missing=$(psql_ -d "$db" -At -v names="$names" <<'SQL'
SELECT string_agg(n, ' ' ORDER BY n)
  FROM unnest(string_to_array(:'names', ',')) AS n
 WHERE NOT EXISTS (SELECT 1 FROM pg_proc AS p WHERE p.pronamespace = 'normalize'::regnamespace AND p.proname = n)
   AND NOT EXISTS (SELECT 1 FROM pg_class AS c WHERE c.relnamespace = 'normalize'::regnamespace AND c.relname = n)
   AND NOT EXISTS (SELECT 1 FROM pg_type AS t WHERE t.typnamespace = 'normalize'::regnamespace AND t.typname = n)
SQL
)
check "every function, view and table it names is installed" "" "$missing"
psql_ -d postgres -c "DROP DATABASE $db"
[ "$failed" -eq 0 ]
