"""The HTTP API end to end: a central and a paris node with their embedded broker and
PostgreSQL, queried and commanded over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import jsonschema_rs
import pytest

from schemas.monitoring import ServiceCheckResult
from schemas.types import now_us
from tests.support.api_deployment import SERVICES, Deployment, groups_of, host_names, site_of

pytestmark = pytest.mark.asyncio(loop_scope="session")


def expected_services(deployment: Deployment, **where: Any) -> set[tuple[str, str]]:
    out = set()
    for (host, service), result in deployment.latest.items():
        if not service:
            continue
        assert isinstance(result, ServiceCheckResult)
        if "state" in where and result.state.name not in where["state"]:
            continue
        if "site" in where and site_of(host) != where["site"]:
            continue
        if "group" in where and where["group"] not in groups_of(host):
            continue
        if "state_type" in where and result.state_type.name.lower() != where["state_type"]:
            continue
        out.add((host, service))
    return out


async def walk(
    deployment: Deployment,
    http_session: aiohttp.ClientSession,
    path: str,
    node: str = "central",
    **query: Any,
) -> list[dict[str, Any]]:
    """Every item of a list, page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page_query = dict(query) | ({"cursor": cursor} if cursor else {})
        status, body = await deployment.get(http_session, node, path, **page_query)
        assert status == 200, body
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def keys(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(i["host"], i["service"] or "") for i in items}


async def test_service_list_matches_what_pollers_reported(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    items = await walk(deployment, http_session, "/api/v1/services", limit=17)
    assert len(items) == len(keys(items)) == len(expected_services(deployment))
    for item in items:
        result = deployment.latest[(item["host"], item["service"])]
        assert (item["state_name"], item["output"], item["site"]) == (
            result.state.name,
            result.output,
            site_of(item["host"]),
        )
        assert item["perfdata"] == result.perfdata and item["last_check"] == result.check_time
    assert [(i["host"], i["service"]) for i in items] == sorted(keys(items))


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ({"state": "CRITICAL,WARNING"}, {"state": {"CRITICAL", "WARNING"}}),
        ({"state": "2"}, {"state": {"CRITICAL"}}),
        ({"site": "lyon"}, {"site": "lyon"}),
        ({"host_group": "db"}, {"group": "db"}),
        ({"state_type": "soft"}, {"state_type": "soft"}),
        (
            {"site": "paris", "state": "OK", "host_group": "web"},
            {"site": "paris", "state": {"OK"}, "group": "web"},
        ),
    ],
)
async def test_service_filters(
    deployment: Deployment,
    http_session: aiohttp.ClientSession,
    query: dict[str, str],
    where: dict[str, Any],
) -> None:
    items = await walk(deployment, http_session, "/api/v1/services", limit=9, **query)
    assert keys(items) == expected_services(deployment, **where)
    assert expected_services(deployment, **where), "the case must select something"


