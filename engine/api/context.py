"""What every handler reaches through the application: the node, its database pool,
the change feed, the metrics, and the token that authenticated the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from engine.api.change_feed import ChangeFeed
from engine.api.errors import ApiError
from engine.api.stream_wakeup import Subscribers
from engine.node.node import Node
from engine.node.tokens import ApiToken
from projections.postgres_errors import translated


@dataclass
class Context:
    node: Node
    pool: AsyncConnectionPool
    feed: ChangeFeed
    subscribers: Subscribers

    @property
    def schema(self) -> str:
        return self.node.config.schema

    async def fetch(
        self, query: bytes | sql.Composed, params: dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        # PostgreSQL away (or restarting) answers 503 database-unavailable, in one line.
        with translated(f"reading projection {self.schema}"):
            async with self.pool.connection() as conn:
                cursor = await conn.execute(query, params)
                return await cursor.fetchall()


CONTEXT = web.AppKey("context", Context)
TOKEN = web.RequestKey("token", ApiToken)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]


def token(request: web.Request) -> ApiToken:
    return request[TOKEN]


def check_site(request: web.Request, site: str, what: str) -> None:
    """403 unless the request's token may see and act on ``site``'s subjects."""
    if not token(request).allows_site(site):
        raise ApiError(
            403, "forbidden-site", f"{what} belongs to site {site!r}, which this token may not use"
        )


def allowed_sites(request: web.Request, asked: list[str] | None) -> list[str] | None:
    """The sites a list may show: those asked for, within the token's; None means all."""
    sites = token(request).sites
    if sites is None:
        return asked
    if asked is None:
        return sorted(sites)
    for site in asked:
        check_site(request, site, f"site {site!r}")
    return asked


def json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")
