#!/usr/bin/env bash
# The session benchmark: how close the session path gets to what
# PostgreSQL itself can do on this machine.
#
#   scripts/bench.sh                      # 15 s per run
#   BENCH_DURATION=5s scripts/bench.sh    # quicker, noisier
#
# It builds the release binary, starts it against a fresh database, creates
# 2,000 sessions, and drives three scenarios with wrk over loopback:
#   GET /         with a session cookie (read and write: the visit counter)
#   GET /visits   with a session cookie (read only)
#   GET /         without a cookie     (first visits: each creates a session)
# Before and after each one it runs its "limit" with pgbench on the same
# database and the same sessions table: the statements that request kind needs,
# without the app (scripts/bench/limit-*.sql). It prints requests/s, the ratio
# to the mean of the two limits, p50 and p99 latency, statements per request,
# errors, the app's memory, and how much CPU the hypervisor took away.
#
# Settings (environment):
#   BENCH_DURATION      length of each wrk and pgbench run (15s; e.g. 5s, 1m)
#   BENCH_DATABASE_URL  PostgreSQL server to use, without a database name
#                       (default postgres://postgres@127.0.0.1:5432, the local
#                       server, started with pg_ctlcluster if it is down)
#   BENCH_THREADS, BENCH_CONNECTIONS   wrk -t and -c (2, 64)
#   BENCH_PGBENCH_CLIENTS, BENCH_PGBENCH_JOBS   pgbench -c and -j (16, 2)
#   BENCH_SESSIONS      sessions created beforehand (2000)
# The app's own settings (DATABASE_MAX_CONNECTIONS, SESSION_TTL_SECONDS, ...)
# pass through from the environment; unset, the app's defaults apply (a .env
# file is not read: the app runs from a temporary directory), except one:
# DATABASE_MAX_CONNECTIONS is 32 unless given, sized for wrk's 64 clients. It
# is shared by the session store's per-worker pools, so 32 gives each of two
# workers 16, as many connections as pgbench's limit uses. Measured on GET /
# (12 s runs, interleaved): 16 -> 3,430 / 3,003 / 3,683 req/s, 32 -> 3,641 /
# 3,620 / 3,991, 64 -> 3,074 / 3,054 (p99 doubled); /visits is the same at 16
# and 32. The report prints the settings the app ran with.
#
# Progress goes to stderr, the result table to stdout. Only loopback traffic
# (and apt-get, when wrk is missing). The fresh database is dropped at the end.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BENCH_FILES=$ROOT/scripts/bench

