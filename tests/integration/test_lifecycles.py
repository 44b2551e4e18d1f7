"""Lifecycles that are enums and say so: a writer or reader started twice or used after its
stop is a clear error; stopping twice does nothing; a node right after its start does not
claim a lag of 0 while it still has a backlog to project."""

from __future__ import annotations

import asyncio

import pytest

from engine.errors import LifecycleError
from engine.lifecycle import Lifecycle
from engine.log.kafka import KafkaSettings
from engine.log.reader import SiteLogReader
from engine.log.writer import SiteLogWriter
from engine.node.projector import Projector
from engine.node.site_status import SiteState
from engine.poller import simulation
from schemas.event import Event


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def lifecycle(component: SiteLogWriter | SiteLogReader) -> Lifecycle:
    """Read afresh: each call may have moved it (mypy would narrow the attribute)."""
    return component.lifecycle


def test_a_writer_started_twice_or_used_after_stop_says_so(kafka: KafkaSettings, site: str) -> None:
    async def scenario() -> None:
        writer = SiteLogWriter(site, kafka)
        assert lifecycle(writer) is Lifecycle.NEW
        with pytest.raises(LifecycleError, match=f"the writer of sitelog.{site} is not started"):
            _ = writer.producer
        await writer.start()
        assert lifecycle(writer) is Lifecycle.STARTED
        with pytest.raises(LifecycleError, match="is already started"):
            await writer.start()
        await writer.stop()
        await writer.stop()  # twice: nothing
        assert lifecycle(writer) is Lifecycle.STOPPED
        event = next(simulation.events(1, simulation.Traffic(sites=(site,), hosts_per_site=1)))
        with pytest.raises(LifecycleError, match="was stopped"):
            await writer.append(event)
        with pytest.raises(LifecycleError, match="was stopped; make a new one"):
            await writer.start()
        with pytest.raises(LifecycleError, match="was stopped"):
            await writer.ensure_started()

    run(scenario())


def test_a_reader_started_twice_or_used_after_stop_says_so(kafka: KafkaSettings, site: str) -> None:
    async def scenario() -> None:
        reader = SiteLogReader(site, kafka)
        with pytest.raises(LifecycleError, match="is not started"):
            await reader.read(timeout=0.1)
        await reader.start()
        with pytest.raises(LifecycleError, match="is already started"):
            await reader.start()
        await reader.assign()
        assert await reader.read(timeout=0.1) == []
        await reader.stop()
        await reader.stop()
        with pytest.raises(LifecycleError, match="was stopped"):
            await reader.read(timeout=0.1)

    run(scenario())


def test_a_failed_start_leaves_the_writer_new_so_it_may_start_again() -> None:
    async def scenario() -> None:
        unreachable = KafkaSettings("127.0.0.1:1", connect_timeout=0.5)
        writer = SiteLogWriter("paris", unreachable)
        with pytest.raises(Exception, match=r"127\.0\.0\.1:1"):
            await writer.start()
        assert lifecycle(writer) is Lifecycle.NEW
        await writer.stop()

    run(scenario())


def test_a_lag_that_is_not_known_is_not_zero(kafka: KafkaSettings, site: str, pg_dsn: str) -> None:
    """Right after a start, until every partition's log end is read, the lag is unknown."""
    traffic = simulation.Traffic(sites=(site,), hosts_per_site=50, services_per_host=4)
    events: list[Event] = list(simulation.events(20_000, traffic))

    async def scenario() -> list[tuple[int | None, int, SiteState]]:
        async with SiteLogWriter(site, kafka) as writer:
            await writer.append_many(events)
        projector = Projector(pg_dsn, {site: kafka}, schema=f"lag_{site}", max_batch_events=500)
        seen: list[tuple[int | None, int, SiteState]] = []
        status = projector.status[site]
        await projector.start()
        try:
            # Watch every turn of the event loop from the start until caught up.
            while not projector.caught_up():
                seen.append((status.lag, sum(status.committed.values()), status.state))
                await asyncio.sleep(0)
        finally:
            await projector.stop()
        return seen

    seen = run(scenario())
    assert isinstance(seen, list) and seen
    assert seen[0][0] is None, "the lag is unknown before the first log end is read"
    claims = [(lag, done) for lag, done, _ in seen if lag == 0 and done < len(events)]
    assert not claims, f"lag 0 claimed with {claims[0][1]} of {len(events)} committed"
    assert any(lag is not None and lag > 0 for lag, _, _ in seen), "a known backlog is shown"
