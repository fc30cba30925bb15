"""Every setting Music Adviser takes from the environment, read in this one module.

Entry points (the Dagster definitions, the recommend CLI, `python -m serving`, the WSGI factory)
call `Settings.from_env()` once and hand the typed parts on: `settings.source` and
`settings.engine` to the Dagster resources, `settings.serving` to the web app. Nothing else reads
`os.environ`, so the table below (`SETTINGS`, printed in the README) is the whole list.

Secrets are the exception that proves the rule: SPOTIPY_CLIENT_ID / SPOTIPY_CLIENT_SECRET are
never stored in a settings object (whose repr could reach a log). The pipeline hands them to
Dagster as `EnvVar`s, resolved at launch; serving's live lookup asks `spotify_credentials()` for
them at the moment it builds its client. The API keys serving's /v1/ may require
(MUSIC_ADVISER_API_KEYS) must be held, since every request is compared against them: they live in
the serving settings out of every repr, and reach a worker process only through its environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Mapping

SourceKind = Literal["demo", "files", "spotify"]
EngineKind = Literal["local", "spark"]
ServerKind = Literal["granian", "waitress"]


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, its default as written in the docs, and what it does."""

    variable: str
    default: str
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting("MUSIC_ADVISER_DATA_DIR", "data", "The data folder: a local path or an object-store URL (`s3://bucket/prefix`)."),
    Setting("MUSIC_ADVISER_SOURCE", "demo", "`demo` (embedded, offline), `files` (your files) or `spotify` (features from the Web API)."),
    Setting("MUSIC_ADVISER_CHARTS", "", "Chart file, folder or glob for the `files` and `spotify` sources."),
    Setting("MUSIC_ADVISER_FEATURES", "", "Catalog / audio-features file (`files`; the `spotify` source's fallback)."),
    Setting("MUSIC_ADVISER_ARTISTS", "", "Artists file with a genres list per artist."),
    Setting("MUSIC_ADVISER_COLUMN_MAP", "", "A YAML/TOML column map for files of no known layout (docs/bring-your-own-data.md)."),
    Setting("MUSIC_ADVISER_RECCOBEATS", "off", "`on`: ask ReccoBeats, a third party, for features Spotify refuses (sends track ids)."),
    Setting("MUSIC_ADVISER_INCOMING_DIR", "<data>/incoming", "Local folder the incoming-files sensor watches."),
    Setting("MUSIC_ADVISER_ENGINE", "local", "`local` (pyarrow, DuckDB, scikit-learn) or `spark` (the `[spark]` extra, Java 17)."),
    Setting("MUSIC_ADVISER_SPARK_MASTER", "local[2]", "Spark master: `local[N]`, `spark://host:7077`, `yarn`, `k8s://...`."),
    Setting("MUSIC_ADVISER_SPARK_CONF", "{}", "A JSON object of further Spark settings."),
    Setting("MUSIC_ADVISER_REFRESH_CRON", "0 4 * * *", "When `daily_refresh` runs the job (cron, UTC; needs the daemon)."),
    Setting("MUSIC_ADVISER_DATA_LOCK", "on", "`on`: a run holds `<data>/run.lock`, so runs from other processes never mix."),
    Setting("MUSIC_ADVISER_LOCK_WAIT", "0", "Seconds a run waits for that lock (0: fail at once, naming the holder)."),
    Setting("MUSIC_ADVISER_LEFTOVER_HOURS", "24", "Age after which crash leftovers (staging, temp files, unsealed builds) are removed."),
    Setting("MUSIC_ADVISER_MAX_REJECTED_SHARE", "0.05", "Share of feature values or tracks rejected (unparsable, out of range) above which publishing stops."),
    Setting("MUSIC_ADVISER_CHECK_INTERVAL", "1", "Serving: seconds between checks of `models/LATEST`."),
    Setting("MUSIC_ADVISER_TRACKS_CACHE", "auto", "Serving: folder of the tracks table workers share; `off`, or `auto` (with `--workers` > 1)."),
    Setting("MUSIC_ADVISER_SERVER", "granian", "Serving: `granian` (worker processes) or `waitress`."),
    Setting("MUSIC_ADVISER_TRUSTED_HOSTS", "localhost,127.0.0.1", "Serving: host names accepted in `Host` (others get 400); add the public name; `*` any."),
    Setting("MUSIC_ADVISER_TRUSTED_PROXIES", "0", "Serving: reverse proxies in front, whose `X-Forwarded-For` names the client."),
    Setting("MUSIC_ADVISER_RATE_LIMIT", "20 per second;300 per minute", "Serving: requests per client (Flask-Limiter notation); then 429. `off` for benchmarks."),
    Setting("MUSIC_ADVISER_LIVE_LOOKUP_LIMIT", "5 per minute;50 per day", "Serving: live Spotify lookups per client (they spend the operator's quota)."),
    Setting("MUSIC_ADVISER_LIVE_LOOKUP_TOTAL", "60 per minute", "Serving: live Spotify lookups of all clients together."),
    Setting("MUSIC_ADVISER_RATE_LIMIT_STORAGE", "memory://", "Serving: rate-limit counters, `memory://` or `redis://...` (shared by replicas). Never logged."),
    Setting("MUSIC_ADVISER_API_KEYS", "", "Serving: comma-separated keys `/v1/` requires as `Authorization: Bearer <key>` (unset: any token). Environment only, never logged."),
    Setting("MUSIC_ADVISER_SPOTIFY_API_URL", "https://api.spotify.com/v1/", "Spotify Web API base URL (a proxy, or a test's fake)."),
    Setting("MUSIC_ADVISER_SPOTIFY_TOKEN_URL", "https://accounts.spotify.com/api/token", "Spotify token URL."),
    Setting("MUSIC_ADVISER_RECCOBEATS_URL", "https://api.reccobeats.com/v1/", "ReccoBeats base URL."),
    Setting("SPOTIPY_CLIENT_ID", "", "Spotify app client id."),
    Setting("SPOTIPY_CLIENT_SECRET", "", "Spotify app secret: environment only, never logged or written."),
    Setting("DAGSTER_HOME", "", "The Dagster instance's folder (demo: `.dagster_home`; see docs/deployment.md)."),
    Setting("DAGSTER_POSTGRES_HOST", "", "Production instance: PostgreSQL host."),
    Setting("DAGSTER_POSTGRES_PORT", "", "Its port (usually 5432; required)."),
    Setting("DAGSTER_POSTGRES_DB", "", "Its database."),
    Setting("DAGSTER_POSTGRES_USER", "", "The user Dagster connects as."),
    Setting("DAGSTER_POSTGRES_PASSWORD", "", "Its password: environment only."),
    Setting("MUSIC_ADVISER_BENCH_CACHE", "~/.cache/music-adviser/bench", "Benchmarks only: where generated catalogs are kept."),
)
KNOWN = frozenset(s.variable for s in SETTINGS)
_DEFAULTS = {s.variable: s.default for s in SETTINGS}


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def _get(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    return value or _DEFAULTS[name]


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = _get(env, name).lower()
    if value not in allowed:
        raise SettingsError(f"{name}={value!r}: use one of {', '.join(allowed)}")
    return value


def _switch(env: Mapping[str, str], name: str) -> bool:
    value = _get(env, name).lower()
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise SettingsError(f"{name}={value!r}: use on or off")


def _number(env: Mapping[str, str], name: str) -> float:
    value = _get(env, name)
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a number") from None
    if number < 0:
        raise SettingsError(f"{name}={value!r} must be >= 0")
    return number


def _share(env: Mapping[str, str], name: str) -> float:
    number = _number(env, name)
    if number > 1:
        raise SettingsError(f"{name}={_get(env, name)!r} is a share: between 0 and 1")
    return number


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return _get(env, name) or None


def _whole(env: Mapping[str, str], name: str) -> int:
    value = _get(env, name)
    if not value.isdigit():
        raise SettingsError(f"{name}={value!r} must be a whole number >= 0")
    return int(value)


def _rate_limits(env: Mapping[str, str], name: str) -> str | None:
    """Limits in Flask-Limiter's notation ("20 per second;300 per minute"), checked now so a typo
    stops the server at start with the variable's name; "off" turns them off (None)."""
    value = _get(env, name)
    if value.lower() == "off":
        return None
    from limits import parse_many  # the library Flask-Limiter parses with; imported only to check

    try:
        if not parse_many(value):
            raise ValueError("no limit given")
    except ValueError as exc:
        raise SettingsError(f"{name}={value!r} is not a rate limit like '20 per second;300 per minute' "
                            f"or 'off' ({exc})") from None
    return value


def _storage_uri(env: Mapping[str, str], name: str) -> str:
    """A `limits` storage URI; only its scheme is shown in an error, since the rest may hold a password."""
    value = _get(env, name)
    from limits.storage import SCHEMES

    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in SCHEMES:
        raise SettingsError(f"{name} must be a storage URI such as memory:// or redis://host:6379/0 "
                            f"(scheme {scheme or '(none)'!r} is not one)")
    return value


def _hosts(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    """Host names, or None for `*` (any host)."""
    hosts = tuple(h.strip() for h in _get(env, name).split(",") if h.strip())
    if "*" in hosts:
        return None
    if not hosts:
        raise SettingsError(f"{name} is empty: list the host names clients use, or * for any")
    return hosts


API_KEY_MIN_CHARS = 16


def _api_keys(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """The keys /v1/ requires (none: any bearer token). Refused when one is short or not printable
    ASCII (compared as bytes in constant time); an error never shows a key, only its position."""
    keys = tuple(k.strip() for k in env.get(name, "").split(",") if k.strip())
    for i, key in enumerate(keys, 1):
        if len(key) < API_KEY_MIN_CHARS:
            raise SettingsError(f"{name}: key {i} is shorter than {API_KEY_MIN_CHARS} characters (too easy to guess)")
        if not (key.isascii() and key.isprintable()) or " " in key:
            raise SettingsError(f"{name}: key {i} must be printable ASCII without spaces")
    return keys


def default_tracks_cache() -> Path:
    """The user's cache folder for the memory-mapped tracks table (XDG_CACHE_HOME is honoured)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "music-adviser" / "tracks"


@dataclass(frozen=True)
class SourceSettings:
    kind: SourceKind = "demo"
    charts: str | None = None
    features: str | None = None
    artists: str | None = None
    column_map: str | None = None
    reccobeats: bool = False


@dataclass(frozen=True)
class EngineSettings:
    kind: EngineKind = "local"
    spark_master: str = "local[2]"
    spark_conf: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SpotifySettings:
    api_url: str = _DEFAULTS["MUSIC_ADVISER_SPOTIFY_API_URL"]
    token_url: str = _DEFAULTS["MUSIC_ADVISER_SPOTIFY_TOKEN_URL"]
    reccobeats_url: str = _DEFAULTS["MUSIC_ADVISER_RECCOBEATS_URL"]


@dataclass(frozen=True)
class LimitSettings:
    """Rate limits per client address, in Flask-Limiter's notation; None: no limit. The defaults
    are those of the SETTINGS table."""

    requests: str | None = _DEFAULTS["MUSIC_ADVISER_RATE_LIMIT"]
    live_lookup: str | None = _DEFAULTS["MUSIC_ADVISER_LIVE_LOOKUP_LIMIT"]
    live_lookup_total: str | None = _DEFAULTS["MUSIC_ADVISER_LIVE_LOOKUP_TOTAL"]
    storage_uri: str = field(default=_DEFAULTS["MUSIC_ADVISER_RATE_LIMIT_STORAGE"], repr=False)  # may hold a password

    @classmethod
    def off(cls) -> "LimitSettings":
        """No rate limit at all (load benchmarks, tests that send many requests from one address)."""
        return cls(requests=None, live_lookup=None, live_lookup_total=None)


@dataclass(frozen=True)
class ServingSettings:
    """What the web app needs. `tracks_cache`: a folder, or None for no shared copy.
    `trusted_hosts`: the Host names accepted (None: any)."""

    data_dir: str = "data"
    check_interval: float = 1.0
    retry_after: float = 10.0  # seconds before a refused bundle is tried again
    background_reload: bool = True  # load a new model on a side thread (False: the noticing request does)
    tracks_cache: str | None = None
    source: SourceSettings = SourceSettings()
    spotify: SpotifySettings = SpotifySettings()
    server: ServerKind = "granian"
    trusted_hosts: tuple[str, ...] | None = ("localhost", "127.0.0.1")
    trusted_proxies: int = 0
    limits: LimitSettings = LimitSettings()
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # secrets: never in a repr or a log

    def with_changes(self, **changes: object) -> "ServingSettings":
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Settings:
    data_dir: str = "data"
    incoming_dir: str | None = None
    source: SourceSettings = SourceSettings()
    engine: EngineSettings = EngineSettings()
    spotify: SpotifySettings = SpotifySettings()
    check_interval: float = 1.0
    tracks_cache: str = "auto"  # "auto" | "off" | a folder, as given (serving resolves "auto")
    refresh_cron: str = "0 4 * * *"
    data_lock: bool = True
    lock_wait: float = 0.0  # seconds
    leftover_hours: float = 24.0
    max_rejected_share: float = 0.05
    bench_cache: str = _DEFAULTS["MUSIC_ADVISER_BENCH_CACHE"]
    server: ServerKind = "granian"
    trusted_hosts: tuple[str, ...] | None = ("localhost", "127.0.0.1")
    trusted_proxies: int = 0
    limits: LimitSettings = LimitSettings()
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # secrets: never in a repr or a log

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read every setting once; a value that cannot be used raises SettingsError naming it."""
        env = os.environ if env is None else env
        spark_conf_text = _get(env, "MUSIC_ADVISER_SPARK_CONF")
        try:
            spark_conf = json.loads(spark_conf_text)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"MUSIC_ADVISER_SPARK_CONF must be a JSON object of Spark settings: {exc}") from None
        if not isinstance(spark_conf, dict):
            raise SettingsError(f"MUSIC_ADVISER_SPARK_CONF must be a JSON object of Spark settings, got {type(spark_conf).__name__}")
        return cls(
            data_dir=_get(env, "MUSIC_ADVISER_DATA_DIR"),
            incoming_dir=env.get("MUSIC_ADVISER_INCOMING_DIR", "").strip() or None,
            source=SourceSettings(
                kind=_choice(env, "MUSIC_ADVISER_SOURCE", ("demo", "files", "spotify")),  # type: ignore[arg-type]
                charts=_optional(env, "MUSIC_ADVISER_CHARTS"),
                features=_optional(env, "MUSIC_ADVISER_FEATURES"),
                artists=_optional(env, "MUSIC_ADVISER_ARTISTS"),
                column_map=_optional(env, "MUSIC_ADVISER_COLUMN_MAP"),
                reccobeats=_switch(env, "MUSIC_ADVISER_RECCOBEATS"),
            ),
            engine=EngineSettings(
                kind=_choice(env, "MUSIC_ADVISER_ENGINE", ("local", "spark")),  # type: ignore[arg-type]
                spark_master=_get(env, "MUSIC_ADVISER_SPARK_MASTER"),
                spark_conf={str(k): str(v) for k, v in spark_conf.items()},
            ),
            spotify=SpotifySettings(
                api_url=_get(env, "MUSIC_ADVISER_SPOTIFY_API_URL"),
                token_url=_get(env, "MUSIC_ADVISER_SPOTIFY_TOKEN_URL"),
                reccobeats_url=_get(env, "MUSIC_ADVISER_RECCOBEATS_URL"),
            ),
            check_interval=_number(env, "MUSIC_ADVISER_CHECK_INTERVAL"),
            tracks_cache=_get(env, "MUSIC_ADVISER_TRACKS_CACHE"),
            refresh_cron=_get(env, "MUSIC_ADVISER_REFRESH_CRON"),
            data_lock=_switch(env, "MUSIC_ADVISER_DATA_LOCK"),
            lock_wait=_number(env, "MUSIC_ADVISER_LOCK_WAIT"),
            leftover_hours=_number(env, "MUSIC_ADVISER_LEFTOVER_HOURS"),
            max_rejected_share=_share(env, "MUSIC_ADVISER_MAX_REJECTED_SHARE"),
            bench_cache=_get(env, "MUSIC_ADVISER_BENCH_CACHE"),
            server=_choice(env, "MUSIC_ADVISER_SERVER", ("granian", "waitress")),  # type: ignore[arg-type]
            trusted_hosts=_hosts(env, "MUSIC_ADVISER_TRUSTED_HOSTS"),
            trusted_proxies=_whole(env, "MUSIC_ADVISER_TRUSTED_PROXIES"),
            limits=LimitSettings(
                requests=_rate_limits(env, "MUSIC_ADVISER_RATE_LIMIT"),
                live_lookup=_rate_limits(env, "MUSIC_ADVISER_LIVE_LOOKUP_LIMIT"),
                live_lookup_total=_rate_limits(env, "MUSIC_ADVISER_LIVE_LOOKUP_TOTAL"),
                storage_uri=_storage_uri(env, "MUSIC_ADVISER_RATE_LIMIT_STORAGE"),
            ),
            api_keys=_api_keys(env, "MUSIC_ADVISER_API_KEYS"),
        )

    def serving(self, workers: int = 1) -> ServingSettings:
        """The web app's settings; the tracks cache is resolved for `workers` processes."""
        return ServingSettings(data_dir=self.data_dir, check_interval=self.check_interval,
                               tracks_cache=resolve_tracks_cache(self.tracks_cache, workers),
                               source=self.source, spotify=self.spotify, server=self.server,
                               trusted_hosts=self.trusted_hosts, trusted_proxies=self.trusted_proxies,
                               limits=self.limits, api_keys=self.api_keys)


def resolve_tracks_cache(option: str, workers: int) -> str | None:
    """'off' -> None; 'auto' -> the user's cache folder when several workers share it (one process
    gains nothing from a copy of what it already holds), else None; anything else is a folder."""
    if option == "off":
        return None
    if option == "auto":
        return str(default_tracks_cache()) if workers > 1 else None
    return option


def worker_environment(settings: ServingSettings) -> dict[str, str]:
    """The variables that give a worker process started by a server (granian) these settings:
    it reads them back with Settings.from_env()."""
    limits = settings.limits
    return {"MUSIC_ADVISER_DATA_DIR": settings.data_dir,  # a URL stays a URL (Path would fold s3://)
            "MUSIC_ADVISER_CHECK_INTERVAL": str(settings.check_interval),
            "MUSIC_ADVISER_TRACKS_CACHE": settings.tracks_cache or "off",
            "MUSIC_ADVISER_SERVER": settings.server,
            "MUSIC_ADVISER_TRUSTED_HOSTS": ",".join(settings.trusted_hosts) if settings.trusted_hosts else "*",
            "MUSIC_ADVISER_TRUSTED_PROXIES": str(settings.trusted_proxies),
            "MUSIC_ADVISER_RATE_LIMIT": limits.requests or "off",
            "MUSIC_ADVISER_LIVE_LOOKUP_LIMIT": limits.live_lookup or "off",
            "MUSIC_ADVISER_LIVE_LOOKUP_TOTAL": limits.live_lookup_total or "off",
            "MUSIC_ADVISER_RATE_LIMIT_STORAGE": limits.storage_uri,
            "MUSIC_ADVISER_API_KEYS": ",".join(settings.api_keys)}


def spotify_credentials(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(client id, client secret) when both are set, else None. Returned to the caller that builds
    a client and kept nowhere else."""
    env = os.environ if env is None else env
    client_id, secret = env.get("SPOTIPY_CLIENT_ID", "").strip(), env.get("SPOTIPY_CLIENT_SECRET", "").strip()
    return (client_id, secret) if client_id and secret else None


def markdown_table() -> str:
    """The settings as the README's configuration table."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    rows += [f"| `{s.variable}` | {f'`{s.default}`' if s.default else '(unset)'} | {s.meaning} |" for s in SETTINGS]
    return "\n".join(rows)
