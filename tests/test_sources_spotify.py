"""The `spotify` source: spotipy talking HTTP to a local fake of the 2026 Spotify Web API.

Each hostile behaviour of the API (403 variants, 429 with Retry-After or QUOTA_EXCEEDED, 500,
time-outs, malformed JSON) is served for real by tests/fake_spotify.py; the assets run through
Dagster; assertions are on the Parquet files, metadata, logs and the fake's request counters.
"""

from __future__ import annotations

import base64
import logging
import math
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from benchmarks.ingest_charts import write_demo_charts_csv
from music_assets.defs.assets.chart_rows import chart_rows
from music_assets.defs.assets.track_features import track_features
from music_assets.defs.assets.unique_tracks import unique_tracks
from music_assets.schema import FEATURE_COLUMNS
from music_assets.ingest.sources.demo import DemoCatalog, DemoConfig
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from tests.fake_spotify import Catalog, FakeSpotify

CLIENT_ID = "test-client-id-0001"
SECRET = "s3cr3t-Sp0t1fy-client-secret-XYZ"
SEED = 7
SEED_CALLS_PER_TITLE = 2  # the seed: one search + one audio-features call per title
# The client's time-out. An injected "timeout" costs exactly this (the fake holds its answer until
# the client gives up); every other answer is immediate, so this is the margin a busy machine has
# before a real answer is taken for a time-out and counted as one more retry: keep it wide.
REQUEST_TIMEOUT_S = 2.0


def _artist_id(index: int) -> str:
    return f"Ar{index:020d}"


def build_catalog(n_tracks: int) -> Catalog:
    """The demo catalog (same seed as the chart file) as Spotify and ReccoBeats would serve it."""
    tracks = DemoCatalog(DemoConfig(n_tracks=n_tracks, seed=SEED)).tracks
    cat = Catalog()
    for row in tracks.to_dict("records"):
        tid, aid = row["track_id"], _artist_id(int(row["artist_index"]))
        cat.tracks[tid] = {"id": tid, "name": row["title"], "artists": [{"id": aid, "name": row["artist"]}],
                           "album": {"images": [{"url": f"https://i.scdn.co/image/{tid}", "height": 640}]},
                           "preview_url": None, "duration_ms": row["duration_ms"]}
        artist = {"id": aid, "name": row["artist"], "genres": list(row["genres"])}
        if int(row["artist_index"]) % 10 == 0:
            del artist["genres"]  # "artist genres may be missing"
        cat.artists[aid] = artist
        if not row["features_missing"]:
            feats = {c: (None if isinstance(row[c], float) and math.isnan(row[c]) else row[c]) for c in FEATURE_COLUMNS}
            cat.features[tid] = {"id": tid, "type": "audio_features", **feats}
            recco = {c: v for c, v in feats.items() if c not in ("duration_ms", "time_signature")}
            cat.recco[tid] = {"id": f"rb-{tid[:8]}", "href": f"https://open.spotify.com/track/{tid}", **recco}
    return cat


@pytest.fixture
def instance():
    """An ephemeral Dagster instance, closed at the end so no background thread outlives the test."""
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", SECRET)


def spotify_resource(fake: FakeSpotify, charts: Path, **overrides) -> SourceResource:
    config = dict(kind="spotify", charts_path=str(charts), spotify_client_id=dg.EnvVar("SPOTIPY_CLIENT_ID"),
                  spotify_client_secret=dg.EnvVar("SPOTIPY_CLIENT_SECRET"), spotify_api_url=fake.api_url,
                  spotify_token_url=fake.token_url, reccobeats_url=fake.recco_url, request_timeout_s=REQUEST_TIMEOUT_S,
                  retry_backoff_s=0.01, max_retry_wait_s=2.0, checkpoint_every=2, fetch_batch_size=100)
    config.update(overrides)
    return SourceResource(**config)


