"""The perfdata API over the rollup tiers: which tier a range reads, and what it answers.

Results of one service over 400 days go through the real log into the central node's
PostgreSQL (every 10 minutes for the last 8 days, every 3 hours before); the same events
folded in memory (``projections.model``) are the reference: its points, its threshold
changes and problem counts, and ``projections.rollups.rollup_rows`` of its points for each
tier, merged into the answer's windows.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import jsonschema_rs
import psycopg
import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from engine.api.series import MAX_BUCKETS, MAX_WINDOWS, RAW_SPAN, plan
from projections.model import InMemoryProjection
from projections.rollups import EXACT, TIERS, TIERS_BY_NAME, Tier, rollup_rows
from projections.rows import PointRow
from projections.tables import (
    PERFDATA_METRICS,
    PERFDATA_POINTS,
    PERFDATA_PROBLEMS,
    PERFDATA_THRESHOLDS,
)
from schemas.event import Event
from schemas.monitoring import ServiceCheckResult
from schemas.types import ServiceState, StateType, now_us
from tests.support.api_deployment import Deployment, start_deployment
from tests.support.retention import KEEP_ALL

#: The async tests share the session's loop, as the deployment does.
asynchronous = pytest.mark.asyncio(loop_scope="session")

MINUTE = 60_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
HOST, SERVICE = "pd-001", "load"
PATH = f"/api/v1/hosts/{HOST}/services/{SERVICE}/perfdata"


@dataclass
class History:
    """What was produced, as of ``now`` (the end of every range asked here)."""

    now: int
    model: InMemoryProjection

    def points(self, label: str) -> list[PointRow]:
        rows = self.model.appended[PERFDATA_POINTS].values()
        return sorted((p for p in rows if p.label == label), key=lambda p: p.check_time)


def check_times(now: int) -> list[int]:
    dense = [now - MINUTE - k * 10 * MINUTE for k in range(8 * 24 * 6)]
    sparse = [t for t in range(now - 400 * DAY, dense[-1], 3 * HOUR)]
    return sorted(sparse + dense)


def perfdata_at(k: int, t: int, now: int) -> str:
    """``load`` with thresholds changing over time, a warn that does not parse now and
    then; ``pct`` with values whose float sums are not exact."""
    load = round(50 + 40 * math.sin(k / 7), 3)
    warn = "80" if t < now - 200 * DAY else "70" if t < now - 3 * DAY else "60"
    if k % 401 == 17:
        warn = "7O"  # a typo, as plugins print: the value is kept, the warn dropped
    return f"load={load};{warn};90;0;100 pct={round(0.1 * (k % 13), 1)}%;;;0;100"


#: Nothing expires: these tests write 400 days of results (the default retention would
#: leave out points older than 8 days) and move the horizons themselves.


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def deployment(pg_dsn: str) -> AsyncIterator[Deployment]:
    """The API deployment (``tests.support.api_deployment``), keeping everything."""
    async with start_deployment(pg_dsn, retention=KEEP_ALL) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def history(deployment: Deployment) -> History:
    now = now_us() // MINUTE * MINUTE
    events = []
    for k, t in enumerate(check_times(now)):
        payload = ServiceCheckResult(
            host_name=HOST,
            service_description=SERVICE,
            state=ServiceState.OK,
            state_type=StateType.HARD,
            attempt=1,
            max_attempts=3,
            output="LOAD OK",
            perfdata=perfdata_at(k, t, now),
            check_time=t,
            poller="poller-paris",
        )
        events.append(
            Event.create(payload, site="paris", origin="poller-paris", clock=deployment.clock)
        )
    for i in range(0, len(events), 1000):
        await deployment.writers["paris"].append_many(events[i : i + 1000])
    await deployment.wait_projected()
    model = InMemoryProjection()
    model.apply_batch(events)
    return History(now, model)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def document(deployment: Deployment) -> AsyncIterator[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(deployment.urls["central"] + "/api/v1/openapi.json") as response,
    ):
        yield await response.json()


async def ask(
    deployment: Deployment, session: aiohttp.ClientSession, document: dict[str, Any], **query: Any
) -> dict[str, Any]:
    status, body = await deployment.get(
        session, "central", PATH, **{k: str(v) for k, v in query.items()}
    )
    assert status == 200, body
    schema = dict(document) | {"$ref": "#/components/schemas/Perfdata"}
    errors = [str(e) for e in jsonschema_rs.validator_for(schema).iter_errors(body)]
    assert not errors, errors[:3]
    assert isinstance(body, dict)
    return body


def expected_windows(
    points: list[PointRow], tier: Tier, start: int, end: int, step: int
) -> list[list[Any]]:
    """The tier's buckets (the reference's) starting in the range, merged into windows of
    ``step`` from the first bucket boundary at or after ``start``."""
    origin = -(-start // tier.bucket) * tier.bucket
    windows: dict[int, list[Any]] = {}
    for (_, _, _, bucket), row in sorted(rollup_rows(points, tier).items()):
        if not origin <= bucket < end:
            continue
        t = origin + (bucket - origin) // step * step
        w = windows.setdefault(t, [t, None, None, None, 0, None, -1])
        w[4] += row.samples
        w[1] = row.sum if w[1] is None else EXACT.add(w[1], row.sum)
        w[2] = row.min if w[2] is None else min(w[2], row.min)
        w[3] = row.max if w[3] is None else max(w[3], row.max)
        if row.last_time > w[6]:
            w[5], w[6] = row.last_value, row.last_time
    # avg = sum / samples, the exact sum divided, then the nearest float.
    return [
        [t, float(EXACT.divide(s, n)), lo, hi, n, last]
        for t, s, lo, hi, n, last, _ in windows.values()
    ]


@pytest.mark.parametrize(
    ("span", "step", "tier", "window"),
    [
        (7 * DAY, None, "5m", 15 * MINUTE),  # 2016 buckets: 1000 windows at most
        (7 * DAY, HOUR, "5m", HOUR),  # a step merging 12 buckets
        (31 * DAY, None, "1h", HOUR),  # 744 buckets
        (31 * DAY, 90 * MINUTE, "1h", 2 * HOUR),  # rounded up to the tier's bucket
        (365 * DAY, None, "1d", DAY),  # 365 buckets
        (365 * DAY, 7 * DAY, "1d", 7 * DAY),
    ],
)
@asynchronous
async def test_a_range_reads_the_tier_that_fits_and_equals_the_reference(
    deployment: Deployment,
    http_session: aiohttp.ClientSession,
    document: dict[str, Any],
    history: History,
    span: int,
    step: int | None,
    tier: str,
    window: int,
) -> None:
    start, end = history.now - span + 7 * MINUTE, history.now  # not on a bucket boundary
    query = {"from": start, "to": end} | ({"step": step} if step else {})
    body = await ask(deployment, http_session, document, **query)
    assert (body["resolution"], body["tier"], body["step"]) == ("rollup", tier, window)
    by_label = {s["label"]: s for s in body["series"]}
    assert set(by_label) == {"load", "pct"}
    for label, series in by_label.items():
        assert series["columns"] == ["t", "avg", "min", "max", "samples", "last"]
        expected = expected_windows(history.points(label), TIERS_BY_NAME[tier], start, end, window)
        assert series["points"] == expected, label
        # The results are every 3 hours at most: each window of 3 hours or more has some.
        covered = span if window >= 3 * HOUR else min(span, 8 * DAY)  # the dense part
        assert len(expected) >= covered // window - 1
        assert len(series["points"]) <= MAX_WINDOWS
    if span == 365 * DAY:
        # A year's graph reads a few thousand values at most (here 365 windows a label).
        values = sum(len(p) for s in body["series"] for p in s["points"])
        assert values <= 6 * 2 * 366, values


@asynchronous
async def test_a_short_range_reads_raw_points(
    deployment: Deployment,
    http_session: aiohttp.ClientSession,
    document: dict[str, Any],
    history: History,
) -> None:
    start, end = history.now - 4 * HOUR, history.now
    body = await ask(deployment, http_session, document, **{"from": start, "to": end})
    assert (body["resolution"], body["tier"], body["step"]) == ("raw", None, None)
    (series,) = [s for s in body["series"] if s["label"] == "load"]
    assert series["columns"] == ["t", "value"]
    expected = [
        [p.check_time, p.value] for p in history.points("load") if start <= p.check_time < end
    ]
    assert series["points"] == expected and len(expected) == 24
    # A step of 5 minutes or more asks for a tier, even over 4 hours.
    body = await ask(
        deployment, http_session, document, **{"from": start, "to": end, "step": 5 * MINUTE}
    )
    assert (body["resolution"], body["tier"], body["step"]) == ("rollup", "5m", 5 * MINUTE)
    # One label only.
    body = await ask(
        deployment, http_session, document, **{"from": start, "to": end, "label": "pct"}
    )
    assert [s["label"] for s in body["series"]] == ["pct"]


async def set_horizons(pg_dsn: str, schema: str, horizons: Mapping[str, int | None]) -> None:
    """Move the retention horizons as expiry would (without dropping anything: a tier
    whose horizon is past a range's start must not be read for it, even if it has rows)."""
    table = sql.Identifier(schema, "retention")
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        for name, kept_from in horizons.items():
            if kept_from is None:
                await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE table_name = %s").format(table), [name]
                )
            else:
                await conn.execute(
                    sql.SQL(
                        "INSERT INTO {} VALUES (%s, %s) ON CONFLICT (table_name)"
                        " DO UPDATE SET kept_from = EXCLUDED.kept_from"
                    ).format(table),
                    [name, kept_from],
                )