async def test_text_search_sort_and_hosts(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    items = await walk(deployment, http_session, "/api/v1/services", q="DISK cri")
    assert keys(items) == {
        k for k in expected_services(deployment, state={"CRITICAL"}) if k[1] == "disk"
    }
    by_state = await walk(deployment, http_session, "/api/v1/services", sort="-state", limit=11)
    states = [i["state"] for i in by_state]
    assert states == sorted(states, reverse=True) and len(by_state) == len(
        expected_services(deployment)
    )
    hosts = await walk(deployment, http_session, "/api/v1/hosts", limit=5)
    assert [h["host"] for h in hosts] == sorted(host_names("lyon") + host_names("paris"))
    assert all(h["service"] is None and h["state_name"] in ("UP", "DOWN") for h in hosts)
    # The paris node holds only its subset.
    paris_hosts = await walk(
        deployment, http_session, "/api/v1/hosts", node="paris", token="paris-reader"
    )
    assert {h["host"] for h in paris_hosts} == set(host_names("paris"))


async def test_pagination_has_no_duplicates_or_gaps_while_data_changes(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    before = expected_services(deployment)
    stop = asyncio.Event()

    async def churn() -> None:
        round_ = 100
        while not stop.is_set():
            round_ += 1
            await deployment.produce_results(round_)
            await asyncio.sleep(0.05)

    churning = asyncio.create_task(churn())
    try:
        seen: list[tuple[str, str]] = []
        cursor = None
        pages = 0
        while True:
            query = {"limit": "6"} | ({"cursor": cursor} if cursor else {})
            status, body = await deployment.get(
                http_session, "central", "/api/v1/services", **query
            )
            assert status == 200
            seen += [(i["host"], i["service"]) for i in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
            await asyncio.sleep(0.02)  # let results land between pages
    finally:
        stop.set()
        await churning
    assert pages > 5
    assert len(seen) == len(set(seen)), "a row was served twice"
    assert set(seen) == before, "a row was skipped"
    await deployment.wait_projected()


async def test_acknowledge_with_wait_is_visible_at_once(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    await deployment.wait_projected()
    problem = next(
        k for k in sorted(expected_services(deployment, state={"CRITICAL"}, site="paris"))
    )
    host, service = problem
    status, body = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/acknowledge",
        {"host": host, "service": service, "comment": "looking", "sticky": True},
        wait="projected",
    )
    assert status == 202, body
    assert body["projected"] is True and body["events"][0]["target_site"] == "paris"
    status, detail = await deployment.get(
        http_session, "central", f"/api/v1/hosts/{host}/services/{service}"
    )
    assert status == 200
    assert detail["state"]["acknowledged"] is True
    assert detail["acknowledgement"]["author"] == "operator"  # the token's name
    acked = await walk(deployment, http_session, "/api/v1/services", acknowledged="true")
    assert (host, service) in keys(acked)
    assert (host, service) not in keys(
        await walk(deployment, http_session, "/api/v1/services", acknowledged="false")
    )
    listed = await walk(deployment, http_session, "/api/v1/acknowledgements", site="paris")
    assert (host, service) in keys(listed)

    # The paris node gets it through the central log.
    await deployment.wait_projected()
    status, detail = await deployment.get(
        http_session, "paris", f"/api/v1/hosts/{host}/services/{service}", token="paris-reader"
    )
    assert status == 200 and detail["state"]["acknowledged"] is True

    status, body = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/remove-acknowledgement",
        {"host": host, "service": service},
        wait="projected",
    )
    assert status == 202 and body["projected"] is True
    status, detail = await deployment.get(
        http_session, "central", f"/api/v1/hosts/{host}/services/{service}"
    )
    assert detail["state"]["acknowledged"] is False


async def test_downtime_comment_and_reschedule(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    host = host_names("lyon")[1]
    now = now_us()
    status, body = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/schedule-downtime",
        {
            "host": host,
            "start_time": now - 1_000_000,
            "end_time": "2100-01-01T00:00:00Z",
            "with_services": True,
            "comment": "maintenance",
        },
        wait="projected",
    )
    assert status == 202 and body["projected"] is True, body
    in_downtime = await walk(deployment, http_session, "/api/v1/services", in_downtime="true")
    assert keys(in_downtime) == {(host, s) for s in SERVICES}
    downtimes = await walk(deployment, http_session, "/api/v1/downtimes", host=host)
    assert len(downtimes) == 1 and downtimes[0]["end_time"] == 4_102_444_800_000_000
    # Before it started, nothing was in downtime: the as-of answer.
    before = await walk(
        deployment, http_session, "/api/v1/services", in_downtime="true", at=str(now - 10_000_000)
    )
    assert before == []

    status, body = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/cancel-downtime",
        {"downtime_id": downtimes[0]["downtime_id"]},
        wait="projected",
    )
    assert status == 202 and body["projected"] is True
    assert await walk(deployment, http_session, "/api/v1/services", in_downtime="true") == []
    assert await walk(deployment, http_session, "/api/v1/downtimes", host=host) == []
    assert (
        len(await walk(deployment, http_session, "/api/v1/downtimes", host=host, all="true")) == 1
    )

    status, body = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/add-comment",
        {"host": host, "text": "disk ordered"},
        wait="projected",
    )
    assert status == 202
    status, detail = await deployment.get(http_session, "central", f"/api/v1/hosts/{host}")
    assert [c["text"] for c in detail["comments"]] == ["disk ordered"]
    comment_id = detail["comments"][0]["comment_id"]
    status, body = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/delete-comment",
        {"comment_id": comment_id},
        wait="projected",
    )
    assert status == 202
    assert await walk(deployment, http_session, "/api/v1/comments", host=host) == []

    status, body = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/reschedule-check",
        {"host": host, "service": "cpu", "next_check": now + 60_000_000},
    )
    assert status == 202 and body["projected"] is None
    assert body["events"][0]["type"] == "CheckRescheduled"


