"""How a CSV file is spelled, from its first lines: compression, encoding, delimiter, and where
the header is (spotifycharts.com exports put a note line before it)."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 << 10
NOTE_LINES_MAX = 3  # lines before the header that carry at most one value (a note, a title)


class TableReadError(ValueError):
    """A file that cannot be read as a table; the message names the file and what is wrong."""


@dataclass(frozen=True)
class CsvSpelling:
    gzip: bool
    encoding: str
    delimiter: str
    skip_lines: int  # note lines before the header
    names: tuple[str, ...]
    note: str  # the note line(s) skipped, for the log


def head_bytes(path: Path, n: int = SNIFF_BYTES) -> bytes:
    """The first `n` bytes of the content (decompressed for gzip)."""
    with open(path, "rb") as fh:
        start = fh.read(2)
    try:
        with (gzip.open(path, "rb") if start == GZIP_MAGIC else open(path, "rb")) as fh:
            return fh.read(n)
    except (OSError, EOFError) as exc:
        raise TableReadError(f"{path} cannot be read ({exc}): a truncated or corrupt gzip file?") from exc


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def decode_or_explain(data: bytes, encoding: str, path: Path, complete: bool) -> str:
    """`data` decoded; a wrong encoding is named with the byte offset of the first bad byte.
    An incomplete multi-byte character at the end of a sample that is not the whole file is fine."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(data) - 4 and exc.reason == "unexpected end of data":
            return data[: exc.start].decode(encoding)
        raise TableReadError(
            f"{path} is not valid {encoding.removesuffix('-sig')}: byte 0x{data[exc.start]:02x} at offset {exc.start:,} ({exc.reason}); "
            "set the file's encoding in the column map (encoding: latin-1, cp1252, ...) or save it as UTF-8") from None


def sniff_csv(path: Path, encoding: str | None = None, delimiter: str | None = None) -> CsvSpelling:
    """The spelling of a CSV file; `encoding`/`delimiter` when configured, else detected."""
    if not path.is_file():
        raise TableReadError(f"{path} does not exist")
    if path.stat().st_size == 0:
        raise TableReadError(f"{path} is empty (0 bytes): was it written completely?")
    gz = is_gzip(path)
    data = head_bytes(path)
    complete = len(data) < SNIFF_BYTES
    enc = encoding or "utf-8-sig"
    text = decode_or_explain(data, enc, path, complete)
    lines = text.splitlines()
    if not complete and lines:
        lines = lines[:-1]  # the last line of a sample may be cut
    lines = [ln for ln in lines[:50]]
    if not any(ln.strip() for ln in lines):
        raise TableReadError(f"{path} has no header line: empty or half-written?")
    sep = delimiter or _delimiter(lines)
    skip, notes = 0, []
    rows = list(csv.reader(io.StringIO("\n".join(lines[: NOTE_LINES_MAX + 2])), delimiter=sep))
    while skip < min(NOTE_LINES_MAX, len(rows) - 1) and sum(1 for f in rows[skip] if f.strip()) <= 1:
        notes.append(",".join(f for f in rows[skip] if f.strip()))
        skip += 1
    names = tuple(n.strip() for n in (rows[skip] if skip < len(rows) else []))
    if not [n for n in names if n]:
        raise TableReadError(f"{path} has no header line: empty or half-written?")
    return CsvSpelling(gz, "utf-8" if enc == "utf-8-sig" else enc, sep, skip, names, " / ".join(n for n in notes if n))


def _delimiter(lines: list[str]) -> str:
    """The delimiter that splits the most lines into the same number (> 1) of fields."""
    sample = [ln for ln in lines if ln.strip()][:20]
    best, best_score = ",", -1
    for sep in DELIMITERS:
        counts = [len(next(csv.reader([ln], delimiter=sep), [])) for ln in sample]
        if not counts or max(counts) < 2:
            continue
        mode = max(set(counts), key=counts.count)
        score = counts.count(mode) * 1000 + mode
        if mode > 1 and score > best_score:
            best, best_score = sep, score
    return best
