#!/usr/bin/env bash
# Create .venv with Python 3.11 and install the project with its pinned dependencies.
# With --browser, also install Debian's chromium for the browser tests (needs root or sudo).
# With --spark, also install the Spark engine (the [spark] extra: pyspark, ~500 MB) and, only when
# no `java` is on the PATH, Debian's Java 17 runtime (needs root or sudo).
# With --deploy, also install what the production tests run (docs/deployment.md): Debian's
# postgresql server when no initdb is found, and nginx when missing (needs root or sudo). Their
# services are not started: the tests start their own, in temporary folders.
set -euo pipefail
cd "$(dirname "$0")/.."
BROWSER=0; SPARK=0; DEPLOY=0
for arg in "$@"; do
  case "$arg" in
    --browser) BROWSER=1 ;;
    --spark) SPARK=1 ;;
    --deploy) DEPLOY=1 ;;
    *) echo "unknown option $arg (use --browser, --spark, --deploy)" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$candidate; break
    fi
  done
fi
[ -n "$PY" ] || { echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
EXTRAS="test"; [ "$SPARK" -eq 0 ] || EXTRAS="test,spark"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$EXTRAS]"

if [ "$SPARK" -eq 1 ] && ! command -v java >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing Debian's Java 17 runtime for the Spark engine..."
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      openjdk-17-jre-headless >/dev/null 2>&1 \
    || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null; } \
    || echo "warning: could not install Java; Spark tests will be skipped" >&2
fi

if [ "$BROWSER" -eq 1 ] && ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing Debian's chromium for the browser tests..."
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null \
    || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi

# Debian packages whose services must not start on installation (no init system in CI containers;
# the tests start their own servers): policy-rc.d tells the package scripts so, for this install only.
install_without_starting() {
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  local added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d && added=1
  fi
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } \
    || echo "warning: could not install $*; the tests that need it will say so" >&2
  [ "$added" -eq 0 ] || $SUDO rm -f /usr/sbin/policy-rc.d
}

if [ "$DEPLOY" -eq 1 ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
    echo "Installing Debian's PostgreSQL for the production-instance tests..."
    install_without_starting postgresql
  fi
  if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    echo "Installing Debian's nginx for the deployment tests..."
    install_without_starting nginx-light
  fi
fi
