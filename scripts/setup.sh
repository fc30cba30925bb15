#!/usr/bin/env bash
# Create .venv with Python 3.11 and install the project with its pinned dependencies.
# With --browser, also install Debian's chromium for the browser tests (needs root or sudo).
# With --spark, also install the Spark engine (the [spark] extra: pyspark, ~500 MB) and, only when
# no `java` is on the PATH, Debian's Java 17 runtime (needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
BROWSER=0; SPARK=0
for arg in "$@"; do
  case "$arg" in
    --browser) BROWSER=1 ;;
    --spark) SPARK=1 ;;
    *) echo "unknown option $arg (use --browser, --spark)" >&2; exit 2 ;;
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
