"""The node's HTTP API: routes, authentication, error translation, and the server.

Every route under ``/api/v1/`` needs a token with the route's scope, except the OpenAPI
document; ``/healthz`` and ``/metrics`` are open, as probes and scrapers expect. A token
is presented as a bearer token, or by the web console's session cookie
(``engine.api.sessions``): a console page reads the API with it, and may post to it
only from the node's own origin (the browser sends ``Origin`` on every POST). Errors
are always ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import HttpVersion11, web
from psycopg_pool import AsyncConnectionPool

from engine.api import (
    audit,
    commands,
    operations,
    params,
    pools,
    problems,
    reads,
    series,
    status,
    stream,
)
from engine.api.change_feed import ChangeFeed
from engine.api.context import CONTEXT, TOKEN, Context, json
from engine.api.errors import ApiError, translate
from engine.api.metrics import ApiMetrics
from engine.api.openapi import document
from engine.api.sessions import COOKIE, SessionError, verify
from engine.api.stream_wakeup import Subscribers
from engine.lifecycle import Service
from engine.node.node import Node
from engine.node.tokens import ApiToken, TokenBook
from schemas.errors import SitelogError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 256 * 1024
MAX_MESSAGE = 300  # characters of an error message; what it quotes is cut to fit
#: Seconds a request waits for a database connection before answering 503.
POOL_TIMEOUT = 5.0
METRICS = web.AppKey("metrics", ApiMetrics)
TOKENS = web.AppKey("tokens", TokenBook)
OPENAPI = web.AppKey("openapi", bytes)


async def _openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


#: (method, path, handler, scope); scope None: no token needed.
ROUTES: list[tuple[str, str, Handler, str | None]] = [
    ("GET", "/healthz", status.healthz, None),
    ("GET", "/api/v1/openapi.json", _openapi, None),
    ("GET", "/api/v1/hosts", reads.list_hosts, "read"),
    ("GET", "/api/v1/hosts/{host}", reads.subject_detail, "read"),
    ("GET", "/api/v1/hosts/{host}/history", reads.history, "read"),
    ("GET", "/api/v1/hosts/{host}/perfdata", series.perfdata, "read"),
    ("GET", "/api/v1/hosts/{host}/audit", audit.audit, "read"),
    ("GET", "/api/v1/services", reads.list_services, "read"),
    ("GET", "/api/v1/problems", problems.list_problems, "read"),
    ("GET", "/api/v1/hosts/{host}/services/{service}", reads.subject_detail, "read"),
    ("GET", "/api/v1/hosts/{host}/services/{service}/history", reads.history, "read"),
    ("GET", "/api/v1/hosts/{host}/services/{service}/perfdata", series.perfdata, "read"),
    ("GET", "/api/v1/hosts/{host}/services/{service}/audit", audit.audit, "read"),
    ("GET", "/api/v1/acknowledgements", operations.list_acknowledgements, "read"),
    ("GET", "/api/v1/downtimes", operations.list_downtimes, "read"),
    ("GET", "/api/v1/comments", operations.list_comments, "read"),
    ("GET", "/api/v1/replication", status.replication, "read"),
    ("GET", "/api/v1/digest", status.digest, "read"),
    ("GET", "/api/v1/pools", pools.list_pools, "read"),
    ("GET", "/api/v1/pools/{pool}", pools.pool_detail, "read"),
    ("GET", "/api/v1/stream", stream.stream, "read"),
    *(
        ("POST", f"/api/v1/commands/{name}", commands.handler(name), "operate")
        for name in commands.COMMANDS
    ),
    ("POST", "/api/v1/configuration", commands.configure, "admin"),
]
_SCOPES = {(method, path): scope for method, path, _, scope in ROUTES}


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    response = json({"error": {"code": code, "message": _one_line(message)}}, status=status)
    response.headers.update(headers)
    return response


def _one_line(message: str) -> str:
    """``message`` as one line of valid UTF-8, at most ``MAX_MESSAGE`` characters, whatever
    input it quotes (a header that is not UTF-8 reaches us as lone surrogates, which
    JSON cannot encode)."""
    line = " ".join(message.split()).encode("utf-8", "backslashreplace").decode("utf-8")
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


_HTTP_CODES = {
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
    417: "expectation-failed",
    400: "invalid-request",
}


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as a JSON error; counted and timed like any answer."""
    started = time.perf_counter()
    try:
        response = await handler(request)
    except ApiError as exc:
        response = _error(exc.status, exc.code, exc.message)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="sitelog"'
    except SitelogError as exc:
        failure = translate(exc)
        response = _error(failure.status, failure.code, failure.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's reason ("Not Found") says what, not where.
        where = f"{exc.reason}: {request.method} {params.quoted(request.path)}"
        response = _error(exc.status, _HTTP_CODES.get(exc.status, "http-error"), where)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except ConnectionResetError:
        # The client left before its request was complete (a body shorter than its
        # Content-Length): its mistake or its choice, not the node's failure; nobody
        # reads this answer, but the metrics count it.
        log.debug("%s %s: the client left mid-request", request.method, request.path)
        response = _error(400, "incomplete-request", "the connection closed mid-request")
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        response = _error(500, "internal", "internal error; see the node's log")
    request.app[METRICS].observe(request, response.status, started)
    return response


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else None
    scope = _SCOPES.get((request.method, path)) if path is not None else None
    if scope is None:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    kind, _, secret = header.partition(" ")
    if header or COOKIE not in request.cookies:
        if kind.lower() != "bearer" or not secret.strip():
            raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer ...)")
        token = request.app[TOKENS].find(secret.strip())
        if token is None:
            raise ApiError(401, "unauthorized", "unknown token")
    else:
        token = _session_token(request)
    if scope not in token.scopes:
        raise ApiError(
            403,
            "insufficient-scope",
            f"this needs the {scope!r} scope; token {token.name!r} lacks it",
        )
    request[TOKEN] = token
    return await handler(request)


