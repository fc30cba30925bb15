"""Configuration is read in one module (music_assets/settings.py): every variable is in its table,
the README shows that table, nothing else reads MUSIC_ADVISER_* from the environment, and a bad
value is refused naming the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from music_assets.settings import (
    SETTINGS, Settings, SettingsError, markdown_table, resolve_tracks_cache, worker_environment,
)

ROOT = Path(__file__).resolve().parents[1]
CODE = [p for d in ("music_assets", "serving", "scripts", "benchmarks") for p in (ROOT / d).rglob("*")
        if p.suffix in (".py", ".sh")]


def test_the_readme_shows_the_settings_table() -> None:
    assert markdown_table() in (ROOT / "README.md").read_text()


def test_every_variable_the_project_names_is_a_documented_setting() -> None:
    named = {m for p in [*CODE, *(ROOT / "docs").glob("*.md"), ROOT / "README.md"]
             for m in re.findall(r"MUSIC_ADVISER_[A-Z_]+[A-Z]", p.read_text())}
    assert named <= {s.variable for s in SETTINGS}, named - {s.variable for s in SETTINGS}


def test_only_the_settings_module_reads_the_environment_for_settings() -> None:
    readers = [str(p.relative_to(ROOT)) for p in CODE if p.suffix == ".py" and p.name != "settings.py"
               and re.search(r"(os\.environ(\.get)?|getenv)\(?\[?[\"']MUSIC_ADVISER_", p.read_text())]
    assert readers == [], readers


def test_defaults_and_typed_values() -> None:
    settings = Settings.from_env({})
    assert settings.data_dir == "data" and settings.source.kind == "demo" and settings.engine.kind == "local"
    assert settings.source.reccobeats is False  # the third party is off unless switched on
    assert settings.serving().tracks_cache is None and settings.serving(workers=2).tracks_cache
    custom = Settings.from_env({"MUSIC_ADVISER_SOURCE": "files", "MUSIC_ADVISER_CHARTS": "c.csv",
                                "MUSIC_ADVISER_RECCOBEATS": "on", "MUSIC_ADVISER_CHECK_INTERVAL": "0.5",
                                "MUSIC_ADVISER_ENGINE": "SPARK", "MUSIC_ADVISER_SPARK_CONF": '{"a": 1}'})
    assert custom.source.kind == "files" and custom.source.charts == "c.csv" and custom.source.reccobeats
    assert custom.check_interval == 0.5 and custom.engine.kind == "spark" and custom.engine.spark_conf == {"a": "1"}
    assert resolve_tracks_cache("off", 4) is None and resolve_tracks_cache("/x", 1) == "/x"
    # what a granian worker reads back is what its parent was given
    served = custom.serving(workers=2).with_changes(data_dir="s3://bucket/prefix")
    again = Settings.from_env({**worker_environment(served), "MUSIC_ADVISER_SOURCE": "files"}).serving(workers=2)
    assert (again.data_dir, again.check_interval, again.tracks_cache) == (served.data_dir, 0.5, served.tracks_cache)


@pytest.mark.parametrize("variable, value, message", [
    ("MUSIC_ADVISER_SOURCE", "kafka", "use one of demo, files, spotify"),
    ("MUSIC_ADVISER_RECCOBEATS", "maybe", "use on or off"),
    ("MUSIC_ADVISER_CHECK_INTERVAL", "soon", "is not a number"),
    ("MUSIC_ADVISER_CHECK_INTERVAL", "-1", "must be >= 0"),
    ("MUSIC_ADVISER_MAX_REJECTED_SHARE", "5%", "is not a number"),
    ("MUSIC_ADVISER_MAX_REJECTED_SHARE", "5", "is a share: between 0 and 1"),
])
def test_a_bad_value_names_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"{variable}=.*{message}"):
        Settings.from_env({variable: value})


def test_the_secret_never_enters_a_settings_object() -> None:
    settings = Settings.from_env({"SPOTIPY_CLIENT_ID": "id", "SPOTIPY_CLIENT_SECRET": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(settings) and "s3cr3t-value" not in repr(settings.serving())


def test_api_keys_are_parsed_checked_and_never_shown() -> None:
    key_a, key_b = "k" * 16 + "-first-key", "second-key-0123456789"
    settings = Settings.from_env({"MUSIC_ADVISER_API_KEYS": f" {key_a} ,, {key_b} "})
    assert settings.api_keys == (key_a, key_b) and settings.serving().api_keys == (key_a, key_b)
    for shown in (repr(settings), repr(settings.serving())):
        assert key_a not in shown and key_b not in shown
    # a granian worker reads them back from its environment
    assert Settings.from_env(worker_environment(settings.serving())).api_keys == (key_a, key_b)
    assert Settings.from_env({}).api_keys == ()
    with pytest.raises(SettingsError, match="MUSIC_ADVISER_API_KEYS: key 2 is shorter") as short:
        Settings.from_env({"MUSIC_ADVISER_API_KEYS": f"{key_a},tiny-secret"})
    assert "tiny-secret" not in str(short.value) and key_a not in str(short.value)
    with pytest.raises(SettingsError, match="key 1 must be printable ASCII"):
        Settings.from_env({"MUSIC_ADVISER_API_KEYS": "clé-secrète-très-longue"})
