"""`python -m music_assets inspect FILE|FOLDER|GLOB ...`: what the pipeline will understand of
each file before anything runs: how it is read, the layout and the column mapping, the rows, and
the problems (chart rows the rules reject, values that cannot be read) by reason with examples.
A fatal problem (unreadable file, unknown layout, a column mangled as a whole) makes it exit 1."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from music_assets.ingest.charts.rows import validate_chart_batch
from music_assets.ingest.layouts.builtin import BUILTIN_LAYOUTS, detect_layout
from music_assets.ingest.layouts.choose import INPUT_ERRORS, LayoutChoice, column_map_file, header_names, map_file
from music_assets.ingest.tables.read import expand_paths

EXAMPLES = 3


@dataclass
class FileReport:
    path: str
    understood: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)  # reason -> {count, examples}
    fatal: str = ""


def _add(problems: dict[str, dict[str, Any]], reasons: pd.Series, examples: pd.Series) -> None:
    for reason, group in examples.groupby(reasons, sort=False):
        entry = problems.setdefault(str(reason), {"count": 0, "examples": []})
        entry["count"] += len(group)
        entry["examples"] = (entry["examples"] + [str(v)[:80] for v in group.head(EXAMPLES)])[:EXAMPLES]


def inspect_file(path: Path, choice: LayoutChoice, role: str | None) -> FileReport:
    report = FileReport(str(path))
    try:
        names = header_names(path)
        roles = (role,) if role else _roles(path, names, choice)
        mapped = map_file(path, roles[0], choice, roles=roles)
    except INPUT_ERRORS as exc:
        report.fatal = str(exc)
        return report
    report.understood = mapped.understood()
    if mapped.charts is not None and mapped.charts.num_rows:
        checked = validate_chart_batch(mapped.charts, source=str(path))
        rejected = checked.rejected.to_pandas()
        report.understood["chart_rows_valid"] = checked.good.num_rows
        if len(rejected):
            _add(report.problems, "chart row: " + rejected["reason"],
                 rejected["title"] + " | " + rejected["rank"] + " | " + rejected["date"] + " | " + rejected["url"])
        if checked.good.num_rows == 0:
            report.fatal = f"{path}: every one of its {mapped.charts.num_rows:,} chart rows is rejected"
    if len(mapped.rejects):
        r = mapped.rejects
        _add(report.problems, r["reason"], "row " + r["row"].astype(str) + " " + r["track_id"].astype(str) + ": " + r["value"].astype(str))
    return report


def _roles(path: Path, names: list[str], choice: LayoutChoice) -> tuple[str, ...]:
    """The roles of the map the file gets: the user's map for it, the named layout, or detection."""
    user = column_map_file(choice.column_map)
    mine = user.for_file(path) if user else None
    if mine is not None:
        return mine.roles
    if choice.layout != "auto" and choice.layout in BUILTIN_LAYOUTS:
        return BUILTIN_LAYOUTS[choice.layout].roles
    return detect_layout(names, str(path)).roles


def render(report: FileReport) -> str:
    lines = [f"== {report.path}"]
    if report.fatal:
        lines.append(f"FATAL: {report.fatal}")
    u = report.understood
    if u:
        read = u.get("read", {})
        lines.append("read:    " + ", ".join(f"{k}={v}" for k, v in read.items() if k != "file"))
        lines.append(f"layout:  {u['layout']}  roles: {', '.join(u['roles'])}")
        lines.append("mapping: " + ", ".join(f"{ours} <- {theirs!r}" for ours, theirs in u["columns"].items()))
        for key in ("constants", "from_file_name_values", "absent_features"):
            if key in u:
                lines.append(f"{key.replace('_', ' ')}: {json.dumps(u[key])}")
        counts = {k: u[k] for k in ("chart_rows", "chart_rows_valid", "catalog_rows", "artist_rows", "parse_rejects") if k in u}
        lines.append("rows:    " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in counts.items()))
    if report.problems:
        lines.append("problems:")
        for reason, entry in sorted(report.problems.items(), key=lambda kv: -kv[1]["count"]):
            lines.append(f"  {entry['count']:>7,}  {reason}   e.g. {'; '.join(entry['examples'])}")
    elif not report.fatal:
        lines.append("problems: none")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m music_assets inspect", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="files, folders or globs")
    parser.add_argument("--column-map", default=None, help="a YAML/TOML column map (as MUSIC_ADVISER_COLUMN_MAP)")
    parser.add_argument("--role", choices=("charts", "catalog", "artists"), default=None,
                        help="read every file as this role (default: the layout's own roles)")
    parser.add_argument("--layout", default="auto", help="a built-in layout instead of detection")
    parser.add_argument("--region", default="Global", help="region of chart rows whose file gives none")
    args = parser.parse_args(argv)
    choice = LayoutChoice(args.layout, args.column_map, args.region)
    fatal = False
    for spec in args.paths:
        try:
            files = expand_paths(spec)
        except INPUT_ERRORS as exc:
            print(f"== {spec}\nFATAL: {exc}")
            fatal = True
            continue
        for path in files:
            report = inspect_file(path, choice, args.role)
            print(render(report))
            fatal = fatal or bool(report.fatal)
    return 1 if fatal else 0