@asynchronous
async def test_a_range_older_than_a_tiers_horizon_reads_a_coarser_tier(
    deployment: Deployment,
    http_session: aiohttp.ClientSession,
    document: dict[str, Any],
    history: History,
    pg_dsn: str,
) -> None:
    schema = deployment.central.config.schema
    start, end = history.now - 7 * DAY, history.now
    cases = [
        ({"perfdata_5m": end - 2 * DAY}, "1h"),
        ({"perfdata_5m": end - 2 * DAY, "perfdata_1h": end - 3 * DAY}, "1d"),
        # None holds the start: the one holding the most of the range.
        ({"perfdata_5m": end - 2 * DAY, "perfdata_1h": end - 5 * DAY, "perfdata_1d": end}, "1h"),
    ]
    try:
        for horizons, tier in cases:
            await set_horizons(pg_dsn, schema, horizons)
            body = await ask(deployment, http_session, document, **{"from": start, "to": end})
            assert (body["resolution"], body["tier"]) == ("rollup", tier), horizons
            (load,) = [s for s in body["series"] if s["label"] == "load"]
            bucket = TIERS_BY_NAME[tier].bucket
            window = max(bucket, -(-(end - start) // MAX_WINDOWS // bucket) * bucket)
            assert body["step"] == window
            assert load["points"] == expected_windows(
                history.points("load"), TIERS_BY_NAME[tier], start, end, window
            )
        # Raw points expired past the start of 4 hours: the 5-minute tier answers.
        await set_horizons(pg_dsn, schema, {"perfdata_points": end - HOUR, "perfdata_5m": None})
        body = await ask(deployment, http_session, document, **{"from": end - 4 * HOUR, "to": end})
        assert (body["resolution"], body["tier"]) == ("rollup", "5m")
    finally:
        await set_horizons(
            pg_dsn, schema, {t: None for t in ("perfdata_points", *(x.table.name for x in TIERS))}
        )


@asynchronous
async def test_series_carry_thresholds_history_and_problems(
    deployment: Deployment,
    http_session: aiohttp.ClientSession,
    document: dict[str, Any],
    history: History,
) -> None:
    start, end = history.now - 365 * DAY, history.now
    body = await ask(deployment, http_session, document, **{"from": start, "to": end})
    by_label = {s["label"]: s for s in body["series"]}
    model = history.model
    for label, series in by_label.items():
        key = (HOST, SERVICE, label)
        metric = model.registers[PERFDATA_METRICS][key]
        assert (series["unit"], series["warn"], series["crit"], series["min"], series["max"]) == (
            metric.unit,
            metric.warn,
            metric.crit,
            metric.min,
            metric.max,
        )
        changes = sorted(
            (r for r in model.appended[PERFDATA_THRESHOLDS].values() if r.label == label),
            key=lambda r: r.since,
        )
        in_force = [r for r in changes if r.since <= start][-1:]
        expected = [
            {
                "since": r.since,
                "unit": r.unit,
                "warn": r.warn,
                "crit": r.crit,
                "min": r.min,
                "max": r.max,
            }
            for r in in_force + [r for r in changes if start < r.since < end]
        ]
        assert series["thresholds"] == expected, label
    # load's warn went 80 -> 70 -> 60, and was dropped (then back) at every typo.
    warns = [t["warn"] for t in by_label["load"]["thresholds"]]
    assert warns[0] == "80" and "70" in warns and warns[-1] == "60" and None in warns
    assert len(by_label["pct"]["thresholds"]) == 1 and by_label["pct"]["problems"] is None
    count = model.derived[PERFDATA_PROBLEMS][(HOST, SERVICE, "load")]
    assert by_label["load"]["problems"] == {
        "points": count.points,
        "last_time": count.last_time,
        "last_problem": count.last_problem,
    }
    assert count.points >= 5 and "7O" in count.last_problem


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00Z"}, "to"),
        ({"from": "-5"}, "from"),
        ({"step": "0"}, "step"),
        ({"step": "5m"}, "step"),
        ({"from": "2000", "to": "1000"}, "from"),
    ],
)
@asynchronous
async def test_bad_ranges_and_steps_are_400_naming_the_parameter(
    deployment: Deployment, http_session: aiohttp.ClientSession, query: dict[str, str], named: str
) -> None:
    status, body = await deployment.get(http_session, "central", PATH, **query)
    assert status == 400, body
    assert body["error"]["code"] and f"'{named}'" in body["error"]["message"]
    assert "\n" not in body["error"]["message"]


