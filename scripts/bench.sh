#!/usr/bin/env bash
# The session benchmark: how close the session path gets to what PostgreSQL
# itself can do on this machine, and how it compares with the alternatives.
#
#   scripts/bench.sh                          # about 15 minutes (15 s runs), plus the builds
#   BENCH_ROUNDS=3 scripts/bench.sh           # the side-by-side table as medians of 3 interleaved rounds
#   BENCH_POOL_SWEEP="2 4 8 16 32" scripts/bench.sh   # + the pool curve of the app and the store crate
#   BENCH_VARIANT_BINARY=/tmp/old/target/release/session-demo scripts/bench.sh   # + an older build beside this one
#   BENCH_GROWTH=1 scripts/bench.sh           # + growth to 20,000,000 sessions and pruning 10,000,000 (hours)
#   BENCH_DURATION=3s BENCH_PEERS=0 BENCH_OPEN_LOOP=0 scripts/bench.sh   # a quick look
#
# The app runs at its default settings (settings given in the environment pass
# through; a .env file is not read). Every server (the app, each alternative)
# gets a fresh database on the same PostgreSQL server and runs alone.
#
# 1. Closed loop (wrk -t2 -c64, 2,000 sessions, round-robin cookies):
#      GET /         with a session cookie (read and write: the visit counter)
#      GET /visits   with a session cookie (read only)
#      GET /         without a cookie      (first visits: each creates a session)
#    Before and after each, pgbench runs its "limit" on the app's database: the
#    statements that request kind needs, without the app
#    (scripts/bench/limit-*.sql); the ratio uses the mean of the two.
# 2. Open loop: requests at a fixed rate of 25%, 50% and 75% of the counter
#    limit, for GET / and GET /visits, each latency measured from the moment
#    the request was due (bench/openloop, corrects for coordinated omission);
#    pgbench --rate at the same rates is the reference.
# 3. Side by side (bench/peers): the app, the store crate alone in a minimal
#    app (this-store), actix-session's RedisSessionStore (on a redis-server
#    this script starts on a port of its own) and CookieSessionStore, axum +
#    tower-sessions with tower-sessions-sqlx-store, and actix-session with
#    actix-session-sqlx-postgres, each through the three closed-loop
#    scenarios, BENCH_ROUNDS interleaved rounds (medians); plus, when given,
#    a variant of the app (another build, or other settings) on its own database.
# 4. Growth (BENCH_GROWTH=1): the three scenarios with 2,000, 200,000,
#    2,000,000 and 20,000,000 live sessions in the table, then 10,000,000
#    expired sessions pruned under a steady open-loop load of 50% of the
#    counter limit. Draws docs/benchmark-growth.svg (gnuplot).
# 5. Pool sweep (BENCH_POOL_SWEEP="2 4 8 16 32"): short interleaved runs of
#    the app at each DATABASE_MAX_CONNECTIONS and of the store crate
#    (this-store) at each POOL_SIZE, the three scenarios each. Draws
#    docs/benchmark-pool.svg.
#
# Settings (environment):
#   BENCH_DURATION      length of each measured run (15s; e.g. 5s, 1m)
#   BENCH_DATABASE_URL  PostgreSQL server to use, without a database name
#                       (default postgres://postgres@127.0.0.1:5432, the local
#                       server, started with pg_ctlcluster if it is down)
#   BENCH_APP_BINARY    measure this build of the app instead of building one
#                       (for example one of an earlier commit, to compare)
#   BENCH_THREADS, BENCH_CONNECTIONS   wrk -t and -c (2, 64); -c is also the open loop's connections
#   BENCH_PGBENCH_CLIENTS, BENCH_PGBENCH_JOBS   pgbench -c and -j (16, 2)
#   BENCH_SESSIONS      sessions created beforehand (2000)
#   BENCH_PEERS=0       skip the alternatives
#   BENCH_PEER_LIST     which of them ("this-store actix-session-redis
#                       actix-session-cookie axum-tower-sessions actix-session-sqlx-postgres")
#   BENCH_ROUNDS        interleaved rounds of the side-by-side runs (1; the
#                       app's first round is its run of section 1)
#   BENCH_REDIS_ARGS    extra redis-server arguments (none: Redis's defaults,
#                       RDB snapshots, no append-only file)
#   BENCH_VARIANT_BINARY, BENCH_VARIANT_ENV, BENCH_VARIANT_NAME   a variant of
#                       the app run side by side with it on a database of its
#                       own: another build (e.g. an earlier commit), and/or
#                       settings ("METRICS_ADDR=127.0.0.1:0 ..."); its name in
#                       the report ("variant")
#   BENCH_VARIANT_MAX_COST  the most the app may lose against the variant, % (10)
#   BENCH_OPEN_LOOP=0   skip the open-loop runs
#   BENCH_OPEN_LOOP_LOADS   percentages of the counter limit ("25 50 75")
#   BENCH_GROWTH=1      run the growth and pruning runs (long: filling 20,000,000
#                       rows takes a while, and about 10 GB of disk)
#   BENCH_GROWTH_QUICK=1    scale them down for a quick check (2,000 and 20,000
#                       live sessions, 20,000 expired, 10 s before pruning)
#   BENCH_GROWTH_SIZES  live sessions per growth step ("2000 200000 2000000 20000000")
#   BENCH_GROWTH_EXPIRED    expired sessions to prune (10000000)
#   BENCH_PRUNE_DELAY   seconds of steady load before pruning starts (30)
#   BENCH_GROWTH_CHART  where the chart goes (docs/benchmark-growth.svg)
#   BENCH_POOL_SWEEP    pool sizes to compare (none; e.g. "2 4 8 16 32"): the
#                       app's DATABASE_MAX_CONNECTIONS, this-store's POOL_SIZE
#   BENCH_POOL_SWEEP_SERVERS    which of the two ("app this-store")
#   BENCH_POOL_SWEEP_ROUNDS, BENCH_POOL_SWEEP_DURATION   (3, 5s)
#   BENCH_POOL_CHART    where the sweep's chart goes (docs/benchmark-pool.svg)
#
# Progress goes to stderr, the result tables to stdout. Only loopback traffic
# (and apt-get, when wrk, redis-server or gnuplot is missing). Every database
# it creates is dropped and every process it starts is stopped at the end,
# also on Ctrl-C.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BENCH_FILES=$ROOT/scripts/bench
TOOLS_MANIFEST=$ROOT/bench/Cargo.toml

seconds_of() {
    local text=$1 name=$2
    if [[ $text =~ ^([0-9]+)s?$ ]]; then
        echo "${BASH_REMATCH[1]}"
    elif [[ $text =~ ^([0-9]+)m$ ]]; then
        echo $((BASH_REMATCH[1] * 60))
    else
        die "$name must look like 15s, 15 or 1m, got '$text'"
    fi
}

say() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'bench: warning: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}
now() { date +%s.%N; }

