"""Pools through a central node: default pools at initialisation, configuration through the
admin endpoint and ``sitelog pool``, the rules' refusals, and the pools read as of ``at``.

Leases are appended to central's log the way ``sitelog pool-member`` appends them,
with chosen event times, so availability can be asked of exact instants.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema_rs
import orjson
import pytest

from engine.log.writer import SiteLogWriter
from projections.assignment import assign
from projections.pools import ALL_MANAGEMENT_SERVERS, DEFAULT_POOLS
from projections.quorum import statuses
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.pools import Lease
from schemas.types import MICROS_PER_SECOND, now_us
from tests.support.api_deployment import Deployment

pytestmark = pytest.mark.asyncio(loop_scope="session")
SITELOG = str(Path(sys.executable).with_name("sitelog"))
SERVERS = ("ms-1", "ms-2", "ms-3")
DEVICES = [f"switch-{i:02d}" for i in range(10)]


async def call(
    deployment: Deployment,
    http_session: aiohttp.ClientSession,
    method: str,
    path: str,
    token: str = "admin",
    node: str = "central",
    body: Any = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {deployment.secrets[token]}"}
    async with http_session.request(
        method, deployment.urls[node] + path, json=body, headers=headers
    ) as answer:
        return answer.status, await answer.json()


def events(*items: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"events": [{"type": t, "payload": p} for t, p in items]}


async def configure(
    deployment: Deployment, http_session: aiohttp.ClientSession, *items: Any
) -> tuple[int, Any]:
    return await call(
        deployment,
        http_session,
        "POST",
        "/api/v1/configuration?wait=projected",
        body=events(*items),
    )


async def test_central_creates_the_default_pools(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    status, body = await call(deployment, http_session, "GET", "/api/v1/pools", token="reader")
    assert status == 200
    defaults = {p["name"]: p for p in body["pools"] if p["builtin"]}
    assert set(defaults) == set(DEFAULT_POOLS)
    for pool in defaults.values():
        assert pool["membership"] == "automatic"
        assert pool["default_observer"]["enabled"]
    # A remote node does not keep pools: they are central's configuration.
    status, body = await call(
        deployment, http_session, "GET", "/api/v1/pools", token="paris-reader", node="paris"
    )
    assert (status, body["pools"]) == (200, [])


async def test_configuration_refusals_append_nothing(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    registered = [
        ("ServerRegistered", {"server_name": s, "role": "MANAGEMENT_SERVER"}) for s in SERVERS
    ]
    assert (await configure(deployment, http_session, *registered))[0] == 202
    taken = {"target_name": "taken", "kind": "URL_MONITOR"}
    defined = await configure(
        deployment,
        http_session,
        ("PoolDefined", {"pool_name": "Refusals"}),
        ("PoolTargetAssigned", {"pool_name": "Refusals", **taken}),
    )
    assert defined[0] == 202
    before = await deployment.log_ends()
    refusals = [
        ((("PoolDefined", {"pool_name": "Refusals"}),), 409, "pool 'Refusals' exists"),
        (
            (("PoolDefined", {"pool_name": "Mine", "builtin": True}),),
            400,
            "created by central",
        ),
        (
            (("PoolDefined", {"pool_name": "Auto", "membership": "AUTOMATIC"}),),
            400,
            "cannot become automatic",
        ),
        (
            (("PoolMembershipModeChanged", {"pool_name": "Refusals", "membership": "AUTOMATIC"}),),
            400,
            "only the 'All Management Servers' pool",
        ),
        (
            (("PoolMemberAdded", {"pool_name": ALL_MANAGEMENT_SERVERS, "server_name": "ms-1"}),),
            409,
            "automatic membership (read-only)",
        ),
        (
            (("PoolMemberAdded", {"pool_name": "Refusals", "server_name": "nobody"}),),
            404,
            "unknown server 'nobody'",
        ),
        (
            (("PoolMemberAdded", {"pool_name": "Nowhere", "server_name": "ms-1"}),),
            404,
            "unknown pool 'Nowhere'",
        ),
        (
            (("PoolMemberRemoved", {"pool_name": "Refusals", "server_name": "ms-1"}),),
            409,
            "is not a member",
        ),
        (
            (
                ("PoolDefined", {"pool_name": "Other"}),
                ("PoolTargetAssigned", {"pool_name": "Other", **taken}),
            ),
            409,
            "runs in pool 'Refusals'",
        ),
        (
            (("ServerRegistered", {"server_name": "default-observer", "role": "GATEWAY"}),),
            400,
            "reserved",
        ),
        ((("DefaultObserverDisabled", {"pool_name": "Refusals"}),), 409, "is disabled"),
    ]
    for items, status, words in refusals:
        answer = await configure(deployment, http_session, *items)
        assert answer[0] == status, (items, answer)
        assert words in answer[1]["error"]["message"], (items, answer)
    status, body = await call(
        deployment, http_session, "POST", "/api/v1/configuration", token="operator",
        body=events(("PoolDefined", {"pool_name": "X"})),
    )  # fmt: skip
    assert (status, body["error"]["code"]) == (403, "insufficient-scope")
    status, body = await call(
        deployment,
        http_session,
        "POST",
        "/api/v1/configuration",
        token="paris-admin",
        node="paris",
        body=events(("PoolDefined", {"pool_name": "X"})),
    )
    assert (status, body["error"]["code"]) == (403, "central-only")
    assert await deployment.log_ends() == before


async def append_leases(deployment: Deployment, pool: str, at: int, *servers: str) -> None:
    clock = HybridLogicalClock()
    leases = [
        Event.create(
            Lease(
                pool_name=pool,
                server_name=s,
                lease_request_period=10 * MICROS_PER_SECOND,
                network_latency=MICROS_PER_SECOND,
            ),
            site="central",
            origin=s,
            clock=clock,
            event_time=at,
        )
        for s in servers
    ]
    async with SiteLogWriter("central", deployment.kafka) as writer:
        await writer.append_many(leases)
    await deployment.wait_projected()


async def test_pool_quorum_and_assignment_as_of_an_instant(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    registered = [
        ("ServerRegistered", {"server_name": s, "role": "MANAGEMENT_SERVER"}) for s in SERVERS
    ]
    pool, kind = {"pool_name": "Network"}, "NETWORK_DEVICE"
    answer = await configure(
        deployment, http_session, *registered,
        ("PoolDefined", {**pool, "description": "network devices"}),
        *(("PoolMemberAdded", {**pool, "server_name": s}) for s in SERVERS),
        *(("PoolTargetAssigned", {**pool, "target_name": t, "kind": kind}) for t in DEVICES),
    )  # fmt: skip
    assert answer[0] == 202 and answer[1]["projected"]
    start = now_us()
    await append_leases(deployment, "Network", start, *SERVERS)
    await append_leases(deployment, "Network", start + 10 * MICROS_PER_SECOND, "ms-1", "ms-2")
    expiry = start + 12 * MICROS_PER_SECOND  # ms-3's only lease: period + 2 x latency

    async with http_session.get(deployment.urls["central"] + "/api/v1/openapi.json") as response:
        document = await response.json()

    def conforms(component: str, body: Any) -> None:
        schema = dict(document) | {"$ref": f"#/components/schemas/{component}"}
        errors = list(jsonschema_rs.validator_for(schema).iter_errors(body))
        assert not errors, (component, [str(e) for e in errors[:3]])

    async def detail(at: int) -> dict[str, Any]:
        status, body = await call(
            deployment, http_session, "GET", f"/api/v1/pools/Network?at={at}", "reader"
        )
        assert status == 200
        assert body["at"] == at
        conforms("PoolDetail", body)
        return body["pool"]  # type: ignore[no-any-return]

    def owners(pool: dict[str, Any]) -> dict[str, str | None]:
        return {t["name"]: t["owner"] for t in pool["assignment"]}

    pool_at = await detail(expiry - 1)
    assert (pool_at["votes"], pool_at["quorum"], pool_at["may_fail"]) == (3, 2, 1)
    assert pool_at["membership"] == "manual" and not pool_at["default_observer"]["enabled"]
    assert owners(pool_at) == assign(DEVICES, SERVERS)
    pool_at = await detail(expiry)
    assert [m["available"] for m in pool_at["members"]] == [True, True, False]
    assert owners(pool_at) == assign(DEVICES, ("ms-1", "ms-2"))
    pool_at = await detail(start + 22 * MICROS_PER_SECOND)  # every lease expired
    assert not pool_at["has_quorum"] and set(owners(pool_at).values()) == {None}
    assert pool_at["reason"] == "no quorum: 0 of 3 votes available, 2 needed"

    # The All Management Servers pool took the three servers in automatically, and central
    # casts the default observer's vote there.
    status, body = await call(
        deployment, http_session, "GET", f"/api/v1/pools?at={start}", "reader"
    )
    conforms("Pools", body)
    listed = {p["name"]: p for p in body["pools"]}
    everyone = listed[ALL_MANAGEMENT_SERVERS]
    assert [m["server"] for m in everyone["members"]] == list(SERVERS)
    assert everyone["default_observer"] == {"enabled": True, "votes": True, "available": True}
    assert (everyone["votes"], everyone["quorum"], everyone["available_votes"]) == (4, 3, 1)
    # PostgreSQL's rows and the node's in-memory fold give the same answers.
    in_memory = {p.pool_name: p for p in statuses(deployment.central.projector.state, start)}
    for name, served in listed.items():
        assert (served["votes"], served["available_votes"], served["has_quorum"]) == (
            in_memory[name].vote_count,
            in_memory[name].available_votes,
            in_memory[name].has_quorum,
        )
    status, body = await call(deployment, http_session, "GET", "/api/v1/pools/Nope", "reader")
    assert (status, body["error"]["code"]) == (404, "not-found")


async def sitelog(deployment: Deployment, *args: str, token: str = "admin") -> tuple[int, str, str]:
    url, secret = deployment.urls["central"], deployment.secrets[token]
    child = await asyncio.create_subprocess_exec(
        SITELOG, "pool", "--url", url, "--token", secret, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


async def test_sitelog_pool_command(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    assert (await sitelog(deployment, "register", "gw-1", "--role", "gateway", "--site", "paris"))[
        0
    ] == 0
    assert (await sitelog(deployment, "create", "Gateways", "--description", "DMZ"))[0] == 0
    code, out, _ = await sitelog(deployment, "add-member", "Gateways", "gw-1")
    assert (code, out.strip()) == (0, "1 event(s) projected")
    code, out, _ = await sitelog(
        deployment, "assign", "Gateways", "https://a", "https://b", "--kind", "url-monitor",
        "--signing-root", "ab12",
    )  # fmt: skip
    assert (code, out.strip()) == (0, "2 event(s) projected")
    code, out, _ = await sitelog(deployment, "show", "Gateways", token="reader")
    assert code == 0
    assert out.splitlines()[0].startswith("Gateways: manual membership, NO QUORUM (0 of 1 votes")
    assert "missing roots: ab12" in out and "target https://a" in out
    code, out, err = await sitelog(deployment, "add-member", "Gateways", "gw-1")
    assert code == 2 and out == ""
    assert err.strip() == (
        "sitelog: error: server 'gw-1' is already a member of pool 'Gateways' (409 conflict)"
    )
    code, _, err = await sitelog(deployment, "create", "X", token="reader")
    assert code == 2 and "insufficient-scope" in err and "Traceback" not in err


async def test_all_management_servers_switches_to_manual_keeping_its_members(
    own_deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    deployment = own_deployment
    for server in SERVERS:
        await configure(
            deployment,
            http_session,
            ("ServerRegistered", {"server_name": server, "role": "MANAGEMENT_SERVER"}),
        )
    code, out, err = await sitelog(deployment, "membership", ALL_MANAGEMENT_SERVERS, "manual")
    assert (code, err) == (0, "")
    assert (await sitelog(deployment, "register", "ms-late", "--role", "management-server"))[0] == 0
    status, body = await call(
        deployment, http_session, "GET", "/api/v1/pools/All%20Management%20Servers", "reader"
    )
    assert (status, body["pool"]["membership"]) == (200, "manual")
    assert [m["server"] for m in body["pool"]["members"]] == list(SERVERS)  # not ms-late
    assert (await sitelog(deployment, "add-member", ALL_MANAGEMENT_SERVERS, "ms-late"))[0] == 0
    code, _, err = await sitelog(deployment, "membership", "Notifications", "manual")
    assert code == 2 and "only the 'All Management Servers' pool" in err
    code, out, err = await sitelog(
        deployment, "--json", "show", ALL_MANAGEMENT_SERVERS, token="reader"
    )
    assert code == 0
    assert [m["server"] for m in orjson.loads(out)["pool"]["members"]] == [*SERVERS, "ms-late"]
