#!/usr/bin/env bash
# Set up (including Debian's chromium for browser tests, the Spark engine with Java when the
# machine lacks it, and Debian's PostgreSQL and nginx for the production tests), then run the whole
# test suite. Skip the Spark tests with: -m "not spark".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser --spark --deploy
exec .venv/bin/python -m pytest "$@"
