"""Console: site and link health on every page, and the replication page.

The health strip (``GET /health``, polled by every page into ``#health``) shows one badge
per followed site, from the API's own replication answer
(``engine.api.status.replication_body``): connected or not, lag, last event time. On a
remote node, central's badge is its link to central. A site the node lost raises a
banner (``role="alert"``) saying since when and how far behind; the banner stays while
the projection catches up after the link is back, and goes once nothing of the outage is
left to read (``SiteStatus.disconnected_since``, kept by the projector).

The replication page (``GET /replication``) has the per-partition detail and the dead
letters of the token's sites; its live part refreshes itself every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engine.api import params
from engine.api.context import allowed_sites, context
from engine.api.errors import bad_request
from engine.api.status import dead_letters_body, replication_body
from engine.node.config import CENTRAL, NodeRole
from engine.node.site_status import SiteState
from engine.web.pages import CONSOLE, SESSION, duration, is_fragment, signed_in

__all__ = ["ROUTES", "SiteHealth", "clock", "site_health"]

#: Dead letters listed on the replication page unless ``?limit=`` says otherwise.
DEAD_LETTERS_SHOWN, DEAD_LETTERS_MAX = 100, 1000
_PARAMETERS = ("site", "limit")


@dataclass(frozen=True)
class SiteHealth:
    """One followed site as the health strip and the banner show it."""

    site: str
    #: What the badge calls it: the site's name, or "link to central" on a remote node.
    label: str
    state: str
    #: ok, catching-up, disconnected, failed or waiting (connecting, stopped): a CSS class,
    #: always shown with its words too.
    level: str
    lag: int | None
    last_event_time: int | None
    #: When the node lost the site (microseconds), while the outage is not over.
    since: int | None
    #: How long ago that was, in words ("3 min").
    lasted: str
    error: str | None

    @property
    def words(self) -> str:
        """The state in words, for the badge."""
        return {
            "ok": "connected",
            "catching-up": "catching up",
            "disconnected": "disconnected",
            "failed": "failed",
        }.get(self.level, self.state)

    @property
    def behind(self) -> str:
        """How far behind, honestly: a lag not known is said to be unknown."""
        if self.lag is None:
            return "how far behind is not known (its log end was never read)"
        events = "event" if self.lag == 1 else "events"
        if self.level == "disconnected":
            return (
                f"{self.lag} {events} behind as of its last known log end"
                " (newer ones cannot be counted until the link is back)"
            )
        return f"{self.lag} {events} behind"

    @property
    def alarming(self) -> bool:
        """Worth the banner: lost, failed, or catching up after an outage."""
        return self.level in ("disconnected", "failed", "catching-up")


def _level(site: dict[str, Any], since: float | None) -> str:
    state = site["state"]
    if state == SiteState.FAILED:
        return "failed"
    if state == SiteState.DISCONNECTED:
        return "disconnected"
    if state == SiteState.RUNNING:
        return "ok" if since is None else "catching-up"
    return "waiting"


def site_health(request: web.Request, body: dict[str, Any]) -> list[SiteHealth]:
    """The sites of a replication answer, with when each outage began (the node's status)."""
    node = context(request).node
    remote = node.config.role is NodeRole.REMOTE
    now = time.time()
    found = []
    for site in body["sites"]:
        status = node.status.get(site["site"])
        since = None if status is None else status.disconnected_since
        found.append(
            SiteHealth(
                site=site["site"],
                label="link to central" if remote and site["site"] == CENTRAL else site["site"],
                state=str(site["state"]),
                level=_level(site, since),
                lag=site["lag"],
                last_event_time=site["last_event_time"],
                since=None if since is None else int(since * 1_000_000),
                lasted="" if since is None else duration(int((now - since) * 1_000_000)),
                error=site["error"],
            )
        )
    return found


def clock(us: int | None) -> str:
    """An instant as ``HH:MM UTC``, with its date unless it is today (UTC): short enough
    for a badge, and never mistaken for today when it is not."""
    if us is None:
        return ""
    moment = time.gmtime(us // 1_000_000)
    today = time.gmtime()[:3] == moment[:3]
    return time.strftime("%H:%M UTC" if today else "%Y-%m-%d %H:%M UTC", moment)


def _no_store(html: str) -> web.Response:
    response = web.Response(text=html, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


async def health(request: web.Request) -> web.Response:
    """The health strip: a badge per followed site, and the banner when one is in trouble."""
    console = request.app[CONSOLE]
    sites = site_health(request, await replication_body(request))
    html = console.render(
        "health_strip.html",
        sites=sites,
        alarms=[s for s in sites if s.alarming],
        clock=clock,
    )
    return _no_store(html)


def _query(request: web.Request) -> tuple[list[str] | None, int]:
    """The replication page's parameters: ``site`` (dead letters of one site), ``limit``."""
    for key in request.query:
        if key not in _PARAMETERS:
            raise bad_request(
                f"parameter {params.quoted(key)}: not a parameter of this page"
                f" (parameters: {', '.join(_PARAMETERS)})"
            )
    params.single_values(request.query)
    asked = params.optional_names(request.query, "site")
    followed = context(request).node.config.followed
    for site in asked or ():
        if site not in followed:
            raise bad_request(
                f"parameter 'site': {params.quoted(site)} is not a site this node follows"
            )
    raw = request.query.get("limit")
    limit = (
        DEAD_LETTERS_SHOWN
        if raw is None
        else params.integer(raw, "limit", minimum=1, maximum=DEAD_LETTERS_MAX)
    )
    return allowed_sites(request, asked), limit


async def replication(request: web.Request) -> web.Response:
    """Every followed site per partition, and the dead letters of the token's sites."""
    console = request.app[CONSOLE]
    session = request[SESSION]
    sites, limit = _query(request)
    body = await replication_body(request)
    values: dict[str, Any] = {
        "body": body,
        "health": {s.site: s for s in site_health(request, body)},
        "letters": await dead_letters_body(request, sites, limit),
        "letters_sites": sites,
        "limit": limit,
        "query": request.query_string,
        "clock": clock,
    }
    if is_fragment(request) and request.headers.get("HX-Target") == "replication":
        return _no_store(console.render("health_replication_body.html", **values))
    return console.page("health_replication.html", session=session, active="replication", **values)


ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
    ("GET", "/health", signed_in(health)),
    ("GET", "/replication", signed_in(replication)),
]
