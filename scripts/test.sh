#!/usr/bin/env bash
# Set up (including Debian's chromium for browser tests), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser
exec .venv/bin/python -m pytest "$@"