# Figures for the report.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
# mark VALUE OP TARGET -> "met" or "MISSED"
mark() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "met" : "MISSED" }'; }
# num N: N rounded, with thousands separators (1,234,567).
num() { awk -v n="$1" 'BEGIN { printf "%.0f", n }' | sed -E ':a;s/^(-?[0-9]+)([0-9]{3})/\1,\2/;ta'; }
max_of() { printf '%s\n' "$@" | sort -n | tail -n 1; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- settings ----------------------------------------------------------------

[[ $# -eq 0 ]] || die "no arguments expected (settings are environment variables; see the top of $0)"
DURATION_S=$(seconds_of "${BENCH_DURATION:-15s}" BENCH_DURATION)
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
SESSIONS=${BENCH_SESSIONS:-2000}
PGBENCH_CLIENTS=${BENCH_PGBENCH_CLIENTS:-16}
PGBENCH_JOBS=${BENCH_PGBENCH_JOBS:-2}
PEERS=${BENCH_PEERS:-1}
ALL_PEERS="this-store actix-session-redis actix-session-cookie axum-tower-sessions actix-session-sqlx-postgres"
PEER_LIST=${BENCH_PEER_LIST:-$ALL_PEERS}
ROUNDS=${BENCH_ROUNDS:-1}
REDIS_ARGS=${BENCH_REDIS_ARGS:-}
VARIANT_BINARY=${BENCH_VARIANT_BINARY:-}
VARIANT_ENV=${BENCH_VARIANT_ENV:-}
VARIANT_NAME=${BENCH_VARIANT_NAME:-variant}
VARIANT_MAX_COST=${BENCH_VARIANT_MAX_COST:-10}
OPEN_LOOP=${BENCH_OPEN_LOOP:-1}
OPEN_LOOP_LOADS=${BENCH_OPEN_LOOP_LOADS:-25 50 75}
GROWTH=${BENCH_GROWTH:-0}
GROWTH_QUICK=${BENCH_GROWTH_QUICK:-0}
if [[ $GROWTH_QUICK == 1 ]]; then
    GROWTH_SIZES=${BENCH_GROWTH_SIZES:-$SESSIONS 20000}
    GROWTH_EXPIRED=${BENCH_GROWTH_EXPIRED:-20000}
    PRUNE_DELAY=${BENCH_PRUNE_DELAY:-10}
else
    GROWTH_SIZES=${BENCH_GROWTH_SIZES:-$SESSIONS 200000 2000000 20000000}
    GROWTH_EXPIRED=${BENCH_GROWTH_EXPIRED:-10000000}
    PRUNE_DELAY=${BENCH_PRUNE_DELAY:-30}
fi
GROWTH_CHART=${BENCH_GROWTH_CHART:-docs/benchmark-growth.svg}
POOL_SWEEP=${BENCH_POOL_SWEEP:-}
POOL_SWEEP_SERVERS=${BENCH_POOL_SWEEP_SERVERS:-app this-store}
POOL_SWEEP_ROUNDS=${BENCH_POOL_SWEEP_ROUNDS:-3}
POOL_SWEEP_S=$(seconds_of "${BENCH_POOL_SWEEP_DURATION:-5s}" BENCH_POOL_SWEEP_DURATION)
POOL_CHART=${BENCH_POOL_CHART:-docs/benchmark-pool.svg}

for name in THREADS CONNECTIONS SESSIONS PGBENCH_CLIENTS PGBENCH_JOBS GROWTH_EXPIRED PRUNE_DELAY POOL_SWEEP_ROUNDS ROUNDS VARIANT_MAX_COST; do
    [[ ${!name} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$name must be a positive whole number, got '${!name}'"
done
for name in PEERS OPEN_LOOP GROWTH GROWTH_QUICK; do
    [[ ${!name} =~ ^[01]$ ]] || die "BENCH_$name must be 0 or 1, got '${!name}'"
done
for value in $OPEN_LOOP_LOADS; do
    [[ $value =~ ^[1-9][0-9]?$ ]] || die "BENCH_OPEN_LOOP_LOADS must be percentages from 1 to 99, got '$value'"
done
for value in $GROWTH_SIZES $POOL_SWEEP; do
    [[ $value =~ ^[1-9][0-9]*$ ]] || die "BENCH_GROWTH_SIZES and BENCH_POOL_SWEEP must be positive whole numbers, got '$value'"
done
for value in $GROWTH_SIZES; do
    ((value >= SESSIONS)) || die "every BENCH_GROWTH_SIZES entry must be at least BENCH_SESSIONS ($SESSIONS), got $value"
done
for value in $PEER_LIST; do
    [[ " $ALL_PEERS " == *" $value "* ]] || die "BENCH_PEER_LIST: unknown peer '$value' (known: $ALL_PEERS)"
done
# Each entry: KIND[:LABEL[:BINARY[:NAME=VALUE,...]]], KIND app or this-store.
declare -A SWEEP_KIND SWEEP_BINARY SWEEP_ENV SWEEP_INDEX
SWEEP_LABELS=()
for value in $POOL_SWEEP_SERVERS; do
    IFS=: read -r kind label binary env <<<"$value"
    [[ $kind == app || $kind == this-store ]] ||
        die "BENCH_POOL_SWEEP_SERVERS: entries start with 'app' or 'this-store', got '$value'"
    label=${label:-$kind}
    [[ $label =~ ^[A-Za-z0-9._-]+$ ]] || die "BENCH_POOL_SWEEP_SERVERS: a label of letters, digits, '.', '_', '-', got '$label'"
    [[ -z ${SWEEP_KIND[$label]:-} ]] || die "BENCH_POOL_SWEEP_SERVERS: the label '$label' twice"
    [[ -z $binary || -x $binary ]] || die "BENCH_POOL_SWEEP_SERVERS: no executable at $binary"
    for word in ${env//,/ }; do
        [[ $word =~ ^[A-Z_][A-Z0-9_]*= ]] || die "BENCH_POOL_SWEEP_SERVERS: settings are NAME=VALUE, got '$word'"
    done
    SWEEP_KIND[$label]=$kind SWEEP_BINARY[$label]=$binary SWEEP_ENV[$label]=${env//,/ } SWEEP_INDEX[$label]=${#SWEEP_LABELS[@]}
    SWEEP_LABELS+=("$label")
done
[[ $VARIANT_NAME =~ ^[A-Za-z0-9._-]+$ ]] || die "BENCH_VARIANT_NAME: letters, digits, '.', '_' and '-' only, got '$VARIANT_NAME'"
for value in $VARIANT_ENV; do
    [[ $value =~ ^[A-Z_][A-Z0-9_]*= ]] || die "BENCH_VARIANT_ENV: NAME=VALUE words, got '$value'"
done
[[ -z $VARIANT_BINARY || -x $VARIANT_BINARY ]] || die "BENCH_VARIANT_BINARY: no executable at $VARIANT_BINARY"
VARIANT=
[[ -z $VARIANT_BINARY && -z $VARIANT_ENV ]] || VARIANT=1
((DURATION_S >= 1)) || die "BENCH_DURATION must be at least 1s"
((SESSIONS >= THREADS)) || die "BENCH_SESSIONS must be at least BENCH_THREADS"
SESSION_TTL=${SESSION_TTL_SECONDS:-3600}
SESSION_ABSOLUTE_TTL=${SESSION_ABSOLUTE_TTL_SECONDS:-86400}
if [[ -n ${DATABASE_MAX_CONNECTIONS:-} && -n $POOL_SWEEP ]]; then
    die "BENCH_POOL_SWEEP sets DATABASE_MAX_CONNECTIONS itself; unset DATABASE_MAX_CONNECTIONS"
fi

# --- state and cleanup -------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/session-demo-bench.XXXXXX")
RUN_ID=$(date +%Y%m%d_%H%M%S)_$$
SERVER_PID=    # the app or a peer, whichever runs now
SERVER_NAME=
SERVER_LOG=
SERVER_URL=
CHILD_PID=     # a foreground child (wrk, pgbench, curl, sleep)
BACKGROUND_PIDS=() # samplers, watchers and the open-loop generator of the pruning run
DATABASES=()   # every database this run created (or may have), dropped at the end
REDIS_PID=     # the benchmark's own redis-server, while the Redis peer runs
REDIS_URL=
ADMIN_URL=
LAST_APP_ACTIVITY=0

# run_bounded SECONDS COMMAND...: runs COMMAND under a time limit, in the
# background and waited for, so that Ctrl-C or SIGTERM reach the cleanup at once.
run_bounded() {
    local limit=$1 status=0
    shift
    timeout "$limit" "$@" &
    CHILD_PID=$!
    wait "$CHILD_PID" || status=$?
    CHILD_PID=
    return "$status"
}

# pause SECONDS: sleep, interruptibly (a foreground sleep would hold off the traps).
pause() {
    sleep "$1" &
    CHILD_PID=$!
    wait "$CHILD_PID" || true
    CHILD_PID=
}

stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "process $pid did not stop within 10 s of SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    stop_pid "$SERVER_PID"
    SERVER_PID=
}

drop_database() {
    psql "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 ||
        psql "$ADMIN_URL" -X -q -c "DROP DATABASE IF EXISTS \"$1\"" >/dev/null ||
        warn "could not drop database $1; drop it by hand"
}

cleanup() {
    local status=$? pid db
    set +e
    trap - EXIT INT TERM
    if [[ -n $CHILD_PID ]]; then
        kill -TERM "$CHILD_PID" 2>/dev/null
        wait "$CHILD_PID" 2>/dev/null
    fi
    for pid in "${BACKGROUND_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if ((status == 1)) && [[ -n $SERVER_LOG && -s $SERVER_LOG ]]; then
        printf 'bench: last lines of the %s log:\n' "$SERVER_NAME" >&2
        tail -n 20 "$SERVER_LOG" | sed 's/^/    /' >&2
    fi
    if [[ -n $SERVER_PID ]]; then
        say "stopping $SERVER_NAME"
        stop_server
    fi
    if [[ -n $REDIS_PID ]]; then
        say "stopping redis-server"
        stop_redis
    fi
    if [[ -n $ADMIN_URL ]]; then
        for db in "${DATABASES[@]}"; do
            say "dropping database $db"
            drop_database "$db"
        done
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools -------------------------------------------------------------------

for tool in cargo psql pgbench pg_isready curl awk sort timeout; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "$tool is required (psql, pgbench, pg_isready: apt-get install postgresql-client)"
done

# apt_install PACKAGE COMMAND: installs a Debian package when COMMAND is missing.
apt_install() {
    local package=$1 command=$2 sudo=()
    command -v "$command" >/dev/null 2>&1 && return 0
    say "installing $package (apt-get)"
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "$command is missing and installing it needs root: apt-get install $package"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq >"$WORK/apt.log" 2>&1 ||
        die "apt-get update failed: $(tail -n 5 "$WORK/apt.log")"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$package" >>"$WORK/apt.log" 2>&1 ||
        die "apt-get install $package failed: $(tail -n 5 "$WORK/apt.log")"
}
apt_install wrk wrk
[[ $GROWTH == 0 && -z $POOL_SWEEP ]] || apt_install gnuplot-nox gnuplot
[[ $PEERS == 0 || " $PEER_LIST " != *" actix-session-redis "* ]] || apt_install redis-server redis-server

# Other work on the machine (someone compiling) makes the figures noisy: count
# the rustc processes once a second while measuring.
(while :; do
    n=$(pgrep -c -x rustc 2>/dev/null || true)
    echo "${n:-0}"
    sleep 1
done) >"$WORK/rustc.txt" &
BACKGROUND_PIDS+=($!)

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- build -------------------------------------------------------------------

BUILD_TIMEOUT_SECONDS=${BENCH_BUILD_TIMEOUT:-3600}
target_dir() {
    cargo metadata --format-version 1 --no-deps "$@" 2>/dev/null |
        grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4
}
if [[ -n ${BENCH_APP_BINARY:-} ]]; then
    APP_BINARY=$BENCH_APP_BINARY
    say "measuring the given build $APP_BINARY (BENCH_APP_BINARY), not this tree"
else
    say "building the release binary (cargo build --release; waits if another build holds the lock)"
    run_bounded "$BUILD_TIMEOUT_SECONDS" cargo build --release --quiet ||
        die "cargo build --release failed (or took longer than ${BUILD_TIMEOUT_SECONDS}s)"
    APP_BINARY=$(target_dir)/release/session-demo
fi
[[ -x $APP_BINARY ]] || die "no release binary at $APP_BINARY"

if [[ $PEERS == 1 || $OPEN_LOOP == 1 || $GROWTH == 1 || -n $POOL_SWEEP ]]; then
    say "building the alternatives and the open-loop load generator (bench/, its own workspace)"
    run_bounded "$BUILD_TIMEOUT_SECONDS" cargo build --release --quiet --manifest-path "$TOOLS_MANIFEST" ||
        die "cargo build --release --manifest-path bench/Cargo.toml failed"
    TOOLS_BIN=$(target_dir --manifest-path "$TOOLS_MANIFEST")/release
    OPENLOOP=$TOOLS_BIN/openloop
    [[ -x $OPENLOOP ]] || die "no open-loop load generator at $OPENLOOP"
fi

# --- PostgreSQL --------------------------------------------------------------

if [[ -n ${BENCH_DATABASE_URL:-} ]]; then
    SERVER=${BENCH_DATABASE_URL}
    LOCAL_SERVER=
else
    SERVER=postgres://postgres@127.0.0.1:5432
    LOCAL_SERVER=1
fi
# Split off any ?parameters, so the database name goes in front of them.
SERVER_PARAMS=
if [[ $SERVER == *\?* ]]; then
    SERVER_PARAMS="?${SERVER#*\?}"
    SERVER=${SERVER%%\?*}
fi
SERVER=${SERVER%/}
[[ $SERVER =~ ^postgres(ql)?://[^/]+$ ]] ||
    die "BENCH_DATABASE_URL must be a postgres:// URL without a database name, e.g. postgres://postgres@127.0.0.1:5432"
db_url() { echo "$SERVER/$1$SERVER_PARAMS"; }
ADMIN_URL=$(db_url postgres)
SHOWN_SERVER=$(sed -E 's#//([^:@/]*):[^@/]*@#//\1:***@#' <<<"$SERVER")

if [[ -n $LOCAL_SERVER ]] && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]] ||
        die "no PostgreSQL answers at 127.0.0.1:5432 and pg_ctlcluster is not available; set BENCH_DATABASE_URL"
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    say "PostgreSQL is down; starting cluster $version/main (it stays running afterwards)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
        die "could not start PostgreSQL $version/main"
    for _ in $(seq 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 0.5
    done
fi
psql_admin() { psql "$ADMIN_URL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
PG_VERSION=$(psql_admin -c "SHOW server_version") ||
    die "cannot connect to PostgreSQL at $SHOWN_SERVER"
PG_DURABILITY=$(psql_admin -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name)
    FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'max_connections', 'shared_buffers')")

# The growth runs write tens of millions of rows: check the disk first (a
# local server only), about 400 bytes a session with its indexes, twice over
# for the write-ahead log and the sorts, plus 2 GB.
if [[ $GROWTH == 1 && -n $LOCAL_SERVER ]]; then
    data_dir=$(psql_admin -c "SHOW data_directory" 2>/dev/null || true)
    [[ -n $data_dir && -e $data_dir ]] || data_dir=/
    biggest=$(max_of $GROWTH_SIZES "$GROWTH_EXPIRED")
    need=$((biggest * 800 + 2 * 1024 * 1024 * 1024))
    avail=$(df -P -B1 "$data_dir" | awk 'NR == 2 { print $4 }')
    ((avail >= need)) ||
        die "the growth runs need about $((need / 1024 / 1024 / 1024)) GB free where PostgreSQL keeps its data ($data_dir); $((avail / 1024 / 1024 / 1024)) GB are"
    say "growth runs: $((avail / 1024 / 1024 / 1024)) GB free for PostgreSQL's data, about $((need / 1024 / 1024 / 1024)) GB needed"
fi

APP_DB=session_demo_bench_$RUN_ID
APP_DB_URL=$(db_url "$APP_DB")
# Careful: every psql_app connection runs transactions in the app's database,
# so it is never called while statements per request are being counted.
psql_app() { psql "$APP_DB_URL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

# Every measurement starts right after a CHECKPOINT, so that no run gets a
# checkpoint's burst of writes in its middle and another none. (CHECKPOINT
# needs a superuser or the pg_checkpoint role; without, runs go without it.)
CHECKPOINT_WARNED=
checkpoint() {
    psql_admin -c "CHECKPOINT" >/dev/null 2>&1 && return
    [[ -n $CHECKPOINT_WARNED ]] || warn "CHECKPOINT refused (not a superuser?): measuring without"
    CHECKPOINT_WARNED=1
}

# --- servers -----------------------------------------------------------------

# start_server NAME BINARY DATABASE|- [NAME=VALUE...]: starts a server (the
# app or a peer) in the work folder (no .env there) on a free loopback port,
# with the caller's environment plus the given variables (DATABASE_URL names
# DATABASE on the benchmark's server; empty for "-"), and waits for its
# "listening on http://..." line. Sets SERVER_PID, SERVER_URL, SERVER_STARTED,
# SERVER_DB (the database, or empty).
start_server() {
    local name=$1 binary=$2 deadline url=
    stop_server # one server at a time
    SERVER_DB=$3
    shift 3
    if [[ $SERVER_DB == - ]]; then SERVER_DB=; else url=$(db_url "$SERVER_DB"); fi
    SERVER_NAME=$name
    SERVER_LOG=$WORK/$name.log
    # Emptied here, not only by the redirection below (which happens in the
    # background): a restarted server's old address must not be read as its new one.
    : >"$SERVER_LOG"
    (
        cd "$WORK"
        exec env DATABASE_URL="$url" BIND_ADDR=127.0.0.1:0 "$@" "$binary"
    ) >"$WORK/$name.out" 2>"$SERVER_LOG" &
    SERVER_PID=$!
    SERVER_URL=
    deadline=$((SECONDS + 120))
    while [[ -z $SERVER_URL ]]; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "$name exited during start"
        ((SECONDS < deadline)) || die "$name did not report its address within 120 s"
        SERVER_URL=$(grep -o -m 1 'listening on http://127\.0\.0\.1:[0-9]*' "$SERVER_LOG" |
            sed 's/^listening on //' || true)
        [[ -n $SERVER_URL ]] || sleep 0.1
    done
    SERVER_STARTED=$(now)
    say "$name (pid $SERVER_PID) listening on $SERVER_URL"
}

# The app's log: warnings, the startup line with the bound address, and the
# pruning task's report (the pruning run reads it); no per-request lines.
APP_RUST_LOG=warn,session_demo::startup=info,session_demo::housekeeping=info
APP_SECRET=$(head -c 72 /dev/urandom | base64 | tr -d '\n')
# The one setting the benchmark changes: the load comes from one address, and
# the app allows an address 60 new sessions at once, then one a second
# (src/limits.rs). So the app stands behind a trusted proxy, as in production
# (deploy/production.env), and every request names its client in
# X-Forwarded-For (scripts/bench/rotate.lua): a session keeps one address, and
# first visits come from 65,536 addresses per wrk thread. The other servers get
# the same header and ignore it.
APP_TRUSTED_PROXIES=127.0.0.1
export BENCH_CLIENTS=65536
start_app() {
    # The app creates its database; from here on, cleanup drops it.
    [[ " ${DATABASES[*]} " == *" $APP_DB "* ]] || DATABASES+=("$APP_DB")
    start_server app "$APP_BINARY" "$APP_DB" SESSION_SECRET="$APP_SECRET" RUST_LOG="$APP_RUST_LOG" \
        TRUSTED_PROXIES="$APP_TRUSTED_PROXIES" "$@"
}

# start_variant DATABASE: the variant of the app (BENCH_VARIANT_*) on its own database.
start_variant() {
    [[ " ${DATABASES[*]} " == *" $1 "* ]] || DATABASES+=("$1")
    start_server "$VARIANT_NAME" "${VARIANT_BINARY:-$APP_BINARY}" "$1" SESSION_SECRET="$APP_SECRET" \
        RUST_LOG="$APP_RUST_LOG" TRUSTED_PROXIES="$APP_TRUSTED_PROXIES" $VARIANT_ENV
}

# A server's memory: VmRSS now or VmHWM (the peak so far), in MiB.
rss_mib() { pid_rss_mib "$SERVER_PID" "$1"; }
pid_rss_mib() {
    awk -v key="$2:" '$1 == key { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# CPU time: a process's user + system time (all its threads) in clock ticks.
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null || true; } | awk '{ t = $12 + $13 } END { print t + 0 }'; }

# The store's processes for the running server, "pid:ticks" each: the
# PostgreSQL backends connected to its database (a local server only: their
# /proc entries are on this machine), or the benchmark's redis-server.
store_ticks() {
    local pid
    if [[ $SERVER_NAME == actix-session-redis && -n $REDIS_PID ]]; then
        echo "$REDIS_PID:$(cpu_ticks "$REDIS_PID")"
    elif [[ -n $SERVER_DB && -n $LOCAL_SERVER ]]; then
        for pid in $(psql_admin -c "SELECT pid FROM pg_stat_activity WHERE datname = '$SERVER_DB'"); do
            echo "$pid:$(cpu_ticks "$pid")"
        done
    fi
}
# store_cpu_delta BEFORE AFTER: ticks the store's processes used between two
# store_ticks (a process that appeared meanwhile counts from its start).
store_cpu_delta() {
    awk -v before="$1" -v after="$2" 'BEGIN {
        n = split(before, b, " "); for (i = 1; i <= n; i++) { split(b[i], f, ":"); t[f[1]] = f[2] }
        n = split(after, a, " "); sum = 0
        for (i = 1; i <= n; i++) { split(a[i], f, ":"); d = f[2] - t[f[1]]; if (d > 0) sum += d }
        print sum }'
}

# --- Redis, for actix-session's RedisSessionStore ------------------------------

# start_redis: a redis-server of the benchmark's own (never the machine's, on
# 6379) on a free loopback port, at Redis's defaults plus BENCH_REDIS_ARGS,
# its files in the work folder. Sets REDIS_PID and REDIS_URL.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 40000))
}
start_redis() {
    local port attempt i
    mkdir -p "$WORK/redis"
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        # shellcheck disable=SC2086 # BENCH_REDIS_ARGS is a list of words
        redis-server --port "$port" --bind 127.0.0.1 --dir "$WORK/redis" --logfile "$WORK/redis.log" \
            --daemonize no $REDIS_ARGS >/dev/null 2>&1 &
        REDIS_PID=$!
        for i in $(seq 100); do
            kill -0 "$REDIS_PID" 2>/dev/null || break
            [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]] && {
                REDIS_URL=redis://127.0.0.1:$port
                say "redis-server $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-) (pid $REDIS_PID) on port $port"
                return 0
            }
            sleep 0.1
        done
        stop_redis
    done
    die "redis-server did not start (see $WORK/redis.log): $(tail -n 3 "$WORK/redis.log" 2>/dev/null)"
}
stop_redis() {
    [[ -n $REDIS_PID ]] || return 0
    stop_pid "$REDIS_PID"
    REDIS_PID=
    rm -rf "$WORK/redis"
}

# create_sessions COUNT COOKIE_FILE: COUNT first visits (GET / without a
# cookie, 8 at a time); the cookie (name=value) of each goes to COOKIE_FILE.
create_sessions() {
    local count=$1 file=$2 got probe
    say "creating $count sessions on $SERVER_NAME (GET / without a cookie, 8 at a time)"
    # One transfer per session, each from a client address of its own (a
    # header is not a per-URL option in a config file: `next` starts a transfer).
    for n in $(seq 0 $((count - 1))); do
        ((n == 0)) || echo next
        printf 'url = "%s/"\noutput = "/dev/null"\nheader = "X-Forwarded-For: 10.255.%d.%d"\n' \
            "$SERVER_URL" $((n / 256 % 256)) $((n % 256))
        printf 'silent\nshow-error\nfail\nmax-time = 30\nwrite-out = "%%header{set-cookie}\\n"\n'
    done >"$WORK/sessions.curl"
    run_bounded 300 curl --parallel --parallel-max 8 \
        --config "$WORK/sessions.curl" >"$WORK/set-cookie.txt" 2>"$WORK/curl.log" ||
        die "creating sessions failed: $(head -n 5 "$WORK/curl.log")"
    # Keep the name=value pair of each Set-Cookie (the session cookie is the only one).
    cut -d';' -f1 "$WORK/set-cookie.txt" | grep -v '^$' >"$file" || true
    got=$(sort -u "$file" | wc -l)
    ((got == count)) ||
        die "expected $count distinct session cookies from $SERVER_NAME, got $got (Set-Cookie: $(head -n 1 "$WORK/set-cookie.txt"))"
    probe=$(curl -sS --fail --max-time 10 -H "Cookie: $(head -n 1 "$file")" "$SERVER_URL/visits")
    [[ $probe == '{"visits":1}' ]] ||
        die "a cookie of $SERVER_NAME does not reach its session: GET /visits said $probe"
}

# --- measuring ---------------------------------------------------------------

declare -A R # closed-loop results, keyed "server.scenario.field"
declare -A O # open-loop results, keyed "run.field"

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

# wrk_run KEY PATH COOKIE_FILE|- SECONDS: closed loop against the running
# server; fields of its BENCH line (scripts/bench/rotate.lua) go to R[KEY.*].
wrk_run() {
    local key=$1 path=$2 cookies=$3 seconds=$4 out=$WORK/wrk-$1.txt line field cpu_before store_before
    cpu_before=$(cpu_ticks "$SERVER_PID")
    store_before=$(store_ticks | tr '\n' ' ')
    if ! BENCH_COOKIES=$([[ $cookies == - ]] || echo "$cookies") BENCH_THREADS=$THREADS \
        run_bounded $((seconds + 60)) wrk --threads "$THREADS" --connections "$CONNECTIONS" \
        --duration "${seconds}s" --timeout 10s --script "$BENCH_FILES/rotate.lua" \
        "$SERVER_URL$path" >"$out" 2>&1; then
        sed 's/^/    /' "$out" >&2
        die "wrk ($key) failed"
    fi
    line=$(grep -m 1 '^BENCH ' "$out") || {
        sed 's/^/    /' "$out" >&2
        die "no result line in the wrk output ($key)"
    }
    for field in ${line#BENCH }; do
        R[$key.${field%%=*}]=${field#*=}
    done
    R[$key.rps]=$(awk -v n="${R[$key.requests]}" -v us="${R[$key.duration_us]}" 'BEGIN { printf "%.0f", n / (us / 1e6) }')
    # CPU per request, in microseconds: the server process, and the store's
    # processes (PostgreSQL backends of its database, or redis-server).
    R[$key.cpu_us]=$(awk -v t="$(($(cpu_ticks "$SERVER_PID") - cpu_before))" -v hz="$CLK_TCK" -v n="${R[$key.requests]}" \
        'BEGIN { printf "%.0f", n ? t * 1e6 / hz / n : 0 }')
    R[$key.store_cpu_us]=$(awk -v t="$(store_cpu_delta "$store_before" "$(store_ticks | tr '\n' ' ')")" -v hz="$CLK_TCK" \
        -v n="${R[$key.requests]}" -v any="$store_before" 'BEGIN { printf "%s", (n && any != "") ? sprintf("%.0f", t * 1e6 / hz / n) : "-" }')
    R[$key.errors]=$((R[$key.status] + R[$key.connect] + R[$key.read] + R[$key.write] + R[$key.timeout]))
    # Little's law: with at most $CONNECTIONS requests in flight, the mean
    # latency cannot exceed $CONNECTIONS / throughput. A larger mean means
    # wrk's latency histogram is wrong for this run (seen now and then at
    # the highest rates): its percentiles are then marked, not believed.
    R[$key.suspect]=$(awk -v mean="${R[$key.mean_us]}" -v n="$CONNECTIONS" -v rps="${R[$key.rps]}" \
        'BEGIN { print (rps > 0 && mean > 1.5 * n * 1e6 / rps) ? 1 : 0 }')
    if [[ ${R[$key.suspect]} == 1 ]]; then
        SUSPECT_P99=1
        say "  wrk's mean latency ${R[$key.mean_us]} us exceeds $CONNECTIONS / req/s: its latency figures are marked (?)"
    fi
}

# p99 KEY: a closed-loop run's p99 for a table, marked (?) when wrk's own
# figures contradict Little's law (see wrk_run).
SUSPECT_P99=0
p99() { echo "$(ms "${R[$1.p99_us]}") ms$([[ ${R[$1.suspect]} == 1 ]] && echo ' (?)')"; }

# warm_up PATH COOKIE_FILE|-: two seconds of the same load, not measured: the
# pools open their connections and prepare their statements on first use
# (each new PostgreSQL backend also commits a transaction of its own at start).
warm_up() {
    local path=$1 cookies=$2
    BENCH_COOKIES=$([[ $cookies == - ]] || echo "$cookies") BENCH_THREADS=$THREADS \
        run_bounded 60 wrk --threads "$THREADS" --connections "$CONNECTIONS" --duration 2s \
        --timeout 10s --script "$BENCH_FILES/rotate.lua" "$SERVER_URL$path" >/dev/null 2>&1 ||
        die "wrk (warm-up of $path on $SERVER_NAME) failed"
    LAST_APP_ACTIVITY=$(now)
}

# closed_loop KEY PATH COOKIE_FILE|-: warm-up, then a measured wrk run.
closed_loop() {
    local key=$1 path=$2 cookies=$3
    warm_up "$path" "$cookies"
    checkpoint
    say "wrk $path on $SERVER_NAME ($key): -t$THREADS -c$CONNECTIONS -d${DURATION_S}s$([[ $cookies == - ]] && echo ', no cookie' || echo ", $SESSIONS cookies round-robin")"
    wrk_run "$key" "$path" "$cookies" "$DURATION_S"
    R[$key.rss]=$(rss_mib VmRSS)
    say "  ${R[$key.rps]} req/s, p50 $(ms "${R[$key.p50_us]}") ms, p99 $(ms "${R[$key.p99_us]}") ms, errors ${R[$key.errors]}"
}

# PostgreSQL 15 backends report their statistics at most once a second; an
# idle backend with unreported counts reports them 10 s after its last
# statement (PGSTAT_IDLE_INTERVAL). Waiting this long after the last request
# makes pg_stat_database complete.
STATS_SETTLE_SECONDS=12
settle_stats() {
    local wait
    wait=$(awk -v last="$LAST_APP_ACTIVITY" -v now="$(now)" -v settle="$STATS_SETTLE_SECONDS" \
        'BEGIN { w = settle - (now - last); if (w < 1) w = 1; printf "%.1f", w }')
    pause "$wait"
}

# Transactions committed or rolled back in the running server's database so
# far. Every statement a server runs outside an explicit transaction is one
# transaction, so the delta over a run, divided by its requests, is statements
# per request. Read from the maintenance database, so reading does not count itself.
xacts() {
    psql_admin -c "SELECT coalesce(sum(xact_commit + xact_rollback), 0)
        FROM pg_stat_database WHERE datname = '$SERVER_DB'"
}

# app_scenario KEY PATH COOKIE_FILE|- [COUNT_FUNCTION]: a measured wrk run
# on the running server (the app, or a peer on PostgreSQL; after its
# warm_up), plus its statements per request. COUNT_FUNCTION, when given, prints a
# number that grows by one for each request the app handles: wrk counts only
# the requests it saw completed, not those still in flight when it stops, yet
# the app ran their statements too. Statements per request divide by the
# larger of the two counts.
app_scenario() {
    local key=$1 path=$2 cookies=$3 count=${4:-} handled_before=0 before after
    [[ -z $count ]] || handled_before=$($count)
    checkpoint
    settle_stats
    before=$(xacts)
    say "wrk $path on $SERVER_NAME ($key): -t$THREADS -c$CONNECTIONS -d${DURATION_S}s$([[ $cookies == - ]] && echo ', no cookie' || echo ", $SESSIONS cookies round-robin")"
    wrk_run "$key" "$path" "$cookies" "$DURATION_S"
    LAST_APP_ACTIVITY=$(now)
    R[$key.rss]=$(rss_mib VmRSS)
    settle_stats
    after=$(xacts)
    R[$key.xacts]=$((after - before))
    R[$key.handled]=${R[$key.requests]}
    if [[ -n $count ]]; then
        R[$key.handled]=$(($($count) - handled_before))
        ((R[$key.handled] >= R[$key.requests])) || R[$key.handled]=${R[$key.requests]}
    fi
    R[$key.rt]=$(awk -v x="${R[$key.xacts]}" -v n="${R[$key.handled]}" 'BEGIN { printf "%.2f", n ? x / n : 0 }')
    say "  ${R[$key.rps]} req/s, p50 $(ms "${R[$key.p50_us]}") ms, p99 $(ms "${R[$key.p99_us]}") ms, ${R[$key.rt]} statements/request, errors ${R[$key.errors]}"
}

# The running server's sessions (the app's schema, which this-store shares).
psql_server() { psql "$(db_url "$SERVER_DB")" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
visits_total() { psql_server -c "SELECT coalesce(sum((state ->> 'visits')::bigint), 0) FROM sessions"; }
session_count() { psql_server -c "SELECT count(*) FROM sessions"; }

# pgbench_limit NAME VARIABLE: runs scripts/bench/limit-NAME.sql on the app's
# database and stores its tps in VARIABLE. Fails on errors or failed transactions.
pgbench_limit() {
    local name=$1 var=$2 log=$WORK/pgbench-$1.log tps failed
    checkpoint
    say "pgbench limit '$name': $PGBENCH_CLIENTS clients, ${DURATION_S}s"
    if ! run_bounded $((DURATION_S + 60)) pgbench --no-vacuum --protocol=prepared \
        --client="$PGBENCH_CLIENTS" --jobs="$PGBENCH_JOBS" --time="$DURATION_S" \
        --define=min_id="$MIN_ID" --define=max_id="$MAX_ID" \
        --define=ttl="$SESSION_TTL seconds" --define=absolute="$SESSION_ABSOLUTE_TTL seconds" \
        --file="$BENCH_FILES/limit-$name.sql" "$APP_DB_URL" >"$log" 2>&1; then
        sed 's/^/    /' "$log" >&2
        die "pgbench ($name) failed"
    fi
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$log" | tail -n 1)
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log")
    [[ -n $tps ]] || die "no tps in the pgbench output: $(cat "$log")"
    [[ -z $failed || $failed == 0 ]] || die "pgbench ($name): $failed failed transactions"
    printf -v "$var" '%s' "$tps"
    say "  $(printf "%.0f" "$tps") transactions/s"
}

# percentiles: reads numbers (microseconds), prints "count p50 p99 p999 max"
# (nearest rank).
percentiles() {
    sort -n | awk '
        { v[NR] = $1 }
        function at(q,   r) { r = q * NR; r = (r == int(r)) ? r : int(r) + 1; if (r < 1) r = 1; return v[r] }
        END { if (NR == 0) { print "0 0 0 0 0"; exit } print NR, at(0.50), at(0.99), at(0.999), v[NR] }'
}

# open_loop KEY PATH RATE SECONDS [LOG_FILE]: bench/openloop against the
# running server at RATE requests/s with the session cookies round-robin.
open_loop() {
    local key=$1 path=$2 rate=$3 seconds=$4 log=${5:-} out=$WORK/openloop-$1.txt line field
    say "open loop $path on $SERVER_NAME ($key): $rate req/s for ${seconds}s, $CONNECTIONS connections"
    if ! run_bounded $((seconds + 60)) "$OPENLOOP" --url "$SERVER_URL$path" --rate "$rate" \
        --duration "$seconds" --connections "$CONNECTIONS" --cookies "$WORK/cookies.txt" \
        ${log:+--log "$log"} >"$out" 2>&1; then
        sed 's/^/    /' "$out" >&2
        die "openloop ($key) failed"
    fi
    line=$(grep -m 1 '^OPENLOOP ' "$out") || die "no result line in the openloop output ($key): $(cat "$out")"
    for field in ${line#OPENLOOP }; do
        O[$key.${field%%=*}]=${field#*=}
    done
    O[$key.errors]=$((O[$key.non2xx] + O[$key.errors]))
    say "  achieved ${O[$key.achieved]} req/s, p50 $(ms "${O[$key.p50_us]}") p99 $(ms "${O[$key.p99_us]}") p99.9 $(ms "${O[$key.p999_us]}") ms, errors ${O[$key.errors]}"
}

# pgbench_rate KEY NAME RATE: scripts/bench/limit-NAME.sql at a fixed RATE
# (pgbench --rate: Poisson arrivals; latency counted from each transaction's
# scheduled start), its latencies from the per-transaction log.
pgbench_rate() {
    local key=$1 name=$2 rate=$3 log=$WORK/pgbench-$1.log failed
    checkpoint
    say "pgbench $name at $rate tps ($key): $PGBENCH_CLIENTS clients, ${DURATION_S}s"
    if ! run_bounded $((DURATION_S + 60)) pgbench --no-vacuum --protocol=prepared \
        --client="$PGBENCH_CLIENTS" --jobs="$PGBENCH_JOBS" --time="$DURATION_S" --rate="$rate" \
        --log --log-prefix="$WORK/txlog-$key" \
        --define=min_id="$MIN_ID" --define=max_id="$MAX_ID" \
        --define=ttl="$SESSION_TTL seconds" --define=absolute="$SESSION_ABSOLUTE_TTL seconds" \
        --file="$BENCH_FILES/limit-$name.sql" "$APP_DB_URL" >"$log" 2>&1; then
        sed 's/^/    /' "$log" >&2
        die "pgbench ($key) failed"
    fi
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log")
    # Per-transaction log: client, transaction, latency (us, from the scheduled start), ...
    read -r O[$key.requests] O[$key.p50_us] O[$key.p99_us] O[$key.p999_us] O[$key.max_us] < <(
        cat "$WORK"/txlog-"$key".* | awk '{ print $3 }' | percentiles)
    rm -f "$WORK"/txlog-"$key".*
    O[$key.achieved]=$(awk -v n="${O[$key.requests]}" -v s="$DURATION_S" 'BEGIN { printf "%.0f", n / s }')
    O[$key.errors]=${failed:-0}
    say "  ${O[$key.achieved]} tps, p50 $(ms "${O[$key.p50_us]}") p99 $(ms "${O[$key.p99_us]}") p99.9 $(ms "${O[$key.p999_us]}") ms"
}

# --- 1. the app, closed loop -------------------------------------------------

APP_SETTINGS=
for name in $(compgen -e | sort); do
    [[ $name =~ ^(APP_|COOKIE_|DATABASE_|SESSION_) && ! $name =~ SECRET|URL|PASSWORD ]] || continue
    APP_SETTINGS+="${APP_SETTINGS:+ }$name=${!name}"
done

say "starting the app on a fresh database $APP_DB at $SHOWN_SERVER"
start_app
RSS_START=$(rss_mib VmRSS)
create_sessions "$SESSIONS" "$WORK/cookies.txt"
IFS='|' read -r ROWS MIN_ID MAX_ID < <(psql_app -c "SELECT count(*), min(id), max(id) FROM sessions")
((ROWS == SESSIONS)) || die "expected $SESSIONS rows in sessions, found $ROWS"
((MAX_ID - MIN_ID + 1 == SESSIONS)) ||
    warn "session ids are not contiguous ($MIN_ID..$MAX_ID): some pgbench lookups will miss"
LAST_APP_ACTIVITY=$(now)

mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a + b) / 2 }'; }
MEASURE_START=$(wc -l <"$WORK/rustc.txt")
cpu_before=$(head -n 1 /proc/stat)

# Each limit runs right before and right after its scenario, on the same table,
# and the ratio uses the mean of the two: the speed of a shared virtual machine
# drifts from minute to minute.
pgbench_limit counter LIMIT_COUNTER_BEFORE
warm_up / "$WORK/cookies.txt"
VISITS_BEFORE=$(visits_total)
app_scenario app.counter / "$WORK/cookies.txt" visits_total
VISITS_AFTER=$(visits_total)
pgbench_limit counter LIMIT_COUNTER_AFTER
LIMIT_COUNTER=$(mean "$LIMIT_COUNTER_BEFORE" "$LIMIT_COUNTER_AFTER")

pgbench_limit select LIMIT_SELECT_BEFORE
warm_up /visits "$WORK/cookies.txt"
VISITS_BEFORE_READ=$(visits_total)
ROWS_BEFORE_READ=$(session_count)
app_scenario app.visits /visits "$WORK/cookies.txt"
VISITS_AFTER_READ=$(visits_total)
ROWS_AFTER_READ=$(session_count)
pgbench_limit select LIMIT_SELECT_AFTER
LIMIT_SELECT=$(mean "$LIMIT_SELECT_BEFORE" "$LIMIT_SELECT_AFTER")

# --- 2. open loop --------------------------------------------------------------

if [[ $OPEN_LOOP == 1 ]]; then
    for load in $OPEN_LOOP_LOADS; do
        rate=$(awk -v l="$LIMIT_COUNTER" -v p="$load" 'BEGIN { printf "%.0f", l * p / 100 }')
        O[load$load.rate]=$rate
        open_loop "ol$load.counter" / "$rate" "$DURATION_S"
        open_loop "ol$load.visits" /visits "$rate" "$DURATION_S"
        pgbench_rate "ol$load.pgcounter" counter "$rate"
        pgbench_rate "ol$load.pgselect" select "$rate"
    done
    LAST_APP_ACTIVITY=$(now)
fi

# --- 1 (cont.). first visits -----------------------------------------------------

pgbench_limit insert LIMIT_INSERT_BEFORE
warm_up / -
ROWS_BEFORE_FIRST=$(session_count)
app_scenario app.first / - session_count
ROWS_AFTER_FIRST=$(session_count)
pgbench_limit insert LIMIT_INSERT_AFTER
LIMIT_INSERT=$(mean "$LIMIT_INSERT_BEFORE" "$LIMIT_INSERT_AFTER")
cpu_after=$(head -n 1 /proc/stat)
MEASURE_END=$(wc -l <"$WORK/rustc.txt")
APP_PEAK_MIB=$(rss_mib VmHWM)
# Back to the benchmark's own sessions: first visits and the INSERT limit added rows.
psql_app -c "DELETE FROM sessions WHERE id > $MAX_ID" -c "VACUUM ANALYZE sessions" >/dev/null

# The share of CPU time the hypervisor gave to other machines ("steal", the 8th
# number of the cpu line in /proc/stat) while the app was measured.
STEAL_PCT=$(awk -v a="$cpu_before" -v b="$cpu_after" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); total = 0
    for (i = 2; i <= 9 && i <= n; i++) total += y[i] - x[i]
    printf "%.1f", total ? 100 * (y[9] - x[9]) / total : 0 }')

# --- 3. side by side -----------------------------------------------------------------

declare -A PEER_TITLE=(
    [app]="session-demo (full HTML pages)"
    [this-store]="this-store: the store crate alone"
    [actix-session-redis]="actix-session RedisSessionStore"
    [actix-session-cookie]="actix-session CookieSessionStore"
    [axum-tower-sessions]="axum + tower-sessions PostgresStore"
    [actix-session-sqlx-postgres]="actix-session + actix-session-sqlx-postgres"
    [variant]="session-demo variant: $VARIANT_NAME"
)
declare -A PEER_BIN=(
    [this-store]=this-store
    [actix-session-redis]=peer-actix-session-redis
    [actix-session-cookie]=peer-actix-session-cookie
    [axum-tower-sessions]=peer-axum-tower-sessions
    [actix-session-sqlx-postgres]=peer-actix-session-sqlx-postgres
)
# Each PostgreSQL peer's database (names stay under PostgreSQL's 63 bytes);
# Redis and the cookie store have none.
declare -A PEER_DB=([this-store]=crate [axum-tower-sessions]=axum [actix-session-sqlx-postgres]=actix [variant]=variant)
# The PostgreSQL alternatives the app is measured against (issue 16's 1.5x):
# third-party stores, not this project's own crate.
THIRD_PARTY_PG=(axum-tower-sessions actix-session-sqlx-postgres)
SCENARIOS=(counter visits first)
declare -A SCENARIO_PATH=([counter]=/ [visits]=/visits [first]=/)
declare -A SCENARIO_TITLE=([counter]="GET / (read+write)" [visits]="GET /visits (read only)" [first]="GET / first visit")
declare -A SCENARIO_COUNT=([counter]=visits_total [visits]= [first]=session_count)

PEER_NAMES=()
[[ $PEERS == 0 ]] || PEER_NAMES=($PEER_LIST)
SIDE=()
[[ -z $VARIANT ]] || SIDE+=(variant)
SIDE+=("${PEER_NAMES[@]}")
declare -A M # side-by-side results over the rounds, keyed "server.scenario.field"

# side_run NAME ROUND: one server through the three scenarios (its statements
# per request counted in the first round, for the servers on PostgreSQL).
side_run() {
    local name=$1 round=$2 db= cookies=$WORK/cookies-$1.txt s counted=
    case $name in
    app)
        start_app
        cookies=$WORK/cookies.txt
        ;;
    variant)
        db=${APP_DB}_${PEER_DB[$name]}
        say "starting the variant '$VARIANT_NAME' on a fresh database $db"
        start_variant "$db"
        create_sessions "$SESSIONS" "$cookies"
        counted=$((round == 1))
        ;;
    actix-session-redis)
        start_redis
        start_server "$name" "$TOOLS_BIN/${PEER_BIN[$name]}" - REDIS_URL="$REDIS_URL"
        create_sessions "$SESSIONS" "$cookies"
        ;;
    actix-session-cookie)
        start_server "$name" "$TOOLS_BIN/${PEER_BIN[$name]}" -
        create_sessions "$SESSIONS" "$cookies"
        ;;
    *)
        db=${APP_DB}_${PEER_DB[$name]}
        DATABASES+=("$db")
        psql_admin -c "CREATE DATABASE \"$db\"" >/dev/null
        say "starting $name on a fresh database $db"
        start_server "$name" "$TOOLS_BIN/${PEER_BIN[$name]}" "$db"
        create_sessions "$SESSIONS" "$cookies"
        [[ $name != this-store ]] || counted=$((round == 1))
        ;;
    esac
    for s in "${SCENARIOS[@]}"; do
        local c=$cookies
        [[ $s != first ]] || c=-
        if [[ $counted == 1 ]]; then
            warm_up "${SCENARIO_PATH[$s]}" "$c"
            app_scenario "$name.r$round.$s" "${SCENARIO_PATH[$s]}" "$c" "${SCENARIO_COUNT[$s]}"
        else
            closed_loop "$name.r$round.$s" "${SCENARIO_PATH[$s]}" "$c"
        fi
    done
    R[$name.r$round.peak]=$(rss_mib VmHWM)
    [[ -z $REDIS_PID ]] || R[$name.r$round.store_peak]=$(pid_rss_mib "$REDIS_PID" VmHWM)
    stop_server
    stop_redis
    [[ -z $db ]] || drop_database "$db"
    if [[ $name == app ]]; then
        psql_app -c "DELETE FROM sessions WHERE id > $MAX_ID" -c "VACUUM ANALYZE sessions" >/dev/null
    fi
}

stop_server
if ((${#SIDE[@]} > 0)); then
    # Round 1 of the app is its run of section 1.
    for s in "${SCENARIOS[@]}"; do
        for field in rps p50_us p99_us suspect errors cpu_us store_cpu_us rt; do
            R[app.r1.$s.$field]=${R[app.$s.$field]:-}
        done
    done
    R[app.r1.peak]=$APP_PEAK_MIB
    for round in $(seq "$ROUNDS"); do
        list=()
        ((round == 1)) || list+=(app)
        list+=("${SIDE[@]}")
        # Each round starts one server further on, so no server always runs first.
        for i in "${!list[@]}"; do
            name=${list[$(((i + round - 1) % ${#list[@]}))]}
            say "side by side, round $round of $ROUNDS: $name"
            side_run "$name" "$round"
        done
    done
    # Medians over the rounds (p99: over the rounds whose wrk figures were
    # believable, see wrk_run); errors summed; peak memory the highest.
    for name in app "${SIDE[@]}"; do
        peaks=() store_peaks=()
        for round in $(seq "$ROUNDS"); do
            peaks+=("${R[$name.r$round.peak]}")
            [[ -z ${R[$name.r$round.store_peak]:-} ]] || store_peaks+=("${R[$name.r$round.store_peak]}")
        done
        M[$name.peak]=$(max_of "${peaks[@]}")
        ((${#store_peaks[@]} == 0)) || M[$name.store_peak]=$(max_of "${store_peaks[@]}")
        for s in "${SCENARIOS[@]}"; do
            rps=() p50=() p99=() p99_all=() cpu=() store=() errors=0 suspect=0
            for round in $(seq "$ROUNDS"); do
                k=$name.r$round.$s
                rps+=("${R[$k.rps]}")
                p50+=("${R[$k.p50_us]}")
                p99_all+=("${R[$k.p99_us]}")
                [[ ${R[$k.suspect]} == 1 ]] || p99+=("${R[$k.p99_us]}")
                cpu+=("${R[$k.cpu_us]}")
                [[ ${R[$k.store_cpu_us]} == - ]] || store+=("${R[$k.store_cpu_us]}")
                errors=$((errors + R[$k.errors]))
            done
            if ((${#p99[@]} == 0)); then p99=("${p99_all[@]}") suspect=1; fi
            M[$name.$s.rps]=$(median "${rps[@]}")
            M[$name.$s.rounds]="${rps[*]}"
            M[$name.$s.p50_us]=$(median "${p50[@]}")
            M[$name.$s.p99_us]=$(median "${p99[@]}")
            M[$name.$s.suspect]=$suspect
            M[$name.$s.errors]=$errors
            M[$name.$s.cpu_us]=$(median "${cpu[@]}")
            M[$name.$s.store_cpu_us]=$( ((${#store[@]} == 0)) && echo - || median "${store[@]}")
            M[$name.$s.rt]=${R[$name.r1.$s.rt]:--}
        done
    done
fi
stop_server

# --- 5. pool sweep -----------------------------------------------------------------

declare -A SWEEP      # "label.size.scenario": req/s of each round, space-separated; ".p99": p99 (us)
declare -A SWEEP_KEEP # "label": the highest session id of an app build's own sessions
if [[ -n $POOL_SWEEP ]]; then
    sizes=($POOL_SWEEP)
    servers=("${SWEEP_LABELS[@]}")
    for round in $(seq "$POOL_SWEEP_ROUNDS"); do
        # Each round starts at the next size, so no size always runs first.
        for i in "${!sizes[@]}"; do
            size=${sizes[$(((i + round - 1) % ${#sizes[@]}))]}
            for j in "${!servers[@]}"; do
                server=${servers[$(((j + round - 1) % ${#servers[@]}))]}
                drop=
                # shellcheck disable=SC2086 # the entry's settings are a list of words
                if [[ ${SWEEP_KIND[$server]} == app && -z ${SWEEP_BINARY[$server]} ]]; then
                    # This build: on the app's database, with its sessions.
                    start_app DATABASE_MAX_CONNECTIONS="$size" ${SWEEP_ENV[$server]}
                    cookies=$WORK/cookies.txt
                    keep=$MAX_ID
                elif [[ ${SWEEP_KIND[$server]} == app ]]; then
                    # Another build: on a database of its own (kept over the rounds), with its own sessions.
                    db=${APP_DB}_sw${SWEEP_INDEX[$server]}
                    [[ " ${DATABASES[*]} " == *" $db "* ]] || DATABASES+=("$db")
                    start_server "app-$server" "${SWEEP_BINARY[$server]}" "$db" SESSION_SECRET="$APP_SECRET" \
                        RUST_LOG="$APP_RUST_LOG" DATABASE_MAX_CONNECTIONS="$size" ${SWEEP_ENV[$server]}
                    cookies=$WORK/cookies-sw-$server.txt
                    if [[ -z ${SWEEP_KEEP[$server]:-} ]]; then
                        create_sessions "$SESSIONS" "$cookies"
                        SWEEP_KEEP[$server]=$(psql_server -c "SELECT max(id) FROM sessions")
                    fi
                    keep=${SWEEP_KEEP[$server]}
                else
                    # this-store: a fresh database each time (its key changes at every start).
                    drop=${APP_DB}_sweep
                    DATABASES+=("$drop")
                    psql_admin -c "CREATE DATABASE \"$drop\"" >/dev/null
                    start_server "this-store-$server" "${SWEEP_BINARY[$server]:-$TOOLS_BIN/this-store}" "$drop" \
                        POOL_SIZE="$size" ${SWEEP_ENV[$server]}
                    cookies=$WORK/cookies-sweep.txt
                    create_sessions "$SESSIONS" "$cookies"
                fi
                if [[ ${SWEEP_KIND[$server]} == app ]]; then
                    # How the app split the budget, from its startup line.
                    SWEEP[$server.$size.per_pool]=$(grep -o -m 1 'session pool(s) of [0-9]*' "$SERVER_LOG" | grep -o '[0-9]*$' || echo '?')
                else
                    workers=$(grep -o -m 1 '^[0-9]* workers' "$SERVER_LOG" | grep -o '^[0-9]*' || echo 1)
                    SWEEP[$server.$size.per_pool]=$(awk -v n="$size" -v w="$workers" 'BEGIN { p = n / w; printf (p == int(p)) ? "%d" : "%.1f", p }')
                fi
                line="pool sweep round $round, $server at $size connections:"
                for s in "${SCENARIOS[@]}"; do
                    c=$cookies
                    [[ $s != first ]] || c=-
                    warm_up "${SCENARIO_PATH[$s]}" "$c"
                    checkpoint
                    wrk_run "sweep.$s" "${SCENARIO_PATH[$s]}" "$c" "$POOL_SWEEP_S"
                    SWEEP[$server.$size.$s]+="${R[sweep.$s.rps]} "
                    SWEEP[$server.$size.$s.p99]+="${R[sweep.$s.p99_us]} "
                    line+=" $s ${R[sweep.$s.rps]} req/s"
                done
                say "$line"
                stop_server
                if [[ -n $drop ]]; then
                    drop_database "$drop"
                else
                    psql_server -c "DELETE FROM sessions WHERE id > $keep" -c "VACUUM ANALYZE sessions" >/dev/null
                fi
            done
        done
    done
fi

# --- 4. growth and pruning -----------------------------------------------------------

declare -A G # growth results, keyed "size.scenario.field" and "prune.field"
if [[ $GROWTH == 1 ]]; then
    # Rows like the store's, keyed by digests of keys no browser holds; the
    # benchmark's own 2,000 sessions stay among them.
    FILLER_STATE="'{\"visits\": 1}'::jsonb"
    # Rows go in by INSERT ... SELECT in chunks, each sorted by key_hash, so
    # the unique index on it fills in order instead of at random places (20
    # million random insertions into an index of a gigabyte take far longer).
    FILL_CHUNK=4000000
    start_app
    for size in $GROWTH_SIZES; do
        live=$(psql_app -c "SELECT count(*) FROM sessions WHERE expires_at > now()")
        if ((size > live)); then
            say "growth: inserting $((size - live)) sessions ($size live in all)"
            started=$SECONDS
            for ((from = live + 1; from <= size; from += FILL_CHUNK)); do
                to=$((from + FILL_CHUNK - 1 < size ? from + FILL_CHUNK - 1 : size))
                psql_app -c "INSERT INTO sessions (key_hash, state, expires_at, absolute_expires_at)
                    SELECT digest, $FILLER_STATE,
                           now() + least(interval '$SESSION_TTL seconds', interval '$SESSION_ABSOLUTE_TTL seconds'),
                           now() + interval '$SESSION_ABSOLUTE_TTL seconds'
                    FROM (SELECT sha256(convert_to('filler-$RUN_ID-' || g, 'UTF8')) AS digest
                          FROM generate_series($from, $to) AS g) AS filler
                    ORDER BY digest" >/dev/null
                ((to == size)) || say "  $to of $size"
            done
            psql_app -c "VACUUM ANALYZE sessions" >/dev/null
            G[$size.fill_s]=$((SECONDS - started))
            say "  filled in ${G[$size.fill_s]} s"
        fi
        G[$size.table_mib]=$(psql_app -c "SELECT round(pg_total_relation_size('sessions') / 1048576.0)")
        closed_loop "growth$size.counter" / "$WORK/cookies.txt"
        closed_loop "growth$size.visits" /visits "$WORK/cookies.txt"
        # First visits add rows: they go again, so the next size starts from its own count.
        top=$(psql_app -c "SELECT max(id) FROM sessions")
        closed_loop "growth$size.first" / -
        psql_app -c "DELETE FROM sessions WHERE id > $top" -c "VACUUM sessions" >/dev/null
    done
    GROWTH_PEAK_MIB=$(rss_mib VmHWM)
    stop_server

    # Pruning under load: the filler rows go, expired ones come, and the app
    # restarts with its first pruning round PRUNE_DELAY seconds after start.
    # (The filler goes by TRUNCATE, keeping the benchmark's own rows: deleting
    # tens of millions of rows one by one would take longer than the run.)
    say "pruning run: replacing the filler with $GROWTH_EXPIRED expired sessions"
    started=$SECONDS
    # Every column but the generated ones (PostgreSQL computes those again).
    columns=$(psql_app -c "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
        FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'sessions' AND is_generated = 'NEVER'")
    psql_app -c "BEGIN" -c "CREATE TEMPORARY TABLE kept ON COMMIT DROP AS SELECT $columns FROM sessions WHERE id <= $MAX_ID" \
        -c "TRUNCATE sessions" -c "INSERT INTO sessions ($columns) OVERRIDING SYSTEM VALUE SELECT $columns FROM kept" \
        -c "COMMIT" >/dev/null
    # Sorted by key_hash as above; expiry times in the same order, one
    # millisecond apart, so both indexes fill in order.
    for ((from = 1; from <= GROWTH_EXPIRED; from += FILL_CHUNK)); do
        to=$((from + FILL_CHUNK - 1 < GROWTH_EXPIRED ? from + FILL_CHUNK - 1 : GROWTH_EXPIRED))
        psql_app -c "INSERT INTO sessions (key_hash, state, expires_at, absolute_expires_at)
            SELECT digest, $FILLER_STATE,
                   now() - interval '1 minute' - ($from + row_number() OVER (ORDER BY digest)) * interval '1 millisecond',
                   now() + interval '1 day'
            FROM (SELECT sha256(convert_to('expired-$RUN_ID-' || g, 'UTF8')) AS digest
                  FROM generate_series($from, $to) AS g) AS expired
            ORDER BY digest" >/dev/null
    done
    psql_app -c "VACUUM ANALYZE sessions" >/dev/null
    G[prune.fill_s]=$((SECONDS - started))
    G[prune.table_mib]=$(psql_app -c "SELECT round(pg_total_relation_size('sessions') / 1048576.0)")
    checkpoint
    # Deleted rows so far, once PostgreSQL has counted the DELETE above (a
    # backend reports its counts as it exits, a moment after psql returns).
    deleted() { psql_app -c "SELECT n_tup_del FROM pg_stat_user_tables WHERE relname = 'sessions'"; }
    deleted_before=$(deleted)
    for _ in $(seq 15); do
        pause 1
        latest=$(deleted)
        [[ $latest == "$deleted_before" ]] && break
        deleted_before=$latest
    done
    rate=$(awk -v l="$LIMIT_COUNTER" 'BEGIN { printf "%.0f", l / 2 }')
    G[prune.rate]=$rate
    start_app SESSION_PRUNE_INTERVAL_SECONDS="$PRUNE_DELAY"
    prune_due=$(awk -v s="$SERVER_STARTED" -v d="$PRUNE_DELAY" 'BEGIN { printf "%.3f", s + d }')
    # Deleted rows as PostgreSQL counts them, twice a second, on one connection.
    psql "$APP_DB_URL" -X -q -A -t -F ' ' >"$WORK/deleted.txt" 2>"$WORK/deleted.log" <<<"SELECT extract(epoch FROM clock_timestamp()), n_tup_del FROM pg_stat_user_tables WHERE relname = 'sessions' \watch 0.5" &
    BACKGROUND_PIDS+=($!)
    # At least 15 minutes; more for a larger backlog (2,000 rows a second at the least).
    max_s=$((PRUNE_DELAY + (GROWTH_EXPIRED / 2000 > 900 ? GROWTH_EXPIRED / 2000 : 900)))
    "$OPENLOOP" --url "$SERVER_URL/" --rate "$rate" --duration "$max_s" --connections "$CONNECTIONS" \
        --cookies "$WORK/cookies.txt" --log "$WORK/prune-requests.txt" >"$WORK/openloop-prune.txt" 2>&1 &
    OPENLOOP_PID=$!
    BACKGROUND_PIDS+=("$OPENLOOP_PID")
    say "pruning run: GET / at $rate req/s (50% of the counter limit); pruning is due ${PRUNE_DELAY}s after start; waiting for it to end (at most $max_s s)"
    prune_end=
    deadline=$((SECONDS + max_s))
    while [[ -z $prune_end ]] && ((SECONDS < deadline)); do
        kill -0 "$OPENLOOP_PID" 2>/dev/null || die "the open-loop generator stopped early: $(cat "$WORK/openloop-prune.txt")"
        kill -0 "$SERVER_PID" 2>/dev/null || die "the app stopped during the pruning run"
        if grep -q -E 'pruned [0-9]+ expired sessions' "$SERVER_LOG"; then
            prune_end=$(now)
        elif awk -v before="$deleted_before" -v n="$GROWTH_EXPIRED" '$2 - before >= n { found = 1 } END { exit !found }' "$WORK/deleted.txt"; then
            # No log line (the app logs differently): PostgreSQL's count, up to ~10 s late.
            prune_end=$(awk -v before="$deleted_before" -v n="$GROWTH_EXPIRED" '$2 - before >= n { print $1; exit }' "$WORK/deleted.txt")
        else
            pause 0.25
        fi
    done
    [[ -n $prune_end ]] || die "pruning did not finish within $max_s s"
    pause 5 # a tail of steady load after pruning
    kill -INT "$OPENLOOP_PID"
    wait "$OPENLOOP_PID" || die "the open-loop generator failed: $(cat "$WORK/openloop-prune.txt")"
    G[prune.start]=$(awk -v before="$deleted_before" '$2 > before { print $1; exit }' "$WORK/deleted.txt")
    [[ -n ${G[prune.start]} ]] || G[prune.start]=$prune_due
    # The first deletions show up to a second late in the statistics; the
    # round was due at prune_due, so it cannot have started before that.
    G[prune.start]=$(awk -v seen="${G[prune.start]}" -v due="$prune_due" 'BEGIN { s = seen - 1; if (s < due) s = due; printf "%.3f", s }')
    G[prune.end]=$prune_end
    G[prune.seconds]=$(awk -v a="${G[prune.start]}" -v b="$prune_end" 'BEGIN { printf "%.1f", b - a }')
    G[prune.left]=$(psql_app -c "SELECT count(*) FROM sessions WHERE expires_at <= now()")
    G[prune.peak]=$(rss_mib VmHWM)
    # Windows: steady load before pruning (after the first 2 s) and while pruning ran.
    read -r start_us < <(awk '{ print $1; exit }' "$WORK/prune-requests.txt")
    window() { # FROM_S TO_S (unix seconds): "count p50 p99 p999 max" of the requests due then
        awk -v a="$1" -v b="$2" '$1 / 1e6 >= a && $1 / 1e6 < b { print $2 }' "$WORK/prune-requests.txt" | percentiles
    }
    read -r G[prune.base_n] _ G[prune.base_p99] _ G[prune.base_max] < <(window "$(awk -v s="$start_us" 'BEGIN { printf "%.3f", s / 1e6 + 2 }')" "${G[prune.start]}")
    read -r G[prune.during_n] _ G[prune.during_p99] _ G[prune.during_max] < <(window "${G[prune.start]}" "${G[prune.end]}")
    G[prune.errors]=$(awk '$3 == 0 || $3 >= 400 { n++ } END { print n + 0 }' "$WORK/prune-requests.txt")
    G[prune.requests]=$(wc -l <"$WORK/prune-requests.txt")
    # Throughput per whole second of pruning (answers completed in that second).
    read -r G[prune.tput_mean] G[prune.tput_min] < <(awk -v a="${G[prune.start]}" -v b="${G[prune.end]}" '
        $3 > 0 && $3 < 400 { done_s = int(($1 + $2) / 1e6); n[done_s]++ }
        END {
            lo = int(a) + 1; hi = int(b) - 1; min = -1; sum = 0; k = 0
            for (s = lo; s <= hi; s++) { c = n[s] + 0; sum += c; k++; if (min < 0 || c < min) min = c }
            if (k == 0) print "-", "-"; else printf "%.0f %d\n", sum / k, min
        }' "$WORK/prune-requests.txt")
    stop_server
fi

# --- report --------------------------------------------------------------------


# Issue 16's targets, as issue 24 keeps or tightens them.
TARGET_VS_PEER=1.5          # the app against the faster third-party PostgreSQL store
TARGET_STORE_VS_REDIS=1.0   # this-store against actix-session's RedisSessionStore
TARGET_STORE_VS_COOKIE=0.5  # this-store against actix-session's CookieSessionStore
TARGET_COUNTER_RATIO=0.8
TARGET_VISITS_RATIO=0.6
TARGET_FIRST_RATIO=0.6
TARGET_OPEN_COUNTER_P99_MS=5
TARGET_OPEN_VISITS_P99_MS=3
TARGET_GROWTH_DROP=0.8
TARGET_PRUNE_P99_FACTOR=2
TARGET_MEMORY_MIB=64
TARGET_VARIANT=$(awk -v c="$VARIANT_MAX_COST" 'BEGIN { printf "%.2f", 1 - c / 100 }')

C_RATIO=$(ratio "${R[app.counter.rps]}" "$LIMIT_COUNTER")
V_RATIO=$(ratio "${R[app.visits.rps]}" "$LIMIT_SELECT")
F_RATIO=$(ratio "${R[app.first.rps]}" "$LIMIT_INSERT")

row() { printf "| %-46s | %8s | %6s | %9s | %9s | %6s | %9s |\n" "$@"; }
{
    echo
    echo "session-demo benchmark: $(if [[ -n ${BENCH_APP_BINARY:-} ]]; then echo "the build $BENCH_APP_BINARY"; else git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'; fi), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $(nproc) cores, PostgreSQL $PG_VERSION ($PG_DURABILITY)"
    echo "closed loop: wrk -t$THREADS -c$CONNECTIONS -d${DURATION_S}s over $SESSIONS sessions (cookies round-robin); pgbench -M prepared -c$PGBENCH_CLIENTS -j$PGBENCH_JOBS -T$DURATION_S"
    echo "app settings: ${APP_SETTINGS:-the defaults}, but TRUSTED_PROXIES=$APP_TRUSTED_PROXIES: every request names one of $BENCH_CLIENTS client addresses per wrk thread in X-Forwarded-For (the new-session limit is per address)"
    echo
    echo "## The app against its limits (PostgreSQL alone running the same statements)"
    echo
    printf "| %-18s | %7s | %-15s | %-5s | %9s | %9s | %-14s | %-6s |\n" scenario "req/s" "limit (tps)" ratio p50 p99 "statements/req" errors
    printf "| %-18s | %7s | %-15s | %-5s | %9s | %9s | %-14s | %-6s |\n" --- ---: --- ---: ---: ---: ---: ---:
    printf "| %-18s | %7s | %-15s | %-5s | %9s | %9s | %-14s | %-6s |\n" \
        "GET / (read+write)" "$(num "${R[app.counter.rps]}")" "counter $(num "$LIMIT_COUNTER")" "$C_RATIO" \
        "$(ms "${R[app.counter.p50_us]}") ms" "$(p99 app.counter)" "${R[app.counter.rt]} (2)" "${R[app.counter.errors]}"
    printf "| %-18s | %7s | %-15s | %-5s | %9s | %9s | %-14s | %-6s |\n" \
        "GET /visits (read)" "$(num "${R[app.visits.rps]}")" "SELECT $(num "$LIMIT_SELECT")" "$V_RATIO" \
        "$(ms "${R[app.visits.p50_us]}") ms" "$(p99 app.visits)" "${R[app.visits.rt]} (1)" "${R[app.visits.errors]}"
    printf "| %-18s | %7s | %-15s | %-5s | %9s | %9s | %-14s | %-6s |\n" \
        "GET / first visit" "$(num "${R[app.first.rps]}")" "INSERT $(num "$LIMIT_INSERT")" "$F_RATIO" \
        "$(ms "${R[app.first.p50_us]}") ms" "$(p99 app.first)" "${R[app.first.rt]} (1)" "${R[app.first.errors]}"
    echo
    echo "limits (tps) before / after each scenario: counter $(num "$LIMIT_COUNTER_BEFORE") / $(num "$LIMIT_COUNTER_AFTER")," \
        "SELECT $(num "$LIMIT_SELECT_BEFORE") / $(num "$LIMIT_SELECT_AFTER"), INSERT $(num "$LIMIT_INSERT_BEFORE") / $(num "$LIMIT_INSERT_AFTER"); the table shows their mean"
    echo "app memory: peak (VmHWM) $APP_PEAK_MIB MiB; RSS after start $RSS_START, after GET / ${R[app.counter.rss]}, after /visits ${R[app.visits.rss]}, after first visits ${R[app.first.rss]} MiB"
    echo "checks: GET / recorded $((VISITS_AFTER - VISITS_BEFORE)) visits for ${R[app.counter.requests]} requests;" \
        "/visits changed $((VISITS_AFTER_READ - VISITS_BEFORE_READ)) visits and $((ROWS_AFTER_READ - ROWS_BEFORE_READ)) rows;" \
        "first visits created $((ROWS_AFTER_FIRST - ROWS_BEFORE_FIRST)) sessions for ${R[app.first.requests]} requests"
    echo "statements/req: transactions in the app's database (pg_stat_database) per request handled; each statement outside BEGIN is its own transaction."
    echo "latency floor: wrk keeps $CONNECTIONS requests in flight, so the mean latency is $CONNECTIONS / (req/s) (Little's law):" \
        "$(awk -v c="$CONNECTIONS" -v r="${R[app.counter.rps]}" 'BEGIN { printf "%.1f", r ? 1000 * c / r : 0 }') ms for GET / at this rate; the open-loop table below has latencies that mean something."
    if [[ $SUSPECT_P99 == 1 ]]; then
        echo "(?): in that run wrk's mean latency was more than 1.5 x $CONNECTIONS / (req/s), which Little's law rules out for $CONNECTIONS connections:" \
            "wrk's latency histogram was wrong there (it happens now and then at the highest rates), so that p99 is not a measurement."
    fi

    # The side-by-side table.
    us() { [[ $1 == - || -z $1 ]] && echo - || echo "$1 us"; }
    p99m() { echo "$(ms "${M[$1.p99_us]}") ms$([[ ${M[$1.suspect]} == 1 ]] && echo ' (?)')"; }
    best_of() { # SCENARIO SERVER... -> req/s of the fastest of them (0 if none ran)
        local s=$1 best=0 name
        shift
        for name in "$@"; do
            [[ -n ${M[$name.$s.rps]:-} ]] && best=$(max_of "$best" "${M[$name.$s.rps]}")
        done
        echo "$best"
    }
    ran() { [[ -n ${M[$1.counter.rps]:-} ]]; }
    if ((${#SIDE[@]} > 0)); then
        echo
        echo "## Side by side (each server alone; every PostgreSQL one on a fresh database of the same server, pool of 16;" \
            "$([[ $ROUNDS == 1 ]] && echo "one round" || echo "medians of $ROUNDS interleaved rounds"))"
        echo
        printf "| %-52s | %8s | %6s | %8s | %9s | %9s | %10s | %10s | %10s | %6s | %9s |\n" \
            "scenario / implementation" "req/s" "vs app" "vs Redis" p50 p99 "server CPU" "store CPU" "statements" errors "peak RSS"
        printf "| %-52s | %8s | %6s | %8s | %9s | %9s | %10s | %10s | %10s | %6s | %9s |\n" --- ---: ---: ---: ---: ---: ---: ---: ---: ---: ---:
        for s in "${SCENARIOS[@]}"; do
            case $s in
            counter) limit=$LIMIT_COUNTER ;;
            visits) limit=$LIMIT_SELECT ;;
            first) limit=$LIMIT_INSERT ;;
            esac
            redis=${M[actix-session-redis.$s.rps]:-0}
            printf "| %-52s | %8s | %6s | %8s | %9s | %9s | %10s | %10s | %10s | %6s | %9s |\n" "**${SCENARIO_TITLE[$s]}**" "" "" "" "" "" "" "" "" "" ""
            printf "| %-52s | %8s | %6s | %8s | %9s | %9s | %10s | %10s | %10s | %6s | %9s |\n" \
                "  pgbench, the app's statements ($PGBENCH_CLIENTS clients)" "$(num "$limit")" "$(ratio "$limit" "${M[app.$s.rps]}")x" \
                "$(ratio "$limit" "$redis")x" "" "" "" "" "" "" "-"
            for name in app "${SIDE[@]}"; do
                store_peak=
                [[ -z ${M[$name.store_peak]:-} ]] || store_peak=" + ${M[$name.store_peak]}"
                printf "| %-52s | %8s | %6s | %8s | %9s | %9s | %10s | %10s | %10s | %6s | %9s |\n" \
                    "  ${PEER_TITLE[$name]}" "$(num "${M[$name.$s.rps]}")" "$(ratio "${M[$name.$s.rps]}" "${M[app.$s.rps]}")x" \
                    "$(ratio "${M[$name.$s.rps]}" "$redis")x" "$(ms "${M[$name.$s.p50_us]}") ms" "$(p99m "$name.$s")" \
                    "$(us "${M[$name.$s.cpu_us]}")" "$(us "${M[$name.$s.store_cpu_us]}")" "${M[$name.$s.rt]}" "${M[$name.$s.errors]}" \
                    "${M[$name.peak]}$store_peak MiB"
            done
        done
        echo
        echo "vs app, vs Redis: the row's req/s divided by the app's, by actix-session RedisSessionStore's (pgbench's row: PostgreSQL alone)."
        echo "server CPU: the server process's CPU time (user + system, all threads) per request; store CPU: the same for the PostgreSQL backends of its database" \
            "(on this machine's server), or for redis-server. Microseconds."
        echo "statements: transactions in the server's database per request (first round; the app: its run of section 1)."
        echo "peak RSS: each server's VmHWM (the app's includes the open-loop runs; '+ N': redis-server's)."
        echo "errors: wrk socket errors plus responses with a status of 400 or more, all rounds."
        if ((ROUNDS > 1)); then
            echo "rounds (req/s, in round order):"
            for name in app "${SIDE[@]}"; do
                echo "  ${PEER_TITLE[$name]}: GET / ${M[$name.counter.rounds]}; /visits ${M[$name.visits.rounds]}; first ${M[$name.first.rounds]}"
            done
        fi
        if [[ -n $VARIANT ]]; then
            echo "variant '$VARIANT_NAME': $([[ -n $VARIANT_BINARY ]] && echo "the build $VARIANT_BINARY" || echo "this build")$([[ -n $VARIANT_ENV ]] && echo ", with $VARIANT_ENV")."
        fi
    fi

    if [[ $OPEN_LOOP == 1 ]]; then
        echo
        echo "## Open loop: fixed rates, latency from the moment each request was due"
        echo
        printf "| %-28s | %9s | %9s | %9s | %9s | %9s | %6s |\n" "load (share of counter limit)" "rate" "achieved" p50 p99 p99.9 errors
        printf "| %-28s | %9s | %9s | %9s | %9s | %9s | %6s |\n" --- ---: ---: ---: ---: ---: ---:
        for load in $OPEN_LOOP_LOADS; do
            for run in counter:"GET /" pgcounter:"  pgbench counter" visits:"GET /visits" pgselect:"  pgbench SELECT"; do
                k=ol$load.${run%%:*}
                printf "| %-28s | %9s | %9s | %9s | %9s | %9s | %6s |\n" "$load%: ${run#*:}" "$(num "${O[load$load.rate]}")/s" \
                    "$(num "${O[$k.achieved]}")/s" "$(ms "${O[$k.p50_us]}") ms" "$(ms "${O[$k.p99_us]}") ms" "$(ms "${O[$k.p999_us]}") ms" "${O[$k.errors]}"
            done
        done
        echo
        echo "the app: bench/openloop, $CONNECTIONS connections, Poisson arrivals, each request with the next of $SESSIONS session cookies;" \
            "pgbench --rate: $PGBENCH_CLIENTS clients, Poisson arrivals. Both count a request that waited for a free connection from when it was due."
        late=0
        for load in $OPEN_LOOP_LOADS; do
            late=$(max_of "$late" "${O[ol$load.counter.late_dispatch_p99_us]}" "${O[ol$load.visits.late_dispatch_p99_us]}")
        done
        echo "generator's own lateness (99th percentile of how late it released a request): $late us."
    fi

    if [[ -n $POOL_SWEEP ]]; then
        echo
        echo "## Pool sweep (NOISY: ${POOL_SWEEP_S}s runs, $POOL_SWEEP_ROUNDS interleaved rounds; req/s, median of the rounds)"
        echo
        echo "| server | connections in all | session connections per worker | GET / req/s | GET / p99 | GET /visits req/s | first visit req/s | rounds (GET /) |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        : >"$WORK/pool.dat"
        sweep_title() { # LABEL -> how the table and the chart name it
            local label=$1 title
            title=$([[ ${SWEEP_KIND[$label]} == app ]] && echo "session-demo" || echo "this-store")
            [[ $label == "${SWEEP_KIND[$label]}" ]] || title+=" $label"
            [[ -z ${SWEEP_ENV[$label]} ]] || title+=" (${SWEEP_ENV[$label]})"
            echo "$title"
        }
        for server in "${SWEEP_LABELS[@]}"; do
            for size in $POOL_SWEEP; do
                k=$server.$size
                echo "| $(sweep_title "$server") | $size | ${SWEEP[$k.per_pool]} | $(num "$(median ${SWEEP[$k.counter]})") |" \
                    "$(ms "$(median ${SWEEP[$k.counter.p99]})") ms | $(num "$(median ${SWEEP[$k.visits]})") |" \
                    "$(num "$(median ${SWEEP[$k.first]})") | ${SWEEP[$k.counter]}|"
            done
        done
        for size in $POOL_SWEEP; do
            line=$size
            for server in "${SWEEP_LABELS[@]}"; do
                for s in "${SCENARIOS[@]}"; do line+=" $(median ${SWEEP[$server.$size.$s]})"; done
            done
            echo "$line" >>"$WORK/pool.dat"
        done
        echo
        echo "connections in all: the app's DATABASE_MAX_CONNECTIONS, of which its session pools get a quarter (at least one per worker," \
            "fewer pools than workers below that); this-store's POOL_SIZE, all for its WorkerPools."
        for server in "${SWEEP_LABELS[@]}"; do
            [[ -z ${SWEEP_BINARY[$server]} ]] || echo "$server: the build ${SWEEP_BINARY[$server]}"
        done
        # One line per server and scenario: colour by scenario, dashes and points by server.
        plot= column=2 n=0
        colours=('#1b7f79' '#3b4cc0' '#b8860b')
        for server in "${SWEEP_LABELS[@]}"; do
            for si in 0 1 2; do
                plot+="${plot:+, }'$WORK/pool.dat' using 1:$column with linespoints lw 2 dt $((n + 1)) pt $((2 * n + 5 + si))"
                plot+=" lc rgb '${colours[$si]}' title '$(sweep_title "$server" | sed "s/'//g") ${SCENARIOS[$si]/counter/GET \/}'"
                column=$((column + 1))
            done
            n=$((n + 1))
        done
        mkdir -p "$(dirname "$POOL_CHART")"
        gnuplot <<GNUPLOT || warn "gnuplot failed; no pool chart"
set terminal svg size 860,520 dynamic font 'sans,12' background '#ffffff'
set output '$POOL_CHART'
set title "Throughput against the connection pool's size\n{/*0.8 wrk -t$THREADS -c$CONNECTIONS, ${POOL_SWEEP_S}s runs, medians of $POOL_SWEEP_ROUNDS rounds, $(date -u '+%Y-%m-%d'), $(nproc) cores, PostgreSQL $PG_VERSION}"
set logscale x 2
set xtics ($(echo $POOL_SWEEP | sed -E 's/([0-9]+)/"\1" \1/g; s/ "/, "/g'))
set xlabel 'connections in all (session-demo: DATABASE\_MAX\_CONNECTIONS; this-store: POOL\_SIZE)'
set ylabel 'requests per second'
set yrange [0:*]
set grid xtics ytics lc rgb '#dddddd'
set key outside bottom center horizontal maxcols 3
set offsets graph 0.05, graph 0.05, 0, 0
set datafile missing '?'
plot $plot
GNUPLOT
        [[ -s $POOL_CHART ]] && echo "chart: $POOL_CHART"
    fi

    if [[ $GROWTH == 1 ]]; then
        echo
        echo "## Growth: the same closed loop with more live sessions in the table"
        echo
        echo "| live sessions | table + indexes | filled in | GET / req/s | GET / p99 | GET /visits req/s | GET /visits p99 | first visit req/s | first visit p99 | errors |"
        echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        : >"$WORK/growth.dat"
        gchart() { [[ ${R[$1.suspect]} == 1 ]] && echo '?' || ms "${R[$1.p99_us]}"; }
        for size in $GROWTH_SIZES; do
            k=growth$size
            echo "| $(num "$size") | ${G[$size.table_mib]} MiB | ${G[$size.fill_s]:--} s | $(num "${R[$k.counter.rps]}") | $(p99 "$k.counter") |" \
                "$(num "${R[$k.visits.rps]}") | $(p99 "$k.visits") | $(num "${R[$k.first.rps]}") | $(p99 "$k.first") |" \
                "$((R[$k.counter.errors] + R[$k.visits.errors] + R[$k.first.errors])) |"
            # A p99 that wrk's own figures contradict is left out of the chart ('?').
            echo "$size ${R[$k.counter.rps]} ${R[$k.visits.rps]} ${R[$k.first.rps]}" \
                "$(gchart "$k.counter") $(gchart "$k.visits") $(gchart "$k.first")" >>"$WORK/growth.dat"
        done
        first_size=${GROWTH_SIZES%% *}
        last_size=${GROWTH_SIZES##* }
        G_COUNTER=$(ratio "${R[growth$last_size.counter.rps]}" "${R[growth$first_size.counter.rps]}")
        G_VISITS=$(ratio "${R[growth$last_size.visits.rps]}" "${R[growth$first_size.visits.rps]}")
        G_FIRST=$(ratio "${R[growth$last_size.first.rps]}" "${R[growth$first_size.first.rps]}")
        echo
        echo "at $(num "$last_size") sessions: GET / at $G_COUNTER, GET /visits at $G_VISITS, first visits at $G_FIRST of the $(num "$first_size")-session figure (target >= $TARGET_GROWTH_DROP); app peak memory $GROWTH_PEAK_MIB MiB."
        echo
        echo "## Pruning $(num "$GROWTH_EXPIRED") expired sessions under a steady $(num "${G[prune.rate]}") req/s of GET / (50% of the counter limit, open loop)"
        echo
        echo "| | requests | p99 | worst | req/s per second |"
        echo "| --- | ---: | ---: | ---: | --- |"
        echo "| before pruning | $(num "${G[prune.base_n]}") | $(ms "${G[prune.base_p99]}") ms | $(ms "${G[prune.base_max]}") ms | $(num "${G[prune.rate]}") offered |"
        echo "| while pruning (${G[prune.seconds]} s) | $(num "${G[prune.during_n]}") | $(ms "${G[prune.during_p99]}") ms | $(ms "${G[prune.during_max]}") ms | mean ${G[prune.tput_mean]}, lowest ${G[prune.tput_min]} |"
        echo
        echo "the backlog (${G[prune.table_mib]} MiB with indexes) was written in ${G[prune.fill_s]} s."
        echo "pruning took ${G[prune.seconds]} s; expired rows left afterwards: ${G[prune.left]}; failed requests in the whole run: ${G[prune.errors]} of $(num "${G[prune.requests]}");" \
            "p99 while pruning is $(ratio "${G[prune.during_p99]}" "${G[prune.base_p99]}")x the p99 before (target <= $TARGET_PRUNE_P99_FACTOR)."
        echo "(pruning's start is read from PostgreSQL's count of deleted rows, within a second; its end from the app's log line.)"

        # The chart.
        mkdir -p "$(dirname "$GROWTH_CHART")"
        gnuplot <<EOF || warn "gnuplot failed; no chart"
set terminal svg size 800,460 dynamic font 'sans,12' background '#ffffff'
set output '$GROWTH_CHART'
set title "session-demo: throughput and p99 as the sessions table grows\n{/*0.8 wrk -t$THREADS -c$CONNECTIONS, ${DURATION_S}s runs, $(date -u '+%Y-%m-%d'), $(nproc) cores, PostgreSQL $PG_VERSION}"
set logscale x 10
set format x "%.0s%c"
set xlabel 'live sessions in the table'
set ylabel 'requests per second'
set y2label 'p99 latency (ms)'
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
set grid xtics ytics lc rgb '#dddddd'
set key outside bottom center horizontal maxrows 2
set offsets graph 0.05, graph 0.05, 0, 0
set datafile missing '?'
plot '$WORK/growth.dat' using 1:2 with linespoints lw 2 pt 7 lc rgb '#1b7f79' title 'GET / req/s', \
     '' using 1:3 with linespoints lw 2 pt 5 lc rgb '#3b4cc0' title 'GET /visits req/s', \
     '' using 1:4 with linespoints lw 2 pt 9 lc rgb '#b8860b' title 'first visit req/s', \
     '' using 1:5 axes x1y2 with linespoints lw 1 dt 2 pt 7 lc rgb '#1b7f79' title 'GET / p99', \
     '' using 1:6 axes x1y2 with linespoints lw 1 dt 2 pt 5 lc rgb '#3b4cc0' title 'GET /visits p99', \
     '' using 1:7 axes x1y2 with linespoints lw 1 dt 2 pt 9 lc rgb '#b8860b' title 'first visit p99'
EOF
        [[ -s $GROWTH_CHART ]] && echo "chart: $GROWTH_CHART"
    fi

    # Targets.
    echo
    echo "## Targets"
    echo
    errors_total=0
    for k in app.counter app.visits app.first; do
        errors_total=$((errors_total + R[$k.errors]))
    done
    rt_ok=$(awk -v c="${R[app.counter.rt]}" -v v="${R[app.visits.rt]}" -v f="${R[app.first.rt]}" \
        'BEGIN { print (c <= 2.005 && v <= 1.005 && f <= 1.005) ? "met" : "MISSED" }')
    line="GET / $C_RATIO of its limit ($(mark "$C_RATIO" '>=' "$TARGET_COUNTER_RATIO"))"
    line+=", /visits $V_RATIO ($(mark "$V_RATIO" '>=' "$TARGET_VISITS_RATIO")), first visits $F_RATIO ($(mark "$F_RATIO" '>=' "$TARGET_FIRST_RATIO"))"
    for s in "${SCENARIOS[@]}"; do
        best=$(best_of "$s" "${THIRD_PARTY_PG[@]}")
        [[ $best == 0 ]] && continue
        x=$(ratio "${M[app.$s.rps]}" "$best")
        line+=", app $s ${x}x the faster PostgreSQL alternative ($(mark "$x" '>=' "$TARGET_VS_PEER"))"
    done
    if ran this-store; then
        for s in "${SCENARIOS[@]}"; do
            if ran actix-session-redis; then
                x=$(ratio "${M[this-store.$s.rps]}" "${M[actix-session-redis.$s.rps]}")
                line+=", this-store $s ${x}x Redis ($(mark "$x" '>=' "$TARGET_STORE_VS_REDIS"))"
            fi
            if ran actix-session-cookie; then
                x=$(ratio "${M[this-store.$s.rps]}" "${M[actix-session-cookie.$s.rps]}")
                line+=" ${x}x cookie ($(mark "$x" '>=' "$TARGET_STORE_VS_COOKIE"))"
            fi
        done
    fi
    if [[ -n $VARIANT ]]; then
        for s in "${SCENARIOS[@]}"; do
            x=$(ratio "${M[app.$s.rps]}" "${M[variant.$s.rps]}")
            line+=", app $s ${x}x the variant '$VARIANT_NAME' ($(mark "$x" '>=' "$TARGET_VARIANT"))"
        done
    fi
    for name in "${SIDE[@]}"; do
        for s in "${SCENARIOS[@]}"; do errors_total=$((errors_total + M[$name.$s.errors])); done
    done
    if [[ $OPEN_LOOP == 1 && " $OPEN_LOOP_LOADS " == *" 50 "* ]]; then
        line+=", open loop 50% p99 GET / $(ms "${O[ol50.counter.p99_us]}") ms ($(mark "$(ms "${O[ol50.counter.p99_us]}")" '<=' "$TARGET_OPEN_COUNTER_P99_MS"))"
        line+=" /visits $(ms "${O[ol50.visits.p99_us]}") ms ($(mark "$(ms "${O[ol50.visits.p99_us]}")" '<=' "$TARGET_OPEN_VISITS_P99_MS"))"
        for k in ol50.counter ol50.visits; do errors_total=$((errors_total + O[$k.errors])); done
    fi
    if [[ $GROWTH == 1 ]]; then
        line+=", growth GET / $G_COUNTER ($(mark "$G_COUNTER" '>=' "$TARGET_GROWTH_DROP")) /visits $G_VISITS ($(mark "$G_VISITS" '>=' "$TARGET_GROWTH_DROP")) first $G_FIRST ($(mark "$G_FIRST" '>=' "$TARGET_GROWTH_DROP"))"
        pf=$(ratio "${G[prune.during_p99]}" "${G[prune.base_p99]}")
        line+=", pruning p99 ${pf}x ($(mark "$pf" '<=' "$TARGET_PRUNE_P99_FACTOR")) with ${G[prune.errors]} failed ($([[ ${G[prune.errors]} == 0 ]] && echo met || echo MISSED))"
        errors_total=$((errors_total + G[prune.errors]))
    fi
    line+=", statements $rt_ok, memory $APP_PEAK_MIB MiB ($(mark "$APP_PEAK_MIB" '<=' "$TARGET_MEMORY_MIB")), errors $errors_total ($([[ $errors_total == 0 ]] && echo met || echo MISSED))"
    echo "$line."
    echo
    echo "CPU steal (time the hypervisor gave to other machines) while the app was measured: $STEAL_PCT%"
    read -r samples busy most < <(sed -n "$((MEASURE_START + 1)),${MEASURE_END}p" "$WORK/rustc.txt" |
        awk '{ n++; if ($1 > 0) b++; if ($1 > m) m = $1 } END { print n + 0, b + 0, m + 0 }')
    if ((busy > 0)); then
        echo "note: rustc was running in $busy of $samples one-second samples (up to $most at once) while the app was measured: other work shared the CPU, the figures are noisy."
    else
        echo "machine: no rustc seen running while the app was measured ($samples one-second samples)."
    fi
    read -r samples busy most < <(awk '{ n++; if ($1 > 0) b++; if ($1 > m) m = $1 } END { print n + 0, b + 0, m + 0 }' "$WORK/rustc.txt")
    echo "whole run: rustc running in $busy of $samples one-second samples (up to $most at once); load average at the start $LOAD_START, at the end $(cut -d' ' -f1-3 /proc/loadavg)."
}
