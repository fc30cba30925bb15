#!/usr/bin/env bash
# Set up (including Debian's chromium for browser tests, and the Spark engine with Java when the
# machine lacks it), then run the whole test suite. Skip the Spark tests with: -m "not spark".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser --spark
exec .venv/bin/python -m pytest "$@"