async def test_history_perfdata_replication_digest(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    host = host_names("paris")[2]
    # Two rounds of its own: the second changes every state, whatever earlier tests did.
    for round_ in (1001, 1002):
        await deployment.produce_results(round_, hosts=[host])
    await deployment.wait_projected()
    history = await walk(
        deployment, http_session, f"/api/v1/hosts/{host}/services/cpu/history", limit=2
    )
    times = [h["check_time"] for h in history]
    assert len(history) >= 2 and times == sorted(times, reverse=True)
    assert history[0]["output"] == deployment.latest[(host, "cpu")].output

    status, series = await deployment.get(
        http_session, "central", f"/api/v1/hosts/{host}/services/cpu/perfdata"
    )
    assert status == 200 and series["resolution"] == "raw"
    (value,) = series["series"]
    assert value["label"] == "value" and value["points"]
    latest = deployment.latest[(host, "cpu")]
    assert value["points"][-1] == [
        latest.check_time,
        float(latest.perfdata.split("=")[1].split(";")[0]),
    ]
    status, rolled = await deployment.get(
        http_session,
        "central",
        f"/api/v1/hosts/{host}/services/cpu/perfdata",
        **{"from": str(now_us() - 86_400_000_000)},
    )
    assert rolled["resolution"] == "rollup" and rolled["step"] % 300_000_000 == 0
    samples = sum(p[4] for p in rolled["series"][0]["points"])
    assert samples == len(value["points"])

    status, replication = await deployment.get(http_session, "central", "/api/v1/replication")
    assert status == 200 and [s["site"] for s in replication["sites"]] == [
        "central",
        "lyon",
        "paris",
    ]
    for site in replication["sites"]:
        assert site["connected"] and site["lag"] == 0 and site["partitions"]
        assert site["last_event_time"] is not None

    status, central_digest = await deployment.get(
        http_session, "central", "/api/v1/digest", sites="paris"
    )
    status2, paris_digest = await deployment.get(
        http_session, "paris", "/api/v1/digest", sites="paris", token="paris-reader"
    )
    assert status == status2 == 200
    assert central_digest["digest"] == paris_digest["digest"]
    status, lyon = await deployment.get(http_session, "central", "/api/v1/digest", sites="lyon")
    assert lyon["digest"] != central_digest["digest"]
    # From instant 0 on, the history and perfdata count too, and the nodes still agree.
    whole = {}
    for node, token in (("central", "reader"), ("paris", "paris-reader")):
        status, answer = await deployment.get(
            http_session, node, "/api/v1/digest", sites="paris", since="0", token=token
        )
        assert status == 200 and answer["since"] == 0
        whole[node] = answer["digest"]
    assert whole["central"] == whole["paris"] != central_digest["digest"]
    status, bad = await deployment.get(http_session, "central", "/api/v1/digest", since="soon")
    assert status == 400 and "since" in bad["error"]["message"]


async def test_errors_are_json_4xx(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    bad_queries = [
        ("/api/v1/services", {"limit": "0"}, "limit"),
        ("/api/v1/services", {"limit": "5000"}, "limit"),
        ("/api/v1/services", {"state": "BROKEN"}, "state"),
        ("/api/v1/services", {"cursor": "garbage"}, "cursor"),
        ("/api/v1/services", {"at": "yesterday"}, "at"),
        ("/api/v1/services", {"sort": "colour"}, "sort"),
        ("/api/v1/services", {"acknowledged": "maybe"}, "acknowledged"),
        ("/api/v1/hosts", {"q": "a\x00b"}, "q"),
    ]
    for path, query, named in bad_queries:
        status, body = await deployment.get(http_session, "central", path, **query)
        assert status == 400, (query, body)
        assert named in body["error"]["message"] and body["error"]["code"] == "invalid-request"
    # A cursor of another sort is refused, not misread.
    status, page = await deployment.get(http_session, "central", "/api/v1/services", limit="1")
    status, body = await deployment.get(
        http_session, "central", "/api/v1/services", cursor=page["next_cursor"], sort="state"
    )
    assert status == 400
    status, body = await deployment.get(http_session, "central", "/api/v1/hosts/nope")
    assert status == 404 and body["error"]["code"] == "not-found"
    status, body = await deployment.get(http_session, "central", "/api/v1/nothing-here")
    assert status == 404 and "error" in body
    headers = deployment.headers("operator")
    url = deployment.urls["central"] + "/api/v1/commands/acknowledge"
    async with http_session.post(url, data=b"host=x", headers=headers) as response:
        assert response.status == 415 and "error" in await response.json()
    async with http_session.post(
        url, data=b"{", headers=headers | {"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
    async with http_session.post(
        url, json={"host": "p-000", "colour": 1}, headers=headers
    ) as response:
        assert response.status == 400 and "colour" in (await response.json())["error"]["message"]
    async with http_session.post(url, json={"host": "x" * 300_000}, headers=headers) as response:
        assert response.status == 413 and "error" in await response.json()
    async with http_session.delete(url, headers=headers) as response:
        assert response.status == 405 and "error" in await response.json()
    async with http_session.post(
        url, json={"host": "p-000"}, params={"wait": "projected", "timeout": "999"}, headers=headers
    ) as response:
        assert response.status == 400


async def test_health_and_metrics(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    async with http_session.get(deployment.urls["central"] + "/healthz") as response:
        assert response.status == 200
        assert (await response.json())["sites"] == {
            s: "running" for s in ("central", "lyon", "paris")
        }
    await deployment.get(http_session, "central", "/api/v1/services", limit="3")
    async with http_session.get(deployment.urls["central"] + "/metrics") as response:
        text = await response.text()
    assert 'sitelog_site_lag_events{site="paris"}' in text
    assert 'sitelog_events_applied_total{site="lyon"}' in text
    assert 'sitelog_api_request_seconds_count{method="GET",route="/api/v1/services"}' in text


async def test_answers_match_the_served_document(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    """Schemathesis mostly meets 404s on detail routes (it cannot guess host names), so
    the answers for real subjects are checked against the document here."""
    async with http_session.get(deployment.urls["central"] + "/api/v1/openapi.json") as response:
        document = await response.json()

    def check(component: str, body: Any) -> None:
        schema = dict(document) | {"$ref": f"#/components/schemas/{component}"}
        errors = list(jsonschema_rs.validator_for(schema).iter_errors(body))
        assert not errors, (component, [str(e) for e in errors[:3]])

    host = host_names("paris")[3]
    await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/add-comment",
        {"host": host, "service": "cpu", "text": "t"},
    )
    status, accepted = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/schedule-downtime",
        {
            "host": host,
            "start_time": now_us(),
            "end_time": now_us() + 10**9,
            "fixed": False,
            "duration": 10**8,
        },
        wait="projected",
    )
    check("Accepted", accepted)
    problem = sorted(expected_services(deployment, state={"WARNING"}, site="paris"))[-1]
    status, _ = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/acknowledge",
        {"host": problem[0], "service": problem[1]},
        wait="projected",
    )
    assert status == 202
    page_keys = {"items", "next_cursor", "at"}
    for path, component in [
        (f"/api/v1/hosts/{host}", "Detail"),
        (f"/api/v1/hosts/{host}/services/cpu", "Detail"),
        (f"/api/v1/hosts/{host}/services/cpu/history", "History"),
        (f"/api/v1/hosts/{host}/perfdata", "Perfdata"),
        (f"/api/v1/hosts/{host}/services/disk/perfdata", "Perfdata"),
        ("/api/v1/replication", "Replication"),
        ("/api/v1/digest", "Digest"),
    ]:
        status, body = await deployment.get(http_session, "central", path)
        assert status == 200, (path, body)
        check(component, body)
    for path, item in [
        ("/api/v1/services", "State"),
        ("/api/v1/hosts", "State"),
        ("/api/v1/downtimes", "Downtime"),
        ("/api/v1/comments", "Comment"),
        ("/api/v1/acknowledgements?all=true", "Acknowledgement"),
    ]:
        status, body = await deployment.get(http_session, "central", path)
        assert status == 200 and body["items"], path
        assert set(body) == page_keys
        for entry in body["items"]:
            check(item, entry)
    status, error = await deployment.get(http_session, "central", "/api/v1/hosts/nobody")
    check("Error", error)
