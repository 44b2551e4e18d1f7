"""Console sign-in on a real node: an API token becomes an HttpOnly, SameSite=Strict session
cookie; the landing page needs it; a forged, expired or cross-site request is a message on
the page; sign-out ends the session. (Browser tests come with the console's pages.)"""

from __future__ import annotations

import re
import time

import aiohttp
import pytest

from engine.api.sessions import COOKIE, issue
from tests.support.api_deployment import Deployment

pytestmark = pytest.mark.asyncio(loop_scope="session")


def jar_free() -> aiohttp.ClientSession:
    # No cookie jar: each test says exactly which cookie it sends.
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


async def sign_in(
    session: aiohttp.ClientSession, url: str, secret: str, origin: str | None = None
) -> aiohttp.ClientResponse:
    headers = {} if origin == "" else {"Origin": origin or url}
    return await session.post(
        f"{url}/signin", data={"token": secret}, headers=headers, allow_redirects=False
    )


async def test_a_token_becomes_a_session_cookie_and_opens_the_console(
    deployment: Deployment,
) -> None:
    url = deployment.urls["paris"]
    async with jar_free() as session:
        async with session.get(f"{url}/", allow_redirects=False) as anonymous:
            assert (anonymous.status, anonymous.headers["Location"]) == (303, "/signin")
        async with session.get(f"{url}/signin") as page:
            html = await page.text()
            assert page.status == 200 and 'name="token"' in html and 'type="password"' in html
            # Nothing from another origin: every src and href is the node's own.
            refs = re.findall(r'(?:src|href)="([^"]*)"', html)
            assert all(ref.startswith(("/", "#")) for ref in refs)
        secret = deployment.secrets["paris-local"]
        async with await sign_in(session, url, secret) as answer:
            assert (answer.status, answer.headers["Location"]) == (303, "/")
            cookie = answer.cookies[COOKIE]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            assert int(cookie["max-age"]) > 3600 and cookie["path"] == "/"
            assert secret not in cookie.value, "the token's secret is not in the cookie"
        headers = {"Cookie": f"{COOKIE}={cookie.value}"}
        async with session.get(f"{url}/", headers=headers, allow_redirects=False) as home:
            html = await home.text()
            assert home.status == 200 and "<h1>Problems</h1>" in html
            assert '<span class="who">paris-local</span>' in html
            assert home.headers["Cache-Control"] == "no-store"
        # The session reads the API as its token does, and acts through it only from the
        # node's own pages: a POST without this origin is refused, and appends nothing.
        async with session.get(f"{url}/api/v1/hosts", headers=headers) as api:
            assert api.status == 200 and (await api.json())["items"]
        ends = await deployment.log_ends()
        command = f"{url}/api/v1/commands/add-comment"
        body = {"host": "p-001", "text": "from the console's session"}
        for origin in ({}, {"Origin": "http://elsewhere.example"}):
            async with session.post(command, json=body, headers={**headers, **origin}) as post:
                assert post.status == 403
                assert (await post.json())["error"]["code"] == "cross-site"
        assert await deployment.log_ends() == ends
        async with session.post(command, json=body, headers={**headers, "Origin": url}) as post:
            assert post.status == 202


async def test_unknown_tokens_and_cross_site_forms_are_refused_on_the_page(
    deployment: Deployment,
) -> None:
    url = deployment.urls["central"]
    async with jar_free() as session:
        async with await sign_in(session, url, "slt_not-a-token") as unknown:
            assert unknown.status == 200 and "Unknown token." in await unknown.text()
            assert COOKIE not in unknown.cookies
        secret = deployment.secrets["reader"]
        for origin in ("https://evil.example", ""):
            async with await sign_in(session, url, secret, origin) as cross:
                assert cross.status == 403 and COOKIE not in cross.cookies
                assert "not sent from this console" in await cross.text()
        async with session.post(
            f"{url}/signout", headers={"Origin": "https://evil.example"}, allow_redirects=False
        ) as signout:
            assert signout.status == 403


async def test_forged_or_expired_sessions_say_so_and_sign_out_ends_one(
    deployment: Deployment,
) -> None:
    url = deployment.urls["central"]
    token = deployment.central.config.tokens[0]
    expired = issue(token, time.time() - 10, ttl=5)
    forged = expired[:-1] + ("1" if expired.endswith("0") else "0")
    async with jar_free() as session:
        for value, reason in ((expired, "expired"), (forged, "invalid")):
            headers = {"Cookie": f"{COOKIE}={value}"}
            async with session.get(f"{url}/", headers=headers, allow_redirects=False) as answer:
                assert answer.headers["Location"] == f"/signin?reason={reason}"
            async with session.get(url + answer.headers["Location"]) as page:
                assert "sign in again" in await page.text()
        async with await sign_in(session, url, deployment.secrets["reader"]) as answer:
            cookie = answer.cookies[COOKIE].value
        async with session.post(
            f"{url}/signout",
            headers={"Origin": url, "Cookie": f"{COOKIE}={cookie}"},
            allow_redirects=False,
        ) as out:
            assert out.status == 303 and out.headers["Location"] == "/signin?reason=signed-out"
            assert out.cookies[COOKIE].value == "" and out.cookies[COOKIE]["max-age"] == "0"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"token=%ff%fe"),
        ("application/x-www-form-urlencoded", b"\xff\xfe=\x00"),
        ("multipart/form-data; boundary=x", b"--x\r\nnot a part\r\n"),
        ("application/json", b'{"token": 1}'),
        ("text/plain", b"\x00" * 100),
    ],
)
async def test_a_malformed_sign_in_form_is_a_message_not_a_failure(
    deployment: Deployment, content_type: str, body: bytes
) -> None:
    url = deployment.urls["paris"]
    async with (
        jar_free() as session,
        session.post(
            f"{url}/signin",
            data=body,
            headers={"Origin": url, "Content-Type": content_type},
            allow_redirects=False,
        ) as answer,
    ):
        assert 400 <= answer.status < 500, answer.status
        assert COOKIE not in answer.cookies
        assert answer.headers["Content-Type"].startswith(("text/html", "application/json"))
