#!/usr/bin/env bash
# `make serve`: the portal's web tier as production runs it, on this machine.
#
#   settings     DJANGO_DEBUG=false: HTTPS only, secure cookies, HSTS, the public dev keys
#                refused; `manage.py check --deploy` must be clean or nothing starts
#   keys         DJANGO_SECRET_KEY and FLEET_SECRETS_KEY, unless set, are made once for this
#                checkout and kept in var/serve/ (mode 600)
#   static       `collectstatic` into var/static (DJANGO_STATIC_ROOT), served by WhiteNoise
#                from the gunicorn processes (hashed names, compressed, cached for a year)
#   TLS          gunicorn speaks HTTPS itself with a loopback certificate made once in
#                var/serve/ (scripts/serve_cert.py); your browser will ask you to accept it
#   web          gunicorn (deploy/gunicorn.conf.py) on https://127.0.0.1:8443 (SERVE_PORT),
#                SERVE_WORKERS processes (default 4), in the foreground; Ctrl-C stops it
#
# It serves the database and broker `make demo` set up (var/portal.sqlite3 and the Redis
# at CELERY_BROKER_URL, or DATABASE_URL), migrating it first. The worker, beat and lparsim
# are `make demo`'s: run it in another terminal for live figures (it serves runserver on
# :8000 beside this), or /healthz/ reports them failing. deploy/README.md has the rest.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PY="$VENV/bin/python"
SERVE_DIR="${SERVE_DIR:-$VAR/serve}"
HOST="${SERVE_HOST:-127.0.0.1}"
PORT="${SERVE_PORT:-8443}"
mkdir -p "$SERVE_DIR" "$VAR/run" "$VAR/log"
chmod 700 "$SERVE_DIR"

# kept_secret FILE COMMAND...: the content of FILE, made by COMMAND the first time.
kept_secret() {
    local file="$1"
    shift
    if [[ ! -s $file ]]; then
        (umask 077 && "$@" >"$file")
    fi
    cat "$file"
}

export DJANGO_DEBUG=false
if [[ -z ${DJANGO_SECRET_KEY:-} ]]; then
    DJANGO_SECRET_KEY="$(kept_secret "$SERVE_DIR/secret-key" "$PY" -c 'import secrets; print(secrets.token_urlsafe(64))')"
    export DJANGO_SECRET_KEY
fi
if [[ -z ${FLEET_SECRETS_KEY:-} ]]; then
    FLEET_SECRETS_KEY="$(kept_secret "$SERVE_DIR/fleet-secrets-key" "$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
    export FLEET_SECRETS_KEY
fi
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-127.0.0.1,localhost}"

"$PY" manage.py migrate --no-input
# Collected again only when a file under static/ (or an app's static files) changed: hashing
# and compressing them takes a while, and is the same work every time otherwise.
STATIC_ROOT_DIR="${DJANGO_STATIC_ROOT:-$VAR/static}"
static_stamp="$("$PY" manage.py shell --no-imports -c '
import hashlib, os
from django.contrib.staticfiles.finders import get_finders
seen = sorted(
    (path, os.stat(storage.path(path)).st_size, os.stat(storage.path(path)).st_mtime_ns)
    for finder in get_finders() for path, storage in finder.list([])
)
print(hashlib.sha256(repr(seen).encode()).hexdigest())
')"
if [[ ! -f $STATIC_ROOT_DIR/.collected-from || $(cat "$STATIC_ROOT_DIR/.collected-from") != "$static_stamp" ]]; then
    say "collecting static files into $STATIC_ROOT_DIR (hashed names, compressed)"
    "$PY" manage.py collectstatic --no-input --clear --verbosity 0
    printf '%s\n' "$static_stamp" >"$STATIC_ROOT_DIR/.collected-from"
fi
say "checking the production settings (manage.py check --deploy)"
"$PY" manage.py check --deploy --fail-level WARNING

mapfile -t tls < <("$PY" scripts/serve_cert.py "$SERVE_DIR")
export GUNICORN_CERTFILE="${tls[0]}" GUNICORN_KEYFILE="${tls[1]}"
export GUNICORN_BIND="$HOST:$PORT"
export GUNICORN_WORKERS="${SERVE_WORKERS:-4}"

users="$("$PY" manage.py shell --no-imports -c 'from django.contrib.auth.models import User; print(User.objects.filter(is_active=True).count())')"
if [[ $users == 0 ]]; then
    say "NOTE: nobody can sign in yet: run 'make demo' once first (it seeds the reference data"
    say "      center and one user per role, password attls-demo), then 'make serve' again"
fi

echo
say "AT-TLS portal (production settings): https://$HOST:$PORT/   health: https://$HOST:$PORT/healthz/"
say "the certificate is var/serve/loopback-cert.pem (self-signed, for this machine only)"
echo
# exec: gunicorn's master takes this PID, so Ctrl-C or a kill of it stops the whole server.
exec "$VENV/bin/gunicorn" --config deploy/gunicorn.conf.py --pid "$VAR/run/gunicorn.pid"