def run(data_dir: Path, source: SourceResource, selection: list | None = None,
        instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(selection or [chart_rows, unique_tracks, track_features], raise_on_error=False,
                          instance=instance, resources={"store": DataStore(data_dir=str(data_dir)), "engine": EngineResource(), "source": source})


def features_of(data_dir: Path):
    return pq.read_table(data_dir / "assets" / "track_features.parquet").to_pandas().set_index("track_id")


def meta(result: dg.ExecuteInProcessResult) -> dict:
    return result.asset_materializations_for_node("track_features")[0].metadata


def run_log(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance) -> str:
    return "\n".join(r.user_message for r in instance.all_logs(result.run_id))


def unique_count(data_dir: Path) -> int:
    return pq.ParquetFile(data_dir / "assets" / "unique_tracks.parquet").metadata.num_rows


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(str(e.step_failure_data.error.message) for e in result.all_events if e.is_step_failure)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Catalog, int]:
    """A chart file of a 300-track demo catalog, and that catalog as the fake serves it."""
    charts = tmp_path_factory.mktemp("charts") / "charts.csv"
    write_demo_charts_csv(charts, 0, seed=SEED, n_tracks=300)
    n = len(DemoCatalog(DemoConfig(n_tracks=300, seed=SEED)).tracks)
    return charts, build_catalog(n), n


def test_batch_endpoints_call_budget_and_incremental_refresh(tmp_path: Path, env: None, capsys) -> None:
    charts = tmp_path / "charts.csv"
    write_demo_charts_csv(charts, 0, seed=SEED, n_tracks=1_500)
    n_tracks = len(DemoCatalog(DemoConfig(n_tracks=1_500, seed=SEED)).tracks)
    with FakeSpotify(build_catalog(n_tracks), CLIENT_ID, SECRET) as fake:
        default_batch = SourceResource.model_fields["fetch_batch_size"].default
        result = run(tmp_path / "data", spotify_resource(fake, charts, fetch_batch_size=default_batch))
        assert result.success, failure_message(result)
        feats = features_of(tmp_path / "data")
        asked = len(feats)
        per_1000 = 1000 * fake.api_calls() / asked
        seed_per_1000 = 1000 * SEED_CALLS_PER_TITLE
        with capsys.disabled():
            print(f"\nSpotify API calls with batch endpoints: {fake.api_calls()} for {asked:,} tracks = "
                  f"{per_1000:.1f} per 1,000 tracks (seed: {seed_per_1000:,} per 1,000; "
                  f"1/{seed_per_1000 / per_1000:.0f} of it); calls by endpoint: {dict(fake.calls)}")
        assert per_1000 <= seed_per_1000 / 50
        assert fake.calls["search"] == 0 and fake.calls["token"] == 1 and fake.calls["recco"] == 0
        # every id fetched once; found features, genres (when the artist has them) and covers
        assert set(fake.served["tracks"].values()) == {1} and set(fake.served["audio-features"].values()) == {1}
        found = feats[feats["found"]]
        assert feats["found"].mean() > 0.95 and found["cover_url"].str.startswith("https://i.scdn.co/").all()
        assert found["genres"].map(len).gt(0).mean() > 0.7
        assert meta(result)["source_paths"].value["audio_features"].startswith("batch")
        assert meta(result)["api_calls_per_1000_tracks"].value == pytest.approx(per_1000, rel=0.05)
        # a refresh asks nothing again
        before = sum(fake.calls.values())
        again = run(tmp_path / "data", spotify_resource(fake, charts), selection=[track_features])
        assert again.success and sum(fake.calls.values()) == before
        assert meta(again)["fetched_this_run"].value == 0


