"""The console's static files, served by the node under ``/static/``.

They are package data (``pip install`` ships them): the front-end libraries in
``static/vendor/`` are copies of npm packages pinned by ``web/package-lock.json``, listed
with their versions and SHA-256 in ``static/vendor/manifest.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

__all__ = ["STATIC", "VENDOR", "VendoredFile", "add_static_routes", "vendored"]

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = STATIC / "vendor"


@dataclass(frozen=True)
class VendoredFile:
    """A file copied from an npm package: where it came from and what it must hash to."""

    file: str
    package: str
    version: str
    path: str
    sha256: str


def vendored() -> list[VendoredFile]:
    """The vendored files, as their manifest lists them."""
    entries = json.loads((VENDOR / "manifest.json").read_text(encoding="utf-8"))
    return [VendoredFile(**entry) for entry in entries]


async def _serve(request: web.Request) -> web.FileResponse:
    # Not aiohttp's add_static: its 404 is an empty body, where every error of a node is
    # the JSON error (the errors middleware turns HTTPNotFound into it).
    target = (STATIC / request.match_info["path"]).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(target, headers={"Cache-Control": "public, max-age=3600"})


def add_static_routes(app: web.Application) -> None:
    """Serve ``static/`` at ``/static/`` (no token needed: nothing in it is private)."""
    app.router.add_get("/static/{path:.+}", _serve, name="static")
