"""Who may do what: every refusal has its status and code, and appends nothing."""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.api_deployment import Deployment, host_names

pytestmark = pytest.mark.asyncio(loop_scope="session")

ACK = "/api/v1/commands/acknowledge"


async def test_auth_matrix(deployment: Deployment) -> None:
    paris_host, lyon_host = host_names("paris")[1], host_names("lyon")[1]
    config_body = {
        "events": [{"type": "HostDefined", "payload": {"host_name": "n", "site_name": "paris"}}]
    }
    # (node, method, path, headers, body, status, code)
    cases = [
        ("central", "GET", "/api/v1/services", {}, None, 401, "unauthorized"),
        ("central", "POST", ACK, {}, {"host": paris_host}, 401, "unauthorized"),
        (
            "central",
            "POST",
            ACK,
            {"Authorization": "Bearer nope"},
            {"host": paris_host},
            401,
            "unauthorized",
        ),
        (
            "central",
            "POST",
            ACK,
            {"Authorization": "Basic YTpi"},
            {"host": paris_host},
            401,
            "unauthorized",
        ),
        # A token of the paris node means nothing to central.
        (
            "central",
            "POST",
            ACK,
            deployment.headers("paris-local"),
            {"host": paris_host},
            401,
            "unauthorized",
        ),
        (
            "central",
            "POST",
            ACK,
            deployment.headers("reader"),
            {"host": paris_host},
            403,
            "insufficient-scope",
        ),
        (
            "central",
            "POST",
            "/api/v1/configuration",
            deployment.headers("operator"),
            config_body,
            403,
            "insufficient-scope",
        ),
        # A token limited to paris, on central, for a lyon subject.
        (
            "central",
            "POST",
            ACK,
            deployment.headers("paris-operator"),
            {"host": lyon_host},
            403,
            "forbidden-site",
        ),
        (
            "central",
            "GET",
            f"/api/v1/hosts/{lyon_host}",
            deployment.headers("paris-operator"),
            None,
            403,
            "forbidden-site",
        ),
        (
            "central",
            "GET",
            "/api/v1/services?site=lyon",
            deployment.headers("paris-operator"),
            None,
            403,
            "forbidden-site",
        ),
        (
            "central",
            "POST",
            "/api/v1/configuration",
            deployment.headers("limited-admin"),
            config_body,
            403,
            "forbidden-site",
        ),
        # The paris node holds only its subset: a lyon subject is unknown there.
        (
            "paris",
            "POST",
            ACK,
            deployment.headers("paris-local"),
            {"host": lyon_host},
            404,
            "not-found",
        ),
        (
            "paris",
            "GET",
            f"/api/v1/hosts/{lyon_host}",
            deployment.headers("paris-reader"),
            None,
            404,
            "not-found",
        ),
        # Configuration is central's, whatever the token.
        (
            "paris",
            "POST",
            "/api/v1/configuration",
            deployment.headers("paris-admin"),
            config_body,
            403,
            "central-only",
        ),
    ]
    before = await deployment.log_ends()
    async with aiohttp.ClientSession() as http_session:
        for node, method, path, headers, body, status, code in cases:
            async with http_session.request(
                method, deployment.urls[node] + path, headers=headers, json=body
            ) as response:
                answer = await response.json()
                assert (response.status, answer["error"]["code"]) == (status, code), (
                    node,
                    path,
                    headers,
                )
                assert answer["error"]["message"]
                if status == 401:
                    assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert await deployment.log_ends() == before, "a refused request appended something"

        # The same tokens where they are allowed: proof the refusals were about rights.
        listed = await deployment.get(
            http_session, "central", "/api/v1/services", token="paris-operator"
        )
        assert {i["site"] for i in listed[1]["items"]} == {"paris"}
        status, _ = await deployment.post(
            http_session, "central", ACK, {"host": paris_host}, token="paris-operator"
        )
        assert status == 202
        status, _ = await deployment.post(
            http_session, "paris", ACK, {"host": paris_host}, token="paris-local"
        )
        assert status == 202
        status, _ = await deployment.post(
            http_session, "central", "/api/v1/configuration", config_body, token="admin"
        )
        assert status == 202
        after = await deployment.log_ends()
        assert (after["central"] - before["central"], after["paris"] - before["paris"]) == (2, 1)
        assert after["lyon"] == before["lyon"]


async def test_open_endpoints_need_no_token(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as http_session:
        for path in ("/healthz", "/metrics", "/api/v1/openapi.json"):
            async with http_session.get(deployment.urls["central"] + path) as response:
                assert response.status == 200, path
