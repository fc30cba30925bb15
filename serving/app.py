"""The Flask application factory: configuration in, app out, no module-level state.

    create_app("data")   # serves data/models/LATEST, reloading when it changes

Pages live in `pages`, the JSON API in `api`, the Spotify-compatible API under /v1/ in
`spotify_api`, audio and plot files in `media`; every error becomes a clear page (or JSON under
/api/ and /v1/, in Spotify's error shape) with its status code, never a stack trace, a server path, a
bucket name or an operator's instruction (those go to the log). Debug mode is never turned on
here; the production server is granian (`python -m serving`, serving/servers.py).

What the app itself refuses before any work: a Host header it does not trust (TRUSTED_HOSTS), a
request body on a GET (refused from its headers, never read; only POST /v1/recommendations takes
one, up to MAX_BODY_BYTES), and clients over their
rate limit (serving/limits.py). No redirect is ever built from the Host header: werkzeug's
slash-merging and strict-slash redirects are off, so `/static//app.css` is a 404, not a 308.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import orjson
from flask import Flask, Response, jsonify, render_template, request
from flask.globals import request_ctx
from flask.json.provider import JSONProvider
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import BadRequest as HTTPBadRequest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from music_assets import storage
from music_assets.model.search import MAX_QUERY_CHARS
from music_assets.settings import ServingSettings, Settings
from serving import limits, security
from serving.live_lookup import LiveLookup, LiveLookupLimited, live_lookup_for
from serving.model_store import ModelStore, NoModelError
from serving.params import BadRequest
from serving.service import NotFound

log = logging.getLogger(__name__)

# Every route but POST /v1/recommendations answers GET (and HEAD) and reads no body. One declared
# larger than this is refused with 413 whatever the method; any body on a GET or HEAD with 400. Both
# from the headers, before a byte of the body is read (the servers' own limits: serving/servers.py).
# 16 KiB holds about 600 seed ids in a POST's JSON (spotify_params.MAX_BODY_SEEDS).
MAX_BODY_BYTES = 16 * 1024
NO_MODEL_RETRY_AFTER = 30  # seconds a client is asked to wait when no model is served yet


class HtmlSafeJSON(JSONProvider):
    """JSON whose strings never contain a raw <, > or &: a query echoed in an error message stays
    inert even if a client drops it into HTML. (\\u003c is the same string to any JSON parser.)

    Encoded by orjson (UTF-8 bytes, several times faster than the json module; benchmarks/serving_latency.py
    measures the request); the three bytes cannot occur inside a multi-byte UTF-8 character, so replacing
    them in the bytes is safe. Keys keep their order; NaN and infinities become null."""

    @staticmethod
    def _encode(obj: Any) -> bytes:
        return orjson.dumps(obj).replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return self._encode(obj).decode("utf-8")

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        return self._app.response_class(self._encode(self._prepare_response_obj(args, kwargs)),
                                        mimetype="application/json")


def create_app(settings: ServingSettings | storage.Location | None = None, *,
               live_lookup: LiveLookup | None | str = "settings", flask_config: dict[str, Any] | None = None) -> Flask:
    """Build the app over `<data_dir>/models`, reloading when LATEST changes.

    `settings`: the serving settings (None: from the environment); a path or URL alone stands for
    those settings with that data folder (an object-store URL such as `s3://bucket/prefix` may be
    shared by several replicas). `live_lookup`: "settings" builds the Spotify lookup only when the
    settings name the spotify source and credentials are in the environment (otherwise none:
    offline the app never calls the network); pass None to disable it, or an object to use it.
    """
    if not isinstance(settings, ServingSettings):
        base = Settings.from_env().serving()
        settings = base if settings is None else base.with_changes(data_dir=str(settings))
    app = Flask(__name__)
    app.json = HtmlSafeJSON(app)
    # No redirect from the URL map: merged slashes and strict slashes both redirect to a URL
    # built from the Host header (and a 308 is cacheable). Set before any route is added.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.config.update(
        DEBUG=False,
        TESTING=False,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_QUERY_CHARS=MAX_QUERY_CHARS,
        TRUSTED_HOSTS=list(settings.trusted_hosts) if settings.trusted_hosts is not None else None,
    )
    app.config.update(flask_config or {})
    if settings.trusted_proxies:
        # Only the client address (X-Forwarded-For), from exactly that many proxies: never the
        # Host, scheme or prefix, so nothing a client sends can change the URLs we build.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=0, x_host=0, x_port=0, x_prefix=0)
    app.before_request(_refuse_bodies)  # first: before the rate limiter counts the request
    store = ModelStore(storage.as_path(settings.data_dir) / "models", check_interval=settings.check_interval,
                       retry_after=settings.retry_after, background=settings.background_reload,
                       tracks_cache=settings.tracks_cache)
    app.extensions["model_store"] = store
    lookup = live_lookup_for(settings) if live_lookup == "settings" else live_lookup

    from serving.api import bp as api_bp
    from serving.media import bp as media_bp
    from serving.pages import bp as pages_bp
    from serving.spotify_api import ApiKeys
    from serving.spotify_api import bp as spotify_bp
    from serving.steer_page import bp as steer_bp

    app.register_blueprint(pages_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(spotify_bp)
    app.extensions["api_keys"] = ApiKeys(settings.api_keys)
    app.register_blueprint(media_bp)
    app.register_blueprint(steer_bp)
    limiter = limits.install(app, settings.limits)
    limits.exempt(limiter, app, ["api.healthz"])  # load balancers probe it from one address
    if lookup is not None and limiter is not None and (settings.limits.live_lookup or settings.limits.live_lookup_total):
        lookup = limits.LimitedLookup(lookup, limiter, settings.limits)
    app.extensions["live_lookup"] = lookup
    security.install(app)
    _install_error_handlers(app)
    return app


def _refuse_bodies() -> None:
    """Refuse a request body from the headers alone (never reading it): only POST
    /v1/recommendations takes one, and a small one (a chunked body is cut at MAX_CONTENT_LENGTH
    by werkzeug as it is read)."""
    length = request.content_length  # from the header; None when absent or not a number
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if length is not None and length > MAX_BODY_BYTES:
        raise RequestEntityTooLarge(f"Request bodies are limited to {MAX_BODY_BYTES // 1024} KiB, "
                                    "and only POST /v1/recommendations takes one.")
    if request.method in ("GET", "HEAD") and (chunked or (length or 0) > 0):
        raise HTTPBadRequest("A GET request carries no body.")


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/v1/")) or request.path in ("/healthz", "/v1")


def _error(status: int, message: str, **extra: Any) -> Response:
    """The error as JSON (API and /healthz) or a page; the message is for listeners, so it never
    names a server path, a bucket or an operator's command."""
    if _wants_json():
        response = jsonify({"error": {"status": status, "message": message, **extra}})
    elif request_ctx.url_adapter is None:
        # an untrusted Host: no URL can be built for the page's links, so a page without them
        response = Response(f"{status}: {message}", mimetype="text/plain")
    else:
        response = Response(render_template("error.html", status=status, message=message), mimetype="text/html")
    response.status_code = status
    # (An unread body is the server's to discard: a WSGI app may not send `Connection`, PEP 3333;
    # granian does not reuse a connection whose body was not read, waitress reads small ones whole.)
    return response


