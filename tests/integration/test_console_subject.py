"""The console's subject detail page on real nodes (aiohttp client, no browser): what it
shows of a service (state, acknowledgement, downtime with its progress, comment, timeline,
audit trail, the graphs' API link), its live parts served alone, its one-line messages
for an unknown subject, another site's subject and a bad URL, and the audit API."""

from __future__ import annotations

import html
import time
from typing import Any

import aiohttp
import pytest

from tests.support.api_deployment import Deployment
from tests.support.browser import session_cookie

pytestmark = pytest.mark.asyncio(loop_scope="session")

MINUTE = 60_000_000


async def page(
    session: aiohttp.ClientSession, url: str, path: str, cookie: dict[str, str], **headers: str
) -> tuple[int, str]:
    async with session.get(url + path, headers={**cookie, **headers}) as response:
        return response.status, await response.text()


async def command(
    deployment: Deployment, session: aiohttp.ClientSession, name: str, **body: Any
) -> None:
    status, answer = await deployment.post(
        session, "central", f"/api/v1/commands/{name}", body, wait="projected"
    )
    assert status == 202, answer


async def test_a_service_page_shows_its_state_operations_timeline_and_audit(
    deployment: Deployment,
) -> None:
    url = deployment.urls["central"]
    host, service = "p-002", "disk"
    now = int(time.time() * 1_000_000)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        await command(
            deployment, session, "add-comment", host=host, service=service, text="disk swap planned"
        )
        await command(
            deployment,
            session,
            "schedule-downtime",
            host=host,
            service=service,
            start_time=now - 30 * MINUTE,
            end_time=now + 90 * MINUTE,
            fixed=True,
            comment="replacing the disk",
        )
        await command(
            deployment, session, "acknowledge", host=host, service=service, comment="on it, Marie"
        )
        cookie = await session_cookie(url, deployment.secrets["operator"])
        status, text = await page(session, url, f"/hosts/{host}/services/{service}", cookie)
        assert status == 200, text
        latest = deployment.latest[(host, service)]
        assert f'data-state="{latest.state.name}"' in text
        assert html.escape(latest.output) in text
        # The acknowledgement, the downtime and the comment, each with its author.
        assert (
            "on it, Marie" in text and "disk swap planned" in text and "replacing the disk" in text
        )
        # The downtime, the comment and the three entries of the audit trail.
        assert text.count('<td class="author">operator</td>') == 5
        assert 'by <span class="author">operator</span>' in text
        # 30 of 120 minutes gone: a quarter of the way, said in words and drawn.
        assert (
            "in progress, 25%, 1 h 29 min left" in text
            or "in progress, 25%, 1 h 30 min left" in text
        )
        assert '<progress max="100" value="25"' in text
        # The timeline (the first result is a state change) and the audit trail, newest first.
        assert f"{service.upper()} {latest.state.name} round 0" in text
        actions = [
            a
            for a in ("AcknowledgementSet", "DowntimeScheduled", "CommentAdded")
            if f'data-action="{a}"' in text
        ]
        assert actions == ["AcknowledgementSet", "DowntimeScheduled", "CommentAdded"]
        assert text.index('data-action="AcknowledgementSet"') < text.index(
            'data-action="CommentAdded"'
        )
        # The graphs read the API's perfdata; the actions name this one subject.
        assert f'data-perfdata-url="/api/v1/hosts/{host}/services/{service}/perfdata"' in text
        assert (
            f'data-dialog="schedule-downtime" data-host="{host}" data-service="{service}"' in text
        )
        assert 'data-command="cancel-downtime"' in text
        # A live part alone, as htmx asks for it when the stream reports a change.
        status, part = await page(
            session,
            url,
            f"/hosts/{host}/services/{service}",
            cookie,
            **{"HX-Request": "true", "HX-Target": "current"},
        )
        assert status == 200 and "<html" not in part and "on it, Marie" in part
        # A read-only token sees the page without action controls.
        reader = await session_cookie(url, deployment.secrets["reader"])
        status, text = await page(session, url, f"/hosts/{host}/services/{service}", reader)
        assert status == 200 and "on it, Marie" in text
        assert "data-dialog" not in text and "data-command" not in text


