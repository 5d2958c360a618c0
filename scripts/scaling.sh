#!/usr/bin/env bash
# The figures of docs/scaling.md: what one request of each kind costs the app,
# PostgreSQL and nginx, measured on the local deployment (scripts/cluster.sh).
#
#   scripts/cluster.sh up && scripts/scaling.sh
#
# Light on purpose (a few seconds of load per kind, 8 connections): it
# reports costs per request (CPU milliseconds, statements, WAL bytes), which
# hold on a machine shared with other work, rather than peak throughput,
# which does not. For each kind it runs wrk against instance 1 directly (or
# through nginx, for the proxy's share) with 200 sessions round-robin, and
# reads before and after:
#   - CPU time (user + system) of the three instances (through nginx, requests
#     go round all three), of every PostgreSQL process of
#     the cluster, and of nginx (from /proc);
#   - transactions committed (pg_stat_database.xact_commit: every statement of
#     the app is its own transaction; PostgreSQL 15 counts one that reads no
#     table, such as /healthz's SELECT 1, only with that connection's next
#     table access) and the WAL position (pg_current_wal_lsn).
# Settings: SCALING_SECONDS (5), SCALING_CONNECTIONS (8), SCALING_SESSIONS (200);
# CLUSTER_* as for cluster.sh. Only loopback traffic.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
STATE=${CLUSTER_DIR:-$ROOT/target/cluster}
HTTPS_PORT=${CLUSTER_HTTPS_PORT:-8443}
read -r -a INSTANCE_PORTS <<<"${CLUSTER_INSTANCE_PORTS:-8081 8082 8083}"
PG_PORT=${CLUSTER_PG_PORT:-55432}
SECONDS_PER_KIND=${SCALING_SECONDS:-5}
CONNECTIONS=${SCALING_CONNECTIONS:-8}
SESSIONS=${SCALING_SESSIONS:-200}
APP=http://127.0.0.1:${INSTANCE_PORTS[0]}
PROXY=https://127.0.0.1:$HTTPS_PORT
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

die() {
    printf 'scaling: %s\n' "$*" >&2
    exit 1
}
for tool in wrk psql curl; do
    command -v $tool >/dev/null || die "$tool not found (apt-get install wrk postgresql-client curl)"
done
[[ -f $STATE/instance-0.pid ]] && kill -0 "$(cat "$STATE/instance-0.pid")" 2>/dev/null ||
    die "the cluster is not running: scripts/cluster.sh up"
APP_PIDS=$(cat "$STATE"/instance-[012].pid)
PG_PID=$(head -n 1 "$STATE/postgres/postmaster.pid")
NGINX_PID=$(cat "$STATE/nginx/nginx.pid")

sql() { psql -X -q -t -A -h 127.0.0.1 -p "$PG_PORT" -U postgres -d session_demo -c "$1"; }

# CPU seconds (user + system) of processes and their children, from /proc.
cpu_of() {
    local pids
    pids="$* $(for pid in "$@"; do pgrep -P "$pid"; done | tr '\n' ' ')"
    # shellcheck disable=SC2086
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); t += $12 + $13 } END { printf "%.3f", t / hz }' \
        $(printf '/proc/%s/stat ' $pids) 2>/dev/null
}

snapshot() {
    # shellcheck disable=SC2086
    printf '%s %s %s %s %s\n' "$(cpu_of $APP_PIDS)" "$(cpu_of "$PG_PID")" "$(cpu_of "$NGINX_PID")" \
        "$(sql "SELECT xact_commit FROM pg_stat_database WHERE datname = 'session_demo'")" \
        "$(sql "SELECT pg_current_wal_lsn() - '0/0'")"
}

# Sessions: first visits, keeping the cookie of each; a second set gets a
# cart with one line each (for the cart page; the counter's page then also
# reads the cart's item count for its navigation, so the sets are kept apart).
new_sessions() {
    for _ in $(seq "$SESSIONS"); do
        curl -sS --fail -o /dev/null -D - "$APP/" | grep -i '^set-cookie:' | sed 's/^[^:]*: //; s/;.*//'
    done
}
new_sessions >"$WORK/cookies.txt"
new_sessions >"$WORK/carts.txt"
[[ $(sort -u "$WORK/cookies.txt" "$WORK/carts.txt" | wc -l) == $((2 * SESSIONS)) ]] ||
    die "could not make $((2 * SESSIONS)) sessions"
while read -r cookie; do
    token=$(curl -sS --fail -H "Cookie: $cookie" "$APP/cart" | grep -o 'name="csrf_token" value="[^"]*"' |
        head -n 1 | sed 's/.*value="//; s/"$//')
    curl -sS --fail -o /dev/null -H "Cookie: $cookie" -d "csrf_token=$token&product_id=1&quantity=1" "$APP/cart/add"
