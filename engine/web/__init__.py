"""The web console every node serves at ``/`` (issue 15, being built): sign-in with an API
token exchanged for a session cookie (``sessions``, ``signin``), and its static files,
front-end libraries vendored from npm (``web/vendor.py``) and served by the node itself,
so nothing loads from another origin."""

from engine.web.sessions import COOKIE, Session, SessionError
from engine.web.signin import Console, add_console_routes
from engine.web.static import STATIC, VENDOR, VendoredFile, add_static_routes, vendored

__all__ = [
    "COOKIE",
    "STATIC",
    "VENDOR",
    "Console",
    "Session",
    "SessionError",
    "VendoredFile",
    "add_console_routes",
    "add_static_routes",
    "vendored",
]
