"""Console fragment: site and link health (being built)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from engine.web.pages import signed_in

__all__ = ["ROUTES"]


async def health(request: web.Request) -> web.Response:
    return web.Response(text="", content_type="text/html")


ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
    ("GET", "/health", signed_in(health)),
]
