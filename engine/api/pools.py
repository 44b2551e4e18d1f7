"""Resource pools as of an instant: members, votes, quorum, availability and assignment.

The pool rows are read from PostgreSQL in one snapshot (they are few) and evaluated
by the projection's own rules (``projections.quorum``) as of ``at``: two nodes with
the same rows answer the same for the same ``at``. Pools are configured on central,
so a remote node has none to show.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from psycopg import sql

from engine.api import params
from engine.api.context import context, json
from engine.api.errors import not_found
from projections.quorum import POOL_TABLES, PoolStatus, status, statuses
from projections.state import ProjectionState


async def _pool_registers(request: web.Request) -> ProjectionState:
    ctx = context(request)
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with ctx.pool.connection() as conn, conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for table in POOL_TABLES:
            cursor = await conn.execute(
                sql.SQL("SELECT {} FROM {}.{}").format(
                    sql.SQL(", ").join(map(sql.Identifier, table.column_names)),
                    sql.Identifier(ctx.schema),
                    sql.Identifier(table.name),
                )
            )
            rows[table.name] = [table.make(r) for r in await cursor.fetchall()]
    return ProjectionState.from_rows(rows)


def _summary(pool: PoolStatus) -> dict[str, Any]:
    return {
        "name": pool.pool_name,
        "builtin": pool.builtin,
        "description": pool.description,
        "membership": pool.membership.lower(),
        "default_observer": {
            "enabled": pool.default_observer,
            "votes": pool.default_observer_votes,
            "available": pool.default_observer_available,
        },
        "votes": pool.vote_count,
        "quorum": pool.quorum,
        "available_votes": pool.available_votes,
        "may_fail": pool.may_fail,
        "has_quorum": pool.has_quorum,
        "reason": pool.reason,
        "members": [
            {
                "server": v.server_name,
                "role": v.role.lower() if v.role else None,
                "observer": v.observer,
                "available": v.available,
                "lease_expires_at": v.lease_expires_at,
                "missing_roots": list(v.missing_roots),
            }
            for v in pool.voters
        ],
        "unregistered": list(pool.unregistered),
        "targets": len(pool.targets),
        "assigned": sum(owner is not None for owner in pool.owners.values()),
    }


def _assignment(pool: PoolStatus) -> list[dict[str, Any]]:
    return [
        {
            "name": t.name,
            "kind": t.kind.lower(),
            "signing_root": t.signing_root,
            "owner": pool.owners.get(t.name),
        }
        for t in pool.targets
    ]


async def pools_body(request: web.Request, *, assignment: bool = False) -> dict[str, Any]:
    """What ``GET /api/v1/pools`` answers (as of ``?at=``, or now); with ``assignment``,
    each pool also says who runs which target, as ``GET /api/v1/pools/{pool}`` does."""
    at = params.at(request.query)
    state = await _pool_registers(request)
    pools = []
    for pool in statuses(state, at):
        body = _summary(pool)
        if assignment:
            body["assignment"] = _assignment(pool)
        pools.append(body)
    return {"at": at, "pools": pools}


async def list_pools(request: web.Request) -> web.Response:
    return json(await pools_body(request))


async def pool_detail(request: web.Request) -> web.Response:
    at = params.at(request.query)
    name = params.text(request.match_info["pool"], "pool")
    state = await _pool_registers(request)
    pool = status(state, name, at)
    if pool is None:
        raise not_found(f"unknown pool {name!r}")
    body = _summary(pool)
    body["assignment"] = _assignment(pool)
    return json({"at": at, "pool": body})
