"""The problems query against a real PostgreSQL holds the triage rule for any history: the
problems are every state that is not OK or UP, unhandled first (by the Python as-of
rules, ``projections.asof``), worst and oldest first; keyset pages of any size walk the
same list; the counts are the Python counts."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import psycopg
from hypothesis import given
from hypothesis import strategies as st

from engine.api import queries, views
from engine.api.problems import RANK, SEVERITY
from projections import asof
from projections.model import InMemoryProjection
from projections.rows import DowntimeRow, HistoryRow, StateRow
from projections.tables import ACKNOWLEDGEMENTS, DOWNTIMES, STATE_HISTORY, STATES
from tests.integration.test_projection_postgres import PG_SETTINGS, write_in_batches
from tests.support.scenarios import START, STEP, Scenario, scenarios

Problem = tuple[str, str, bool]


def expected(model: InMemoryProjection, at: int) -> tuple[list[Problem], Counter[Any]]:
    """The problems in triage order, and the counts, by the pure rules."""
    rows = model.rows()
    downtimes = [DowntimeRow._make(r) for r in rows[DOWNTIMES.name]]
    history = [HistoryRow._make(r) for r in rows[STATE_HISTORY.name]]
    state = model.state
    keyed, counts = [], Counter[Any]()
    for raw in rows[STATES.name]:
        row = StateRow._make(raw)
        key = (row.host_name, row.service_description)
        ack = asof.acknowledged(state.get(ACKNOWLEDGEMENTS, key), row, at)
        down = asof.in_downtime(*key, downtimes, history, at)
        handled = ack or down
        counts[(row.service_description == "", row.state, "total")] += 1
        if row.state == 0:
            continue
        if not handled:
            counts[(row.service_description == "", row.state, "unhandled")] += 1
        name = views.state_name(row.service_description, row.state)
        assert name is not None
        order = (handled, SEVERITY[name], row.last_state_change, *key)
        keyed.append((order, (*key, handled)))
    return [problem for _, problem in sorted(keyed)], counts


def fetched(
    conn: psycopg.Connection[Any], schema: str, at: int, limit: int, after: tuple[Any, ...] | None
) -> list[tuple[Any, ...]]:
    select = queries.states(schema, at, flags=False)
    select.filter("r.state > 0")
    values = dict(select.params, limit=limit)
    if after is not None:
        values.update({f"after{i}": v for i, v in enumerate(after)})
    return conn.execute(queries.problems(select, RANK, None, after is not None), values).fetchall()


@given(
    scenario=scenarios(),
    seed=st.integers(0, 2**32),
    step=st.integers(0, 80),
    page=st.integers(1, 5),
)
@PG_SETTINGS
def test_problems_follow_the_triage_rule_in_any_page_size(
    sink_factory: object, scenario: Scenario, seed: int, step: int, page: int
) -> None:
    sink, model = sink_factory(), InMemoryProjection()  # type: ignore[operator]
    write_in_batches(sink, model, scenario.interleave(random.Random(seed)), [])
    at = START + step * STEP // 2
    problems, counts = expected(model, at)

    names = STATES.column_names
    whole = fetched(sink.conn, sink.schema, at, 10_000, None)
    assert [(r[0], r[1], bool(r[-1])) for r in whole] == problems
    walked: list[Problem] = []
    after = None
    while True:
        rows = fetched(sink.conn, sink.schema, at, page, after)
        walked += [(r[0], r[1], bool(r[-1])) for r in rows]
        if len(rows) < page:
            break
        last = rows[-1]
        after = (last[-1], last[-2], last[names.index("last_state_change")], last[0], last[1])
    assert walked == problems

    select = queries.states(sink.schema, at, flags=False)
    got = Counter[Any]()
    for is_host, state, total, unhandled in sink.conn.execute(
        queries.state_counts(select), select.params
    ).fetchall():
        got[(is_host, state, "total")] += total
        if unhandled:
            got[(is_host, state, "unhandled")] += unhandled
    assert got == counts