def test_development_mode_falls_back_to_single_calls_and_reccobeats(tmp_path: Path, env: None, small, instance,
                                                                   capsys) -> None:
    charts, catalog, n = small
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        fake.always.update({"tracks": "403_dev", "artists": "403_dev", "audio-features": "403"})
        result = run(tmp_path / "data", spotify_resource(fake, charts, features_fallback="reccobeats"), instance=instance)
        assert result.success, failure_message(result)
        paths = meta(result)["source_paths"].value
        assert paths["tracks"].startswith("single") and paths["artists"].startswith("single")
        assert paths["audio_features"].startswith("fallback 'reccobeats'")
        assert fake.calls["tracks"] == 1 and fake.calls["artists"] == 1 and fake.calls["audio-features"] == 1  # 403 never retried
        assert fake.calls["track"] == len(fake.served["track"]) and fake.calls["recco"] > 0
        feats = features_of(tmp_path / "data")
        with capsys.disabled():
            print(f"\ndevelopment-mode app: {fake.api_calls()} Spotify calls + {fake.calls['recco']} ReccoBeats "
                  f"calls for {len(feats):,} tracks = {1000 * (fake.api_calls() + fake.calls['recco']) / len(feats):.0f} "
                  f"per 1,000 tracks; by endpoint: {dict(fake.calls)}")
        found = feats[feats["found"]]
        from_recco = found["acousticness"].notna()
        assert from_recco.mean() > 0.9 and (found.loc[from_recco, "time_signature"] == 4).all()
        assert found["duration_ms"].notna().all()  # from the single /tracks/{id} answers
        assert found["genres"].map(len).gt(0).mean() > 0.7
        logs = run_log(result, instance)
        assert "falling back to one /tracks/{id} call per track" in logs
        assert "audio features now come from the 'reccobeats' fallback" in logs
        assert "checkpoint, 200/300 tracks (66.7%)" in logs and "tracks/s, ETA" in logs  # progress


def test_reccobeats_is_never_asked_unless_switched_on(tmp_path: Path, env: None, small, instance) -> None:
    charts, catalog, n = small
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        fake.always["audio-features"] = "403"
        result = run(tmp_path / "data", spotify_resource(fake, charts), instance=instance)
        assert result.success, failure_message(result)
        assert fake.calls["recco"] == 0  # no track id went to the third party
        paths = meta(result)["source_paths"].value
        assert paths["audio_features"].startswith("fallback 'none'")
        assert any("MUSIC_ADVISER_RECCOBEATS=on" in note for note in paths["notes"])


def test_premium_required_stops_calling_spotify_and_uses_the_file_fallback(tmp_path: Path, env: None, small) -> None:
    charts, catalog, n = small
    features_file = tmp_path / "features.csv"
    rows = [{"track_id": tid, **{c: v for c, v in f.items() if c in FEATURE_COLUMNS}} for tid, f in catalog.features.items()]
    import pandas as pd

    pd.DataFrame(rows).to_csv(features_file, index=False)
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        for endpoint in ("tracks", "track", "artists", "artist", "audio-features", "search"):
            fake.always[endpoint] = "403_premium"
        result = run(tmp_path / "data", spotify_resource(fake, charts, features_fallback="file",
                                                         features_path=str(features_file)))
        assert result.success, failure_message(result)
        assert fake.api_calls() == 1  # one 403 "premium required" is a diagnosis: Spotify is not called again
        paths = meta(result)["source_paths"].value
        assert "Premium" in paths["tracks"] and "Premium" in paths["audio_features"]
        assert any("Premium" in note for note in paths["notes"])
        feats = features_of(tmp_path / "data")
        assert feats["found"].mean() > 0.9 and feats.loc[feats["found"], "energy"].notna().all()


def test_timeouts_500s_malformed_json_and_short_429s_are_retried(tmp_path: Path, env: None, small, instance) -> None:
    charts, catalog, n = small
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        fake.queued["tracks"].extend(["timeout", "500", "malformed", "429:1"])
        fake.queued["audio-features"].extend(["500", "timeout", "malformed"])
        fake.queued["token"].append("500")
        result = run(tmp_path / "data", spotify_resource(fake, charts, max_attempts=6), instance=instance)
        assert result.success, failure_message(result)
        retries = meta(result)["source_paths"].value["retries"]
        # the token is fetched inside the first /tracks call: its 500 is one of that call's retries
        assert retries["/tracks?ids="] == 5 and retries["/audio-features?ids="] == 3
        feats = features_of(tmp_path / "data")
        assert feats["found"].mean() > 0.95 and len(feats) == unique_count(tmp_path / "data")
        logs = run_log(result, instance)
        assert "429, Retry-After 1 s; retry" in logs and "ReadTimeout" in logs and "HTTP 500" in logs


