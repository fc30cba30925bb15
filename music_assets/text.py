"""One rule for comparing titles and artists, shared by dedupe, the bundle's title keys and search.

Kept in one place because a key computed one way at build time and another way at query time
would silently stop matching ("Black Swan" vs "black swan" vs "Black Swan!").
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s]")


def normalize_text(text: object) -> str:
    """Case-, accent-, punctuation- and whitespace-insensitive form of a title or artist."""
    if not isinstance(text, str):
        return ""
    # casefold first: some combining marks (U+0345) casefold to a letter that their upper case also becomes
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    no_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", _NON_WORD.sub(" ", no_marks.casefold())).strip()
