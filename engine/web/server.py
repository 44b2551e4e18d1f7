"""The node's web server: its API (``engine.api``) and, beside it on the same port, the
console's pages and static files.

Each console module declares its ``ROUTES`` (method, path, handler); they are added
here, after the API's, so the console reads and writes through the same application:
the same database pool, change feed, tokens and write path.
"""

from __future__ import annotations

from aiohttp import web

from engine.api.app import TOKENS, ApiServer
from engine.api.context import CONTEXT
from engine.web import actions, health, pools, problems, signin, subject
from engine.web.pages import CONSOLE, Console
from engine.web.static import add_static_routes

__all__ = ["NodeServer", "add_console"]

_MODULES = (signin, problems, actions, subject, health, pools)


def add_console(app: web.Application) -> None:
    """The console's pages and static files, on an application made by ``create_app``."""
    # The API's token book: one set of tokens, whether bearer or behind a session.
    app[CONSOLE] = Console(app[CONTEXT].node, app[TOKENS])
    add_static_routes(app)
    for module in _MODULES:
        for method, path, handler in module.ROUTES:
            app.router.add_route(method, path, handler)


class NodeServer(ApiServer):
    """Serves a node's API and its web console on ``listen`` (``HOST:PORT``)."""

    def create_app(self) -> web.Application:
        app = super().create_app()
        add_console(app)
        return app
