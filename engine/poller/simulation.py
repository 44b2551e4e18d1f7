"""Synthetic monitoring traffic: what pollers and operators of a few sites would write.

Deterministic for a seed, so a test or benchmark can produce the same history
twice. Check results carry realistic outputs and perfdata and change state now and
then; operators acknowledge, schedule downtimes and comment. Used by the tests,
the benchmarks and ``sitelog demo``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import HostCheckResult, ServiceCheckResult
from schemas.operations import AcknowledgementSet, CommentAdded, DowntimeScheduled
from schemas.payload import Payload
from schemas.types import HostState, ServiceState, StateType

SERVICES = ("Load", "HTTP", "Disk /var", "Memory", "Ping")
START = 1_700_000_000_000_000


@dataclass(frozen=True)
class Traffic:
    """The shape of the traffic: sites, hosts per site, services per host, mix of actions."""

    sites: Sequence[str] = ("paris", "lyon", "nice")
    hosts_per_site: int = 100
    services_per_host: int = 5
    state_change_rate: float = 0.02
    operator_rate: float = 0.002
    interval_us: int = 60_000_000
    perfdata: bool = True


def host_names(traffic: Traffic, site: str) -> list[str]:
    """The host names ``events`` uses for a site."""
    return [f"{site}-host-{h:04d}" for h in range(traffic.hosts_per_site)]


def _perfdata(service: str, rnd: random.Random) -> str:
    if service == "Load":
        a, b, c = (rnd.random() * 4 for _ in range(3))
        return f"load1={a:.2f};5;10;0; load5={b:.2f};4;8;0; load15={c:.2f};3;6;0;"
    if service == "HTTP":
        return f"time={rnd.random():.6f}s;1;2;0; size={rnd.randint(1000, 90000)}B;;;0;"
    if service == "Disk /var":
        used = rnd.randint(0, 100)
        return f"'/var'={used * 1024}MB;81920;92160;0;102400 '/var %'={used}%;80;90;0;100"
    if service == "Memory":
        return f"used={rnd.randint(0, 16 * 1024**3)}B;;;0;{16 * 1024**3}"
    return f"rta={rnd.random() * 50:.3f}ms;100;500;0; pl={rnd.choice((0, 0, 0, 20))}%;20;60;0;100"


def events(
    count: int, traffic: Traffic = Traffic(), seed: int = 0, start: int = START
) -> Iterator[Event]:
    """``count`` events, round-robin over every service of every host of every site.

    Simulated time starts at ``start`` and runs one check interval per round of every
    subject.
    """
    rnd = random.Random(seed)
    clocks = {site: HybridLogicalClock(wall_ms=lambda: now // 1000) for site in traffic.sites}
    op_clock = HybridLogicalClock(wall_ms=lambda: now // 1000)
    states: dict[tuple[str, str], int] = {}
    services = SERVICES[: traffic.services_per_host]
    subjects = [
        (site, f"{site}-host-{h:04d}", service)
        for h in range(traffic.hosts_per_site)
        for site in traffic.sites
        for service in ("", *services)
    ]
    step = traffic.interval_us // max(1, len(subjects))
    now = start
    for i in range(count):
        now += step
        site, host, service = subjects[i % len(subjects)]
        if rnd.random() < traffic.operator_rate:
            yield _operator_action(site, host, service, now, op_clock, rnd)
            continue
        key = (host, service)
        state = states.get(key, 0)
        if rnd.random() < traffic.state_change_rate:
            state = rnd.choice((0, 1, 2, 3) if service else (0, 1))
            states[key] = state
        payload: Payload
        common = {
            "host_name": host,
            "state_type": StateType.HARD,
            "attempt": 1,
            "max_attempts": 3,
            "check_time": now,
            "execution_time": rnd.random() / 10,
            "latency": rnd.random() / 100,
            "poller": f"poller-{site}",
        }
        if service:
            payload = ServiceCheckResult(
                service_description=service,
                state=ServiceState(state),
                output=f"{ServiceState(state).name} - {service} checked",
                perfdata=_perfdata(service, rnd) if traffic.perfdata else "",
                **common,  # type: ignore[arg-type]
            )
        else:
            payload = HostCheckResult(
                state=HostState(state),
                output=f"PING {HostState(state).name}",
                perfdata=_perfdata("Ping", rnd) if traffic.perfdata else "",
                **common,  # type: ignore[arg-type]
            )
        yield Event.create(
            payload, site=site, origin=f"poller-{site}", clock=clocks[site], event_time=now
        )


def _operator_action(
    site: str, host: str, service: str, now: int, clock: HybridLogicalClock, rnd: random.Random
) -> Event:
    svc = service or None
    choice = rnd.random()
    payload: Payload
    if choice < 0.5:
        payload = AcknowledgementSet(
            host_name=host,
            service_description=svc,
            sticky=True,
            author="operator",
            comment="looking into it",
        )
    elif choice < 0.8:
        payload = DowntimeScheduled(
            downtime_id=f"{site}-{now}",
            host_name=host,
            service_description=svc,
            start_time=now,
            end_time=now + 3_600_000_000,
            author="operator",
        )
    else:
        payload = CommentAdded(
            comment_id=f"{site}-{now}",
            host_name=host,
            service_description=svc,
            author="operator",
            text="see ticket",
        )
    return Event.create(
        payload, site=site, origin=f"operator@{site}", clock=clock, target_site=site, event_time=now
    )
