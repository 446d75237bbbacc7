#!/usr/bin/env bash
# Make sure a Redis answers at the Celery broker URL, starting our own when none does.
#
#   scripts/ensure_redis.sh start   start one on 127.0.0.1 unless something already answers
#   scripts/ensure_redis.sh stop    stop the one we started (the PID in var/run/redis.pid), nothing else
#   scripts/ensure_redis.sh status
#
# Ours runs daemonized with its pid file in var/run/, its log in var/log/, and
# keeps nothing on disk: the broker holds only messages that can be re-enqueued.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

PIDFILE="$VAR/run/redis.pid"
LOGFILE="$VAR/log/redis.log"

our_pid() {
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
    pid_is "$pid" redis-server || return 1
    printf '%s' "$pid"
}

start() {
    local url address host port
    url="$(broker_url)"
    if ! address="$(broker_redis_address "$url")"; then
        say "broker is not Redis ($url): nothing to start"
        return 0
    fi
    read -r host port <<<"$address"
    if redis_answers "$host" "$port"; then
        say "Redis answers at $host:$port"
        return 0
    fi
    case "$host" in
    127.0.0.1 | localhost) ;;
    *) die "nothing answers at $host:$port and it is not this machine: start that broker first" ;;
    esac
    command -v redis-server >/dev/null || die "redis-server is not installed: run scripts/bootstrap.sh"

    mkdir -p "$VAR/run" "$VAR/log" "$VAR/redis"
    say "starting redis-server on 127.0.0.1:$port (log: ${LOGFILE#"$ROOT"/})"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" \
        --pidfile "$PIDFILE" --logfile "$LOGFILE" --dir "$VAR/redis" \
        --save '' --appendonly no
    local _
    for _ in $(seq 50); do
        redis_answers "$host" "$port" && return 0
        sleep 0.1
    done
    die "redis-server did not answer on 127.0.0.1:$port within 5 s; see $LOGFILE"
}

stop() {
    local pid _
    if ! pid="$(our_pid)"; then
        say "no Redis of ours is running"
        rm -f "$PIDFILE"
        return 0
    fi
    say "stopping our redis-server (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 50); do
        pid_is "$pid" redis-server || break
        sleep 0.1
    done
    if pid_is "$pid" redis-server; then
        die "redis-server (pid $pid) is still running after 5 s"
    fi
    rm -f "$PIDFILE"
}

status() {
    local pid
    if pid="$(our_pid)"; then
        say "our redis-server runs with pid $pid"
    else
        say "no Redis of ours is running"
    fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
status) status ;;
*) die "usage: $0 [start|stop|status]" ;;
esac