done <"$WORK/carts.txt"

# measure KIND URL COOKIES(-|file): one wrk run, then the costs per request.
measure() {
    local kind=$1 url=$2 cookies=$3
    BENCH_COOKIES=$([[ $cookies == - ]] || echo "$cookies") BENCH_THREADS=1 \
        wrk -t1 -c"$CONNECTIONS" -d1s -s "$ROOT/scripts/bench/rotate.lua" "$url" >/dev/null # warm-up
    sleep 11 # PostgreSQL 15 reports an idle backend's counts up to 10 s late
    read -r app0 pg0 nginx0 xact0 wal0 < <(snapshot)
    BENCH_COOKIES=$([[ $cookies == - ]] || echo "$cookies") BENCH_THREADS=1 \
        wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_KIND}s" -s "$ROOT/scripts/bench/rotate.lua" "$url" \
        >"$WORK/wrk.txt"
    sleep 11
    read -r app1 pg1 nginx1 xact1 wal1 < <(snapshot)
    local line requests errors
    line=$(grep '^BENCH ' "$WORK/wrk.txt")
    requests=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line")
    errors=$(sed 's/.*status=\([0-9]*\).*/\1/' <<<"$line")
    report "$kind" "$requests" "$errors" "$SECONDS_PER_KIND" "$app0 $app1" "$pg0 $pg1" \
        "$nginx0 $nginx1" "$((xact1 - xact0))" "$((wal1 - wal0))"
}

# report KIND REQUESTS ERRORS SECONDS "APP0 APP1" "PG0 PG1" "NGINX0 NGINX1" XACTS WAL
report() {
    # Of the transactions counted, two are this script's own reads (the
    # "before" snapshot's); every other one is a statement of the app.
    awk -v kind="$1" -v n="$2" -v err="$3" -v s="$4" -v app="$5" -v pg="$6" -v ngx="$7" \
        -v xact="$(($8 - 2))" -v wal="$9" '
        function delta(pair, parts) { split(pair, parts, " "); return parts[2] - parts[1] }
        BEGIN {
            a = delta(app); p = delta(pg); x = delta(ngx)
            printf "%-28s %8d %6.0f %7.3f %7.3f %8.3f %6.2f %7.0f %8.0f %s\n", kind, n, n / s,
                1000 * a / n, 1000 * p / n, 1000 * x / n, xact / n, wal / n,
                (a > 0 ? n / a : 0), (err > 0 ? "errors=" err : "")
        }'
}

# Failed sign-ins (an Argon2 hash each), one at a time, distinct usernames
# (no lockout); fewer than the per-address burst.
measure_logins() {
    local n=15 cookie token started
    cookie=$(head -n 1 "$WORK/cookies.txt")
    token=$(curl -sS --fail -H "Cookie: $cookie" "$APP/login" | grep -o 'name="csrf_token" value="[^"]*"' |
        head -n 1 | sed 's/.*value="//; s/"$//')
    sleep 11
    read -r app0 pg0 nginx0 xact0 wal0 < <(snapshot)
    started=$(date +%s.%N)
    for i in $(seq "$n"); do
        curl -sS -o /dev/null -w '%{http_code}\n' -H "Cookie: $cookie" \
            -d "csrf_token=$token&username=nobody_$i&password=not-the-password" "$APP/login"
    done | grep -vc '^401$' >"$WORK/login-errors.txt" || true
    local seconds
    seconds=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    sleep 11
    read -r app1 pg1 nginx1 xact1 wal1 < <(snapshot)
    report "POST /login (wrong password)" "$n" "$(cat "$WORK/login-errors.txt")" "$seconds" \
        "$app0 $app1" "$pg0 $pg1" "$nginx0 $nginx1" "$((xact1 - xact0))" "$((wal1 - wal0))"
}

cat <<EOF
$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), wrk -c$CONNECTIONS for ${SECONDS_PER_KIND}s per kind, $SESSIONS sessions
kind                         requests  req/s  app ms   pg ms nginx ms  stmts   WAL B  req/app-core-s
EOF
measure "GET /visits (read)" "$APP/visits" "$WORK/cookies.txt"
measure "GET / (read + write)" "$APP/" "$WORK/cookies.txt"
measure "GET / no cookie (new)" "$APP/" -
measure "GET /cart (session + cart)" "$APP/cart" "$WORK/carts.txt"
measure "GET /visits via nginx TLS" "$PROXY/visits" "$WORK/cookies.txt"
measure_logins
# Last: its statements are counted only once its connections touch a table.
measure "GET /healthz" "$APP/healthz" -
