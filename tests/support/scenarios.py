"""Random but realistic event histories over several sites, for convergence properties.

A scenario is what the site logs hold: per (site, partition), events in log order.
Pollers write check results for their own site's hosts with a monotonic HLC;
operators on central and on each site act on any host (target_site = the host's
site), with downtime and comment ids unique per host, as real ones are; central
authors configuration; a producer retry appends an event a second time later in
the same partition. Every origin's wall clock is skewed differently, so
last-writer-wins really has to pick by version, not by arrival.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from schemas.configuration import HostDefined, HostRemoved, ServiceDefined
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import HostCheckResult, ServiceCheckResult
from schemas.operations import (
    AcknowledgementRemoved,
    AcknowledgementSet,
    CheckRescheduled,
    CommentAdded,
    CommentDeleted,
    DowntimeCancelled,
    DowntimeScheduled,
)
from schemas.payload import Payload
from schemas.types import HostState, ServiceState, StateType

SITES = ("central", "paris", "lyon")
HOSTS = {"web-p1": "paris", "web-p2": "paris", "db-l1": "lyon", "app-c1": "central"}
HOST_NAMES = sorted(HOSTS)
SERVICES = ("", "HTTP", "Disk /var")  # '' is the host check itself
PARTITIONS = 2
START = 1_700_000_000_000_000  # µs
STEP = 20_000_000  # 20 s between actions


@dataclass
class Scenario:
    partitions: dict[tuple[str, int], list[Event]] = field(default_factory=dict)

    def append(self, event: Event) -> None:
        partition = zlib.crc32(event.key.encode()) % PARTITIONS
        self.partitions.setdefault((event.site, partition), []).append(event)

    @property
    def events(self) -> list[Event]:
        return [e for log in self.partitions.values() for e in log]

    def interleave(self, rnd: random.Random) -> list[Event]:
        """One reading order: partitions merged at random, each partition's order kept."""
        queues = [list(log) for log in self.partitions.values() if log]
        out = []
        while queues:
            queue = rnd.choice(queues)
            out.append(queue.pop(0))
            if not queue:
                queues.remove(queue)
        return out


def _perfdata(rnd: random.Random) -> str:
    choices = [
        f"time={rnd.randint(1, 900) / 100}s;1;2;0; size={rnd.randint(0, 10**6)}B;;;0;",
        f"'used space'={rnd.randint(0, 100)}%;80;90;0;100",
        "time=U;1;2;0;",
        f"load1={rnd.random() * 3:.3f};5;10;0; load5={rnd.random() * 3:.3f};4;8;0;",
        "",
    ]
    return rnd.choice(choices)


