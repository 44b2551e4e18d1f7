"""Nagios rules for acknowledgements and downtimes, on hand-written histories with known answers."""

from __future__ import annotations

from projections import asof
from projections.model import InMemoryProjection
from projections.rows import DowntimeRow, HistoryRow
from projections.tables import ACKNOWLEDGEMENTS, DOWNTIMES, STATE_HISTORY, STATES
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import ServiceCheckResult
from schemas.operations import (
    AcknowledgementRemoved,
    AcknowledgementSet,
    DowntimeCancelled,
    DowntimeScheduled,
)
from schemas.payload import Payload
from schemas.types import ServiceState, StateType

T0 = 1_700_000_000_000_000
MIN = 60_000_000


class History:
    """A service's life: each step one minute after the previous, one writer clock."""

    def __init__(self) -> None:
        self.now = T0
        self.clock = HybridLogicalClock(wall_ms=lambda: self.now // 1000)
        self.model = InMemoryProjection()

    def write(self, payload: Payload) -> None:
        self.now += MIN
        event = Event.create(
            payload, site="paris", origin="paris", clock=self.clock, event_time=self.now
        )
        self.model.apply_batch([event])

    def check(self, state: ServiceState, state_type: StateType = StateType.HARD) -> None:
        self.write(
            ServiceCheckResult(
                host_name="web01",
                service_description="HTTP",
                state=state,
                state_type=state_type,
                attempt=1,
                max_attempts=3,
                output=state.name,
                check_time=self.now + MIN,
            )
        )

    def ack(self, sticky: bool, expire_time: int | None = None) -> None:
        self.write(
            AcknowledgementSet(
                host_name="web01",
                service_description="HTTP",
                sticky=sticky,
                author="alice",
                expire_time=expire_time,
            )
        )

    @property
    def acknowledged(self) -> bool:
        state = self.model.state
        key = ("web01", "HTTP")
        return asof.acknowledged(state.get(ACKNOWLEDGEMENTS, key), state.get(STATES, key), self.now)

    def in_downtime(self, at: int, service: str = "HTTP") -> bool:
        rows = self.model.rows()
        return asof.in_downtime(
            "web01",
            service,
            [DowntimeRow._make(r) for r in rows[DOWNTIMES.name]],
            [HistoryRow._make(r) for r in rows[STATE_HISTORY.name]],
            at,
        )


def test_non_sticky_ack_ends_at_any_state_change() -> None:
    h = History()
    h.check(ServiceState.WARNING)
    h.ack(sticky=False)
    assert h.acknowledged
    h.check(ServiceState.WARNING)  # same state: still acknowledged
    assert h.acknowledged
    h.check(ServiceState.CRITICAL)  # a change, even to another problem, ends it
    assert not h.acknowledged


def test_sticky_ack_survives_problem_changes_and_ends_at_recovery() -> None:
    h = History()
    h.check(ServiceState.WARNING)
    h.ack(sticky=True)
    h.check(ServiceState.CRITICAL)
    assert h.acknowledged
    h.check(ServiceState.OK)
    assert not h.acknowledged
    h.check(ServiceState.CRITICAL)  # a new problem is not acknowledged by the old ack
    assert not h.acknowledged


def test_ack_ends_on_removal_and_on_expiry() -> None:
    h = History()
    h.check(ServiceState.CRITICAL)
    h.ack(sticky=True)
    h.write(AcknowledgementRemoved(host_name="web01", service_description="HTTP"))
    assert not h.acknowledged
    h.ack(sticky=True, expire_time=h.now + 3 * MIN)
    assert h.acknowledged
    h.now += 3 * MIN
    assert not h.acknowledged


def test_ack_of_a_service_that_is_ok_acknowledges_nothing() -> None:
    h = History()
    h.check(ServiceState.OK)
    h.ack(sticky=True)
    assert not h.acknowledged
    h.check(ServiceState.CRITICAL)  # the problem came after the ack: Nagios would not ack it
    assert not h.acknowledged


def test_fixed_downtime_covers_its_window_and_cancel_ends_it() -> None:
    h = History()
    start, end = T0 + 10 * MIN, T0 + 20 * MIN
    h.write(
        DowntimeScheduled(
            downtime_id="d1",
            host_name="web01",
            service_description="HTTP",
            fixed=True,
            start_time=start,
            end_time=end,
            author="bob",
        )
    )
    assert not h.in_downtime(start - 1)
    assert h.in_downtime(start) and h.in_downtime(end - 1)
    assert not h.in_downtime(end)
    h.write(DowntimeCancelled(downtime_id="d1", host_name="web01", service_description="HTTP"))
    assert not h.in_downtime(start)


def test_flexible_downtime_starts_at_the_first_problem_in_its_window() -> None:
    h = History()
    h.check(ServiceState.OK)
    start, end = T0 + 5 * MIN, T0 + 60 * MIN
    h.write(
        DowntimeScheduled(
            downtime_id="d2",
            host_name="web01",
            service_description="HTTP",
            fixed=False,
            start_time=start,
            end_time=end,
            duration=10 * MIN,
            author="bob",
        )
    )
    h.now = T0 + 19 * MIN
    h.check(ServiceState.CRITICAL)  # check_time T0 + 20 min
    began = T0 + 20 * MIN
    assert not h.in_downtime(began - 1)
    assert h.in_downtime(began) and h.in_downtime(began + 10 * MIN - 1)
    assert not h.in_downtime(began + 10 * MIN)


def test_flexible_downtime_starts_at_its_start_when_already_in_a_problem() -> None:
    h = History()
    h.check(ServiceState.CRITICAL)
    start = T0 + 30 * MIN
    h.write(
        DowntimeScheduled(
            downtime_id="d3",
            host_name="web01",
            service_description="HTTP",
            fixed=False,
            start_time=start,
            end_time=start + 60 * MIN,
            duration=5 * MIN,
            author="bob",
        )
    )
    assert h.in_downtime(start) and not h.in_downtime(start + 5 * MIN)


def test_host_downtime_with_services_covers_them_and_without_does_not() -> None:
    h = History()
    start, end = T0, T0 + 60 * MIN
    h.write(
        DowntimeScheduled(
            downtime_id="h1",
            host_name="web01",
            fixed=True,
            start_time=start,
            end_time=end,
            with_services=False,
            author="bob",
        )
    )
    assert h.in_downtime(start, service="") and not h.in_downtime(start, service="HTTP")
    h.write(
        DowntimeScheduled(
            downtime_id="h2",
            host_name="web01",
            fixed=True,
            start_time=start,
            end_time=end,
            with_services=True,
            author="bob",
        )
    )
    assert h.in_downtime(start, service="HTTP")


def test_state_history_records_soft_and_hard_changes_once() -> None:
    h = History()
    h.check(ServiceState.OK)
    h.check(ServiceState.CRITICAL, StateType.SOFT)
    h.check(ServiceState.CRITICAL, StateType.SOFT)  # attempt 2: no change
    h.check(ServiceState.CRITICAL, StateType.HARD)  # soft -> hard
    h.check(ServiceState.OK)
    history = sorted(h.model.rows()[STATE_HISTORY.name], key=lambda r: r[4])
    assert [(r[5], r[6], r[7]) for r in history] == [
        (0, 1, None),
        (2, 0, 0),
        (2, 1, 2),
        (0, 1, 2),
    ]
    state = h.model.state.rows(STATES)[("web01", "HTTP")]
    assert state.last_hard_state == 0
    assert state.last_state_change == state.last_check
