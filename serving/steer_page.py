"""The page that lets a listener steer (issue 16): several songs as seeds, sliders for the main
targets, a market, "more like this" and "less like this" on every result.

One GET form, so it works without JavaScript and every state is a link: `seed` (repeated track
ids), `use_<feature>` + `target_<feature>` (a slider counts only when its box is ticked; the page's
script ticks it when the slider is touched), `market`, `k`; the actions `add` (typed text, found
as on the search page), `add_id` (a result's "more like this", or a pick among songs sharing a
title), `remove`; `avoid` (repeated track ids: negative seeds, "less like these") with the actions
`avoid_id` (a result's "less like this") and `unavoid`. The answer comes from music_assets.model.steer; the page adds nothing to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for

from music_assets.model import steer as steering
from music_assets.model.hybrid import HybridError
from music_assets.model.recommend_hybrid import hybrid_model
from music_assets.model.search import MAX_QUERY_CHARS, QueryError
from serving.params import BadRequest, parse_track_id
from serving.present import mode_name, track_view, with_listening

bp = Blueprint("steer", __name__)

MAX_PAGE_SEEDS = 10  # a handful the page can show; the in-process steer() takes up to its MAX_SEEDS
DEFAULT_RESULTS = 12
MAX_RESULTS = 50
# The sliders: feature -> (plain name, low end, high end, min, max, step, starting position)
SLIDERS: dict[str, tuple[str, str, str, float, float, float, float]] = {
    "energy": ("Energy", "calm", "intense", 0.0, 1.0, 0.01, 0.5),
    "danceability": ("Danceability", "hard to dance to", "made for dancing", 0.0, 1.0, 0.01, 0.5),
    "valence": ("Mood", "sad or dark", "happy or bright", 0.0, 1.0, 0.01, 0.5),
    "tempo": ("Tempo (beats per minute)", "slow", "fast", 60.0, 200.0, 1.0, 120.0),
    "acousticness": ("Acoustic", "electronic", "acoustic", 0.0, 1.0, 0.01, 0.5),
}


@dataclass
class SteerState:
    """What the form says, checked: the seeds, the sliders in use, the market, the list length."""

    seeds: list[str] = field(default_factory=list)
    avoid: list[str] = field(default_factory=list)  # "less like these": negative seeds, never recommended
    targets: dict[str, float] = field(default_factory=dict)  # only the enabled sliders
    positions: dict[str, float] = field(default_factory=dict)  # every slider's position, for the form
    market: str = ""
    mode: str = "nearest"
    k: int = DEFAULT_RESULTS
    notices: list[str] = field(default_factory=list)
    choices: list[int] = field(default_factory=list)  # rows to pick from after an ambiguous "add"
    choices_title: str = ""

    def link(self) -> str:
        """This page's URL for the state: a shareable link holding no action (add, remove)."""
        params: dict[str, Any] = {"seed": self.seeds}
        if self.avoid:
            params["avoid"] = self.avoid
        for name, value in self.targets.items():
            params[f"use_{name}"] = "on"
            params[f"target_{name}"] = _shown(value)
        if self.market:
            params["market"] = self.market
        if self.mode != "nearest":
            params["mode"] = self.mode
        if self.k != DEFAULT_RESULTS:
            params["k"] = self.k
        return url_for("steer.steer_page", **params)


def _shown(value: float) -> str:
    return f"{value:g}"


def _number(raw: str | None, name: str, lo: float, hi: float, default: float) -> float:
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"The {name} slider needs a number from {_shown(lo)} to {_shown(hi)}.") from None
    if not lo <= value <= hi:  # NaN fails both comparisons
        raise BadRequest(f"The {name} slider goes from {_shown(lo)} to {_shown(hi)}; got {raw[:20]!r}.")
    return value


def parse_state(args, model) -> SteerState:
    """The form's parameters, checked (BadRequest with a message naming the control), then the
    action (add, add_id, remove) applied."""
    state = SteerState()
    for raw in args.getlist("seed")[: MAX_PAGE_SEEDS * 2]:
        tid = parse_track_id(raw)
        if tid and tid not in state.seeds:
            if tid in model.bundle.id_index:
                state.seeds.append(tid)
            else:  # a link from before the catalog changed: say so, keep the rest
                state.notices.append(f"A song of this link ({tid}) is not in the catalog any more; it was left out.")
    for raw in args.getlist("avoid")[: MAX_PAGE_SEEDS * 2]:
        tid = parse_track_id(raw)
        if tid and tid not in state.avoid and tid not in state.seeds and tid in model.bundle.id_index:
            state.avoid.append(tid)  # one no longer in the catalog simply stops counting
    for name, (label, _low, _high, lo, hi, _step, start) in SLIDERS.items():
        value = _number(args.get(f"target_{name}"), label.split(" (")[0].lower(), lo, hi, start)
        state.positions[name] = value
        if args.get(f"use_{name}"):
            state.targets[name] = value
    market = (args.get("market") or "").strip()[:80]
    if market and market not in steering.markets(model.bundle):
        raise BadRequest(f"This catalog has no chart market called {market!r}; pick one from the list.")
    state.market = market
    mode = (args.get("mode") or "nearest").strip()
    if mode not in steering.STEER_MODES:
        raise BadRequest(f"Unknown way of recommending {mode[:40]!r}: choose one from the list.")
    state.mode = mode
    k = (args.get("k") or "").strip()
    if k:
        if not k.isdigit() or not 1 <= int(k) <= MAX_RESULTS:
            raise BadRequest(f"The number of results must be from 1 to {MAX_RESULTS}.")
        state.k = int(k)
    removed = parse_track_id(args.get("remove"))
    if removed in state.seeds:
        state.seeds.remove(removed)
    unavoided = parse_track_id(args.get("unavoid"))
    if unavoided in state.avoid:
        state.avoid.remove(unavoided)
    avoided = parse_track_id(args.get("avoid_id"))
    if avoided:
        _avoid(state, model, avoided)
    added = parse_track_id(args.get("add_id"))
    if added:
        _add(state, model, added)
    text = (args.get("add") or "").strip()
    if text and not added:
        _add_typed(state, model, text)
    return state


