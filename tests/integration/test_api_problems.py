"""``GET /api/v1/problems`` end to end: what is broken now, unhandled first, worst and
oldest first, in keyset pages, with counts per state, within the token's sites."""

from __future__ import annotations

from collections import Counter
from typing import Any

import aiohttp
import pytest

from engine.api.problems import SEVERITY
from schemas.types import now_us
from tests.integration.test_api import walk
from tests.support.api_deployment import Deployment, groups_of, site_of

pytestmark = pytest.mark.asyncio(loop_scope="session")


def problems_produced(deployment: Deployment, sites: tuple[str, ...]) -> dict[tuple[str, str], Any]:
    """Every subject whose latest result is a problem, from what the pollers produced."""
    return {
        key: result
        for key, result in deployment.latest.items()
        if result.state != 0 and site_of(key[0]) in sites
    }


def order_key(item: dict[str, Any]) -> tuple[Any, ...]:
    return (
        item["handled"],
        SEVERITY[item["state_name"]],
        item["last_state_change"],
        item["host"],
        item["service"] or "",
    )


def subject(item: dict[str, Any]) -> tuple[str, str]:
    return item["host"], item["service"] or ""


async def test_problems_are_every_problem_unhandled_first_in_triage_order(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    acked, downtimed = ("l-001", "cpu"), ("p-002", "disk")
    for host, service in (acked, downtimed):
        assert deployment.latest[(host, service)].state != 0
    status, _ = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/acknowledge",
        {"host": acked[0], "service": acked[1], "comment": "on it"},
        wait="projected",
    )
    assert status == 202
    now = now_us()
    status, _ = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/schedule-downtime",
        {
            "host": downtimed[0],
            "service": downtimed[1],
            "start_time": now - 60_000_000,
            "end_time": now + 3_600_000_000,
        },
        wait="projected",
    )
    assert status == 202

    # Small pages: the walk goes through many cursors, and must neither repeat nor skip.
    items = await walk(deployment, http_session, "/api/v1/problems", limit=7)
    assert len(items) == len({subject(i) for i in items})
    assert {subject(i) for i in items} == set(problems_produced(deployment, ("paris", "lyon")))
    assert [order_key(i) for i in items] == sorted(order_key(i) for i in items)
    handled = {subject(i) for i in items if i["handled"]}
    assert handled == {acked, downtimed}
    by_subject = {subject(i): i for i in items}
    assert by_subject[acked]["acknowledged"] and by_subject[downtimed]["in_downtime"]

    unhandled = await walk(deployment, http_session, "/api/v1/problems", handled="false")
    assert [subject(i) for i in unhandled] == [subject(i) for i in items if not i["handled"]]
    only_handled = await walk(deployment, http_session, "/api/v1/problems", handled="true")
    assert {subject(i) for i in only_handled} == handled

    status, body = await deployment.get(http_session, "central", "/api/v1/problems")
    assert status == 200
    counted = {(c["kind"], c["state_name"]): c for c in body["counts"]}
    totals = Counter(
        ("service" if service else "host", deployment.latest[(host, service)].state.name)
        for host, service in deployment.latest
    )
    assert {k: c["total"] for k, c in counted.items()} == dict(totals)
    unhandled_counts = Counter(
        ("service" if i["service"] else "host", i["state_name"]) for i in unhandled
    )
    assert {k: c["unhandled"] for k, c in counted.items() if c["unhandled"]} == dict(
        unhandled_counts
    )


async def test_problem_filters_and_sites(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    produced = problems_produced(deployment, ("paris", "lyon"))

    critical = await walk(deployment, http_session, "/api/v1/problems", state="CRITICAL,DOWN")
    assert {subject(i) for i in critical} == {
        k for k, r in produced.items() if r.state.name in ("CRITICAL", "DOWN")
    }
    hosts = await walk(deployment, http_session, "/api/v1/problems", kind="host")
    assert {subject(i) for i in hosts} == {k for k in produced if not k[1]}
    soft = await walk(deployment, http_session, "/api/v1/problems", state_type="soft")
    assert {subject(i) for i in soft} == {
        k for k, r in produced.items() if r.state_type.name == "SOFT"
    }
    web = await walk(deployment, http_session, "/api/v1/problems", host_group="web")
    assert {subject(i) for i in web} == {k for k in produced if "web" in groups_of(k[0])}
    disk = await walk(deployment, http_session, "/api/v1/problems", q="DISK")
    assert {subject(i) for i in disk} == {k for k in produced if k[1] == "disk"}

    # A token limited to paris sees paris only, on central and on paris.
    paris = problems_produced(deployment, ("paris",))
    for node, token in (("central", "paris-operator"), ("paris", "paris-reader")):
        items = []
        cursor: str | None = None
        while True:
            query = {"limit": 9} | ({"cursor": cursor} if cursor else {})
            status, body = await deployment.get(
                http_session, node, "/api/v1/problems", token, **query
            )
            assert status == 200, body
            items += body["items"]
            if (cursor := body["next_cursor"]) is None:
                break
        assert {subject(i) for i in items} == set(paris)
        assert all(c["total"] <= 12 * 4 for c in body["counts"])
    status, body = await deployment.get(
        http_session, "central", "/api/v1/problems", "paris-operator", site="lyon"
    )
    assert status == 403 and body["error"]["code"] == "forbidden-site"


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"state": "OK"}, "parameter 'state': 'OK' is not one of"),
        ({"state": ","}, "parameter 'state': empty list"),
        ({"handled": "maybe"}, "parameter 'handled'"),
        ({"kind": "pollers"}, "parameter 'kind'"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "parameter 'cursor'"),
        ({"limit": "0"}, "parameter 'limit'"),
    ],
)
async def test_bad_problem_filters_are_400_naming_the_parameter(
    deployment: Deployment,
    http_session: aiohttp.ClientSession,
    query: dict[str, str],
    names: str,
) -> None:
    status, body = await deployment.get(http_session, "central", "/api/v1/problems", **query)
    assert status == 400 and body["error"]["message"].startswith(names), body
