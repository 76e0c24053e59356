#!/usr/bin/env bash
# Install everything the tests need, then run them inside a network namespace that has only
# loopback, so no test can reach anything but 127.0.0.1. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian packages of the real servers the tests start (nginx, MariaDB, PostgreSQL).
missing=""
for pkg in $(grep -v '^\s*#' .ci/apt-packages.txt); do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

python3 -m pip install -q -e '.[test]'

# Loopback only: a new network namespace in which only lo exists (and is brought up).
# Root gets a plain one; other users a user namespace mapped to root.
if [ "$(id -u)" -eq 0 ]; then
  exec unshare -n sh -c 'ip link set lo up && exec python3 -m pytest "$@"' sh "$@"
else
  exec unshare -rn sh -c 'ip link set lo up && exec python3 -m pytest "$@"' sh "$@"
fi