def test_outage_then_restart_fetches_every_row_exactly_once(tmp_path: Path, env: None, small) -> None:
    charts, catalog, n = small
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        # 2 batches of 100 ids succeed (2 /tracks calls each) and are checkpointed (every 2 batches),
        # then /tracks answers 500 for good
        fake.after["tracks"] = (4, "500")
        first = run(tmp_path / "data", spotify_resource(fake, charts, checkpoint_every=2))
        assert not first.success
        assert "failed 5 times" in failure_message(first) and "rerun to resume" in failure_message(first)
        parts = list((tmp_path / "data" / "assets" / "track_features.checkpoint").glob("part-*.parquet"))
        assert sum(pq.ParquetFile(p).metadata.num_rows for p in parts) == 200
        fake.reset()
        second = run(tmp_path / "data", spotify_resource(fake, charts), selection=[track_features])
        assert second.success, failure_message(second)
        assert meta(second)["recovered_from_checkpoint"].value == 200
        feats = features_of(tmp_path / "data")
        assert len(feats) == unique_count(tmp_path / "data") and feats.index.is_unique
        assert set(fake.served["audio-features"].values()) == {1}
        assert set(fake.served["tracks"].values()) == {1}
        assert len(fake.served["tracks"]) == len(feats)
        assert not (tmp_path / "data" / "assets" / "track_features.checkpoint").exists()


def test_long_retry_after_checkpoints_and_asks_dagster_to_retry(tmp_path: Path, env: None, small) -> None:
    charts, catalog, n = small
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        resource_ = spotify_resource(fake, charts)
        assert run(tmp_path / "data", resource_, selection=[chart_rows, unique_tracks]).success
        fake.after["audio-features"] = (1, "429:7200")
        source = spotify_resource(fake, charts, spotify_client_id=CLIENT_ID, spotify_client_secret=SECRET)
        resources = {"store": DataStore(data_dir=str(tmp_path / "data")), "engine": EngineResource(), "source": source}
        with dg.build_asset_context(resources=resources) as context, pytest.raises(dg.RetryRequested) as info:
            track_features(context)
        assert info.value.seconds_to_wait == 7200 and fake.calls["audio-features"] == 2  # no sleeping in place
        parts = list((tmp_path / "data" / "assets" / "track_features.checkpoint").glob("part-*.parquet"))
        assert sum(pq.ParquetFile(p).metadata.num_rows for p in parts) == 100


def test_quota_exceeded_stops_with_a_clear_message(tmp_path: Path, env: None, small) -> None:
    charts, catalog, n = small
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        fake.always["audio-features"] = "429:quota"
        result = run(tmp_path / "data", spotify_resource(fake, charts))
        assert not result.success
        message = failure_message(result)
        assert "QUOTA_EXCEEDED" in message and "waiting will not help" in message
        assert fake.calls["audio-features"] == 1


def test_search_asks_at_most_ten(tmp_path: Path, env: None, small) -> None:
    charts, catalog, n = small
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        source = spotify_resource(fake, charts, spotify_client_id=CLIENT_ID, spotify_client_secret=SECRET).open()
        title = next(iter(catalog.tracks.values()))["name"]
        hits = source.search_track(title)
        assert hits and len(hits) <= 10 and fake.calls["search"] == 1


