"""The console's sign-in: an API token exchanged for an HttpOnly, SameSite=Strict session
cookie (``engine.api.sessions``), and sign-out.

Every state-changing request of the console is refused unless its ``Origin`` is the node's
own (the browser sends it on every POST): a page on another site cannot sign a user in or
out, or act for them. Bad input is a message on the page, never a traceback: an unknown
token, an expired or forged session, a cross-site form.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from aiohttp import web

from engine.api.app import same_origin
from engine.api.sessions import COOKIE, issue
from engine.web.pages import CONSOLE, Console

__all__ = ["ROUTES"]

_MESSAGES = {
    "expired": "Your session expired: sign in again.",
    "invalid": "That session is not valid here any more: sign in again.",
    "signed-out": "Signed out.",
}


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


async def signin_page(request: web.Request) -> web.Response:
    reason = request.query.get("reason", "")
    return request.app[CONSOLE].page("signin.html", message=_MESSAGES.get(reason))


async def signin(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    if not same_origin(request):
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
    if not same_origin(request):
        return _refused(console)
    response = web.HTTPSeeOther("/signin?reason=signed-out")
    response.del_cookie(COOKIE, path="/")
    raise response


ROUTES = [
    ("GET", "/signin", signin_page),
    ("POST", "/signin", signin),
    ("POST", "/signout", signout),
]