DURATION=${BENCH_DURATION:-15s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
SESSIONS=${BENCH_SESSIONS:-2000}
PGBENCH_CLIENTS=${BENCH_PGBENCH_CLIENTS:-16}
PGBENCH_JOBS=${BENCH_PGBENCH_JOBS:-2}
# PostgreSQL 15 backends report their statistics at most once a second; an
# idle backend with unreported counts reports them 10 s after its last statement
# (PGSTAT_IDLE_INTERVAL; seen here: the last counts arrive 9-10 s after wrk
# stops). Waiting this long after the last request makes pg_stat_database complete.
STATS_SETTLE_SECONDS=12
START_TIMEOUT_SECONDS=120
BUILD_TIMEOUT_SECONDS=${BENCH_BUILD_TIMEOUT:-3600}

# Issue 6's targets.
TARGET_COUNTER_RATIO=0.85
TARGET_COUNTER_P99_MS=12
TARGET_VISITS_RATIO=0.5
TARGET_FIRST_RATIO=0.6
TARGET_MEMORY_MIB=64

say() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'bench: warning: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}
now() { date +%s.%N; }

# --- arguments ---------------------------------------------------------------

[[ $# -eq 0 ]] || die "no arguments expected (settings are environment variables; see the top of $0)"
if [[ $DURATION =~ ^([0-9]+)s?$ ]]; then
    DURATION_S=${BASH_REMATCH[1]}
elif [[ $DURATION =~ ^([0-9]+)m$ ]]; then
    DURATION_S=$((BASH_REMATCH[1] * 60))
else
    die "BENCH_DURATION must look like 15s, 15 or 1m, got '$DURATION'"
fi
((DURATION_S >= 1)) || die "BENCH_DURATION must be at least 1s"
for name in THREADS CONNECTIONS SESSIONS PGBENCH_CLIENTS PGBENCH_JOBS; do
    [[ ${!name} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$name must be a positive whole number, got '${!name}'"
done
((SESSIONS >= THREADS)) || die "BENCH_SESSIONS must be at least BENCH_THREADS"
SESSION_TTL=${SESSION_TTL_SECONDS:-3600}
SESSION_ABSOLUTE_TTL=${SESSION_ABSOLUTE_TTL_SECONDS:-86400}

# --- state and cleanup -------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/session-demo-bench.XXXXXX")
DB=session_demo_bench_$(date +%Y%m%d_%H%M%S)_$$
APP_PID=
CHILD_PID=
SAMPLER_PID=
DB_MAY_EXIST=
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

stop_app() {
    [[ -n $APP_PID ]] || return 0
    if kill -0 "$APP_PID" 2>/dev/null; then
        kill -TERM "$APP_PID" 2>/dev/null || true
        local i
        for i in $(seq 100); do
            kill -0 "$APP_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$APP_PID" 2>/dev/null; then
            warn "the app did not stop within 10 s of SIGTERM; killing it"
            kill -KILL "$APP_PID" 2>/dev/null || true
        fi
    fi
    wait "$APP_PID" 2>/dev/null || true
    APP_PID=
}

cleanup() {
    local status=$?
    set +e
    trap - EXIT INT TERM
    if [[ -n $CHILD_PID ]]; then
        kill -TERM "$CHILD_PID" 2>/dev/null
        wait "$CHILD_PID" 2>/dev/null
    fi
    if ((status == 1)) && [[ -s $WORK/app.log ]]; then
        printf 'bench: last lines of the app log:\n' >&2
        tail -n 20 "$WORK/app.log" | sed 's/^/    /' >&2
    fi
    [[ -z $SAMPLER_PID ]] || kill "$SAMPLER_PID" 2>/dev/null
    if [[ -n $APP_PID ]]; then
        say "stopping the app"
        stop_app
    fi
    if [[ -n $DB_MAY_EXIST ]]; then
        say "dropping database $DB"
        psql "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 ||
            psql "$ADMIN_URL" -X -q -c "DROP DATABASE IF EXISTS \"$DB\"" >/dev/null ||
            warn "could not drop database $DB; drop it by hand"
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools -------------------------------------------------------------------

for tool in cargo psql pgbench pg_isready curl awk timeout; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "$tool is required (psql, pgbench, pg_isready: apt-get install postgresql-client)"
done
if ! command -v wrk >/dev/null 2>&1; then
    say "installing wrk (apt-get)"
    sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "wrk is missing and installing it needs root: apt-get install wrk"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq >"$WORK/apt.log" 2>&1 ||
        die "apt-get update failed: $(tail -n 5 "$WORK/apt.log")"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq wrk >>"$WORK/apt.log" 2>&1 ||
        die "apt-get install wrk failed: $(tail -n 5 "$WORK/apt.log")"
fi

# Other work on the machine (someone compiling) makes the figures noisy: count
# the rustc processes once a second from the first pgbench run to the last wrk.
start_sampler() {
    (while :; do
        n=$(pgrep -c -x rustc 2>/dev/null || true)
        echo "${n:-0}"
        sleep 1
    done) >"$WORK/rustc.txt" &
    SAMPLER_PID=$!
}
stop_sampler() {
    [[ -z $SAMPLER_PID ]] || kill "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
}

# --- build -------------------------------------------------------------------

say "building the release binary (cargo build --release; waits if another build holds the lock)"
run_bounded "$BUILD_TIMEOUT_SECONDS" cargo build --release --quiet ||
    die "cargo build --release failed (or took longer than ${BUILD_TIMEOUT_SECONDS}s)"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
BINARY=${TARGET_DIR:-$ROOT/target}/release/session-demo
[[ -x $BINARY ]] || die "no release binary at $BINARY"

# --- PostgreSQL --------------------------------------------------------------

if [[ -n ${BENCH_DATABASE_URL:-} ]]; then
    SERVER_URL=${BENCH_DATABASE_URL}
    LOCAL_SERVER=
else
    SERVER_URL=postgres://postgres@127.0.0.1:5432
    LOCAL_SERVER=1
fi
# Split off any ?parameters, so the database name goes in front of them.
SERVER_PARAMS=
if [[ $SERVER_URL == *\?* ]]; then
    SERVER_PARAMS="?${SERVER_URL#*\?}"
    SERVER_URL=${SERVER_URL%%\?*}
fi
SERVER_URL=${SERVER_URL%/}
[[ $SERVER_URL =~ ^postgres(ql)?://[^/]+$ ]] ||
    die "BENCH_DATABASE_URL must be a postgres:// URL without a database name, e.g. postgres://postgres@127.0.0.1:5432"
ADMIN_URL=$SERVER_URL/postgres$SERVER_PARAMS
DB_URL=$SERVER_URL/$DB$SERVER_PARAMS
SHOWN_SERVER=$(sed -E 's#//([^:@/]*):[^@/]*@#//\1:***@#' <<<"$SERVER_URL")

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
# Careful: every psql_db connection runs transactions in the bench database, so
# it is never called while statements per request are being counted.
psql_db() { psql "$DB_URL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

PG_VERSION=$(psql_admin -c "SHOW server_version") ||
    die "cannot connect to PostgreSQL at $SHOWN_SERVER"
PG_DURABILITY=$(psql_admin -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name)
    FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'max_connections')")

# Transactions committed or rolled back in the bench database so far. Every
# statement the app runs outside an explicit transaction is one transaction,
# so the delta over a run, divided by its requests, is statements per request.
# Read from the maintenance database, so reading does not count itself.
xacts() {
    psql_admin -c "SELECT coalesce(sum(xact_commit + xact_rollback), 0)
        FROM pg_stat_database WHERE datname = '$DB'"
}

# Waits until the app's backends have reported their counts (see
# STATS_SETTLE_SECONDS), and at least one second in any case.
settle_stats() {
    local wait
    wait=$(awk -v last="$LAST_APP_ACTIVITY" -v now="$(now)" -v settle="$STATS_SETTLE_SECONDS" \
        'BEGIN { w = settle - (now - last); if (w < 1) w = 1; printf "%.1f", w }')
    pause "$wait"
}

# --- the app -----------------------------------------------------------------

# Warnings only: no per-request access lines (they cost throughput), but the
# startup line with the bound address, which is logged at info level.
APP_RUST_LOG=warn,session_demo::startup=info

# Pool size for this load (see the top of this file); the caller's value wins.
export DATABASE_MAX_CONNECTIONS=${DATABASE_MAX_CONNECTIONS:-32}

# The app's settings (secrets and URLs left out), for the report.
APP_SETTINGS=
for name in $(compgen -e | sort); do
    [[ $name =~ ^(APP_|COOKIE_|DATABASE_|SESSION_) && ! $name =~ SECRET|URL|PASSWORD ]] || continue
    APP_SETTINGS+="${APP_SETTINGS:+ }$name=${!name}"
done

say "starting the app on a fresh database $DB at $SHOWN_SERVER"
SECRET=$(head -c 72 /dev/urandom | base64 | tr -d '\n')
DB_MAY_EXIST=1 # the app creates it; from here on, cleanup drops it
(
    cd "$WORK" # no .env here: only the environment below and the caller's apply
    exec env DATABASE_URL="$DB_URL" SESSION_SECRET="$SECRET" BIND_ADDR=127.0.0.1:0 \
        RUST_LOG="$APP_RUST_LOG" "$BINARY"
) >"$WORK/app.out" 2>"$WORK/app.log" &
APP_PID=$!

APP_URL=
deadline=$((SECONDS + START_TIMEOUT_SECONDS))
while [[ -z $APP_URL ]]; do
    kill -0 "$APP_PID" 2>/dev/null || die "the app exited during start"
    ((SECONDS < deadline)) || die "the app did not report its address within ${START_TIMEOUT_SECONDS}s"
    APP_URL=$(grep -o -m 1 'listening on http://127\.0\.0\.1:[0-9]*' "$WORK/app.log" |
        sed 's/^listening on //' || true)
    [[ -n $APP_URL ]] || sleep 0.1
done
say "app (pid $APP_PID) listening on $APP_URL"

rss_mib() {
    awk -v key="$1:" '$1 == key { printf "%.1f", $2 / 1024 }' "/proc/$APP_PID/status"
}
RSS_START=$(rss_mib VmRSS)

# --- sessions ----------------------------------------------------------------

say "creating $SESSIONS sessions (GET / without a cookie, 8 at a time)"
for _ in $(seq "$SESSIONS"); do
    printf 'url = "%s/"\noutput = "/dev/null"\n' "$APP_URL"
done >"$WORK/sessions.curl"
run_bounded 300 curl --silent --no-progress-meter --show-error --fail --max-time 30 \
    --parallel --parallel-max 8 --write-out '%header{set-cookie}\n' \
    --config "$WORK/sessions.curl" >"$WORK/set-cookie.txt" 2>"$WORK/curl.log" ||
    die "creating sessions failed: $(head -n 5 "$WORK/curl.log")"
# Keep the name=value pair of each Set-Cookie (the session cookie is the only one).
cut -d';' -f1 "$WORK/set-cookie.txt" | grep -v '^$' >"$WORK/cookies.txt" || true
COOKIES=$(sort -u "$WORK/cookies.txt" | wc -l)
((COOKIES == SESSIONS)) ||
    die "expected $SESSIONS distinct session cookies, got $COOKIES (see Set-Cookie: $(head -n 1 "$WORK/set-cookie.txt"))"
IFS='|' read -r ROWS MIN_ID MAX_ID < <(psql_db -c "SELECT count(*), min(id), max(id) FROM sessions")
((ROWS == SESSIONS)) || die "expected $SESSIONS rows in sessions, found $ROWS"
((MAX_ID - MIN_ID + 1 == SESSIONS)) ||
    warn "session ids are not contiguous ($MIN_ID..$MAX_ID): some pgbench lookups will miss"
probe=$(curl -sS --fail --max-time 10 -H "Cookie: $(head -n 1 "$WORK/cookies.txt")" "$APP_URL/visits")
[[ $probe == '{"visits":1}' ]] || die "a collected cookie does not reach its session: GET /visits said $probe"
LAST_APP_ACTIVITY=$(now)

# --- pgbench limits ----------------------------------------------------------

# Every measurement starts right after a CHECKPOINT, so that no run (limit or
# app) gets a checkpoint's burst of writes in its middle and another none.
# (CHECKPOINT needs a superuser or the pg_checkpoint role; without, the runs
# simply go without it.)
CHECKPOINT_WARNED=
checkpoint() {
    psql_admin -c "CHECKPOINT" >/dev/null 2>&1 && return
    [[ -n $CHECKPOINT_WARNED ]] || warn "CHECKPOINT refused (not a superuser?): measuring without"
    CHECKPOINT_WARNED=1
}

# pgbench_limit NAME VARIABLE: runs scripts/bench/limit-NAME.sql and stores its
# tps in VARIABLE. Fails on errors or failed transactions.
pgbench_limit() {
    local name=$1 var=$2 log=$WORK/pgbench-$1.log
    checkpoint
    say "pgbench limit '$name': $PGBENCH_CLIENTS clients, ${DURATION_S}s"
    if ! run_bounded $((DURATION_S + 60)) pgbench --no-vacuum --protocol=prepared \
        --client="$PGBENCH_CLIENTS" --jobs="$PGBENCH_JOBS" --time="$DURATION_S" \
        --define=min_id="$MIN_ID" --define=max_id="$MAX_ID" \
        --define=ttl="$SESSION_TTL seconds" --define=absolute="$SESSION_ABSOLUTE_TTL seconds" \
        --file="$BENCH_FILES/limit-$name.sql" "$DB_URL" >"$log" 2>&1; then
        sed 's/^/    /' "$log" >&2
        die "pgbench ($name) failed"
    fi
    local tps failed
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$log" | tail -n 1)
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log")
    [[ -n $tps ]] || die "no tps in the pgbench output: $(cat "$log")"
    [[ -z $failed || $failed == 0 ]] || die "pgbench ($name): $failed failed transactions"
    printf -v "$var" '%s' "$tps"
    say "  $(printf "%.0f" "$tps") transactions/s"
}

# --- wrk scenarios -----------------------------------------------------------

declare -A R # results, keyed "scenario.field"

# run_scenario KEY PATH COOKIE_FILE|- [COUNT_FUNCTION]
# COUNT_FUNCTION, when given, prints a number that grows by one for each request
# the app handles (visits recorded, sessions created): wrk counts only the
# requests it saw completed, not the up to BENCH_CONNECTIONS still in flight when
# it stops, yet the app ran their statements too. Statements per request divide
# by the larger of the two counts.
run_scenario() {
    local key=$1 path=$2 cookies=$3 count=${4:-} out=$WORK/wrk-$1.txt
    local handled_before=0
    [[ -z $count ]] || handled_before=$($count)
    checkpoint
    settle_stats
    local before
    before=$(xacts)
    say "wrk $path ($key): -t$THREADS -c$CONNECTIONS -d${DURATION_S}s$([[ $cookies == - ]] && echo ', no cookie' || echo ", $SESSIONS cookies round-robin")"
    if ! BENCH_COOKIES=$([[ $cookies == - ]] || echo "$cookies") BENCH_THREADS=$THREADS \
        run_bounded $((DURATION_S + 60)) wrk --threads "$THREADS" --connections "$CONNECTIONS" \
        --duration "${DURATION_S}s" --timeout 10s --script "$BENCH_FILES/rotate.lua" \
        "$APP_URL$path" >"$out" 2>&1; then
        sed 's/^/    /' "$out" >&2
        die "wrk ($key) failed"
    fi
    LAST_APP_ACTIVITY=$(now)
    local line
    line=$(grep -m 1 '^BENCH ' "$out") || {
        sed 's/^/    /' "$out" >&2
        die "no result line in the wrk output ($key)"
    }
    local field
    for field in ${line#BENCH }; do
        R[$key.${field%%=*}]=${field#*=}
    done
    R[$key.rss]=$(rss_mib VmRSS)
    settle_stats
    local after
    after=$(xacts)
    R[$key.xacts]=$((after - before))
    R[$key.handled]=${R[$key.requests]}
    if [[ -n $count ]]; then
        R[$key.handled]=$(($($count) - handled_before))
        ((R[$key.handled] >= R[$key.requests])) || R[$key.handled]=${R[$key.requests]}
    fi
    R[$key.rps]=$(awk -v n="${R[$key.requests]}" -v us="${R[$key.duration_us]}" 'BEGIN { printf "%.0f", n / (us / 1e6) }')
    R[$key.rt]=$(awk -v x="${R[$key.xacts]}" -v n="${R[$key.handled]}" 'BEGIN { printf "%.2f", n ? x / n : 0 }')
    say "  ${R[$key.rps]} req/s, p50 $(ms "${R[$key.p50_us]}") ms, p99 $(ms "${R[$key.p99_us]}") ms, ${R[$key.rt]} statements/request, RSS ${R[$key.rss]} MiB"
}
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

# warm_up PATH COOKIE_FILE|-: two seconds of the same load, not measured. The
# app's pools open their connections and prepare their statements on first use;
# measured from cold, opening 32 connections added about 90 transactions to a
# run (each new PostgreSQL backend commits one at start), which showed as 2.01
# statements per request in a 5 s run.
warm_up() {
    local path=$1 cookies=$2
    BENCH_COOKIES=$([[ $cookies == - ]] || echo "$cookies") BENCH_THREADS=$THREADS \
        run_bounded 60 wrk --threads "$THREADS" --connections "$CONNECTIONS" --duration 2s \
        --timeout 10s --script "$BENCH_FILES/rotate.lua" "$APP_URL$path" >/dev/null 2>&1 ||
        die "wrk (warm-up of $path) failed"
    LAST_APP_ACTIVITY=$(now)
}

visits_total() { psql_db -c "SELECT coalesce(sum((state ->> 'visits')::bigint), 0) FROM sessions"; }
session_count() { psql_db -c "SELECT count(*) FROM sessions"; }

# Each limit runs right before and right after its scenario, on the same table,
# and the ratio uses the mean of the two: the speed of a shared virtual machine
# drifts from minute to minute, and a limit measured only before would credit
# or blame the app for that drift.
mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a + b) / 2 }'; }
start_sampler
cpu_before=$(head -n 1 /proc/stat)
pgbench_limit counter LIMIT_COUNTER_BEFORE
warm_up / "$WORK/cookies.txt"
VISITS_BEFORE=$(visits_total)
run_scenario counter / "$WORK/cookies.txt" visits_total
VISITS_AFTER=$(visits_total)
pgbench_limit counter LIMIT_COUNTER_AFTER
LIMIT_COUNTER=$(mean "$LIMIT_COUNTER_BEFORE" "$LIMIT_COUNTER_AFTER")

pgbench_limit select LIMIT_SELECT_BEFORE
warm_up /visits "$WORK/cookies.txt"
VISITS_BEFORE_READ=$(visits_total)
ROWS_BEFORE_READ=$(session_count)
run_scenario visits /visits "$WORK/cookies.txt"
VISITS_AFTER_READ=$(visits_total)
ROWS_AFTER_READ=$(session_count)
pgbench_limit select LIMIT_SELECT_AFTER
LIMIT_SELECT=$(mean "$LIMIT_SELECT_BEFORE" "$LIMIT_SELECT_AFTER")

pgbench_limit insert LIMIT_INSERT_BEFORE
warm_up / -
ROWS_BEFORE_FIRST=$(session_count)
run_scenario first / - session_count
ROWS_AFTER_FIRST=$(session_count)
pgbench_limit insert LIMIT_INSERT_AFTER
LIMIT_INSERT=$(mean "$LIMIT_INSERT_BEFORE" "$LIMIT_INSERT_AFTER")
cpu_after=$(head -n 1 /proc/stat)

stop_sampler
# The share of CPU time the hypervisor gave to other machines ("steal", the 8th
# number of the cpu line in /proc/stat) while the measurements ran.
STEAL_PCT=$(awk -v a="$cpu_before" -v b="$cpu_after" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); total = 0
    for (i = 2; i <= 9 && i <= n; i++) total += y[i] - x[i]
    printf "%.1f", total ? 100 * (y[9] - x[9]) / total : 0 }')
PEAK_MIB=$(rss_mib VmHWM)
say "stopping the app"
stop_app

# --- report ------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
# mark VALUE OP TARGET -> "met" or "MISSED"
mark() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "met" : "MISSED" }'; }
errors() {
    local k=$1
    printf '%s / %s' "${R[$k.status]}" \
        "$((R[$k.connect] + R[$k.read] + R[$k.write] + R[$k.timeout]))"
}

C_RATIO=$(ratio "${R[counter.rps]}" "$LIMIT_COUNTER")
V_RATIO=$(ratio "${R[visits.rps]}" "$LIMIT_SELECT")
F_RATIO=$(ratio "${R[first.rps]}" "$LIMIT_INSERT")
C_P99=$(ms "${R[counter.p99_us]}")

row() { printf '| %-18s | %6s | %-15s | %-14s | %8s | %-19s | %-24s | %-16s |\n' "$@"; }
{
    echo
    echo "session-demo benchmark: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $(nproc) cores, PostgreSQL $PG_VERSION ($PG_DURABILITY); wrk -t$THREADS -c$CONNECTIONS -d${DURATION_S}s over $SESSIONS sessions; pgbench -M prepared -c$PGBENCH_CLIENTS -j$PGBENCH_JOBS -T$DURATION_S"
    echo "app settings: ${APP_SETTINGS:-the defaults}"
    echo
    row "scenario" "req/s" "limit (tps)" "ratio (target)" "p50" "p99 (target)" "round trips/req (target)" "non-2xx / errors"
    row "---" "---:" "---" "---" "---:" "---" "---" "---"
    row "GET / (read+write)" "${R[counter.rps]}" "counter $(printf '%.0f' "$LIMIT_COUNTER")" \
        "$C_RATIO (>= $TARGET_COUNTER_RATIO)" "$(ms "${R[counter.p50_us]}") ms" \
        "$C_P99 ms (<= $TARGET_COUNTER_P99_MS ms)" "${R[counter.rt]} (2)" "$(errors counter)"
    row "GET /visits (read)" "${R[visits.rps]}" "SELECT $(printf '%.0f' "$LIMIT_SELECT")" \
        "$V_RATIO (>= $TARGET_VISITS_RATIO)" "$(ms "${R[visits.p50_us]}") ms" \
        "$(ms "${R[visits.p99_us]}") ms" "${R[visits.rt]} (1)" "$(errors visits)"
    row "GET / first visit" "${R[first.rps]}" "INSERT $(printf '%.0f' "$LIMIT_INSERT")" \
        "$F_RATIO (>= $TARGET_FIRST_RATIO)" "$(ms "${R[first.p50_us]}") ms" \
        "$(ms "${R[first.p99_us]}") ms" "${R[first.rt]} (1)" "$(errors first)"
    echo
    echo "peak memory (VmHWM): $PEAK_MIB MiB (target <= $TARGET_MEMORY_MIB MiB); RSS after start ${RSS_START}, after GET / ${R[counter.rss]}, after /visits ${R[visits.rss]}, after first visits ${R[first.rss]} MiB"
    echo "checks: GET / recorded $((VISITS_AFTER - VISITS_BEFORE)) visits for ${R[counter.requests]} requests;" \
        "/visits changed $((VISITS_AFTER_READ - VISITS_BEFORE_READ)) visits and $((ROWS_AFTER_READ - ROWS_BEFORE_READ)) rows;" \
        "first visits created $((ROWS_AFTER_FIRST - ROWS_BEFORE_FIRST)) sessions for ${R[first.requests]} requests"
    log_lines=$(wc -l <"$WORK/app.log")
    echo "app log (RUST_LOG=$APP_RUST_LOG): $log_lines lines, $(grep -c -E '^\[[^]]* (WARN|ERROR) ' "$WORK/app.log" || true) warnings or errors"
    if ((log_lines > 1000)); then
        echo "note: the app logged about a line per request; the figures include that logging."
    fi
    echo "limits (tps) before / after each scenario: counter $(printf '%.0f / %.0f' "$LIMIT_COUNTER_BEFORE" "$LIMIT_COUNTER_AFTER")," \
        "SELECT $(printf '%.0f / %.0f' "$LIMIT_SELECT_BEFORE" "$LIMIT_SELECT_AFTER")," \
        "INSERT $(printf '%.0f / %.0f' "$LIMIT_INSERT_BEFORE" "$LIMIT_INSERT_AFTER"); the table shows their mean"
    echo "latency floor: wrk keeps $CONNECTIONS requests in flight, so the mean latency is $CONNECTIONS / (req/s) (Little's law):" \
        "$(awk -v c="$CONNECTIONS" -v r="${R[counter.rps]}" 'BEGIN { printf "%.1f", r ? 1000 * c / r : 0 }') ms for GET / at this rate;" \
        "a p99 of $TARGET_COUNTER_P99_MS ms needs at least $(awk -v c="$CONNECTIONS" -v t="$TARGET_COUNTER_P99_MS" 'BEGIN { printf "%.0f", 1000 * c / t }') req/s even with no spread at all"
    echo "CPU steal (time the hypervisor gave to other machines) during the measurements: $STEAL_PCT%"
    echo "round trips/req = statements: transactions in the bench database (pg_stat_database) per request handled; each statement outside BEGIN is its own transaction. Pings and Parse/Describe messages are not counted."
    echo "errors = wrk socket errors (connect + read + write + timeout); wrk counts status >= 400 as non-2xx."
    errors_total=0
    for k in counter visits first; do
        errors_total=$((errors_total + R[$k.status] + R[$k.connect] + R[$k.read] + R[$k.write] + R[$k.timeout]))
    done
    rt_ok=$(awk -v c="${R[counter.rt]}" -v v="${R[visits.rt]}" -v f="${R[first.rt]}" \
        'BEGIN { print (c <= 2.005 && v <= 1.005 && f <= 1.005) ? "met" : "MISSED" }')
    echo "targets: GET / ratio $(mark "$C_RATIO" '>=' "$TARGET_COUNTER_RATIO"), GET / p99 $(mark "$C_P99" '<=' "$TARGET_COUNTER_P99_MS")," \
        "/visits ratio $(mark "$V_RATIO" '>=' "$TARGET_VISITS_RATIO"), first visits ratio $(mark "$F_RATIO" '>=' "$TARGET_FIRST_RATIO")," \
        "statements $rt_ok, memory $(mark "$PEAK_MIB" '<=' "$TARGET_MEMORY_MIB"), errors $([[ $errors_total == 0 ]] && echo met || echo MISSED)"
    read -r samples busy most < <(awk '{ n++; if ($1 > 0) b++; if ($1 > m) m = $1 } END { print n + 0, b + 0, m + 0 }' "$WORK/rustc.txt")
    if ((busy > 0)); then
        echo "note: rustc was running in $busy of $samples one-second samples (up to $most at once): other work shared the CPU, the figures are noisy."
    else
        echo "machine: no rustc seen running during the measurements ($samples one-second samples)."
    fi
}
