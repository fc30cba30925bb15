"""One chart row per physical line: a line with an unbalanced double quote is set aside before the
CSV parser sees it.

Every chart layout writes one row per line. A parser that lets a quoted value run across line
breaks (pyarrow's newlines_in_values, needed so that block boundaries stay in sync) turns one
stray `"` into a "title" that swallows the following rows up to the next quote: a real chart file
lost that day's #1 to #6 into one 597-character title, counted as valid. A line whose quotes do
not pair up (an odd count: in a well-formed line each quoted value has two, plus two per escaped
quote) is where that starts, so it is rejected alone, with its line number, and the lines after
it are read as the rows they are. Spark reads chart CSVs line by line (multiLine off), which
recovers the same lines.

Vectorised over each block (numpy over the bytes), so a multi-gigabyte file streams through at
about the speed it is read; the partial last line of a block waits for the next one.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

QUOTE, NEWLINE = ord('"'), ord("\n")
UNBALANCED_QUOTE = 'a line has an unbalanced quote (")'

OnReject = Callable[[int, str], None]  # (1-based line number, the line's text)


class BalancedLines:
    """A binary file-like object over `raw` that drops lines with an odd number of double quotes,
    handing each to `on_reject` with its 1-based line number (the header is line 1)."""

    def __init__(self, raw, on_reject: OnReject, chunk_size: int = 1 << 20):
        self._raw, self._on_reject, self._chunk = raw, on_reject, chunk_size
        self._carry = b""  # the start of a line whose end is not read yet
        self._out = bytearray()
        self._line = 0  # lines completed so far
        self._eof = False
        self.closed = False

    def readable(self) -> bool:
        return True

    def _filter(self, data: bytes, final: bool) -> bytes:
        buf = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(buf == NEWLINE)
        if final and (not len(ends) or ends[-1] != len(buf) - 1) and len(buf):
            ends = np.append(ends, len(buf) - 1)  # a last line without a line break
        complete = int(ends[-1]) + 1 if len(ends) else 0
        self._carry = data[complete:]
        if not len(ends):
            return b""
        quotes = np.cumsum(buf[:complete] == QUOTE)
        per_line = np.diff(np.concatenate([[0], quotes[ends]]))
        odd = np.flatnonzero(per_line % 2 == 1)
        if not len(odd):
            self._line += len(ends)
            return data[:complete]
        starts = np.concatenate([[0], ends[:-1] + 1])
        kept, at = [], 0
        for i in odd.tolist():
            kept.append(data[at:starts[i]])
            line = data[starts[i]:ends[i] + 1]
            self._on_reject(self._line + i + 1, line.decode("utf-8", errors="replace").rstrip("\r\n"))
            at = int(ends[i]) + 1
        kept.append(data[at:complete])
        self._line += len(ends)
        return b"".join(kept)

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._out) < size):
            chunk = self._raw.read(self._chunk)
            if not chunk:
                self._eof = True
                self._out += self._filter(self._carry, final=True)
            else:
                self._out += self._filter(self._carry + chunk, final=False)
        if size < 0:
            size = len(self._out)
        out = bytes(self._out[:size])
        del self._out[:size]
        return out

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self.closed = True
        self._raw.close()
