#!/usr/bin/env bash
# A local high-availability deployment: etcd, three PostgreSQL 15 nodes
# managed by Patroni (synchronous replication), HAProxy routing to the
# current primary, and the three production app instances behind nginx over
# HTTPS (scripts/cluster.sh, with its DATABASE_URL pointing at HAProxy).
#
#   scripts/ha.sh up            start everything; returns once the app answers
#   scripts/ha.sh status        the Patroni members and leader, HAProxy's
#                               choice, the app instances
#   scripts/ha.sh kill-primary  SIGKILL to the current primary's postmaster
#   scripts/ha.sh switchover    a planned switchover to the synchronous standby
#   scripts/ha.sh down          stop everything it started (the data stays)
#   scripts/ha.sh chart         draw the failover test's last timelines
#                               (target/failover/*.tsv, or HA_TIMELINES/) with
#                               gnuplot into docs/high-availability-failover.svg
#                               (HA_CHART)
#
# docs/high-availability.md explains the design and what it promises. The
# configuration is in deploy/ha/ (etcd.yml, patroni.yml, haproxy.cfg): this
# script fills in their @@NAME@@ placeholders.
#
# Everything lives in target/ha/ (HA_DIR; target/ is CARGO_TARGET_DIR when
# set): etcd's data, each node's folder (configuration, data, log), HAProxy's
# configuration, pid files, logs, generated passwords, and the app cluster's
# folder (target/ha/cluster). When this runs as root, Patroni and PostgreSQL
# run as the `postgres` account (PostgreSQL refuses root); if that account
# cannot reach target/ha (a checkout under /root, say), the nodes' folders
# move to /tmp/session-demo-ha-<digest>/ and the script says so.
# Only 127.0.0.1 is used.
#
# Settings (environment):
#   HA_DIR                 state folder (target/ha)
#   HA_ETCD_PORTS          etcd's client and peer ports ("12379 12380")
#   HA_PG_PORTS            the three PostgreSQL ports ("15433 15434 15435")
#   HA_REST_PORTS          the three Patroni REST API ports ("18008 18009 18010")
#   HA_HAPROXY_PORT        HAProxy's PostgreSQL port, the app's database (15432)
#   HA_STATS_PORT          HAProxy's statistics page (18404)
#   CLUSTER_*              passed on to scripts/cluster.sh (ports, profile)
set -euo pipefail

# cargo reads a relative CARGO_TARGET_DIR from the directory it runs in: make
# it absolute before leaving the caller's.
[[ -z ${CARGO_TARGET_DIR:-} ]] || export CARGO_TARGET_DIR=$(realpath -m "$CARGO_TARGET_DIR")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STATE=$(realpath -m "${HA_DIR:-$TARGET/ha}")
read -r ETCD_CLIENT_PORT ETCD_PEER_PORT <<<"${HA_ETCD_PORTS:-12379 12380}"
read -r -a PG_PORTS <<<"${HA_PG_PORTS:-15433 15434 15435}"
read -r -a REST_PORTS <<<"${HA_REST_PORTS:-18008 18009 18010}"
HAPROXY_PORT=${HA_HAPROXY_PORT:-15432}
STATS_PORT=${HA_STATS_PORT:-18404}
NODES=(pg1 pg2 pg3)
SCOPE=session-demo
PG_BIN=/usr/lib/postgresql/15/bin
APP_ROLE=session_demo
export CLUSTER_DIR=${CLUSTER_DIR:-$STATE/cluster}

say() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'ha: %s\n' "$*" >&2
    exit 1
}

# --- what must be installed ---------------------------------------------------

# `need COMMAND PACKAGE`: fails naming the Debian package when COMMAND is missing.
need() {
    command -v "$1" >/dev/null 2>&1 || [[ -x $1 ]] ||
        die "$1 not found: install Debian's $2 package (apt-get install -y $2)"
}

check_packages() {
    need patroni patroni
    need patronictl patroni
    need etcd etcd-server
    need etcdctl etcd-client
    need haproxy haproxy
    need "$PG_BIN/postgres" postgresql-15
    need psql postgresql-client-15
    need curl curl
    need setpriv util-linux
    need openssl openssl
}

# --- where the nodes live, and as whom they run -------------------------------

is_root() { [[ $(id -u) == 0 ]]; }