class _Builder:
    """Turns drawn actions into events, with one clock per origin."""

    def __init__(self, skews: dict[str, int]) -> None:
        self.now = START
        self.skews = skews
        self.clocks: dict[str, HybridLogicalClock] = {}
        self.scenario = Scenario()
        self.written: list[Event] = []

    def clock(self, origin: str) -> HybridLogicalClock:
        if origin not in self.clocks:
            skew = self.skews.get(origin, 0)
            self.clocks[origin] = HybridLogicalClock(wall_ms=lambda: (self.now // 1000) + skew)
        return self.clocks[origin]

    def write(self, payload: Payload, *, site: str, origin: str, target: str) -> None:
        event = Event.create(
            payload,
            site=site,
            origin=origin,
            clock=self.clock(origin),
            target_site=target,
            event_time=self.now,
        )
        self.scenario.append(event)
        self.written.append(event)

    def act(self, action: tuple[Any, ...], rnd: random.Random) -> None:
        self.now += STEP
        kind, host_i, service_i, value, from_central = action
        host = HOST_NAMES[host_i % len(HOST_NAMES)]
        service = SERVICES[service_i % len(SERVICES)]
        site = HOSTS[host]
        op_site = "central" if from_central else site
        op = {"site": op_site, "origin": f"operator@{op_site}", "target": site}
        svc = service or None
        if kind == "check":
            self._check(host, service, value % 4, rnd)
        elif kind == "ack":
            self.write(
                AcknowledgementSet(
                    host_name=host,
                    service_description=svc,
                    sticky=value % 2 == 0,
                    author="alice",
                    comment="on it",
                ),
                **op,
            )
        elif kind == "unack":
            self.write(
                AcknowledgementRemoved(host_name=host, service_description=svc, author="bob"), **op
            )
        elif kind == "downtime":
            self.write(
                DowntimeScheduled(
                    downtime_id=f"dt-{host}-{value % 3}",
                    host_name=host,
                    service_description=svc,
                    fixed=value % 2 == 0,
                    start_time=self.now,
                    end_time=self.now + 10 * STEP,
                    duration=3 * STEP,
                    with_services=value % 3 == 0,
                    author="carol",
                ),
                **op,
            )
        elif kind == "cancel":
            self.write(
                DowntimeCancelled(
                    downtime_id=f"dt-{host}-{value % 3}", host_name=host, service_description=svc
                ),
                **op,
            )
        elif kind == "comment":
            self.write(
                CommentAdded(
                    comment_id=f"c-{host}-{value % 3}",
                    host_name=host,
                    service_description=svc,
                    author="dan",
                    text=f"note {value}",
                ),
                **op,
            )
        elif kind == "uncomment":
            self.write(
                CommentDeleted(
                    comment_id=f"c-{host}-{value % 3}", host_name=host, service_description=svc
                ),
                **op,
            )
        elif kind == "reschedule":
            self.write(
                CheckRescheduled(
                    host_name=host, service_description=svc, next_check=self.now + STEP
                ),
                **op,
            )
        elif kind == "config":
            central = {"site": "central", "origin": "config@central", "target": site}
            if value % 3 == 0:
                self.write(HostRemoved(host_name=host), **central)
            elif service:
                self.write(
                    ServiceDefined(host_name=host, service_description=service, groups=("g1",)),
                    **central,
                )
            else:
                self.write(
                    HostDefined(host_name=host, site_name=site, groups=("linux",)), **central
                )
        elif kind == "duplicate" and self.written:
            # A producer retry: the same event lands again, later, in the same partition.
            self.scenario.append(self.written[value % len(self.written)])

    def _check(self, host: str, service: str, code: int, rnd: random.Random) -> None:
        site = HOSTS[host]
        common: dict[str, Any] = {
            "host_name": host,
            "state_type": StateType(rnd.randint(0, 1)),
            "attempt": rnd.randint(1, 3),
            "max_attempts": 3,
            "output": f"state {code}",
            "perfdata": _perfdata(rnd),
            "check_time": self.now,
            "poller": f"poller-{site}",
        }
        payload: Payload
        if service:
            payload = ServiceCheckResult(
                service_description=service, state=ServiceState(code), **common
            )
        else:
            payload = HostCheckResult(state=HostState(min(code, 2)), **common)
        self.write(payload, site=site, origin=f"poller-{site}", target=site)


KINDS = (
    "check",
    "check",
    "check",
    "ack",
    "unack",
    "downtime",
    "cancel",
    "comment",
    "uncomment",
    "reschedule",
    "config",
    "duplicate",
)

actions = st.tuples(
    st.sampled_from(KINDS),
    st.integers(0, 9),
    st.integers(0, 9),
    st.integers(0, 99),
    st.booleans(),
)


@st.composite
def scenarios(draw: st.DrawFn, max_actions: int = 60) -> Scenario:
    origins = [f"poller-{s}" for s in SITES] + [f"operator@{s}" for s in SITES]
    skews = {o: draw(st.integers(-120_000, 120_000)) for o in [*origins, "config@central"]}
    builder = _Builder(skews)
    rnd = random.Random(draw(st.integers(0, 2**32)))
    for action in draw(st.lists(actions, min_size=1, max_size=max_actions)):
        builder.act(action, rnd)
    return builder.scenario


def numbered_check(
    host: str, seq: int, clock: HybridLogicalClock, site: str, check_time: int | None = None
) -> Event:
    """A check result of ``host`` whose state, output, perfdata and check time (unless
    given) come from ``seq``."""
    payload = ServiceCheckResult(
        host_name=host,
        service_description="load",
        state=ServiceState(seq % 4),
        state_type=StateType.HARD,
        attempt=1,
        max_attempts=3,
        output=f"seq={seq}",
        perfdata=f"load1={seq}",
        check_time=seq if check_time is None else check_time,
    )
    return Event.create(payload, site=site, origin="poller-1", clock=clock)


@dataclass(frozen=True)
class LogBatch:
    """A run of one partition's events, as one fetch of a projector reads them."""

    site: str
    partition: int
    offset: int  # of the first event
    events: list[Event]

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.events)


def read_in_batches(scenario: Scenario, rnd: random.Random, max_size: int) -> list[LogBatch]:
    """One reading of the logs: partitions taken at random, each read in order, in batches
    of 1 to ``max_size`` events, each with the offsets it spans."""
    positions = {where: 0 for where, log in scenario.partitions.items() if log}
    out = []
    while positions:
        where = rnd.choice(sorted(positions))
        start, log = positions[where], scenario.partitions[where]
        end = min(len(log), start + rnd.randint(1, max_size))
        out.append(LogBatch(where[0], where[1], start, log[start:end]))
        if end == len(log):
            del positions[where]
        else:
            positions[where] = end
    return out
