#!/bin/sh
# The container's roles:
#   web               gunicorn (deploy/gunicorn.conf.py) on GUNICORN_BIND, default 0.0.0.0:8000
#   worker QUEUE...   a Celery worker for those queues (default, deploy, verify, probe, evidence)
#   beat              Celery beat: exactly one in the whole installation
#   migrate           apply database migrations (run once per release, before the web starts)
#   manage ARGS...    any manage.py command
set -eu
cd /opt/attls-portal
role="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$role" in
web) exec gunicorn --config deploy/gunicorn.conf.py ;;
worker)
    [ "$#" -gt 0 ] || { echo "worker: name the queues, e.g. 'worker verify'" >&2; exit 2; }
    queues="$(echo "$*" | tr ' ' ',')"
    exec celery --app portal worker --queues "$queues" --hostname "${queues}@%h" \
        --concurrency "${WORKER_CONCURRENCY:-2}" --loglevel INFO ;;
beat) exec celery --app portal beat --loglevel INFO \
    --schedule "${CELERY_BEAT_SCHEDULE_DIR:-/var/lib/attls-portal}/celerybeat-schedule" ;;
migrate) exec python manage.py migrate --no-input ;;
manage) exec python manage.py "$@" ;;
*) echo "unknown role '$role': web, worker QUEUE..., beat, migrate or manage ..." >&2; exit 2 ;;
esac
