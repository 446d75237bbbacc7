#!/usr/bin/env bash
# `make demo`: the portal with its worker, beat and broker on this machine.
#
#   Redis        127.0.0.1:6379 unless CELERY_BROKER_URL says otherwise; started by
#                scripts/ensure_redis.sh only when nothing answers there
#   database     migrated; SQLite in var/ unless DATABASE_URL says otherwise
#   seed         the reference data center and one demo user per role (manage.py seed_datacenter)
#   lparsim      the reference data center (SYSA, SYSB, LAB1) as software LPARs on
#                127.0.0.1 from port 21000, work files in var/lparsim/reference
#   connections  manage.py connect_lparsim --zert: one LPAR connection per simulated LPAR,
#                zERT collection on (the change-impact prediction needs its peers)
#   worker, beat Celery, in the background; logs in var/log/, PIDs in var/run/
#   web          manage.py runserver on 127.0.0.1:8000 (DEMO_PORT), in the foreground
#
# Ctrl-C (or any exit) stops exactly what this script started, by PID.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PY="$VENV/bin/python"
PORT="${DEMO_PORT:-8000}"
export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"
mkdir -p "$VAR/run" "$VAR/log"

started=() # "name pid", stopped in reverse order
redis_started=0

cleanup() {
    trap - EXIT INT TERM
    local i name pid
    for ((i = ${#started[@]} - 1; i >= 0; i--)); do
        read -r name pid <<<"${started[i]}"
        if kill -0 "$pid" 2>/dev/null; then
            say "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for entry in "${started[@]}"; do
        read -r name pid <<<"$entry"
        # Celery finishes its current tasks on TERM; give it a moment, then insist.
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        rm -f "$VAR/run/$name.pid"
    done
    if ((redis_started)); then
        scripts/ensure_redis.sh stop
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME COMMAND...: run COMMAND in the background, logging to var/log/NAME.log.
start() {
    local name="$1"
    shift
    "$@" >>"$VAR/log/$name.log" 2>&1 &
    started+=("$name $!")
    printf '%s\n' "$!" >"$VAR/run/$name.pid"
    say "$name started (pid $!, log var/log/$name.log)"
}

redis_pid_before="$(cat "$VAR/run/redis.pid" 2>/dev/null || true)"
scripts/ensure_redis.sh start
redis_pid_after="$(cat "$VAR/run/redis.pid" 2>/dev/null || true)"
[[ -n $redis_pid_after && $redis_pid_after != "$redis_pid_before" ]] && redis_started=1

"$PY" manage.py migrate --no-input
"$PY" manage.py ensure_demo_signing_key

# The software LPARs first: the portal's connections point at what they actually listen on.
LPARSIM_STATE="$VAR/lparsim/reference/lparsim-state.json"
rm -f "$LPARSIM_STATE"
start lparsim "$PY" -m lparsim run scenario/reference-datacenter.yaml
for _ in $(seq 300); do
    [[ -f $LPARSIM_STATE ]] && break
    sleep 0.1
done
[[ -f $LPARSIM_STATE ]] || die "lparsim did not start; see var/log/lparsim.log"

start worker "$VENV/bin/celery" --app portal worker --loglevel INFO
start beat "$VENV/bin/celery" --app portal beat --loglevel INFO

echo
"$PY" manage.py seed_datacenter
"$PY" manage.py connect_lparsim "$LPARSIM_STATE" --config scenario/reference-datacenter.yaml --zert
echo
say "AT-TLS portal: http://127.0.0.1:$PORT/   (Ctrl-C stops everything)"
echo

# In the background and waited for, so that Ctrl-C reaches the trap at once.
# --noreload keeps it one process with one PID.
"$PY" manage.py runserver --noreload "127.0.0.1:$PORT" &
started+=("web $!")
printf '%s\n' "$!" >"$VAR/run/web.pid"
wait "$!"
