"""The live change stream over real HTTP: filtered, and resumed without loss."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.api_deployment import SERVICES, Deployment, host_names

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Frame:
    id: str | None
    event: str
    data: Any


async def frames(response: aiohttp.ClientResponse) -> AsyncIterator[Frame]:
    """Server-Sent Events frames, as an EventSource would dispatch them."""
    fields: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 20)).decode()
        assert line, "the stream ended"
        line = line.rstrip("\n")
        if not line:
            if "data" in fields:
                yield Frame(
                    fields.get("id"), fields.get("event", "message"), orjson.loads(fields["data"])
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def read_until(
    stream: AsyncIterator[Frame], done: Any, seen: list[Frame], timeout: float = 30
) -> None:
    async def run() -> None:
        async for frame in stream:
            seen.append(frame)
            if done(seen):
                return

    await asyncio.wait_for(run(), timeout)


def paris_outputs(frames_seen: list[Frame], round_: int) -> set[tuple[str, str]]:
    return {
        (f.data["host"], f.data["service"] or "")
        for f in frames_seen
        if f.event == "state" and f.data["output"].endswith(f"round {round_}")
    }


async def test_stream_filters_and_resumes_without_loss(deployment: Deployment) -> None:
    paris_subjects = {(h, s) for h in host_names("paris") for s in ("", *SERVICES)}
    url = deployment.urls["central"] + "/api/v1/stream"
    query = {"types": "state,acknowledgement", "site": "paris"}
    async with aiohttp.ClientSession(headers=deployment.headers("reader")) as http_session:
        async with http_session.get(url, params=query) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            stream = frames(response)
            hello = await anext(stream)
            assert hello.event == "hello" and hello.id
            seen: list[Frame] = []
            await deployment.produce_results(1)
            await read_until(stream, lambda s: paris_outputs(s, 1) >= paris_subjects, seen)
            last_id = seen[-1].id
        assert {f.data["site"] for f in seen} == {"paris"}
        assert {f.event for f in seen} == {"state"}

        # Away: results of both sites, and an acknowledgement, go by.
        await deployment.produce_results(2)
        host = host_names("paris")[0]
        status, _ = await deployment.post(
            http_session,
            "central",
            "/api/v1/commands/acknowledge",
            {"host": host, "service": "cpu", "comment": "away"},
            wait="projected",
        )
        assert status == 202
        await deployment.wait_projected()

        async with http_session.get(
            url, params=query, headers={"Last-Event-ID": last_id or ""}
        ) as response:
            stream = frames(response)
            first = await anext(stream)
            assert first.event == "hello" and first.id == last_id
            missed: list[Frame] = []

            def complete(s: list[Frame]) -> bool:
                acks = [f for f in s if f.event == "acknowledgement"]
                return paris_outputs(s, 2) >= paris_subjects and bool(acks)

            await read_until(stream, complete, missed)
        assert {f.data["site"] for f in missed} == {"paris"}
        numbers = [int((f.id or "").split("-")[1]) for f in missed]
        assert numbers == sorted(numbers) and numbers[0] > int((last_id or "").split("-")[1])
        ack = next(f for f in missed if f.event == "acknowledgement")
        assert (ack.data["host"], ack.data["service"], ack.data["comment"]) == (host, "cpu", "away")

        # An id the feed cannot resume from is answered with a reset, never a silent gap.
        async with http_session.get(
            url, params=query, headers={"Last-Event-ID": "deadbeef-12"}
        ) as response:
            first = await anext(frames(response))
            assert first.event == "reset" and "not from this node" in first.data["reason"]


async def test_stream_refuses_bad_filters(deployment: Deployment) -> None:
    async with aiohttp.ClientSession(headers=deployment.headers("reader")) as http_session:
        for query in ({"types": "weather"}, {"state": "PURPLE"}):
            async with http_session.get(
                deployment.urls["central"] + "/api/v1/stream", params=query
            ) as response:
                assert response.status == 400
                assert (await response.json())["error"]["code"] == "invalid-request"