def test_the_secret_appears_nowhere(tmp_path: Path, env: None, small, instance, capfd: pytest.CaptureFixture,
                                    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    charts, catalog, n = small
    monkeypatch.chdir(tmp_path)  # spotipy's default cache would write ./.cache here
    caplog.set_level(logging.DEBUG)
    wrong = "wr0ng-secret-Value-987"
    secrets = [SECRET, wrong] + [base64.b64encode(f"{CLIENT_ID}:{s}".encode()).decode() for s in (SECRET, wrong)]
    outputs: list[str] = []
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        fake.always.update({"tracks": "403_dev", "audio-features": "403"})
        fake.queued["artists"].extend(["500", "timeout"])
        ok = run(tmp_path / "data", spotify_resource(fake, charts), instance=instance)
        assert ok.success
        fake.reset()
        fake.always["audio-features"] = "429:quota"
        (tmp_path / "data" / "assets" / "track_features.parquet").unlink()
        failed = run(tmp_path / "data", spotify_resource(fake, charts), selection=[track_features], instance=instance)
        assert not failed.success
        monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", wrong)
        rejected = run(tmp_path / "data", spotify_resource(fake, charts), selection=[track_features], instance=instance)
        assert not rejected.success and "rejected the client credentials" in failure_message(rejected)
        for result in (ok, failed, rejected):
            outputs += [repr(e) for e in result.all_events]
            outputs += [repr(r) for r in instance.all_logs(result.run_id)]
            outputs.append(repr(instance.get_run_by_id(result.run_id)))
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            outputs.append(path.read_bytes().decode("latin-1"))
    captured = capfd.readouterr()
    outputs += [captured.out, captured.err, caplog.text]
    assert not (tmp_path / ".cache").exists()  # the token lives in memory only
    blob = "\n".join(outputs)
    assert "falling back" in blob and "QUOTA_EXCEEDED" in blob  # the scan does see logs and failures
    for secret in secrets:
        assert secret not in blob


KILLED_RUN = """
import sys
import dagster as dg
from music_assets.defs.assets.track_features import track_features
from music_assets.defs.resources import DataStore, SourceResource
api, token, recco, charts, data = sys.argv[1:]
dg.materialize([track_features], resources={"store": DataStore(data_dir=data), "source": SourceResource(
    kind="spotify", charts_path=charts, spotify_client_id=dg.EnvVar("SPOTIPY_CLIENT_ID"),
    spotify_client_secret=dg.EnvVar("SPOTIPY_CLIENT_SECRET"), spotify_api_url=api, spotify_token_url=token,
    reccobeats_url=recco, checkpoint_every=1, fetch_batch_size=50)})
"""


def test_a_killed_run_restarts_without_refetching_what_it_checkpointed(tmp_path: Path, env: None, small) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    charts, catalog, n = small
    data = tmp_path / "data"
    parts_dir = data / "assets" / "track_features.checkpoint"
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        assert run(data, spotify_resource(fake, charts), selection=[chart_rows, unique_tracks]).success
        fake.always["audio-features"] = "slow:0.4"
        proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, fake.api_url, fake.token_url, fake.recco_url,
                                 str(charts), str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while len(list(parts_dir.glob("part-*.parquet"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up: only what was checkpointed survives
        finally:
            proc.wait(timeout=30)
        kept = set()
        for part in parts_dir.glob("part-*.parquet"):
            kept |= set(pq.read_table(part, columns=["track_id"]).column("track_id").to_pylist())
        assert len(kept) >= 100 and not (data / "assets" / "track_features.parquet").exists()
        served_before = dict(fake.served["audio-features"])
        fake.reset()
        result = run(data, spotify_resource(fake, charts), selection=[track_features])
        assert result.success, failure_message(result)
        assert meta(result)["recovered_from_checkpoint"].value == len(kept)
        served = fake.served["audio-features"]
        refetched = {i for i, count in served.items() if count > 1}
        assert not refetched & kept  # nothing checkpointed is asked again
        assert len(refetched) <= 50  # at most the one batch in flight when the process died
        assert set(served) == set(features_of(data).index) - {i for i in features_of(data).index if i not in catalog.features}
        assert all(served_before.get(i, 0) <= 1 for i in kept)
