#!/usr/bin/env bash
# A local production-style deployment: a private PostgreSQL, three app
# instances in APP_ENV=production, and nginx in front of them over HTTPS.
#
#   scripts/cluster.sh up        build, start everything, print the address
#   scripts/cluster.sh status    what runs, and three requests through nginx
#   scripts/cluster.sh rolling-restart   restart the instances one by one
#   scripts/cluster.sh down      stop everything (the data stays)
#
# Everything lives in target/cluster/ (CLUSTER_DIR; target/ is
# CARGO_TARGET_DIR when set): the database, a certificate authority and
# certificate made by openssl, the rendered nginx configuration, pid files and
# logs. Nothing is written elsewhere; nginx runs with its prefix there and
# nothing listens outside 127.0.0.1.
#
# Settings (environment):
#   CLUSTER_DIR             state folder (target/cluster)
#   CLUSTER_DATABASE_URL    an external database for the instances (for
#                           example HAProxy in front of a Patroni cluster, as
#                           scripts/ha.sh does); then no private PostgreSQL is
#                           started or stopped. Unset: the private one.
#   CLUSTER_HTTPS_PORT      nginx's HTTPS port (8443); CLUSTER_HTTP_PORT its
#                           redirect to HTTPS (8088)
#   CLUSTER_INSTANCE_PORTS  the instances' ports ("8081 8082 8083")
#   CLUSTER_PROFILE         release (default) or debug: which build to run.
#                           Release is what production runs; a debug build
#                           (shared with `cargo test`) starts sooner on a fresh
#                           clone but serves pages several times slower.
# The instances get deploy/production.env, with DATABASE_URL, SESSION_SECRET
# (made once, kept in target/cluster/session-secret), BIND_ADDR and
# INSTANCE_NAME filled in.
set -euo pipefail

# cargo reads a relative CARGO_TARGET_DIR from the directory it runs in: make
# it absolute before leaving the caller's.
[[ -z ${CARGO_TARGET_DIR:-} ]] || export CARGO_TARGET_DIR=$(realpath -m "$CARGO_TARGET_DIR")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STATE=${CLUSTER_DIR:-$TARGET/cluster}
EXTERNAL_DATABASE=${CLUSTER_DATABASE_URL:-}
HTTPS_PORT=${CLUSTER_HTTPS_PORT:-8443}
HTTP_PORT=${CLUSTER_HTTP_PORT:-8088}
read -r -a INSTANCE_PORTS <<<"${CLUSTER_INSTANCE_PORTS:-8081 8082 8083}"
PROFILE=${CLUSTER_PROFILE:-release}
NGINX_PREFIX=$STATE/nginx
TLS=$STATE/tls
ORIGIN=https://127.0.0.1:$HTTPS_PORT

say() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'cluster: %s\n' "$*" >&2
    exit 1
}

# --- PostgreSQL -------------------------------------------------------------
# The private PostgreSQL of crates/dev-postgres, through its small command: the
# same code that `cargo run` and the tests use (it runs the server as the
# postgres account when this script runs as root, and keeps the data in
# $STATE/postgres, or in a folder of its own when that account cannot reach
# it). It picks a free port; `url` finds the running server again.

PG_DATA=$STATE/postgres

dev_postgres() {
    cargo run --quiet --package dev-postgres -- "$@"
}

postgres_start() {
    if [[ -n $EXTERNAL_DATABASE ]]; then
        say "using the database of CLUSTER_DATABASE_URL (no private PostgreSQL)"
        return
    fi
    say "starting the private PostgreSQL (data in $PG_DATA)"
    dev_postgres start "$PG_DATA" >/dev/null || die "PostgreSQL did not start"
}

# The instances' database on the running server (the command prints the URL
# of its `postgres` database).
database_url() {
    if [[ -n $EXTERNAL_DATABASE ]]; then
        printf '%s' "$EXTERNAL_DATABASE"
        return
    fi
    local url
    url=$(dev_postgres url "$PG_DATA") || die "PostgreSQL is not running: scripts/cluster.sh up"
    printf '%s/session_demo' "${url%/*}"
}

postgres_stop() {
    [[ -z $EXTERNAL_DATABASE ]] || return 0
    say "stopping PostgreSQL"
    dev_postgres stop "$PG_DATA" || true
}

