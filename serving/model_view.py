"""The /model page in a listener's words: every figure with a plain label, a sentence of what it
means, a rounded value; times to the minute with their timezone.

quality.json and model.json speak the pipeline's language (n_queries, genre_hit_rate, k for the
evaluation's list length beside k for the clusters). A key this module does not know yet is
still shown, its underscores turned into spaces, so a new metric never shows as raw code.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Callable

from music_assets.model.bundle import ModelBundle
from serving.present import mode_name

Row = dict[str, str]  # label, value, meaning


def when(raw: object) -> str:
    """An ISO timestamp as "2026-12-02 12:50 UTC" (to the minute, with its timezone)."""
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return "unknown"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def percent(value: float) -> str:
    return f"{value:.0%}" if value >= 0.01 or value == 0 else f"{value:.1%}"


def two(value: float) -> str:
    return f"{value:.2f}"


def times(value: float) -> str:
    return f"{value:.1f}×"


def whole(value: float) -> str:
    return f"{value:,.0f}"


def plain(value: float) -> str:
    """A figure nobody wrote a format for: whole, or to two decimals."""
    return whole(value) if float(value).is_integer() else two(value)


def humanize(key: str) -> str:
    """A key nobody wrote a label for: words, not code."""
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


# quality.json's top-level facts: label, meaning, how to show the value (None: not shown).
FACTS: dict[str, tuple[str, str, Callable[[Any], str]] | None] = {
    "winner": ("Mode chosen by the test", "The way of recommending that best matched genres in the offline test; "
               "pages use it unless you pick another.", lambda v: mode_name(str(v))),
    "n_queries": ("Songs tested", "How many songs of the catalog were each used once as the song searched.", whole),
    "k": ("Suggestions per test", "How many songs each test asked for (the page shows 10 unless you ask for more).", whole),
    "genre_labelled_share": ("Songs with a genre", "Share of the catalog's songs that carry genre information, "
                             "which the test needs to judge a suggestion.", percent),
    "seed": None,  # fixes the test's random sample; says nothing to a listener
    "version": None,  # the model's id, shown above
}
# The per-mode metrics (training/evaluate.py): label, meaning, format.
METRICS: dict[str, tuple[str, str, Callable[[float], str]]] = {
    "genre_hit_rate": ("Same genre", "share of suggestions that share a genre with the song searched", percent),
    "artist_hit_rate": ("Same artist", "share of suggestions by the searched song's artist", percent),
    "coverage": ("Catalog reached", "share of the catalog that some test suggested at least once", percent),
    "diversity": ("Variety", "how different the songs of one list sound from each other (higher is more varied)", two),
    "popularity_bias": ("Popularity", "how often suggested songs charted, against an average song (1.0× is average)",
                        times),
    "answered": ("Full lists", "share of tests that got a full list of suggestions", percent),
}
MODE_LABELS = {"random": "Random picks (the floor to beat)"}
FEATURES = {"duration_ms": "duration", "time_signature": "time signature", "mode": "major or minor"}


def feature_names(names: list[str]) -> str:
    return ", ".join(FEATURES.get(n, n.replace("_", " ")) for n in names)


def summary(bundle: ModelBundle) -> list[Row]:
    """The facts of model.json, each with a plain label and what it means."""
    catalog = bundle.catalog
    n = len(bundle.tracks)
    in_model = int(bundle.in_model.sum())
    featureless = int(catalog.get("tracks_without_features", 0))
    rows = [
        {"id": "version", "label": "Version", "value": bundle.version,
         "meaning": "The model's name; quote it when you report a problem."},
        {"id": "built", "label": "Built", "value": when(bundle.meta.get("created_at", "")),
         "meaning": "When the pipeline built this model from the catalog and charts."},
        {"id": "songs", "label": "Songs", "value": whole(n), "meaning": "Every song you can search for."},
        {"id": "families", "label": "Sound families", "value": whole(float(bundle.meta.get("k", 0) or 0)),
         "meaning": "The songs are grouped into this many families of similar sound; "
                    "“Sounds like (same family)” suggests songs from the searched song's family."},
        {"id": "default-mode", "label": "Default way of recommending", "value": mode_name(bundle.default_mode),
         "meaning": "Used when you do not pick one."},
        {"id": "features-used", "label": "Compared by", "value": feature_names(list(bundle.features)),
         "meaning": "The sound measurements (Spotify audio features) that decide which songs sound alike."},
    ]
    dropped = catalog.get("features_dropped", {})
    if isinstance(dropped, dict) and dropped:
        rows.append({"id": "features-dropped", "label": "Measurements not used",
                     "value": "; ".join(f"{feature_names([str(k)])} ({v})" for k, v in dropped.items()),
                     "meaning": "Too few songs had them to compare by."})
    rows.append({"id": "in-model", "label": "Songs that can be suggested", "value": whole(in_model),
                 "meaning": "Songs with every sound measurement: they can be searched and suggested."})
    share = float(catalog.get("featureless_share", featureless / n if n else 0.0))
    rows.append({"id": "featureless", "label": "Songs without sound measurements",
                 "value": f"{whole(featureless)} ({share:.1%})",
                 "meaning": "You can search for them, but they are never suggested."})
    return rows


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def quality_facts(data: dict[str, Any]) -> list[Row]:
    """quality.json's top-level facts that mean something to a listener."""
    rows: list[Row] = []
    for key, value in data.items():
        if key in FACTS and FACTS[key] is None or isinstance(value, (dict, list)) or value is None:
            continue
        number = _number(value)
        label, meaning, fmt = FACTS.get(key) or (humanize(str(key)), "", plain if number is not None else str)
        shown = fmt(number if number is not None else value)
        rows.append({"label": label, "value": shown[:200], "meaning": meaning})
    return rows[:20]


def quality_table(data: dict[str, Any], default_mode: str) -> tuple[list[Row], list[dict[str, Any]]]:
    """The per-mode table: columns (label, meaning) and rows (mode label, cells, is default)."""
    modes = data.get("modes")
    if not isinstance(modes, dict):
        return [], []
    keys: list[str] = []
    for per_mode in modes.values():
        if isinstance(per_mode, dict):
            keys.extend(k for k in per_mode if k not in keys)
    keys = keys[:12]
    columns = [{"label": METRICS[k][0] if k in METRICS else humanize(k),
                "meaning": METRICS[k][1] if k in METRICS else ""} for k in keys]
    rows = []
    for mode, per_mode in list(modes.items())[:20]:
        if not isinstance(per_mode, dict):
            continue
        cells = []
        for k in keys:
            number = _number(per_mode.get(k))
            cells.append("n/a" if number is None else (METRICS[k][2](number) if k in METRICS else plain(number)))
        rows.append({"mode": MODE_LABELS.get(str(mode), mode_name(str(mode))), "cells": cells,
                     "default": mode == default_mode})
    return columns, rows
