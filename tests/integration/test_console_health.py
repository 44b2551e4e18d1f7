"""The console's health strip, replication page and pools page on real nodes (aiohttp
client, no browser): they show what ``/api/v1/replication`` and ``/api/v1/pools`` answer;
a cut link raises the banner with since when and how far behind, which goes once the
node has caught up; bad parameters and ended sessions are messages, never tracebacks."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import aiohttp
import pytest

from engine.api.sessions import COOKIE, issue
from projections.assignment import assign
from schemas.types import MICROS_PER_SECOND, now_us
from tests.support.api_deployment import Deployment
from tests.support.browser import session_cookie
from tests.support.health_deployment import (
    DEVICES,
    SERVERS,
    cut_deployment,
    pool_world,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

FRAGMENT = {"HX-Request": "true"}


async def page(url: str, path: str, cookie: dict[str, str], **headers: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.get(url + path, headers={**cookie, **headers}, allow_redirects=False) as answer,
    ):
        return answer.status, await answer.text()


def text_of(markup: str) -> str:
    """The page's words, tags dropped and spaces collapsed: what a person reads."""
    words = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup))).strip()
    return re.sub(r" ([,.;)])", r"\1", words)


def badges(markup: str) -> dict[str, str]:
    """Site -> the words of its badge in the health strip."""
    found = re.findall(r'<li class="health-badge[^"]*" data-site="([^"]+)".*?</li>', markup, re.S)
    items = re.findall(r'<li class="health-badge[^"]*" data-site="[^"]+".*?</li>', markup, re.S)
    return {site: text_of(item) for site, item in zip(found, items, strict=True)}


def banner(markup: str) -> str | None:
    match = re.search(r'<div class="health-banner" role="alert".*?</div>', markup, re.S)
    return None if match is None else text_of(match.group(0))


async def api(url: str, path: str, secret: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + path, headers={"Authorization": f"Bearer {secret}"}) as answer,
    ):
        assert answer.status == 200
        return await answer.json()


async def test_the_strip_and_the_replication_page_show_the_apis_answer(
    deployment: Deployment,
) -> None:
    url = deployment.urls["central"]
    cookie = await session_cookie(url, deployment.secrets["reader"])
    # Two records that do not decode: dead letters of lyon.
    writer = deployment.writers["lyon"]
    await writer.acknowledged(
        [await writer.send_raw(b"l-000", b"not avro"), await writer.send_raw(b"l-001", b"\x00")]
    )
    await deployment.wait_projected()
    assert deployment.central.status["lyon"].dead_letters == 2

    status, strip = await page(url, "/health", cookie, **FRAGMENT)
    assert status == 200
    assert banner(strip) is None, "every site is connected and caught up: no banner"
    shown = badges(strip)
    assert set(shown) == {"central", "lyon", "paris"}
    for site, words in shown.items():
        assert words.startswith(f"{site} connected, lag 0, last event "), words

    body = await api(url, "/api/v1/replication", deployment.secrets["reader"])
    status, replication = await page(url, "/replication", cookie)
    assert status == 200 and "<h1>Replication</h1>" in replication
    assert 'aria-current="page">Replication' in replication
    for site in body["sites"]:
        section = replication.split(f'id="site-{site["site"]}"', 1)[1].split("</section>", 1)[0]
        rows = [text_of(r) for r in re.findall(r"<tr>\s*<th scope=.row.>.*?</tr>", section, re.S)]
        expected = [
            f"{p['partition']} {p['stored_offset']} {p['log_end']} {p['lag']}"
            for p in site["partitions"]
        ]
        assert [" ".join(r.split()[:4]) for r in rows] == expected
    letters = text_of(replication.split('id="letters-title"', 1)[1])
    assert "2 in all" in letters and "bad-magic" in letters
    assert len(re.findall(r"<td>lyon</td>", replication)) == 2

    # The live part alone, for htmx; a filter and a limit on the dead letters.
    live = {**FRAGMENT, "HX-Target": "replication"}
    status, part = await page(url, "/replication?site=lyon&limit=1", cookie, **live)
    assert status == 200 and "<h1>" not in part
    assert "2 of lyon, the first 1 shown" in text_of(part)
    # A token limited to paris lists none of lyon's dead letters, and may not ask for them.
    limited = await session_cookie(url, deployment.secrets["paris-operator"])
    status, replication = await page(url, "/replication", limited)
    assert status == 200 and "0 of paris" in text_of(replication)
    status, refused = await page(url, "/replication?site=lyon", limited)
    assert status == 403 and "which this token may not use" in refused

    # On a remote node, central's badge is the node's link to central.
    paris_url = deployment.urls["paris"]
    status, strip = await page(
        paris_url, "/health", await session_cookie(paris_url, deployment.secrets["paris-reader"])
    )
    assert status == 200
    assert [w.split(" connected")[0] for w in badges(strip).values()] == [
        "link to central",
        "paris",
    ]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/replication?limit=0", "parameter 'limit': 0 is not in [1, 1000]"),
        ("/replication?limit=many", "parameter 'limit': 'many' is not an integer"),
        ("/replication?site=nowhere", "'nowhere' is not a site this node follows"),
        ("/replication?sort=lag", "parameter 'sort': not a parameter of this page"),
        ("/replication?limit=1&limit=2", "parameter 'limit': given 2 times"),
        ("/pools?at=yesterday", "'at': 'yesterday' is neither microseconds nor an RFC 3339"),
        ("/pools?pool=x", "parameter 'pool': not a parameter of this page"),
    ],
)
async def test_a_bad_parameter_is_a_message_on_the_page(
    deployment: Deployment, path: str, words: str
) -> None:
    url = deployment.urls["central"]
    cookie = await session_cookie(url, deployment.secrets["reader"])
    status, markup = await page(url, path, cookie)
    assert status == 400
    message = re.search(r'<p class="message" role="alert">(.*?)</p>', markup, re.S)
    assert message is not None and words.lower() in html.unescape(message.group(1)).lower()
    assert "Traceback" not in markup
    # Asked by htmx (a refresh of the live part), the message goes to the message area.
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.get(url + path, headers={**cookie, **FRAGMENT}) as answer,
    ):
        assert answer.status == 200 and answer.headers["HX-Retarget"] == "#message"
        assert words.lower() in html.unescape(await answer.text()).lower()