postgres_running() {
    dev_postgres url "$PG_DATA" >/dev/null 2>&1
}

# What `status` prints about the database.
postgres_status() {
    if [[ -n $EXTERNAL_DATABASE ]]; then
        # The address only: the URL may carry a password.
        local address=${EXTERNAL_DATABASE#*://}
        echo "postgres    external ${address#*@}"
    elif postgres_running; then
        echo "postgres    running  $(dev_postgres url "$PG_DATA")"
    else
        echo "postgres    stopped"
        return 1
    fi
}

# --- the app instances ------------------------------------------------------

binary() { printf '%s/%s/session-demo' "$TARGET" "$PROFILE"; }

build() {
    local flags=()
    [[ $PROFILE == release ]] && flags=(--release)
    [[ $PROFILE == release || $PROFILE == debug ]] || die "CLUSTER_PROFILE must be release or debug"
    say "building the $PROFILE binary"
    cargo build --quiet "${flags[@]}" --bin session-demo
}

session_secret() {
    local file=$STATE/session-secret
    if [[ ! -s $file ]]; then
        (umask 077 && openssl rand -hex 48 >"$file")
    fi
    cat "$file"
}

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

instance_start() {
    local n=$1 port=${INSTANCE_PORTS[$1]} pidfile=$STATE/instance-$1.pid
    pid_alive "$pidfile" && return
    # The production template, then what it leaves to the operator (later
    # assignments win). `env -i` and cwd /: nothing from this shell or from
    # a .env file gets in.
    local database
    database=$(database_url) || exit 1
    local vars=("PATH=$PATH") name value
    while IFS='=' read -r name value; do
        vars+=("$name=$value")
    done < <(grep -E '^[A-Z_]+=' "$ROOT/deploy/production.env")
    vars+=("DATABASE_URL=$database" "SESSION_SECRET=$(session_secret)"
        "BIND_ADDR=127.0.0.1:$port" "INSTANCE_NAME=instance-$((n + 1))")
    (cd / && exec env -i "${vars[@]}" setsid "$(binary)" </dev/null >>"$STATE/instance-$n.log" 2>&1) &
    echo $! >"$pidfile"
}

wait_healthy() {
    local url=$1 what=$2
    shift 2
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null && return 0
        sleep 0.2
    done
    die "$what did not answer $url within 60 s"
}

instance_stop() {
    local pidfile=$STATE/instance-$1.pid
    pid_alive "$pidfile" || {
        rm -f "$pidfile"
        return 0
    }
    local pid
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && die "instance $1 (pid $pid) did not stop within 30 s"
    rm -f "$pidfile"
}

# --- TLS and nginx ----------------------------------------------------------

certificate() {
    [[ -s $TLS/server.crt && -s $TLS/server.key && -s $TLS/ca.crt ]] && return
    say "making a local certificate authority and a certificate for 127.0.0.1"
    mkdir -p "$TLS"
    (
        cd "$TLS"
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
            -subj "/CN=session-demo local CA" -keyout ca.key -out ca.crt 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=serverAuth" >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -days 365 -extfile server.ext -out server.crt 2>/dev/null
        chmod 644 ca.crt server.crt
    )
}

nginx_bin() {
    command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } ||
        die "nginx not found: install nginx"
}