class _OncePer:
    """Log a recurring condition once per `seconds` (and whenever its text changes), so that a
    model missing for an hour is not a log line per request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: tuple[str, float] = ("", float("-inf"))
        self._lock = threading.Lock()

    def __call__(self, text: str) -> bool:
        now = time.monotonic()
        with self._lock:
            last_text, at = self._last
            if text == last_text and now - at < self.seconds:
                return False
            self._last = (text, now)
            return True


def _install_error_handlers(app: Flask) -> None:
    once = _OncePer(60.0)

    @app.errorhandler(BadRequest)
    def _bad_request(exc: BadRequest):
        return _error(exc.status, exc.message)

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound):
        return _error(404, exc.message)

    @app.errorhandler(NoModelError)
    def _no_model(exc: NoModelError):
        # The cause names the store (a path, or a bucket and prefix) and what the operator should
        # do: that is for the log, not for listeners.
        if once(str(exc)):
            log.warning("answering 503, no model to serve: %s (publish one, e.g. with bash scripts/demo.sh)", exc)
        response = _error(503, "No recommendation model is being served yet. Please try again in a minute.")
        response.headers["Retry-After"] = str(NO_MODEL_RETRY_AFTER)
        return response

    @app.errorhandler(LiveLookupLimited)
    def _live_limited(exc: LiveLookupLimited):
        response = _error(429, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded):
        # Flask-Limiter adds Retry-After (and X-RateLimit-*) to this answer after the handler.
        return _error(429, f"Too many requests from your address (at most {exc.description}); "
                           "please slow down and try again in a moment.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.code == 404 and request.url_rule is None and request.path.startswith("/v1"):
            return _error(404, "Service not found: /v1/ answers recommendations, "
                               "recommendations/available-genre-seeds, audio-features and tracks (docs/api.md).")
        response = _error(exc.code or 500, exc.description or exc.name)
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(500, "Something went wrong on our side; the error was logged. Please try again.")
