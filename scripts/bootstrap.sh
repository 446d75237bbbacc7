#!/usr/bin/env bash
# Install whatever this checkout needs and is missing, so `make demo` and
# `make test` work on a fresh Debian machine. Quick when everything is present:
# it only asks dpkg and compares one hash.
#
#   Debian packages  installed with apt-get when `dpkg -s` says they are missing
#   .venv            created with `python3 -m venv` when missing
#   Python deps      `pip install --require-hashes -r requirements.lock` (made by `make lock`
#                    from pyproject.toml), re-run only when the lock or pyproject.toml changed
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# WeasyPrint renders evidence PDFs with Pango/HarfBuzz and needs one real font;
# poppler-utils lets tests read the PDFs back; Playwright drives Debian's
# /usr/bin/chromium, never a browser it downloads.
DEBIAN_PACKAGES=(
    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
    poppler-utils
    chromium
    # Single sign-on: python-ldap (under django-auth-ldap) builds against libldap and
    # libsasl2; the LDAP tests start Debian's slapd with a throw-away directory and load it
    # with ldap-utils (ldapadd, ldapmodify).
    libldap-dev libsasl2-dev slapd ldap-utils
)

pick_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.11 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            printf '%s' "$candidate"
            return
        fi
    done
    die "Python 3.11 not found (pyproject requires >=3.11,<3.12); set PYTHON=/path/to/python3.11"
}

is_installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

install_debian_packages() {
    if ! command -v dpkg >/dev/null; then
        say "not a Debian system: make sure these are installed: ${DEBIAN_PACKAGES[*]}"
        return
    fi
    local missing=() package
    for package in "${DEBIAN_PACKAGES[@]}"; do
        is_installed "$package" || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    say "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Redis is only needed here when nothing already answers at the broker URL
# (CI and many developers already run one, or use RabbitMQ).
if ! command -v redis-server >/dev/null; then
    if address="$(broker_redis_address "$(broker_url)")"; then
        # shellcheck disable=SC2086  # "host port" splits on purpose
        redis_answers $address || DEBIAN_PACKAGES+=(redis-server)
    fi
fi

if [[ ! -x $VENV/bin/python ]]; then
    python="$(pick_python)"
    # Debian's python3 ships venv support in a separate package.
    "$python" -c 'import ensurepip, venv' 2>/dev/null || DEBIAN_PACKAGES+=(python3-venv)
fi

install_debian_packages

if [[ ! -x $VENV/bin/python ]]; then
    say "creating $VENV with $python"
    "$python" -m venv "$VENV"
fi

# Python dependencies come from requirements.lock: every package pinned, with its hashes,
# installed with `pip install --require-hashes` (a changed or substituted file is refused).
# The lock is compiled from pyproject.toml's dependency lists by `make lock`, and records
# their fingerprint: when pyproject.toml's lists changed and the lock was not regenerated,
# stop and say so, rather than install something other than what pyproject asks for.
# ATTLS_STALE_LOCK=pyproject installs pyproject.toml's ranges unpinned instead (say so, for
# a developer in the middle of changing a dependency; never in CI).
# pyproject declares no packages: instead of `pip install -e .`, the project root goes on
# the venv's sys.path with a .pth file, so that `import portal` works from any directory.
LOCK=requirements.lock
[[ -f $LOCK ]] || die "$LOCK is missing: run 'make lock' to create it from pyproject.toml"
want_deps="$("$VENV/bin/python" scripts/pyproject_deps.py fingerprint)"
locked_deps="$(sed -n 's/^# pyproject-dependencies-sha256: //p' "$LOCK")"
requirements=(--require-hashes --requirement "$LOCK")
if [[ $want_deps != "$locked_deps" ]]; then
    if [[ ${ATTLS_STALE_LOCK:-} != pyproject ]]; then
        die "pyproject.toml's dependencies changed since $LOCK was generated.
       Run 'make lock' (and commit $LOCK), then run this again.
       (ATTLS_STALE_LOCK=pyproject installs pyproject.toml's ranges unpinned, for now only.)"
    fi
    say "WARNING: $LOCK is stale; installing pyproject.toml's ranges UNPINNED (ATTLS_STALE_LOCK)"
    "$VENV/bin/python" scripts/pyproject_deps.py requirements >"$VENV/requirements-from-pyproject.txt"
    requirements=(--requirement "$VENV/requirements-from-pyproject.txt")
fi
stamp="$VENV/.bootstrap-pyproject.sha256"
want="$(cat "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    say "installing Python dependencies ($LOCK changed or first run)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
    site_packages="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    printf '%s\n' "$ROOT" >"$site_packages/attls_portal_root.pth"
    printf '%s\n' "$want" >"$stamp"
fi

mkdir -p "$VAR/run" "$VAR/log"
