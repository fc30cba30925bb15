"""Any tabular file as a pandas frame of what it says (CSV text as text, Parquet and JSON values
as typed there), with how it was read; and the files a folder or a glob names."""

from __future__ import annotations

import glob
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from music_assets.ingest.tables.quotes import UNBALANCED_QUOTE, BalancedLines
from music_assets.ingest.incoming import IN_PROGRESS_SUFFIXES
from music_assets.ingest.tables.sniff import (
    GZIP_MAGIC, PARQUET_MAGIC, CsvSpelling, TableReadError, decode_or_explain, head_bytes, sniff_csv,
)

TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".json", ".json.gz", ".jsonl",
                  ".jsonl.gz", ".ndjson", ".ndjson.gz")
GLOB_CHARS = "*?["
BAD_LINES_KEPT = 1_000  # lines with a wrong field count kept as examples (all are counted)


@dataclass
class RawTable:
    """A file's rows as read, and how: format, encoding, delimiter, note lines skipped, bad lines."""

    path: Path
    frame: pd.DataFrame
    format: str  # csv | parquet | json | jsonl
    spelling: CsvSpelling | None = None
    bad_lines: list[dict[str, object]] = field(default_factory=list)  # {"row", "value", "reason"}
    bad_line_count: int = 0

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"file": str(self.path), "format": self.format, "rows": len(self.frame)}
        if self.spelling:
            out |= {"gzip": self.spelling.gzip, "encoding": self.spelling.encoding,
                    "delimiter": self.spelling.delimiter, "note_lines_skipped": self.spelling.skip_lines}
            if self.spelling.note:
                out["note"] = self.spelling.note[:120]
        if self.bad_line_count:
            out["lines_with_wrong_field_count"] = self.bad_line_count
        return out


def is_table_file(path: Path) -> bool:
    """A file a folder contributes: a table suffix, not hidden, not a copy still in progress."""
    name = path.name.lower()
    return not name.startswith((".", "~")) and not name.endswith(IN_PROGRESS_SUFFIXES) and name.endswith(TABLE_SUFFIXES)


def expand_paths(spec: str, kind: str = "table") -> list[Path]:
    """The files `spec` names: a file, a folder (its table files, subfolders included, in path
    order) or a glob (`charts/*.csv`). Naming nothing is an error: the path is probably wrong."""
    path = Path(spec)
    if any(c in spec for c in GLOB_CHARS) and not path.exists():
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file() and is_table_file(Path(p)))
        if not files:
            raise TableReadError(f"{spec} matches no {kind} file ({', '.join(TABLE_SUFFIXES)})")
        return files
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and is_table_file(p))
        if not files:
            raise TableReadError(f"folder {path} holds no {kind} file ({', '.join(TABLE_SUFFIXES)})")
        return files
    if not path.is_file():
        raise TableReadError(f"{path} does not exist")
    return [path]


def file_format(path: Path) -> str:
    """parquet | json | jsonl | csv, from the content (the name can lie: a gzip without .gz)."""
    if not path.is_file():
        raise TableReadError(f"{path} does not exist")
    if path.stat().st_size == 0:
        raise TableReadError(f"{path} is empty (0 bytes): was it written completely?")
    with open(path, "rb") as fh:
        if fh.read(4) == PARQUET_MAGIC:
            return "parquet"
    start = head_bytes(path, 4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"["):
        return "json"
    if start.startswith(b"{"):
        name = path.name.lower().removesuffix(".gz")
        if name.endswith((".jsonl", ".ndjson")):
            return "jsonl"
        first = start.split(b"\n", 1)
        return "jsonl" if len(first) > 1 and first[0].rstrip().endswith(b"}") and first[1].lstrip().startswith(b"{") else "json"
    return "csv"


