"""Workflow failover with three real ``sitelog pool-member`` processes and a broker of its own
(``tests.support.brokers``: Tansu, or Apache Kafka under ``SITELOG_TEST_BROKER=kafka``).

A manual pool of three management servers (quorum 2) runs 24 network devices. The
test kills members with SIGKILL (no goodbye: their leases must expire), reads what
each surviving member serves at ``/assignment``, and checks it against the
projection's own evaluation of central's log as of the killed member's lease expiry.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from engine.dev.process import free_port
from engine.log.kafka import KafkaSettings
from engine.log.reader import SiteLogReader
from engine.log.writer import SiteLogWriter
from projections import fold
from projections.assignment import assign
from projections.quorum import status
from projections.state import Changes, ProjectionState
from projections.tables import POOL_LEASES
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.payload import Payload
from schemas.pools import PoolDefined, PoolMemberAdded, PoolTargetAssigned
from schemas.types import TargetKind
from tests.support.brokers import test_broker

SITELOG = str(Path(sys.executable).with_name("sitelog"))
POOL = "Network Monitoring"
SERVERS = ("ms-1", "ms-2", "ms-3")
TARGETS = [f"switch-{i:02d}" for i in range(24)]
PERIOD, LATENCY = 1.0, 1.0  # a lease lasts 3 s: a renewal may be 2 s late


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.1)


async def configure(bootstrap: str) -> None:
    clock = HybridLogicalClock()
    payloads: list[Payload] = [
        PoolDefined(pool_name=POOL, description="dedicated to network devices"),
        *(PoolMemberAdded(pool_name=POOL, server_name=s) for s in SERVERS),
        *(
            PoolTargetAssigned(pool_name=POOL, target_name=t, kind=TargetKind.NETWORK_DEVICE)
            for t in TARGETS
        ),
    ]
    async with SiteLogWriter("central", KafkaSettings(bootstrap)) as writer:
        await writer.append_many(
            Event.create(p, site="central", origin="central-1", clock=clock) for p in payloads
        )


async def fold_central_log(bootstrap: str) -> ProjectionState:
    """The projection's fold of everything in central's log now."""
    settings = KafkaSettings(bootstrap)
    state = ProjectionState()
    async with SiteLogReader("central", settings) as reader:
        await reader.assign()
        ends = {p: o.end for p, o in (await reader.log_offsets()).items()}
        while any(reader.positions[p] < end for p, end in ends.items()):
            for batch in await reader.read(timeout=1.0):
                for _, event in batch.events:
                    fold.apply(state, event, Changes())
    return state


class Members:
    """The three member processes, each serving its assignment on its own port."""

    def __init__(self, bootstrap: str, logs: Path) -> None:
        self.bootstrap, self.logs = bootstrap, logs
        self.ports = {s: free_port() for s in SERVERS}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, server: str) -> None:
        command = [
            SITELOG,
            "pool-member",
            "--server",
            server,
            "--bootstrap",
            self.bootstrap,
            "--role",
            "management-server",
            "--lease-period",
            str(PERIOD),
            "--network-latency",
            str(LATENCY),
            "--listen",
            f"127.0.0.1:{self.ports[server]}",
        ]
        with (self.logs / f"{server}.log").open("ab") as log:
            self.processes[server] = subprocess.Popen(
                command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log
            )

    def kill(self, server: str, signum: signal.Signals = signal.SIGKILL) -> None:
        process = self.processes.pop(server)
        os.killpg(process.pid, signum)
        assert process.wait(timeout=30) == (0 if signum == signal.SIGTERM else -signum)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)

    def report(self, server: str) -> dict[str, Any] | None:
        """What ``server`` serves at /assignment for the pool, or None if it does not answer."""
        url = f"http://127.0.0.1:{self.ports[server]}/assignment"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                body = orjson.loads(answer.read())
        except OSError:
            return None
        pool = body["pools"].get(POOL)
        return None if pool is None else {"at": body["at"], **pool}

    def owned(self, servers: tuple[str, ...]) -> dict[str, set[str]] | None:
        """Targets each of ``servers`` runs, once they all answer."""
        reports = {s: self.report(s) for s in servers}
        if any(r is None for r in reports.values()):
            return None
        return {s: set(r["targets"]) for s, r in reports.items() if r is not None}


@contextmanager
def running_members(bootstrap: str, logs: Path) -> Iterator[Members]:
    members = Members(bootstrap, logs)
    try:
        yield members
    finally:
        members.stop_all()


def expected(servers: tuple[str, ...]) -> dict[str, set[str]]:
    owners = assign(TARGETS, servers)
    return {s: {t for t, owner in owners.items() if owner == s} for s in servers}


def test_failover_moves_only_the_dead_members_targets(tmp_path: Path) -> None:
    with test_broker() as broker, running_members(broker.bootstrap_servers, tmp_path) as members:
        boot = broker.bootstrap_servers
        asyncio.run(configure(boot))
        for server in SERVERS:
            members.start(server)

        original = expected(SERVERS)
        assert all(original.values()), "every member runs something"
        wait_until(lambda: members.owned(SERVERS) == original, 60, "the first assignment")

        # SIGKILL ms-1: no goodbye, so its targets wait for its lease to expire.
        members.kill("ms-1")
        survivors = ("ms-2", "ms-3")
        wait_until(
            lambda: members.owned(survivors) == expected(survivors),
            30,
            "the survivors to take over ms-1's targets",
        )
        for server in survivors:  # a failure moves only the failed member's targets
            assert original[server] <= expected(survivors)[server]
        # Central's log says the same as of ms-1's lease expiry; an instant earlier, ms-1
        # still ran its own targets.
        state = asyncio.run(fold_central_log(boot))
        expiry = state.rows(POOL_LEASES)[(POOL, "ms-1")].expires_at
        assert time.time() * 1e6 > expiry
        owners = {
            at: None if (pool := status(state, POOL, at)) is None else pool.owners
            for at in (expiry - 1, expiry)
        }
        assert owners[expiry - 1] == {t: s for s, owned in original.items() for t in owned}
        assert owners[expiry] == {t: s for s, owned in expected(survivors).items() for t in owned}

        # SIGKILL ms-2 too: one vote of three is no quorum, nothing runs anywhere.
        members.kill("ms-2")
        wait_until(
            lambda: (report := members.report("ms-3")) is not None and not report["has_quorum"],
            30,
            "ms-3 to see the quorum lost",
        )
        report = members.report("ms-3")
        assert report is not None and report["targets"] == [] and report["available"]
        assert report["reason"] == "no quorum: 1 of 3 votes available, 2 needed"
        state = asyncio.run(fold_central_log(boot))
        expiry = state.rows(POOL_LEASES)[(POOL, "ms-2")].expires_at
        pool = status(state, POOL, expiry)
        assert pool is not None and not pool.has_quorum and pool.available_votes == 1
        assert set(pool.owners.values()) == {None}

        # Both come back: the assignment returns to the original one.
        members.start("ms-1")
        members.start("ms-2")
        wait_until(lambda: members.owned(SERVERS) == original, 60, "the original assignment")
        # A clean stop gives the lease back: the others take over before it would expire.
        members.kill("ms-3", signal.SIGTERM)
        state = asyncio.run(fold_central_log(boot))
        lease = state.rows(POOL_LEASES)[(POOL, "ms-3")]
        would_expire = lease.granted_at + int((PERIOD + 2 * LATENCY) * 1e6)
        assert lease.expires_at < would_expire
        wait_until(
            lambda: members.owned(("ms-1", "ms-2")) == expected(("ms-1", "ms-2")),
            30,
            "ms-1 and ms-2 to take over from the stopped ms-3",
        )
        assert time.time() * 1e6 < would_expire
