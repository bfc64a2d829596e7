# Shared by demo.sh, test.sh and bench/: installs what the project needs
# from Debian's packages, builds and installs the extension, and runs a
# throwaway PostgreSQL cluster on a private directory and socket.
# Source it; do not run it.

NZ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NZ_PG_MAJOR=15
NZ_PACKAGES=(
    make g++ pkg-config
    "postgresql-$NZ_PG_MAJOR" "postgresql-server-dev-$NZ_PG_MAJOR"
    libboost-dev
    "postgresql-$NZ_PG_MAJOR-pgtap" libtap-parser-sourcehandler-pgtap-perl
    libgtest-dev
    unzip python3-pip  # for scripts/pg_versions.sh: the wheels of PostgreSQL 16 to 18
)

nz_log() { printf '==> %s\n' "$*" >&2; }

# nz_pg_install MAJOR: PostgreSQL 15 (Debian's) to 18, for the tests.
source "$NZ_ROOT/scripts/pg_versions.sh"

# Runs a command as root: directly when we are root, else through sudo.
nz_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

nz_install_packages() {
    local missing=() p
    for p in "${NZ_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        nz_log "installing Debian packages: ${missing[*]}"
        nz_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        nz_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >/dev/null
    fi
    NZ_PG_CONFIG=/usr/lib/postgresql/$NZ_PG_MAJOR/bin/pg_config
    NZ_PG_BIN=$("$NZ_PG_CONFIG" --bindir)
    export NZ_PG_CONFIG NZ_PG_BIN
}

nz_build_and_install() {
    nz_log "building normalize"
    make -C "$NZ_ROOT" -s PG_CONFIG="$NZ_PG_CONFIG" WERROR=-Werror "$@" >/dev/null
    nz_log "installing normalize into $("$NZ_PG_CONFIG" --pkglibdir)"
    nz_as_root make -C "$NZ_ROOT" -s PG_CONFIG="$NZ_PG_CONFIG" install >/dev/null
}

# The server may not run as root: when we are root it runs as the
# unprivileged 'postgres' user that the Debian packages create.
nz_server_user() {
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        echo postgres
    else
        id -un
    fi
}

nz_as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$NZ_SERVER_USER" -- "$@"; else "$@"; fi
}

# Starts a cluster in a new temporary directory, listening only on a socket
# there. Exports PGHOST, PGPORT, PGUSER, PGDATABASE for psql and friends.
nz_cluster_start() {
    NZ_SERVER_USER=$(nz_server_user)
    NZ_CLUSTER_DIR=$(mktemp -d /tmp/normalize-cluster.XXXXXX)
    chown "$NZ_SERVER_USER" "$NZ_CLUSTER_DIR"
    chmod 700 "$NZ_CLUSTER_DIR"
    export PGHOST=$NZ_CLUSTER_DIR PGPORT=${NZ_PGPORT:-54329} PGUSER=postgres PGDATABASE=postgres
    nz_log "starting a throwaway cluster in $NZ_CLUSTER_DIR (as $NZ_SERVER_USER)"
    nz_as_server_user "$NZ_PG_BIN/initdb" -D "$NZ_CLUSTER_DIR/data" -U postgres \
        --auth=trust -E UTF8 --locale=C.UTF-8 >"$NZ_CLUSTER_DIR/initdb.log" 2>&1 \
        || { cat "$NZ_CLUSTER_DIR/initdb.log" >&2; return 1; }
    nz_as_server_user "$NZ_PG_BIN/pg_ctl" -D "$NZ_CLUSTER_DIR/data" -w -l "$NZ_CLUSTER_DIR/server.log" \
        -o "-k $NZ_CLUSTER_DIR -p $PGPORT -c listen_addresses='' -c fsync=off \
            -c max_worker_processes=8 -c max_parallel_workers=4" start >/dev/null \
        || { cat "$NZ_CLUSTER_DIR/server.log" >&2; return 1; }
    trap nz_cluster_stop EXIT
}

# The benchmarks' cluster: a throwaway one as above, with 1 GB of shared
# buffers, and sessions with 64 MB work_mem and 512 MB maintenance_work_mem
# (PGOPTIONS). SETTINGS says so for the benchmarks' reports.
nz_bench_cluster_start() {
    nz_cluster_start
    SETTINGS="shared_buffers=1GB work_mem=64MB maintenance_work_mem=512MB"
    export PGOPTIONS="-c work_mem=64MB -c maintenance_work_mem=512MB"
    nz_psql -q -c "ALTER SYSTEM SET shared_buffers = '1GB'" >/dev/null
    nz_as_server_user "$NZ_PG_BIN/pg_ctl" -D "$NZ_CLUSTER_DIR/data" -l "$NZ_CLUSTER_DIR/server.log" -w restart >/dev/null
}

nz_cluster_stop() {
    [ -n "${NZ_CLUSTER_DIR:-}" ] && [ -d "$NZ_CLUSTER_DIR" ] || return 0
    nz_as_server_user "$NZ_PG_BIN/pg_ctl" -D "$NZ_CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$NZ_CLUSTER_DIR"
    NZ_CLUSTER_DIR=
}

nz_psql() { "$NZ_PG_BIN/psql" -X -v ON_ERROR_STOP=1 "$@"; }

# A Python virtual environment for the tools the tests and benchmarks use
# (pip packages given as arguments), in $NZ_VENV (default .venv in the
# repository). Puts its bin first on PATH.
nz_venv() {
    NZ_VENV=${NZ_VENV:-$NZ_ROOT/.venv}
    python3 -c 'import ensurepip' 2>/dev/null || nz_install_packages python3-venv
    [ -x "$NZ_VENV/bin/pip" ] || python3 -m venv "$NZ_VENV"
    nz_log "installing into $NZ_VENV: $*"
    "$NZ_VENV/bin/pip" install -q --disable-pip-version-check "$@"
    export PATH="$NZ_VENV/bin:$PATH"
}

# For the benchmarks: the wall time of one psql session running $1, in
# seconds, and the median of its arguments.
nz_timed() {
    local t0 t1
    t0=$(date +%s.%N)
    nz_psql -q -c "$1" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
# Runs SQL in a session of its own and prints four numbers: its wall
# seconds, the CPU seconds (user + system) of the server process that ran
# it, and that process's peak resident memory (VmHWM) and the shared memory
# it had resident at the end (RssShmem, mostly shared buffers), in MB. On a
# shared machine the wall time swings with other load; the CPU time of the
# backend does not. (Parallel workers are other processes: turn them off
# where the CPU time is to be compared.)
nz_timed_cpu() {
    nz_psql -q -At <<SQL | awk -v hz="$(getconf CLK_TCK)" \
        'NR == 1 { w0 = $1; c0 = $2 }
         NR == 2 { printf "%.3f %.3f %.0f %.0f\n", $1 - w0, ($2 - c0) / hz, $3 / 1024, $4 / 1024 }'
SELECT pg_backend_pid() AS nz_pid \gset
\setenv NZ_PID :nz_pid
\! echo "\$(date +%s.%N) \$(awk '{ print \$14 + \$15 }' /proc/\$NZ_PID/stat)"
\o /dev/null
$1
;
\o
\! echo "\$(date +%s.%N) \$(awk '{ print \$14 + \$15 }' /proc/\$NZ_PID/stat) \$(awk '/^VmHWM/ { h = \$2 } /^RssShmem/ { s = \$2 } END { print h, s }' /proc/\$NZ_PID/status)"
SQL
}
nz_median() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