async def test_without_a_valid_session_the_pages_send_to_sign_in(deployment: Deployment) -> None:
    url = deployment.urls["central"]
    expired = issue(deployment.central.config.tokens[0], time.time() - 10, ttl=5)
    for path in ("/health", "/replication", "/pools"):
        status, _ = await page(url, path, {})
        assert status == 303
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
            http.get(
                url + path,
                headers={"Cookie": f"{COOKIE}={expired}", **FRAGMENT},
                allow_redirects=False,
            ) as answer,
        ):
            # The 5-second poll of an expired session takes the whole page to sign-in.
            assert answer.status == 200
            assert answer.headers["HX-Redirect"] == "/signin?reason=expired"


async def test_the_pools_page_shows_the_pools_as_the_api_answers(deployment: Deployment) -> None:
    await pool_world(deployment)
    url = deployment.urls["central"]
    cookie = await session_cookie(url, deployment.secrets["reader"])
    status, markup = await page(url, "/pools", cookie)
    assert status == 200 and "<h1>Pools</h1>" in markup
    body = await api(url, "/api/v1/pools", deployment.secrets["reader"])
    sections = dict(re.findall(r'data-pool="([^"]+)">(.*?)</section>', markup, re.S))
    assert list(sections) == [p["name"] for p in body["pools"]]

    network = text_of(sections["Network"])
    assert "Membership manual" in network and "network devices" in network
    assert "has quorum 2 of 3 votes available, 2 needed" in network
    assert "May still fail 0 voters (1 with every voter up)" in network
    assert "Targets 12 of 12 running" in network
    voters = {
        server: text_of(row)
        for server, row in re.findall(
            r'<tr data-server="([^"]+)">(.*?)</tr>', sections["Network"], re.S
        )
    }
    assert voters["ms-1"].startswith("ms-1 management server member available")
    assert voters["ms-1"].endswith("none")
    assert voters["ms-2"].endswith("missing ab12")
    assert "unavailable no lease yet missing ab12" in voters["ms-3"]
    owners = assign(DEVICES, SERVERS[:2])
    runs = sections["Network"].split('class="list pool-runs"', 1)[1]
    for server in SERVERS[:2]:
        mine = sorted(t for t, o in owners.items() if o == server)
        row = re.search(rf"<th scope=\"row\">{server}</th>(.*?)</tr>", runs, re.S)
        assert row is not None and text_of(row.group(1)) == f"{len(mine)} {', '.join(mine)}"

    # The built-in pool holds every management server, and central's default observer.
    everyone = next(p for p in body["pools"] if p["builtin"] and p["members"])
    words = text_of(sections[everyone["name"]])
    assert "Membership automatic (built in)" in words
    assert "default observer central observer available" in words
    assert f"{everyone['available_votes']} of {everyone['votes']} votes available" in words

    # As of an instant before the leases: no quorum, and why nothing runs.
    status, before = await page(url, f"/pools?at={now_us() - 3600 * MICROS_PER_SECOND}", cookie)
    network = text_of(before.split('data-pool="Network">', 1)[1].split("</section>", 1)[0])
    assert "no quorum 0 of 3 votes available, 2 needed" in network
    assert "Why not everything runs: no quorum" in network and "no one 12" in network
    assert 'hx-trigger="every 10s' not in before, "a fixed instant is not refreshed"

    # Pools are central's configuration: a remote node says so.
    paris_url = deployment.urls["paris"]
    paris = await session_cookie(paris_url, deployment.secrets["paris-reader"])
    status, markup = await page(paris_url, "/pools", paris)
    assert status == 200 and "Pools are configured on central" in markup