async def test_a_host_page_and_its_audit_api(deployment: Deployment) -> None:
    url = deployment.urls["central"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        for n in range(3):
            await command(deployment, session, "add-comment", host="p-004", text=f"host note {n}")
        # Keyset pages, newest first, each entry with its author and payload.
        status, first = await deployment.get(
            session, "central", "/api/v1/hosts/p-004/audit", limit=2
        )
        assert status == 200, first
        assert [i["details"]["text"] for i in first["items"]] == ["host note 2", "host note 1"]
        assert all(
            i["action"] == "CommentAdded" and i["author"] == "operator" for i in first["items"]
        )
        status, second = await deployment.get(
            session, "central", "/api/v1/hosts/p-004/audit", limit=2, cursor=first["next_cursor"]
        )
        assert second["items"][0]["details"]["text"] == "host note 0"
        # Then the host's configuration, older than the comments (the walk ends).
        assert [i["action"] for i in second["items"][1:]] == ["HostDefined"]
        assert second["next_cursor"] is None
        # A host's trail is its own: its services' actions are on their pages.
        status, service_trail = await deployment.get(
            session, "central", "/api/v1/hosts/p-004/services/cpu/audit"
        )
        assert status == 200
        assert [i["action"] for i in service_trail["items"]] == ["ServiceDefined"]
        # Site-checked as the history is: a paris token reads no lyon trail.
        await command(deployment, session, "add-comment", host="l-001", text="lyon note")
        status, lyon = await deployment.get(
            session, "central", "/api/v1/hosts/l-001/audit", token="paris-operator"
        )
        assert status == 200 and lyon["items"] == []
        status, lyon = await deployment.get(session, "central", "/api/v1/hosts/l-001/audit")
        assert [i["action"] for i in lyon["items"]] == ["CommentAdded", "HostDefined"]
        assert lyon["items"][0]["details"]["text"] == "lyon note"
        status, bad = await deployment.get(
            session, "central", "/api/v1/hosts/p-004/audit", cursor="nonsense"
        )
        assert status == 400 and "cursor" in bad["error"]["message"]

        cookie = await session_cookie(url, deployment.secrets["operator"])
        status, text = await page(session, url, "/hosts/p-004", cookie)
        assert status == 200, text
        assert "<h1>Host p-004" in text and "host note 2" in text
        assert 'data-perfdata-url="/api/v1/hosts/p-004/perfdata"' in text


async def test_bad_subjects_and_urls_are_one_line_messages(deployment: Deployment) -> None:
    url = deployment.urls["central"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        cookie = await session_cookie(url, deployment.secrets["paris-operator"])
        cases = [
            (
                "/hosts/p-001/services/nothing",
                404,
                "Unknown service &#39;nothing&#39; of host &#39;p-001&#39;",
            ),
            ("/hosts/no-such-host", 404, "Unknown host &#39;no-such-host&#39;"),
            # A paris token on central: lyon's subjects are not its to see.
            (
                "/hosts/l-001/services/cpu",
                403,
                "belongs to site &#39;lyon&#39;, which this token may not use",
            ),
            (
                "/hosts/p-001/services/cpu?range=2w",
                400,
                "parameter &#39;range&#39;: &#39;2w&#39; is not one of 4h, 1d, 7d, 31d",
            ),
            (
                "/hosts/p-001/services/cpu?from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z",
                400,
                "&#39;from&#39; must be before &#39;to&#39;",
            ),
            (
                "/hosts/p-001/services/cpu?from=yesterday&to=now",
                400,
                "neither microseconds nor an RFC 3339 time",
            ),
            ("/hosts/p-001/services/cpu?cursor=garbage", 400, "not a cursor this API gave"),
            ("/hosts/p-001/services/cpu?zoom=2", 400, "not one of this page&#39;s"),
        ]
        for path, expected, message in cases:
            status, text = await page(session, url, path, cookie)
            assert status == expected, (path, text)
            assert '<p class="message" role="alert">' in text, (path, text)
            assert message.lower() in text.lower(), (path, text)
            assert "Traceback" not in text
        # Without a session, the page sends to the sign-in form.
        async with session.get(f"{url}/hosts/p-001", allow_redirects=False) as anonymous:
            assert (anonymous.status, anonymous.headers["Location"]) == (303, "/signin")
