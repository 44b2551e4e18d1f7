"""A node's HTTP API (aiohttp, orjson): queries over the projection, commands through the
write path, a live change stream, bearer-token auth, OpenAPI, health and metrics.

The public surface is :class:`ApiServer` and :func:`create_app`; the rest is private.
"""

from engine.api.app import ApiServer, create_app

__all__ = ["ApiServer", "create_app"]
