"""The console's sign-in: an API token exchanged for an HttpOnly, SameSite=Strict session
cookie (``engine.web.sessions``), sign-out, and the signed-in landing page.

Every state-changing request of the console is refused unless its ``Origin`` is the node's
own (the browser sends it on every POST): a page on another site cannot sign a user in or
out, or act for them. Bad input is a message on the page, never a traceback: an unknown
token, an expired or forged session, a cross-site form.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import jinja2
from aiohttp import web

from engine.node.node import Node
from engine.node.tokens import TokenBook
from engine.web.sessions import COOKIE, DEFAULT_TTL, Session, SessionError, issue, verify

__all__ = ["CONSOLE", "Console", "add_console_routes"]

_MESSAGES = {
    "expired": "Your session expired: sign in again.",
    "invalid": "That session is not valid here any more: sign in again.",
    "signed-out": "Signed out.",
}


class Console:
    """What the console's handlers share: the node, its tokens, the templates."""

    def __init__(self, node: Node, tokens: TokenBook, *, ttl: int = DEFAULT_TTL) -> None:
        self.node, self.tokens, self.ttl = node, tokens, ttl
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("engine.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def page(
        self, template: str, *, status: int = 200, session: Session | None = None, **values: Any
    ) -> web.Response:
        config = self.node.config
        html = self.templates.get_template(template).render(
            node=config.name,
            role=config.role,
            site=config.site,
            session=session,
            message=values.pop("message", None),
            **values,
        )
        response = web.Response(text=html, status=status, content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response


CONSOLE = web.AppKey("console", Console)


def _same_origin(request: web.Request) -> bool:
    """The request comes from a page of this node (CSRF: browsers send Origin on POST)."""
    origin = request.headers.get("Origin")
    return origin is not None and origin == f"{request.scheme}://{request.host}"


def _refused(console: Console) -> web.Response:
    return console.page(
        "signin.html", status=403, message="Refused: that form was not sent from this console."
    )


async def _token_field(request: web.Request) -> str:
    """The ``token`` field of the sign-in form; ValueError saying what is wrong with it."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise ValueError(f"a sign-in form is urlencoded, not {request.content_type!r}")
    try:
        fields = parse_qs((await request.read()).decode("ascii"), errors="strict")
    except UnicodeError:
        raise ValueError("it is not UTF-8 text") from None
    values = fields.get("token", [])
    if len(values) != 1:
        raise ValueError("give one token")
    return values[0]


def session_of(request: web.Request) -> Session:
    """The request's session; SessionError when it has none that is valid now."""
    value = request.cookies.get(COOKIE)
    if value is None:
        raise SessionError("none", "not signed in")
    return verify(value, request.app[CONSOLE].tokens, time.time())


async def home(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    try:
        session = session_of(request)
    except SessionError as exc:
        where = "/signin" if exc.reason == "none" else f"/signin?reason={exc.reason}"
        raise web.HTTPSeeOther(where) from None
    expires = datetime.fromtimestamp(session.expires, UTC).isoformat()
    return console.page("home.html", session=session, expires_iso=expires)


async def signin_page(request: web.Request) -> web.Response:
    reason = request.query.get("reason", "")
    return request.app[CONSOLE].page("signin.html", message=_MESSAGES.get(reason))


async def signin(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    if not _same_origin(request):
        return _refused(console)
    try:
        secret = await _token_field(request)
    except ValueError as exc:
        return console.page("signin.html", status=400, message=f"The form was refused: {exc}.")
    token = console.tokens.find(secret.strip())
    if token is None:
        # 200, not 401: the form is simply shown again with why (a browser logs any 4xx
        # answer to a page as an error).
        return console.page("signin.html", message="Unknown token.")
    response = web.HTTPSeeOther("/")
    response.set_cookie(
        COOKIE,
        issue(token, time.time(), console.ttl),
        max_age=console.ttl,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )
    raise response


async def signout(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    if not _same_origin(request):
        return _refused(console)
    response = web.HTTPSeeOther("/signin?reason=signed-out")
    response.del_cookie(COOKIE, path="/")
    raise response


def add_console_routes(app: web.Application, node: Node, tokens: TokenBook) -> None:
    """The console's pages, at ``/`` beside the API (no bearer token: a session cookie)."""
    app[CONSOLE] = Console(node, tokens)
    app.router.add_get("/", home)
    app.router.add_get("/signin", signin_page)
    app.router.add_post("/signin", signin)
    app.router.add_post("/signout", signout)