def _steering_row(state: SteerState, model, track_id: str) -> int | None:
    """The row of a song that can steer (in the catalog, with sound measurements), else None with a
    notice: the one check for both "more like this" and "less like this"."""
    row = model.bundle.id_index.get(track_id)
    if row is None:
        state.notices.append("That song is not in the catalog any more.")
    elif not model.bundle.in_model[row]:
        state.notices.append(f"“{model.bundle.tracks['title'].iat[row]}” has no sound measurements, "
                             "so it cannot steer; try another song.")
    else:
        return row
    return None


def _add(state: SteerState, model, track_id: str) -> None:
    row = _steering_row(state, model, track_id)
    if row is None:
        return
    if track_id in state.seeds:
        state.notices.append("That song is already one of your songs.")
    elif len(state.seeds) >= MAX_PAGE_SEEDS:
        state.notices.append(f"At most {MAX_PAGE_SEEDS} songs at a time: remove one first.")
    else:
        state.seeds.append(str(model.bundle.tracks["track_id"].iat[row]))
        if state.seeds[-1] in state.avoid:  # liked after all
            state.avoid.remove(state.seeds[-1])


def _avoid(state: SteerState, model, track_id: str) -> None:
    row = _steering_row(state, model, track_id)
    if row is None or track_id in state.avoid:
        return
    if track_id in state.seeds:
        state.notices.append("That song is one of your songs: remove it first.")
    elif len(state.avoid) >= MAX_PAGE_SEEDS:
        state.notices.append(f"At most {MAX_PAGE_SEEDS} songs to steer away from: undo one first.")
    else:
        state.avoid.append(str(model.bundle.tracks["track_id"].iat[row]))


def _add_typed(state: SteerState, model, text: str) -> None:
    try:
        found = model.search.resolve(text)
    except QueryError as exc:
        state.notices.append(str(exc))
        return
    matches = sorted(found.matches, key=lambda row: not model.bundle.in_model[row])
    if found.status == "found":
        _add(state, model, str(model.bundle.tracks["track_id"].iat[matches[0]]))
    elif found.status == "ambiguous":
        state.choices, state.choices_title = matches[:10], text
    else:
        state.notices.append(f"“{text}” is not in the catalog.")
        state.choices, state.choices_title = found.suggestions, ""


def _result_view(bundle, item: steering.Steered) -> dict[str, Any]:
    view = with_listening(bundle, track_view(bundle, item.row))
    view["match"] = f"{round(item.match * 100):d}%"
    view["reason"] = item.reason
    return view


def _has_hybrid(bundle) -> bool:
    """Whether to offer "Listened together": the bundle's hybrid vectors load (read once per bundle;
    damaged ones are for the log and /recommend's 422, not a reason to lose the whole page)."""
    try:
        return hybrid_model(bundle) is not None
    except HybridError:
        return False


@bp.get("/steer")
def steer_page():
    model = current_app.extensions["model_store"].current()
    bundle = model.bundle
    markets = steering.markets(bundle)
    page = {"markets": markets, "sliders": SLIDERS, "model": model, "max_seeds": MAX_PAGE_SEEDS,
            "max_results": MAX_RESULTS, "max_query_chars": MAX_QUERY_CHARS,
            # "Listened together" only where the bundle has hybrid vectors (steer() refuses it elsewhere)
            "modes": [(m, mode_name(m)) for m in steering.STEER_MODES if m != "hybrid" or _has_hybrid(bundle)]}
    try:
        state = parse_state(request.args, model)
    except BadRequest as exc:
        start = SteerState(positions={name: slider[6] for name, slider in SLIDERS.items()})
        return render_template("steer.html", error=exc.message, state=start, seeds=[], avoided=[], results=[],
                               **page), exc.status
    results: list[dict[str, Any]] = []
    pool = None
    if state.seeds:
        try:
            answer = steering.steer(bundle, steering.SteerRequest(
                seed_tracks=tuple(state.seeds), negative_tracks=tuple(state.avoid), limit=state.k, market=state.market or None, target=state.targets,
                mode=state.mode))
            results, pool = [_result_view(bundle, r) for r in answer.results], answer.pool_size
        except steering.SteerError as exc:
            state.notices.append(str(exc))
    seeds = [with_listening(bundle, track_view(bundle, bundle.id_index[s])) for s in state.seeds]
    avoided = [track_view(bundle, bundle.id_index[s]) for s in state.avoid]
    return render_template(
        "steer.html", state=state, seeds=seeds, avoided=avoided, results=results, pool=pool,
        choices=[track_view(bundle, r) for r in state.choices], share=state.link() if state.seeds else None, **page,
    )
