"""Per layout of issue 13: rows in -> tracks in the published bundle, and the rejects by reason.

    .venv/bin/python scripts/byod_report.py [--engine local|spark] [layout ...]

Writes each project fixture (tests/byod_fixtures.py: the real headers and messes) into a
temporary folder, runs the whole asset graph on it with the files source, and prints a Markdown
table (the one in the closing note of issue 13).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.byod_fixtures import WRITERS, run_case  # noqa: E402


def reasons(counts: dict[str, int]) -> str:
    return "; ".join(f"{reason}: {n}" for reason, n in sorted(counts.items())) or "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("layouts", nargs="*", default=list(WRITERS), help=f"default: all ({', '.join(WRITERS)})")
    parser.add_argument("--engine", choices=("local", "spark"), default="local")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    print("| layout | rows in | tracks in bundle | parse rejects (track_features) | chart-row rejects | published |")
    print("|---|---|---|---|---|---|")
    failed = 0
    for name in args.layouts:
        with tempfile.TemporaryDirectory(prefix=f"byod-{name}-") as tmp:
            case = WRITERS[name](Path(tmp) / "in")
            out = run_case(case, Path(tmp) / "data", engine=args.engine)
        published = "yes" if out.success else "no: " + (out.failure.splitlines() or [""])[-1][:80]
        failed += not out.success
        print(f"| {case.layout} | {out.rows_in:,} | {out.tracks:,} | {reasons(out.feature_rejects)} | "
              f"{reasons(out.chart_rejects)} | {published} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
