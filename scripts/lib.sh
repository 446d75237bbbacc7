# Shared helpers for the scripts in this folder. Source it; do not run it.
# shellcheck shell=bash

# shellcheck disable=SC2034  # VENV and VAR are for the scripts that source this file
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
VAR="$ROOT/var"
DEFAULT_BROKER_URL="redis://127.0.0.1:6379/0"

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# as_root CMD...: run CMD as root, through sudo when we are not root.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root to run '$*' and sudo is not installed"
    fi
}

# broker_url: the broker the portal will use (same default as portal/settings.py).
broker_url() { printf '%s' "${CELERY_BROKER_URL:-$DEFAULT_BROKER_URL}"; }

# broker_redis_address URL: prints "host port" for a redis:// or rediss:// URL;
# fails for other schemes (RabbitMQ and friends are not ours to start).
broker_redis_address() {
    local url="$1" re='^rediss?://([^@/]*@)?(\[[^]]+\]|[^:/?]+)(:([0-9]+))?'
    [[ $url =~ $re ]] || return 1
    local host="${BASH_REMATCH[2]}" port="${BASH_REMATCH[4]:-6379}"
    host="${host#[}"
    host="${host%]}"
    printf '%s %s\n' "$host" "$port"
}

# redis_answers HOST PORT: true when something at HOST:PORT answers PING with a
# RESP reply (+PONG, or -NOAUTH when it wants a password: it is still a Redis).
redis_answers() {
    # shellcheck disable=SC2016  # $0 and $1 expand in the inner bash
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "PING\r\n" >&3
        IFS= read -r -t 2 line <&3 || exit 1
        [[ $line == [+-]* ]]
    ' "$1" "$2" 2>/dev/null
}

# pid_is PID NAME: true when PID is alive and its executable name is NAME, so a
# stale pid file never makes us signal an unrelated process.
pid_is() {
    local pid="$1" name="$2" comm
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
    [[ $comm == "$name"* ]]
}
