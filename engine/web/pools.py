"""Console page: the resource pools as of now (or ``?at=``), as ``GET /api/v1/pools`` answers.

Each pool shows its membership mode, its voters and whether each is available, the
quorum and how many more voters may fail before it is lost, who runs which targets, and
the members missing a root certificate that signed one of the pool's agents (failing
over to them would fail). It reads the API's own query (``engine.api.pools.pools_body``),
so the page and the API answer the same. Pools are central's configuration: a remote
node says it has none. As of now, the page refreshes itself: leases expire with time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from engine.api import params
from engine.api.context import context
from engine.api.errors import bad_request
from engine.api.pools import pools_body
from engine.node.config import NodeRole
from engine.web.pages import CONSOLE, SESSION, is_fragment, signed_in

__all__ = ["ROUTES", "runs"]

#: Target names shown per member before "and N more" (a pool may hold thousands).
TARGETS_SHOWN = 50


def runs(pool: dict[str, Any]) -> list[dict[str, Any]]:
    """Who runs which targets: one entry per owner (members by name, then no one), each
    with its target count and the first names."""
    by_owner: dict[str | None, list[str]] = {}
    for target in pool["assignment"]:
        by_owner.setdefault(target["owner"], []).append(target["name"])
    owners: list[str | None] = [*sorted(o for o in by_owner if o is not None)]
    if None in by_owner:
        owners.append(None)
    return [
        {
            "owner": owner,
            "count": len(by_owner[owner]),
            "names": by_owner[owner][:TARGETS_SHOWN],
            "more": max(0, len(by_owner[owner]) - TARGETS_SHOWN),
        }
        for owner in owners
    ]


async def pools(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    for key in request.query:
        if key != "at":
            raise bad_request(
                f"parameter {params.quoted(key)}: not a parameter of this page (parameters: at)"
            )
    params.single_values(request.query)
    body = await pools_body(request, assignment=True)
    for pool in body["pools"]:
        pool["runs"] = runs(pool)
        # How many more voters may go before quorum is lost (may_fail counts from all up).
        pool["may_still_fail"] = max(0, pool["available_votes"] - pool["quorum"])
    values: dict[str, Any] = {
        "body": body,
        "fixed": "at" in request.query,
        "query": request.query_string,
        "remote": context(request).node.config.role is NodeRole.REMOTE,
    }
    if is_fragment(request) and request.headers.get("HX-Target") == "pools":
        response = web.Response(
            text=console.render("pools_body.html", **values), content_type="text/html"
        )
        response.headers["Cache-Control"] = "no-store"
        return response
    return console.page("pools_page.html", session=request[SESSION], active="pools", **values)


ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
    ("GET", "/pools", signed_in(pools)),
]
