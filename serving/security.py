"""Security headers and Cache-Control on every response.

No inline script or style is allowed (all JS lives in static/), media may come from this server
(synthesized demo previews) or https (real Spotify previews), frames only from Spotify's embed
player (for real tracks without a preview), and no site may frame the page.

Caching: a response that sets its own Cache-Control keeps it (static files: revalidated by ETag;
demo previews and plots: public, they depend only on the track or the model). Every other
response is dynamic (pages, API answers, errors, /healthz: they change with the model and carry
what a listener typed) and gets `no-store`, so no browser or shared cache keeps it.
"""

from __future__ import annotations

from flask import Flask, Response

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' https: data:",
    "media-src 'self' https:",
    "connect-src 'self'",
    "frame-src https://open.spotify.com",  # Spotify's embed player (open.spotify.com/embed/track/<id>), nothing else
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


_ITEMS = [(name, value, name.lower()) for name, value in [*HEADERS.items(), ("Cache-Control", "no-store")]]


def install(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        # One pass over the response's few headers, then one extend: Headers.setdefault scans
        # them once per name (benchmarks/serving_latency.py).
        present = {name.lower() for name in response.headers.keys()}
        response.headers.extend([(name, value) for name, value, key in _ITEMS if key not in present])
        return response