def read_table(path: Path, encoding: str | None = None, delimiter: str | None = None,
               records: str | None = None) -> RawTable:
    """The whole file as a frame. `records`: for a JSON object, the key holding the list of rows
    (default: the one key whose value is a list of objects, e.g. {"tracks": [...]})."""
    kind = file_format(path)
    if kind == "parquet":
        try:
            return RawTable(path, pq.read_table(path).to_pandas(), "parquet")
        except (pa.ArrowInvalid, OSError) as exc:
            raise TableReadError(f"{path} is not a readable Parquet file ({exc}): half-written or corrupt?") from exc
    if kind in ("json", "jsonl"):
        return RawTable(path, _read_json(path, kind, encoding or "utf-8", records), kind)
    return _read_csv(path, encoding, delimiter)


def _whole_text(path: Path, encoding: str) -> str:
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == GZIP_MAGIC
        data = gzip.open(path, "rb").read() if gz else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise TableReadError(f"{path} cannot be read to the end ({exc}): a truncated gzip file?") from exc
    return decode_or_explain(data, "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding,
                             path, complete=True)


def _read_json(path: Path, kind: str, encoding: str, records: str | None) -> pd.DataFrame:
    text = _whole_text(path, encoding)
    if kind == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise TableReadError(f"{path} line {number} is not JSON ({exc.msg}): a half-written JSON Lines file?") from None
        return pd.DataFrame.from_records(rows)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TableReadError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): "
                             "half-written?") from None
    if isinstance(value, dict):
        lists = {k: v for k, v in value.items() if isinstance(v, list) and (not v or isinstance(v[0], dict))}
        if records:
            if records not in lists:
                raise TableReadError(f"{path}: no list of rows under key {records!r} (keys: {', '.join(map(str, value))})")
            value = lists[records]
        elif len(lists) == 1:
            value = next(iter(lists.values()))
        else:
            raise TableReadError(f"{path} is a JSON object without one list of rows (keys: {', '.join(map(str, value))}); "
                                 "name the key in the column map (records: tracks)")
    if not isinstance(value, list) or any(not isinstance(r, dict) for r in value):
        raise TableReadError(f"{path}: expected a JSON array of objects (one per row)")
    return pd.DataFrame.from_records(value)


def _read_csv(path: Path, encoding: str | None, delimiter: str | None) -> RawTable:
    spelling = sniff_csv(path, encoding, delimiter)
    bad: list[dict[str, object]] = []
    count = 0

    def on_bad(row: pacsv.InvalidRow) -> str:
        nonlocal count
        count += 1
        if len(bad) < BAD_LINES_KEPT:
            where = row.number if row.number is not None else -1
            bad.append({"row": where, "value": (row.text or "")[:200],
                        "reason": f"line has {row.actual_columns} fields, expected {row.expected_columns}"})
        return "skip"

    def on_unbalanced(number: int, text: str) -> None:
        nonlocal count
        count += 1
        if len(bad) < BAD_LINES_KEPT:
            bad.append({"row": number, "value": text[:200], "reason": UNBALANCED_QUOTE})

    names = list(spelling.names)
    unique = [n if names.index(n) == i else f"{n}.{i}" for i, n in enumerate(names)]  # repeated header names
    # One row per line, as the chart streams read them (ingest/tables/quotes.py): a stray quote
    # would otherwise run a value across the following lines and swallow their rows.
    raw = gzip.open(path, "rb") if spelling.gzip else open(path, "rb")
    try:
        table = pacsv.read_csv(
            BalancedLines(raw, on_unbalanced),
            read_options=pacsv.ReadOptions(encoding=spelling.encoding, skip_rows=spelling.skip_lines + 1,
                                           column_names=unique, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=spelling.delimiter, newlines_in_values=True, invalid_row_handler=on_bad),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in unique},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "utf8" in str(exc).lower():
            _whole_text(path, spelling.encoding)  # raises, naming the byte offset
        raise TableReadError(f"{path} cannot be read as CSV ({exc}): half-written or corrupt?") from exc
    except (OSError, EOFError) as exc:
        raise TableReadError(f"{path} cannot be read to the end ({exc}): a truncated gzip file?") from exc
    finally:
        raw.close()
    return RawTable(path, table.to_pandas(), "csv", spelling, bad, count)