async def test_a_cut_link_raises_the_banner_until_the_node_has_caught_up(pg_dsn: str) -> None:
    async with cut_deployment(pg_dsn) as d:
        central, paris = d.urls["central"], d.urls["paris"]
        central_cookie = await session_cookie(central, d.secrets["central-reader"])
        paris_cookie = await session_cookie(paris, d.secrets["paris-reader"])
        before = await api(central, "/api/v1/replication", d.secrets["central-reader"])

        cut = time.time()
        d.cut()
        await d.append_paris(300)  # paris keeps monitoring: central falls behind
        # The default knobs notice a cut within a probe (every 2 s, up to 5 s each).
        assert await d.central.projector.wait_until(
            lambda: d.central.status["paris"].state == "disconnected", 20
        ), "central never noticed the cut"
        noticed = time.time() - cut
        assert await d.paris.projector.wait_until(
            lambda: d.paris.status["central"].state == "disconnected", 20
        )
        _, strip = await page(central, "/health", central_cookie, **FRAGMENT)
        alarm = banner(strip)
        assert alarm is not None and alarm.startswith("Site paris: disconnected since "), alarm
        assert re.search(r"\(\d+ s\), 0 events behind as of its last known log end \(", alarm)
        assert badges(strip)["paris"].startswith("paris disconnected, lag 0")
        assert badges(strip)["central"].startswith("central connected")
        _, strip = await page(paris, "/health", paris_cookie, **FRAGMENT)
        alarm = banner(strip)
        assert alarm is not None and alarm.startswith("Link to central: disconnected since ")
        # The API's answer keeps its shape: the outage's start is the console's addition.
        during = await api(central, "/api/v1/replication", d.secrets["central-reader"])
        assert during.keys() == before.keys()
        assert [s.keys() for s in during["sites"]] == [s.keys() for s in before["sites"]]
        assert next(s for s in during["sites"] if s["site"] == "paris")["connected"] is False

        d.restore()
        await d.wait_projected(120)
        # Caught up: the next probe (every 2 s) ends the outage, and the banner goes.
        assert await d.central.projector.wait_until(
            lambda: d.central.status["paris"].disconnected_since is None, 30
        )
        assert await d.paris.projector.wait_until(
            lambda: d.paris.status["central"].disconnected_since is None, 30
        )
        for url, cookie in ((central, central_cookie), (paris, paris_cookie)):
            _, strip = await page(url, "/health", cookie, **FRAGMENT)
            assert banner(strip) is None, strip
            assert all(" connected, lag 0" in w for w in badges(strip).values()), badges(strip)
        print(f"central noticed the cut after {noticed:.1f}s")
