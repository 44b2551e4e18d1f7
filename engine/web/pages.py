"""What every console page shares: the templates, the signed-in guard, and bad input shown
on the page.

A console handler is wrapped in :func:`signed_in`: without a valid session a page is
sent to the sign-in form (saying why: expired, or not valid here), an htmx request is
told to go there too (``HX-Redirect``), and an action sent as JSON gets a 401 whose
message its dialog shows, so an expired session never leaves a blank or broken page.
The session's token is put where the API's own queries look for it
(``engine.api.context.TOKEN``), so a page reads exactly what the API would answer that
token: a token limited to ``paris`` sees paris's subjects only. An error the API would
answer with a 4xx JSON body (a malformed filter, an unknown subject) is the page shown
again with that one-line message.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from engine.api.context import TOKEN
from engine.api.errors import ApiError, translate
from engine.api.sessions import COOKIE, DEFAULT_TTL, Session, SessionError, verify
from engine.node.node import Node
from engine.node.tokens import TokenBook
from engine.times import format_time
from schemas.errors import SitelogError

__all__ = [
    "CONSOLE",
    "SESSION",
    "Console",
    "duration",
    "is_fragment",
    "segment",
    "session_of",
    "signed_in",
]

Page = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Console:
    """What the console's handlers share: the node, its tokens, the templates."""

    def __init__(self, node: Node, tokens: TokenBook, *, ttl: int = DEFAULT_TTL) -> None:
        self.node, self.tokens, self.ttl = node, tokens, ttl
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("engine.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["time"] = lambda us: "" if us is None else format_time(us)
        self.templates.filters["iso"] = _iso
        # A name as one segment of a path: a '/' in a service's name is escaped too
        # (Jinja's urlencode keeps it, and the link would name another route).
        self.templates.filters["segment"] = segment

    def render(self, template: str, **values: Any) -> str:
        config = self.node.config
        return self.templates.get_template(template).render(
            node=config.name, role=config.role, site=config.site, **values
        )

    def page(
        self, template: str, *, status: int = 200, session: Session | None = None, **values: Any
    ) -> web.Response:
        values.setdefault("message", None)
        values.setdefault("active", None)
        html = self.render(template, session=session, **values)
        response = web.Response(text=html, status=status, content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response


CONSOLE = web.AppKey("console", Console)
SESSION = web.RequestKey("session", Session)


def _iso(us: int | None) -> str:
    """An instant (microseconds) as RFC 3339 UTC text, for ``<time datetime>``."""
    if us is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(us // 1_000_000)) + "Z"


def segment(name: object) -> str:
    """``name`` as one segment of a URL path, a '/' in it escaped too."""
    return quote(str(name), safe="")


def duration(us: int) -> str:
    """A span as an operator reads it: ``45 s``, ``12 min``, ``3 h 5 min``, ``4 d 2 h``."""
    seconds = max(0, us // 1_000_000)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def session_of(request: web.Request) -> Session:
    """The request's session; SessionError when it has none that is valid now."""
    value = request.cookies.get(COOKIE)
    if value is None:
        raise SessionError("none", "not signed in")
    return verify(value, request.app[CONSOLE].tokens, time.time())


def is_fragment(request: web.Request) -> bool:
    """An htmx request, answered with the part of the page it asked for."""
    return request.headers.get("HX-Request") == "true"


def _to_signin(request: web.Request, reason: str) -> web.StreamResponse:
    where = "/signin" if reason == "none" else f"/signin?reason={reason}"
    if request.content_type == "application/json":
        # An action sent by the page's script: it shows this message in its dialog.
        message = {
            "none": "you are not signed in: sign in again",
            "expired": "your session expired: sign in again (reload the page)",
        }.get(reason, "your session is not valid here any more: sign in again")
        body = {"error": {"code": "unauthorized", "message": message}}
        return web.json_response(body, status=401)
    if is_fragment(request):
        response = web.Response(status=200, text="")
        response.headers["HX-Redirect"] = where
        return response
    raise web.HTTPSeeOther(where)


def signed_in(handler: Page, *, template: str = "error.html") -> Page:
    """``handler`` for signed-in users only; API errors become the page with a message."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            session = session_of(request)
        except SessionError as exc:
            return _to_signin(request, exc.reason)
        request[TOKEN] = session.token
        request[SESSION] = session
        try:
            return await handler(request)
        except ApiError as exc:
            return _error_page(request, session, exc)
        except SitelogError as exc:
            return _error_page(request, session, translate(exc))

    return run


def _error_page(request: web.Request, session: Session, exc: ApiError) -> web.Response:
    console = request.app[CONSOLE]
    if exc.status >= 500:
        message = f"The node could not answer: {exc.message}"
    else:
        message = exc.message[:1].upper() + exc.message[1:]
    if is_fragment(request):
        # htmx swaps nothing on a 4xx: the message goes to the page's message area.
        response = web.Response(
            text=console.render("message.html", message=message),
            status=200,
            content_type="text/html",
        )
        response.headers["HX-Retarget"] = "#message"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return console.page("error.html", status=exc.status, session=session, message=message)
