#!/usr/bin/env bash
# Packaging: META.json is PGXN metadata whose version is the control file's;
# the install script is named after that version; and `make install`
# installs where the PG_CONFIG it is given says, not the default server's.
# Prints TAP. Needs NZ_PG_CONFIG (the pg_config of the server built for).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
echo "1..9"
version=$(control_version)
meta() { python3 -c "import json, sys; m = json.load(open(sys.argv[1])); print($1)" "$root/META.json"; }
check "META.json is PGXN metadata (meta-spec 1.0.0, the required keys)" "1.0.0 ok" \
      "$(meta "m['meta-spec']['version'], 'ok' if all(k in m for k in ('name', 'abstract', 'version', 'maintainer', 'license', 'provides')) else 'missing'")"
check "META.json's versions are the control file's" "$version $version" \
      "$(meta "m['version'], m['provides']['normalize']['version']")"
make -C "$root" -s PG_CONFIG="$NZ_PG_CONFIG" >/dev/null
check "the install script is named after the control file's version" "yes" \
      "$([ -f "$root/sql/normalize--$version.sql" ] && echo yes || echo no)"
# Released scripts are frozen: the build leaves them as they were released.
check "the released scripts are unchanged by the build (sql/released.sha256)" "" \
      "$(cd "$root/sql" && sha256sum --quiet -c released.sha256 2>&1)"
unguarded=$(for f in "$root"/sql/normalize--*.sql; do
                head -5 "$f" | grep -q '^\\echo Use ".*" to load this file\. \\quit$' || basename "$f"
            done)
check "every install and upgrade script starts with the psql guard" "" "$unguarded"
check "the released install and upgrade scripts and the version in development are all shipped" "" \
      "$(make -C "$root" -s --no-print-directory PG_CONFIG="$NZ_PG_CONFIG" print-shipped 2>/dev/null \
         | tr ' ' '\n' | sed 's|^sql/||' | sort | comm -3 - <(cd "$root/sql" && ls normalize--*.sql | sort))"

# The library exports what Postgres looks up in it and nothing else: the
# magic block, the function it calls on loading, each C function that a
# shipped script (released or in development) declares, with its info
# record, and the entry points of its parallel and background workers
# (src/exports.map).
declared=$(cat "$root"/sql/normalize--*.sql | grep -oE "MODULE_PATHNAME', *'nz_[a-z0-9_]+'" | grep -oE "nz_[a-z0-9_]+" | sort -u)
worker_mains=$(cat "$root"/src/glue/*.cpp \
               | grep -oE 'CreateParallelContext\("normalize", "nz_[a-z0-9_]+"|bgw_function_name, BGW_MAXLEN, "nz_[a-z0-9_]+"' \
               | grep -oE "nz_[a-z0-9_]+" | sort -u)
check "the library exports exactly Pg_magic_func, _PG_init, the SQL entry points of every shipped script ($(wc -l <<<"$declared") functions) and the workers' ($(wc -w <<<"$worker_mains"))" "" \
      "$(comm -3 <(nm -D --defined-only "$root/normalize.so" | awk '{ print $3 }' | sort) \
                 <({ echo Pg_magic_func; echo _PG_init; for f in $declared; do echo "$f"; echo "pg_finfo_$f"; done
                     for f in $worker_mains; do echo "$f"; done; } | sort) | tr -s '\t\n' '  ')"

# A pg_config for "another PostgreSQL": the real one, except that it puts
# libraries and shared files under a directory of its own.
other=$(mktemp -d)
cat >"$other/pg_config" <<WRAPPER
#!/bin/sh
case "\$1" in
    --pkglibdir) echo "$other/lib" ;;
    --sharedir) echo "$other/share" ;;
    *) exec "$NZ_PG_CONFIG" "\$@" ;;
esac
WRAPPER
chmod +x "$other/pg_config"
mkdir -p "$other/lib" "$other/share/extension"
make -C "$root" -s PG_CONFIG="$other/pg_config" install >/dev/null 2>&1 || true
check "make install puts the library where PG_CONFIG says" "yes" \
      "$([ -f "$other/lib/normalize.so" ] && echo yes || echo no)"
check "make install puts the control file and the install script where PG_CONFIG says" "yes" \
      "$([ -f "$other/share/extension/normalize.control" ] && [ -f "$other/share/extension/normalize--$version.sql" ] && echo yes || echo no)"
rm -rf "$other"
[ "$failed" -eq 0 ]