# The prefix that runs a command as the `postgres` account when we are root
# (setpriv execs it: the pid is the command's own); nothing otherwise.
AS_POSTGRES=()
if is_root; then AS_POSTGRES=(setpriv --reuid=postgres --regid=postgres --init-groups); fi

# Whether the server account can enter every folder above `dir` that exists
# (the folders below it are created by us, open to everyone).
reachable() {
    local dir=$1
    is_root || return 0
    while [[ ! -e $dir ]]; do dir=$(dirname "$dir"); done
    "${AS_POSTGRES[@]}" test -x "$dir" 2>/dev/null
}

# The folder holding the nodes: target/ha, or a folder of its own under /tmp
# when the postgres account cannot reach target/ha (the same rule as
# crates/dev-postgres: the same HA_DIR always finds the same data again).
pg_state() {
    if reachable "$STATE"; then
        printf '%s' "$STATE"
    else
        printf '/tmp/session-demo-ha-%s' "$(printf '%s' "$STATE" | sha256sum | cut -c1-16)"
    fi
}
PG_STATE=$(pg_state)
PIDS=$STATE/pids
LOGS=$STATE/logs

node_dir() { printf '%s/%s' "$PG_STATE" "${NODES[$1]}"; }
node_config() { printf '%s/patroni.yml' "$(node_dir "$1")"; }

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# `start_daemon NAME COMMAND...`: starts COMMAND in its own session, with
# only PATH in its environment, logging to logs/NAME.log; keeps its pid.
start_daemon() {
    local name=$1
    shift
    (cd / && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 setsid "$@" \
        </dev/null >>"$LOGS/$name.log" 2>&1) &
    echo $! >"$PIDS/$name.pid"
}

