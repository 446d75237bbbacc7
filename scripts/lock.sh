#!/usr/bin/env bash
# `make lock`: requirements.lock, every package pinned with its hashes, from pyproject.toml's
# dependency lists (runtime and dev), with pip-tools' pip-compile --generate-hashes.
# scripts/bootstrap.sh installs from it with `pip install --require-hashes`.
#
# pip-compile runs from its own small virtualenv (var/lock-tools), so the lock can be made
# even when .venv is out of date. Pins already in requirements.lock are kept unless
# pyproject.toml no longer allows them; LOCK_UPGRADE=1 moves everything to the newest allowed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

LOCK=requirements.lock
TOOLS="$VAR/lock-tools"
PIP_TOOLS_SPEC='pip-tools>=7.4,<8'

python=""
for candidate in ${PYTHON:-} python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
[[ -n $python ]] || die "Python 3.11 not found: the lock is for Python 3.11 (set PYTHON=...)"

if [[ ! -x $TOOLS/bin/pip-compile ]]; then
    say "installing pip-tools into $TOOLS"
    "$python" -m venv "$TOOLS"
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "$PIP_TOOLS_SPEC"
fi

mkdir -p "$VAR/lock"
"$python" scripts/pyproject_deps.py requirements >"$VAR/lock/requirements.in"
fingerprint="$("$python" scripts/pyproject_deps.py fingerprint)"

upgrade=()
[[ ${LOCK_UPGRADE:-0} == 1 ]] && upgrade=(--upgrade)
say "compiling $LOCK (pip-compile --generate-hashes)"
# pip-compile keeps the pins it finds in its output file: start from the current lock.
if [[ -f $LOCK ]]; then cp "$LOCK" "$LOCK.new"; else rm -f "$LOCK.new"; fi
# The lock names no index or find-links of this machine: it must install anywhere from PyPI.
CUSTOM_COMPILE_COMMAND="make lock" "$TOOLS/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
    \
    "${upgrade[@]}" --output-file "$LOCK.new" "$VAR/lock/requirements.in"
{
    printf '# pyproject-dependencies-sha256: %s\n' "$fingerprint"
    printf '# The SHA-256 above is of pyproject.toml'"'"'s dependency lists (scripts/pyproject_deps.py);\n'
    printf '# scripts/bootstrap.sh refuses this lock when they changed: run `make lock`.\n'
    grep -v '^# pyproject-dependencies-sha256:\|^# The SHA-256 above\|^# scripts/bootstrap.sh refuses' "$LOCK.new"
} >"$LOCK"
rm -f "$LOCK.new"
say "$LOCK: $(grep -c '^[a-zA-Z0-9]' "$LOCK") packages pinned with hashes"