@given(
    start=st.integers(0, 2**50),
    span=st.integers(1, 20 * 365 * DAY),
    asked=st.none() | st.integers(1, 400 * DAY),
    horizons=st.dictionaries(
        st.sampled_from([PERFDATA_POINTS.name, *(t.table.name for t in TIERS)]),
        st.integers(0, 2**51),
    ),
)
def test_every_plan_is_bounded_and_prefers_the_finest_tier_holding_the_start(
    start: int, span: int, asked: int | None, horizons: dict[str, int]
) -> None:
    end = start + span
    how = plan(start, end, asked, horizons)
    bucket = how.tier.bucket
    assert how.step % bucket == 0 and how.step >= max(asked or 0, bucket)
    assert how.origin % bucket == 0 and start <= how.origin < start + bucket
    assert -(-(end - how.origin) // how.step) <= MAX_WINDOWS
    if how.raw:
        assert span <= RAW_SPAN and (asked is None or asked < TIERS[0].bucket)
    fits = [t for t in TIERS if -(-span // t.bucket) <= MAX_BUCKETS]
    holding = [t for t in fits if horizons.get(t.table.name, 0) <= start]
    if holding:
        assert how.tier == holding[0]
    else:
        assert how.tier in (fits or [TIERS[-1]])
        oldest = min(horizons.get(t.table.name, 0) for t in (fits or [TIERS[-1]]))
        assert horizons.get(how.tier.table.name, 0) == oldest