# `stop_daemon NAME SECONDS`: SIGTERM, then SIGKILL after SECONDS.
stop_daemon() {
    local name=$1 seconds=$2 pidfile=$PIDS/$1.pid pid
    pid_alive "$pidfile" || {
        rm -f "$pidfile"
        return 0
    }
    pid=$(cat "$pidfile")
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((seconds * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name did not stop within $seconds s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

# --- passwords ----------------------------------------------------------------

# Made once per state folder, kept in secrets.env (mode 0600).
secrets() {
    local file=$STATE/secrets.env
    if [[ ! -s $file ]]; then
        (
            umask 077
            printf 'SUPERUSER_PASSWORD=%s\nREPLICATION_PASSWORD=%s\nAPP_PASSWORD=%s\n' \
                "$(openssl rand -hex 24)" "$(openssl rand -hex 24)" "$(openssl rand -hex 24)" >"$file"
        )
    fi
    # shellcheck disable=SC1090
    . "$file"
}

app_database_url() {
    printf 'postgres://%s:%s@127.0.0.1:%s/session_demo' "$APP_ROLE" "$APP_PASSWORD" "$HAPROXY_PORT"
}

# --- rendering deploy/ha ------------------------------------------------------

# `render FILE NAME=VALUE...`: deploy/ha/FILE with its placeholders filled in;
# fails if one is left outside comments.
render() {
    local file=$ROOT/deploy/ha/$1 text pair
    shift
    text=$(cat "$file")
    for pair in "$@"; do
        text=${text//"@@${pair%%=*}@@"/"${pair#*=}"}
    done
    ! grep -v '^ *#' <<<"$text" | grep -q '@@' || die "a placeholder was left in $file"
    printf '%s\n' "$text"
}

# --- etcd ----------------------------------------------------------------------

etcd_endpoint() { printf 'http://127.0.0.1:%s' "$ETCD_CLIENT_PORT"; }

etcd_start() {
    pid_alive "$PIDS/etcd.pid" && return
    say "starting etcd on $(etcd_endpoint)"
    mkdir -p "$STATE/etcd"
    render etcd.yml "DATA_DIR=$STATE/etcd/data" "CLIENT_PORT=$ETCD_CLIENT_PORT" \
        "PEER_PORT=$ETCD_PEER_PORT" >"$STATE/etcd/etcd.yml"
    start_daemon etcd etcd --config-file "$STATE/etcd/etcd.yml"
    for _ in $(seq 1 100); do
        ETCDCTL_API=3 etcdctl --endpoints "$(etcd_endpoint)" --dial-timeout 1s endpoint health \
            >/dev/null 2>&1 && return
        pid_alive "$PIDS/etcd.pid" || break
        sleep 0.2
    done
    die "etcd did not become healthy; see $LOGS/etcd.log"
}

# --- the Patroni nodes ---------------------------------------------------------

node_render() {
    local n=$1 dir
    dir=$(node_dir "$n")
    mkdir -p "$dir"
    render patroni.yml "SCOPE=$SCOPE" "NAME=${NODES[$n]}" "REST_PORT=${REST_PORTS[$n]}" \
        "ETCD_HOSTS=127.0.0.1:$ETCD_CLIENT_PORT" "PG_PORT=${PG_PORTS[$n]}" \
        "DATA_DIR=$dir/data" "BIN_DIR=$PG_BIN" "NODE_DIR=$dir" \
        "SUPERUSER_PASSWORD=$SUPERUSER_PASSWORD" "REPLICATION_PASSWORD=$REPLICATION_PASSWORD" \
        >"$dir/patroni.yml"
    chmod 600 "$dir/patroni.yml"
    if is_root; then chown -R postgres:postgres "$dir"; fi
}

node_start() {
    local n=$1
    pid_alive "$PIDS/${NODES[$n]}.pid" && return
    node_render "$n"
    say "starting Patroni node ${NODES[$n]} (PostgreSQL on 127.0.0.1:${PG_PORTS[$n]}, REST API on :${REST_PORTS[$n]})"
    start_daemon "${NODES[$n]}" "${AS_POSTGRES[@]}" patroni "$(node_config "$n")"
}

# The HTTP status of `OPTIONS /primary` on node n's REST API (000: no answer).
node_primary_status() {
    curl -s -o /dev/null -X OPTIONS --max-time 2 -w '%{http_code}' \
        "http://127.0.0.1:${REST_PORTS[$1]}/primary" 2>/dev/null || true
}

# The index of the node that runs as primary, or nothing.
primary_index() {
    local n
    for n in 0 1 2; do
        if [[ $(node_primary_status "$n") == 200 ]]; then
            echo "$n"
            return 0
        fi
    done
    return 0
}

wait_primary() {
    local seconds=$1 n
    for _ in $(seq 1 $((seconds * 5))); do
        n=$(primary_index)
        [[ -n $n ]] && {
            echo "$n"
            return
        }
        sleep 0.2
    done
    die "no primary within $seconds s; see $LOGS/pg*.log"
}

patronictl_() { patronictl -c "$(node_config 0)" "$@"; }

# Waits until `patronictl list` shows a synchronous standby (a failover is
# then possible without losing anything).
wait_sync_standby() {
    local seconds=$1
    for _ in $(seq 1 "$seconds"); do
        patronictl_ list -f json 2>/dev/null | grep -q '"Role": "Sync Standby"' && return
        sleep 1
    done
    die "no synchronous standby within $seconds s; see scripts/ha.sh status"
}

# The app's role and database, made once (through the primary, as superuser).
app_database() {
    local n=$1
    PGPASSWORD=$SUPERUSER_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -q -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "${PG_PORTS[$n]}" -U postgres -d postgres >/dev/null <<SQL
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', '$APP_ROLE', '$APP_PASSWORD')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_ROLE') \gexec
SELECT format('CREATE DATABASE session_demo OWNER %I', '$APP_ROLE')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'session_demo') \gexec
SQL
}

# --- HAProxy ------------------------------------------------------------------

haproxy_start() {
    pid_alive "$PIDS/haproxy.pid" && return
    mkdir -p "$STATE/haproxy"
    local values=("LISTEN=127.0.0.1:$HAPROXY_PORT" "STATS_LISTEN=127.0.0.1:$STATS_PORT") n
    for n in 0 1 2; do
        values+=("NODE_$((n + 1))_NAME=${NODES[$n]}" "NODE_$((n + 1))_PG_PORT=${PG_PORTS[$n]}"
            "NODE_$((n + 1))_REST_PORT=${REST_PORTS[$n]}")
    done
    render haproxy.cfg "${values[@]}" >"$STATE/haproxy/haproxy.cfg"
    haproxy -c -q -f "$STATE/haproxy/haproxy.cfg" || die "haproxy refused its configuration"
    say "starting HAProxy on 127.0.0.1:$HAPROXY_PORT (statistics: http://127.0.0.1:$STATS_PORT/)"
    start_daemon haproxy haproxy -db -f "$STATE/haproxy/haproxy.cfg"
    for _ in $(seq 1 100); do
        PGPASSWORD=$APP_PASSWORD PGCONNECT_TIMEOUT=2 psql -X -q -At -h 127.0.0.1 -p "$HAPROXY_PORT" \
            -U "$APP_ROLE" -d session_demo -c 'SELECT 1' >/dev/null 2>&1 && return
        pid_alive "$PIDS/haproxy.pid" || break
        sleep 0.2
    done
    die "HAProxy does not lead to the primary; see $LOGS/haproxy.log and scripts/ha.sh status"
}

# --- commands -----------------------------------------------------------------

up() {
    check_packages
    [[ ${#PG_PORTS[@]} == 3 && ${#REST_PORTS[@]} == 3 ]] || die "HA_PG_PORTS and HA_REST_PORTS must name three ports each"
    mkdir -p "$STATE" "$PIDS" "$LOGS"
    chmod 755 "$STATE"
    if [[ $PG_STATE != "$STATE" ]]; then
        say "the postgres account cannot reach $STATE; keeping the nodes' folders in $PG_STATE instead"
        mkdir -p "$PG_STATE"
        chmod 755 "$PG_STATE"
    fi
    secrets
    etcd_start
    local n
    for n in 0 1 2; do node_start "$n"; done
    say "waiting for a primary (the first start bootstraps the cluster)"
    n=$(wait_primary 120)
    say "${NODES[$n]} is primary"
    app_database "$n"
    haproxy_start
    say "waiting for a synchronous standby"
    wait_sync_standby 120
    CLUSTER_DATABASE_URL=$(app_database_url) "$ROOT/scripts/cluster.sh" up
    cat <<EOF

The database behind it is highly available: three PostgreSQL nodes managed by
Patroni, HAProxy on 127.0.0.1:$HAPROXY_PORT leading to the primary.
  scripts/ha.sh status         members, leader, HAProxy's choice
  scripts/ha.sh kill-primary   SIGKILL the primary's postmaster: a failover
  scripts/ha.sh switchover     a planned switchover
Logs: $LOGS/ (etcd, pg1-3, haproxy), $CLUSTER_DIR/
Stop: scripts/ha.sh down
EOF
}

status() {
    local failed=0 n
    for name in etcd "${NODES[@]}" haproxy; do
        if pid_alive "$PIDS/$name.pid"; then
            printf '%-8s running (pid %s)\n' "$name" "$(cat "$PIDS/$name.pid")"
        else
            printf '%-8s stopped\n' "$name"
            failed=1
        fi
    done
    if pid_alive "$PIDS/etcd.pid"; then
        echo
        patronictl_ list || failed=1
    fi
    n=$(primary_index)
    if [[ -n $n ]]; then echo "leader: ${NODES[$n]} (127.0.0.1:${PG_PORTS[$n]})"; else
        echo "leader: none answers as primary"
        failed=1
    fi
    if pid_alive "$PIDS/haproxy.pid"; then
        # HAProxy's view (CSV statistics: proxy, server, ..., status in field 18).
        curl -s --max-time 2 "http://127.0.0.1:$STATS_PORT/;csv" |
            awk -F, '$1 == "postgres_primary" && $2 ~ /^pg/ { printf "haproxy: %s %s\n", $2, $18 }' || true
    fi
    echo
    secrets
    CLUSTER_DATABASE_URL=$(app_database_url) "$ROOT/scripts/cluster.sh" status || failed=1
    return $failed
}

kill_primary() {
    local n pid
    n=$(primary_index)
    [[ -n $n ]] || die "no node answers as primary (scripts/ha.sh status)"
    pid=$(head -n 1 "$(node_dir "$n")/data/postmaster.pid" 2>/dev/null) ||
        die "no postmaster.pid for ${NODES[$n]}"
    say "SIGKILL to ${NODES[$n]}'s postmaster (pid $pid)"
    kill -KILL "$pid"
    local started=$SECONDS next
    for _ in $(seq 1 150); do
        next=$(primary_index)
        if [[ -n $next && $next != "$n" ]]; then
            say "${NODES[$next]} is primary after $((SECONDS - started)) s"
            return
        fi
        sleep 0.2
    done
    die "no new primary within 30 s (scripts/ha.sh status)"
}

switchover() {
    local n next
    n=$(primary_index)
    [[ -n $n ]] || die "no node answers as primary (scripts/ha.sh status)"
    say "switchover away from ${NODES[$n]}"
    patronictl_ switchover --force
    for _ in $(seq 1 150); do
        next=$(primary_index)
        if [[ -n $next && $next != "$n" ]]; then
            say "${NODES[$next]} is primary"
            return
        fi
        sleep 0.2
    done
    die "no new primary within 30 s (scripts/ha.sh status)"
}

down() {
    if [[ -f $STATE/secrets.env ]]; then
        secrets
        CLUSTER_DATABASE_URL=$(app_database_url) "$ROOT/scripts/cluster.sh" down
    fi
    stop_daemon haproxy 10
    # The standbys first, then the primary: no failover on the way down.
    local n primary
    primary=$(primary_index)
    for n in 0 1 2; do
        [[ $n == "$primary" ]] || stop_daemon "${NODES[$n]}" 60
    done
    [[ -z $primary ]] || stop_daemon "${NODES[$primary]}" 60
    # A postmaster left behind by a Patroni that had to be killed.
    for n in 0 1 2; do
        local pidfile
        pidfile=$(node_dir "$n")/data/postmaster.pid
        if [[ -f $pidfile ]] && kill -0 "$(head -n 1 "$pidfile")" 2>/dev/null; then
            say "stopping ${NODES[$n]}'s PostgreSQL left running"
            kill -QUIT "$(head -n 1 "$pidfile")" 2>/dev/null || true
        fi
    done
    stop_daemon etcd 10
}

# The failover test writes one line per answer (seconds since the fault at
# its start and end, visit or add, ok/unknown/failed); this bins the answers
# by the half second they came back in and plots answers per second.
chart() {
    need gnuplot gnuplot-nox
    local folder=${HA_TIMELINES:-$TARGET/failover} out=${HA_CHART:-$ROOT/docs/high-availability-failover.svg}
    local work case plots=()
    work=$(mktemp -d)
    for case in kill-postmaster lose-node switchover; do
        [[ -s $folder/$case.tsv ]] || die "no $folder/$case.tsv: run cargo test --test api failover first"
        awk -F'\t' '!/^#/ {
                bin = sprintf("%.1f", int(($2 + 100) * 2) / 2 - 100)
                if ($4 == "ok") ok[bin]++; else bad[bin]++; seen[bin] = 1
            }
            END { for (b in seen) printf "%s %d %d\n", b, ok[b] * 2, bad[b] * 2 }' \
            "$folder/$case.tsv" | sort -n >"$work/$case.dat"
    done
    local title
    title="session-demo: answers per second through nginx across a PostgreSQL failover"
    title+="\n{/*0.8 the failover test (6 paced clients), $(date -u '+%Y-%m-%d'), $(nproc) cores; 0 = the fault; 503s and timeouts are 'unknown'}"
    gnuplot <<GNUPLOT || die "gnuplot failed"
set terminal svg size 900,720 dynamic font 'sans,12' background '#ffffff'
set output '$out'
set multiplot layout 3,1 title "$title"
set style fill solid 0.6 noborder
set boxwidth 0.45
set grid ytics lc rgb '#dddddd'
set xrange [-3:*]
set yrange [0:*]
set ylabel 'answers/s'
set key outside right top vertical
set xlabel ''
set title 'SIGKILL to the primary postmaster'
plot '$work/kill-postmaster.dat' using 1:2 with boxes lc rgb '#1b7f79' title 'ok', '' using 1:3 with boxes lc rgb '#c0392b' title '503 / unknown'
set title 'the primary node lost (Patroni and PostgreSQL killed)'
plot '$work/lose-node.dat' using 1:2 with boxes lc rgb '#1b7f79' title 'ok', '' using 1:3 with boxes lc rgb '#c0392b' title '503 / unknown'
set title 'planned switchover (patronictl switchover)'
set xlabel 'seconds since the fault'
plot '$work/switchover.dat' using 1:2 with boxes lc rgb '#1b7f79' title 'ok', '' using 1:3 with boxes lc rgb '#c0392b' title '503 / unknown'
unset multiplot
GNUPLOT
    rm -rf "$work"
    echo "chart: $out"
}

case ${1:-} in
up) up ;;
chart) chart ;;
status) status ;;
kill-primary) kill_primary ;;
switchover) switchover ;;
down) down ;;
*) die "usage: scripts/ha.sh up|status|kill-primary|switchover|down|chart" ;;
esac
