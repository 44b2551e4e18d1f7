"""The member's ``GET /assignment``: what the server should run now, for a workflow host to poll."""

from __future__ import annotations

import orjson
from aiohttp import web

from engine.errors import ConfigError
from engine.member.agent import PoolMember

__all__ = ["serve_assignment"]


async def serve_assignment(member: PoolMember, host: str, port: int) -> web.AppRunner:
    """Serve ``member.assignment()`` at ``http://HOST:PORT/assignment``; the caller cleans up."""
    app = web.Application()

    async def assignment(_: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(member.assignment()), content_type="application/json")

    app.router.add_get("/assignment", assignment)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"--listen {host}:{port}: {exc.strerror}") from None
    return runner
