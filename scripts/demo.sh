#!/usr/bin/env bash
# Set up, then run the main job on the embedded demo catalog and print recommendations.
# The run goes through the local Dagster instance's run queue (a dagster-daemon is started for it
# and stopped afterwards), so it shows in the UI's runs and timeline like any other.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.dagster_home}
mkdir -p "$DAGSTER_HOME"
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
export MUSIC_ADVISER_DATA_DIR=${MUSIC_ADVISER_DATA_DIR:-$PWD/data}

log="$DAGSTER_HOME/last_demo_run.log"
# Create (or upgrade) the instance's SQLite storage once, before the daemon and the launch below
# open it at the same moment: on a fresh DAGSTER_HOME both would create its tables and stamp its
# schema version, and one of them fails ("alembic_version has more than one head").
.venv/bin/dagster instance migrate >"$log" 2>&1
.venv/bin/dagster-daemon run -w workspace.yaml >>"$log" 2>&1 &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true' EXIT

run_id=$(.venv/bin/python -c 'import uuid; print(uuid.uuid4())')
echo "Running music_adviser_job on the demo catalog (run $run_id; daemon log: $log)..."
.venv/bin/dagster job launch -w workspace.yaml -j music_adviser_job --run-id "$run_id" >>"$log" 2>&1
if ! .venv/bin/python scripts/wait_for_run.py "$run_id"; then
  echo "The run failed; see it in the UI (below) or in $log" >&2
  exit 1
fi
version=$(cat "$MUSIC_ADVISER_DATA_DIR/models/LATEST")

echo
.venv/bin/python -m music_assets.recommend_cli
cat <<MSG

Done. Parquet files: $MUSIC_ADVISER_DATA_DIR/assets/   published model: $MUSIC_ADVISER_DATA_DIR/models/$version
Look around:
  Dagster UI (asset graph, metadata, this run):  DAGSTER_HOME=$DAGSTER_HOME .venv/bin/dg dev
  Recommendations for a title:                   .venv/bin/python -m music_assets.recommend_cli "<title>" --mode genre
  Web page and JSON API (http://127.0.0.1:8000/): .venv/bin/python -m serving --data-dir $MUSIC_ADVISER_DATA_DIR --port 8000
MSG
