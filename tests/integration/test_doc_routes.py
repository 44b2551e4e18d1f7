"""Every GET route a page of the docs names answers on a real node (no 404, no 405): the
docs send nobody to a route that does not exist. (``tests/unit/test_docs.py`` checks the
same names against the route table without a node.)"""

from __future__ import annotations

import aiohttp
import pytest

from projections.pools import DEFAULT_POOLS
from tests.support.api_deployment import SERVICES, Deployment, host_names
from tests.support.docs import DOCUMENTS, named_routes

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _concrete(route: str) -> str:
    """The route with a real host, service and pool in place of its parameters."""
    values = {
        "{host}": host_names("paris")[0],
        "{service}": SERVICES[0],
        "{pool}": sorted(DEFAULT_POOLS)[0],
    }
    for name, value in values.items():
        route = route.replace(name, value)
    return route


async def test_every_get_route_the_docs_name_answers(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    routes = sorted(
        {
            _concrete(route)
            for document in DOCUMENTS
            for route in named_routes(document.read_text(encoding="utf-8"))
            if "/commands/" not in route and route != "/api/v1/configuration"
        }
    )
    assert len(routes) >= 10, routes
    answers = {}
    for route in routes:
        if route.endswith("/stream"):
            continue  # it never ends; tests/integration/test_api_stream.py follows it
        async with http_session.get(
            deployment.urls["central"] + route, headers=deployment.headers("admin")
        ) as response:
            answers[route] = response.status
    assert all(status == 200 for status in answers.values()), answers