nginx_run() { "$(nginx_bin)" -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/logs/error.log" "$@"; }

nginx_render() {
    mkdir -p "$NGINX_PREFIX/logs" "$NGINX_PREFIX/temp"
    sed "s|@@PREFIX@@|$NGINX_PREFIX|g" "$ROOT/deploy/nginx-local.conf" >"$NGINX_PREFIX/nginx.conf"
    sed -e "s|@@SERVER_NAME@@|127.0.0.1 localhost|g" \
        -e "s|@@HTTPS_LISTEN@@|127.0.0.1:$HTTPS_PORT|g" \
        -e "s|@@HTTP_LISTEN@@|127.0.0.1:$HTTP_PORT|g" \
        -e "s|@@PUBLIC_ORIGIN@@|$ORIGIN|g" \
        -e "s|@@TLS_CERTIFICATE@@|$TLS/server.crt|g" \
        -e "s|@@TLS_CERTIFICATE_KEY@@|$TLS/server.key|g" \
        -e "s|@@INSTANCE_1@@|127.0.0.1:${INSTANCE_PORTS[0]}|g" \
        -e "s|@@INSTANCE_2@@|127.0.0.1:${INSTANCE_PORTS[1]}|g" \
        -e "s|@@INSTANCE_3@@|127.0.0.1:${INSTANCE_PORTS[2]}|g" \
        -e "s|@@LOG_DIR@@|$NGINX_PREFIX/logs|g" \
        "$ROOT/deploy/session-demo.nginx.conf" >"$NGINX_PREFIX/session-demo.conf"
    ! grep -v '^ *#' "$NGINX_PREFIX/session-demo.conf" | grep -q '@@' || die "a placeholder was left in the nginx site"
}

nginx_start() {
    nginx_render
    nginx_run -t -q || die "nginx refused the configuration"
    if pid_alive "$NGINX_PREFIX/nginx.pid"; then
        nginx_run -s reload
    else
        say "starting nginx on $ORIGIN"
        nginx_run
    fi
}

nginx_stop() {
    pid_alive "$NGINX_PREFIX/nginx.pid" || return 0
    say "stopping nginx"
    nginx_run -s quit
    for _ in $(seq 1 100); do
        pid_alive "$NGINX_PREFIX/nginx.pid" || return 0
        sleep 0.1
    done
}

# --- commands ---------------------------------------------------------------

up() {
    [[ ${#INSTANCE_PORTS[@]} == 3 ]] || die "CLUSTER_INSTANCE_PORTS must name three ports"
    command -v openssl >/dev/null || die "openssl not found: install openssl"
    command -v curl >/dev/null || die "curl not found: install curl"
    nginx_bin >/dev/null
    mkdir -p "$STATE"
    build
    postgres_start
    certificate
    # The first instance creates and migrates the database; then the others.
    for n in 0 1 2; do
        instance_start "$n"
        [[ $n == 0 ]] && wait_healthy "http://127.0.0.1:${INSTANCE_PORTS[0]}/healthz" "instance 1"
    done
    for n in 1 2; do
        wait_healthy "http://127.0.0.1:${INSTANCE_PORTS[$n]}/healthz" "instance $((n + 1))"
    done
    nginx_start
    wait_healthy "$ORIGIN/healthz" "nginx" --cacert "$TLS/ca.crt"
    cat <<EOF

session-demo runs at $ORIGIN (three instances behind nginx).
  The certificate is made by a local authority: $TLS/ca.crt
  curl --cacert $TLS/ca.crt -i $ORIGIN/
  A browser warns about the certificate; accept it, or import the authority.
Logs: $STATE/instance-{0,1,2}.log, $NGINX_PREFIX/logs/$([[ -n $EXTERNAL_DATABASE ]] || echo ", $PG_DATA.log")
Stop: scripts/cluster.sh down
EOF
}

status() {
    local failed=0
    postgres_status || failed=1
    for n in 0 1 2; do
        if pid_alive "$STATE/instance-$n.pid"; then
            echo "instance-$((n + 1))  running  127.0.0.1:${INSTANCE_PORTS[$n]} (pid $(cat "$STATE/instance-$n.pid"))"
        else
            echo "instance-$((n + 1))  stopped"
            failed=1
        fi
    done
    if pid_alive "$NGINX_PREFIX/nginx.pid"; then echo "nginx       running  $ORIGIN"; else
        echo "nginx       stopped"
        failed=1
    fi
    if [[ $failed == 0 ]]; then
        for _ in 1 2 3; do
            curl -sS -o /dev/null --cacert "$TLS/ca.crt" \
                -w 'GET /healthz -> %{http_code} from %header{x-instance}\n' "$ORIGIN/healthz" || failed=1
        done
    fi
    return $failed
}

rolling_restart() {
    for n in 0 1 2; do
        say "restarting instance-$((n + 1))"
        instance_stop "$n"
        instance_start "$n"
        wait_healthy "http://127.0.0.1:${INSTANCE_PORTS[$n]}/healthz" "instance $((n + 1))"
        sleep 2 # nginx's fail_timeout: the instance is back in rotation
    done
}

down() {
    nginx_stop
    for n in 0 1 2; do
        instance_stop "$n"
    done
    postgres_stop
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
rolling-restart) rolling_restart ;;
*) die "usage: scripts/cluster.sh up|down|status|rolling-restart" ;;
esac
