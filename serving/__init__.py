"""Music Adviser's web page and JSON API (Flask, served by waitress)."""

from serving.app import create_app

__all__ = ["create_app"]