def _session_token(request: web.Request) -> ApiToken:
    """The token of the console session whose cookie the request carries."""
    try:
        session = verify(request.cookies[COOKIE], request.app[TOKENS], time.time())
    except SessionError as exc:
        raise ApiError(401, "unauthorized", f"console session: {exc}") from None
    if request.method != "GET" and not same_origin(request):
        raise ApiError(
            403, "cross-site", "a console session acts only from the node's own pages (Origin)"
        )
    return session.token


def same_origin(request: web.Request) -> bool:
    """The request comes from a page of this node (CSRF: browsers send Origin on POST)."""
    origin = request.headers.get("Origin")
    return origin is not None and origin == f"{request.scheme}://{request.host}"


@web.middleware
async def single_values(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each query parameter of the API at most once (see ``params.single_values``)."""
    if request.path.startswith("/api/v1/"):
        params.single_values(request.query)
    return await handler(request)


async def _expect(request: web.Request) -> web.StreamResponse | None:
    """The ``Expect`` header, which aiohttp handles before any middleware: 100-continue as
    aiohttp does, anything else a JSON 417 (aiohttp's own is plain text, and fails on a
    value that is not UTF-8)."""
    if request.version != HttpVersion11:
        return None
    if request.headers["Expect"].lower() != "100-continue":
        return _error(417, "expectation-failed", "header 'Expect': only 100-continue is understood")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the answer proper is still to be written
    return None


def create_app(node: Node, *, feed_capacity: int = 100_000, pool_size: int = 10) -> web.Application:
    """The API of a started node (its projection loaded and following)."""
    app = web.Application(
        middlewares=[errors, authenticate, single_values], client_max_size=MAX_BODY
    )
    subscribers = Subscribers()
    feed = ChangeFeed(feed_capacity, notify=lambda: subscribers.notify())
    pool = AsyncConnectionPool(
        node.config.dsn,
        min_size=1,
        max_size=pool_size,
        # No JIT: the API's queries are short, and on a large projection their cost
        # estimates cross PostgreSQL's JIT threshold, whose compiling (hundreds of ms) costs
        # more than it could save (measured by python -m benchmarks console).
        kwargs={"autocommit": True, "options": "-c jit=off"},
        # A request waits this long for a connection, then answers 503 (PostgreSQL away).
        timeout=POOL_TIMEOUT,
        open=False,
        name="sitelog-api",
    )
    app[CONTEXT] = Context(node=node, pool=pool, feed=feed, subscribers=subscribers)
    app[TOKENS] = TokenBook(node.config.tokens)
    app[METRICS] = metrics = ApiMetrics(node)
    app[OPENAPI] = document(node.config)
    for method, path, handler, _ in ROUTES:
        app.router.add_route(method, path, handler, expect_handler=_expect)
    app.router.add_get("/metrics", metrics.serve, expect_handler=_expect)

    async def open_pool(app: web.Application) -> None:
        node.projector.add_listener(feed.publish)
        await pool.open(wait=True, timeout=30)

    async def close_pool(app: web.Application) -> None:
        # An API stopped (or started again) leaves no listener behind on the projector.
        node.projector.remove_listener(feed.publish)
        await pool.close()

    async def end_streams(app: web.Application) -> None:
        # Open streams (console tabs) end now, not after the shutdown timeout.
        subscribers.close()

    app.on_startup.append(open_pool)
    app.on_shutdown.append(end_streams)
    app.on_cleanup.append(close_pool)
    return app


class _Connection(web.RequestHandler):
    """A client's connection, where a request the HTTP parser refuses (a control character
    in a header, raw bytes in the path, a bad Content-Length...) gets the API's JSON error.

    Such a request never reaches the middlewares: aiohttp itself would answer it in plain
    text over several lines, and log it at ERROR with a traceback, for what is only the
    client's mistake.
    """

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        log.debug("refused a malformed request from %s: %s", request.remote, exc)
        # aiohttp's message is its reason, the offending line, and a caret under the spot.
        reason = " ".join(w for w in (message or "").split() if w != "^")
        response = _error(
            status, _HTTP_CODES.get(status, "http-error"), reason or HTTPStatus(status).phrase
        )
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        # A body that could not be decoded was answered 400 (commands._body); draining the
        # rest of it after the answer, aiohttp meets the error again and would log it as
        # unhandled.
        if isinstance(kw.get("exc_info"), web.RequestPayloadError):
            log.debug("dropped the rest of an undecodable body: %s", kw["exc_info"])
            return
        super().log_exception(*args, **kw)


class _Server(web.Server):
    """aiohttp's server, whose connections are ``_Connection``s."""

    def __call__(self) -> web.RequestHandler:
        return _Connection(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    """aiohttp's runner, serving through a ``_Server``."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp has no option for the class of connections its server makes, and its
        # Application makes the server; ours adds no state, only the factory method.
        server.__class__ = _Server
        return server


class ApiServer(Service):
    """Serves a node's API on ``listen`` (``HOST:PORT``; port 0 picks a free one)."""

    def __init__(
        self,
        node: Node,
        *,
        listen: str | None = None,
        feed_capacity: int = 100_000,
        pool_size: int = 10,
    ) -> None:
        self.node = node
        host, _, port = (listen or node.config.listen).rpartition(":")
        self.host, self.port = host.strip("[]") or "127.0.0.1", int(port)
        self._app_options = {"feed_capacity": feed_capacity, "pool_size": pool_size}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def create_app(self) -> web.Application:
        """The application served; the web console's server adds its pages to it."""
        return create_app(self.node, **self._app_options)

    async def start(self) -> None:
        app = self.create_app()
        self._runner = _Runner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
