"""One rule for comparing titles and artists, shared by dedupe, the bundle's title keys and search.

Kept in one place because a key computed one way at build time and another way at query time
would silently stop matching ("Black Swan" vs "black swan" vs "Black Swan!"). A bundle records
the rule its stored title keys follow (TITLE_KEY_RULE in model.json); a bundle written under an
older rule has the keys that differ recomputed when it is loaded (model/lookups.py).
"""

from __future__ import annotations

import re
import unicodedata

# 2: apostrophes are dropped, not turned into a space ("Won't" == "Wont"); 1 (unrecorded): they split words.
TITLE_KEY_RULE = 2
# Characters people type for an apostrophe: ASCII ', right/left single quotes, backtick, modifier
# letter apostrophe, acute accent, prime. Removed before accents are stripped (´ decomposes to a space).
APOSTROPHES = "'\u2019\u2018`\u02bc\u00b4\u2032\uff07"
_APOSTROPHE = re.compile(f"[{re.escape(APOSTROPHES)}]")
_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s]")


def normalize_text(text: object) -> str:
    """Case-, accent-, apostrophe-, punctuation- and whitespace-insensitive form of a title or artist."""
    if not isinstance(text, str):
        return ""
    # casefold first: some combining marks (U+0345) casefold to a letter that their upper case also becomes
    decomposed = unicodedata.normalize("NFKD", _APOSTROPHE.sub("", text.casefold()))
    no_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", _NON_WORD.sub(" ", no_marks.casefold())).strip()


# Where a title's version note starts: "Dynamite - Tropical Remix", "Smile (with The Weeknd)",
# "Yellow [Live]", "Photograph – Acoustic". A marker must follow some text: "(I Can't Get No)
# Satisfaction" keeps its parenthesis.
_VERSION_MARK = re.compile(r"\s+(?:[-\u2013\u2014]\s|[(\[])")


def has_version_note(title: object) -> bool:
    """Whether song_key(title) drops a version note (otherwise it is normalize_text(title))."""
    return isinstance(title, str) and _VERSION_MARK.search(title) is not None


def song_key(title: object) -> str:
    """The normalized title without its version note: the versions of one song (a remix, a live
    take, an instrumental, a "feat." credit) share it. Dedupe keeps them as distinct recordings;
    recommendations should not offer a listener the song they asked for in another version."""
    if not isinstance(title, str):
        return ""
    mark = _VERSION_MARK.search(title)
    return normalize_text(title[:mark.start()] if mark else title)
