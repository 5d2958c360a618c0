#!/usr/bin/env bash
# Where the time of one kind of request goes: a CPU profile of the whole
# machine while wrk drives the release app, as in scripts/bench.sh.
#
#   scripts/profile.sh              # GET / with a session cookie: the counter path
#   scripts/profile.sh /visits      # the read-only path
#   PROFILE_SECONDS=30 scripts/profile.sh
#
# It builds the release binary, starts it at its default settings on a fresh
# database of the local PostgreSQL (127.0.0.1:5432, or PROFILE_DATABASE_URL
# without a database name), creates 2,000 sessions, and runs
# `wrk -t2 -c64` over their cookies while `perf record` samples every CPU with
# the software clock (virtual machines often have no hardware counters). Then it
# prints, from the same samples: the share of all CPU time per process (the app,
# PostgreSQL's backends, wrk, idle), the app's share per library (its own code,
# libc, the kernel), and the app's top functions. It stops the app and drops
# the database at the end. Needs perf (Debian: linux-perf) and wrk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

PATH_TO_DRIVE=${1:-/}
SECONDS_TO_RUN=${PROFILE_SECONDS:-20}
SESSIONS=2000
SERVER=${PROFILE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
DB=profile_$$
WORK=$(mktemp -d)
APP_PID=

say() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'profile: error: %s\n' "$*" >&2
    exit 1
}
cleanup() {
    [[ -z $APP_PID ]] || { kill -TERM "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null; } || true
    psql "$SERVER/postgres" -X -q -c "DROP DATABASE IF EXISTS \"$DB\"" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in perf wrk psql curl; do
    command -v "$tool" >/dev/null || die "$tool is not installed (Debian: linux-perf, wrk, postgresql-client, curl)"
done
[[ $PATH_TO_DRIVE == /* ]] || die "the path must start with /, got '$PATH_TO_DRIVE'"

say "building the release binary"
cargo build --release --quiet
TARGET=$(cargo metadata --format-version 1 --no-deps | sed -E 's/.*"target_directory":"([^"]*)".*/\1/')
APP=$TARGET/release/session-demo

say "starting the app on a fresh database $DB"
# As in scripts/bench.sh: behind a trusted proxy, each request from a client
# address of its own (the app limits new sessions per address).
export BENCH_CLIENTS=65536
env DATABASE_URL="$SERVER/$DB" BIND_ADDR=127.0.0.1:0 RUST_LOG=warn,session_demo::startup=info TRUSTED_PROXIES=127.0.0.1 \
    SESSION_SECRET="$(head -c 72 /dev/urandom | base64 | tr -d '\n')" \
    "$APP" >"$WORK/app.out" 2>"$WORK/app.log" &
APP_PID=$!
URL=
for _ in $(seq 600); do
    URL=$(grep -o -m 1 'listening on http://127\.0\.0\.1:[0-9]*' "$WORK/app.log" | sed 's/^listening on //' || true)
    [[ -z $URL ]] || break
    kill -0 "$APP_PID" 2>/dev/null || die "the app stopped: $(tail -n 5 "$WORK/app.log")"
    sleep 0.1
done
[[ -n $URL ]] || die "the app did not report its address"

say "creating $SESSIONS sessions"
for n in $(seq 0 $((SESSIONS - 1))); do
    ((n == 0)) || echo next
    printf 'url = "%s/"\noutput = "/dev/null"\nheader = "X-Forwarded-For: 10.255.%d.%d"\n' "$URL" $((n / 256)) $((n % 256))
    printf 'silent\nshow-error\nfail\nwrite-out = "%%header{set-cookie}\\n"\n'
done >"$WORK/sessions.curl"
curl --parallel --parallel-max 8 --config "$WORK/sessions.curl" | cut -d';' -f1 | grep -v '^$' >"$WORK/cookies.txt"

drive() {
    BENCH_COOKIES=$WORK/cookies.txt BENCH_THREADS=2 wrk --threads 2 --connections 64 \
        --duration "$1s" --script "$ROOT/scripts/bench/rotate.lua" "$URL$PATH_TO_DRIVE"
}
say "warming up (3 s), then $SECONDS_TO_RUN s of $PATH_TO_DRIVE under perf record"
drive 3 >/dev/null
drive "$SECONDS_TO_RUN" >"$WORK/wrk.txt" &
WRK_PID=$!
sleep 1
perf record --quiet -a -e cpu-clock -F 999 -o "$WORK/perf.data" -- sleep $((SECONDS_TO_RUN - 2)) 2>/dev/null
wait "$WRK_PID"

set +o pipefail # head ends each report early, on purpose
echo "## Profile of GET $PATH_TO_DRIVE ($(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "wrk -t2 -c64 over $SESSIONS sessions: $(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.txt") req/s"
echo
echo "### All CPU time, by process (idle is swapper)"
echo '```'
perf report --quiet -i "$WORK/perf.data" --sort comm --stdio 2>/dev/null | grep -v '^$' | head -n 12
echo '```'
echo
echo "### The app's CPU time, by library"
echo '```'
perf report --quiet -i "$WORK/perf.data" --pid "$APP_PID" --sort dso --stdio 2>/dev/null | grep -v '^$' | head -n 8
echo '```'
echo
echo "### The app's top functions (self time, share of the app's samples)"
echo '```'
perf report --quiet -i "$WORK/perf.data" --pid "$APP_PID" --sort sym --stdio 2>/dev/null | grep -v '^$' | head -n 30
echo '```'
