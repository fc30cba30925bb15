#!/usr/bin/env bash
# Set up, then materialize every asset on the embedded demo catalog and print recommendations.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.dagster_home}
mkdir -p "$DAGSTER_HOME"
export MUSIC_ADVISER_DATA_DIR=${MUSIC_ADVISER_DATA_DIR:-$PWD/data}

log="$DAGSTER_HOME/last_demo_run.log"
echo "Materializing every asset on the demo catalog (full log: $log)..."
if ! .venv/bin/dagster job execute -m music_assets.definitions -j music_adviser_job >"$log" 2>&1; then
  grep -E "STEP_FAILURE|ERROR|Error" "$log" | tail -20 >&2
  echo "The run failed; the full log is in $log" >&2
  exit 1
fi
grep -oE '(step "[a-z_]+" in [0-9.]+m?s|elbow rule chose.*|published model.*)' "$log" | sed 's/^/  /'
version=$(cat "$MUSIC_ADVISER_DATA_DIR/models/LATEST")

echo
.venv/bin/python -m music_assets.recommend_cli
cat <<MSG

Done. Parquet files: $MUSIC_ADVISER_DATA_DIR/assets/   published model: $MUSIC_ADVISER_DATA_DIR/models/$version
Look around:
  Dagster UI (asset graph, metadata, this run):  DAGSTER_HOME=$DAGSTER_HOME .venv/bin/dagster dev -w workspace.yaml
  Recommendations for a title:                   .venv/bin/python -m music_assets.recommend_cli "<title>" --mode genre
  Web page and JSON API (http://127.0.0.1:8000/): .venv/bin/python -m serving --data-dir $MUSIC_ADVISER_DATA_DIR --port 8000
MSG
