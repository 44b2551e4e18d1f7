"""The node's scheduled maintenance of its projection: partitions created ahead, and
retention applied (``projections.retention``), at start and every ``check_interval``.

Each run, in a worker thread on a connection of its own: ``create_ahead`` (today's and
the next span's partitions of every partitioned table), ``expire`` (horizons moved
forward, whole partitions detached concurrently and dropped, old threshold changes and
dead letters deleted), then the tables' sizes for ``/metrics``. One log line per run
says what it dropped and from when each table is kept.

A PostgreSQL outage is one warning line, not one per run: the run is retried with the
projector's backoff (``engine.node.projector``), capped at ``check_interval``, on a new
connection; the line saying the database answers again is the next run's own. Any other
error is logged and the schedule goes on: maintenance never stops the node.

Metrics, in the node's registry (served at ``/metrics``):
``sitelog_table_bytes{table}``, ``sitelog_table_rows{table}`` (PostgreSQL's estimate,
``pg_class.reltuples`` summed over partitions), ``sitelog_table_oldest_kept{table}``
(the retention horizon, seconds since the epoch), ``sitelog_expiry_runs_total``,
``sitelog_expiry_failures_total``, ``sitelog_expiry_dropped_partitions_total{table}``,
``sitelog_expiry_last_run_timestamp``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, Counter, Gauge

from engine.lifecycle import Lifecycle, Service
from engine.node.projector import RETRY_FIRST
from projections.postgres import connect
from projections.postgres_blocks import seal
from projections.postgres_expiry import (
    ExpiryReport,
    TableStats,
    create_ahead,
    expire,
    table_stats,
)
from projections.retention import RetentionPolicy
from schemas.errors import SitelogError
from schemas.types import now_us

__all__ = ["Maintenance", "MaintenanceMetrics"]

log = logging.getLogger(__name__)


class MaintenanceMetrics:
    """The maintenance's instruments, in a node's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.table_bytes = Gauge(
            "sitelog_table_bytes",
            "Bytes on disk of a projection table, indexes included, over its partitions",
            ["table"],
            registry=r,
        )
        self.table_rows = Gauge(
            "sitelog_table_rows",
            "Rows of a projection table, PostgreSQL's estimate (pg_class.reltuples)",
            ["table"],
            registry=r,
        )
        self.oldest_kept = Gauge(
            "sitelog_table_oldest_kept",
            "The instant from which a time-kept table keeps its rows (seconds since the epoch)",
            ["table"],
            registry=r,
        )
        self.runs = Counter("sitelog_expiry_runs", "Maintenance runs that completed", registry=r)
        self.failures = Counter(
            "sitelog_expiry_failures", "Maintenance runs that met an error", registry=r
        )
        self.dropped_partitions = Counter(
            "sitelog_expiry_dropped_partitions",
            "Partitions dropped by retention, by table",
            ["table"],
            registry=r,
        )
        self.last_run = Gauge(
            "sitelog_expiry_last_run_timestamp",
            "When the last maintenance run completed (seconds since the epoch)",
            registry=r,
        )

    def record(self, report: ExpiryReport, stats: dict[str, TableStats]) -> None:
        for name, done in report.tables.items():
            self.oldest_kept.labels(name).set(done.kept_from / 1e6)
            if done.dropped:
                self.dropped_partitions.labels(name).inc(len(done.dropped))
        for name, figures in stats.items():
            self.table_bytes.labels(name).set(figures.bytes)
            self.table_rows.labels(name).set(figures.rows)
        self.runs.inc()
        self.last_run.set(time.time())


class Maintenance(Service):
    """Runs create-ahead and expiry on one projection, at start and on a schedule."""

    def __init__(
        self,
        dsn: str,
        schema: str,
        policy: RetentionPolicy,
        *,
        check_interval: float,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], int] = now_us,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.policy = policy
        self.check_interval = check_interval
        self.metrics = MaintenanceMetrics(registry if registry is not None else CollectorRegistry())
        self._clock = clock
        self._conn: psycopg.Connection[Any] | None = None
        self._busy = threading.Lock()  # held by the worker thread during a run
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._state = Lifecycle.NEW
        self._outage = False
        #: Runs completed, and the last one's report (read them, for status and tests).
        self.runs = 0
        self.last_report: ExpiryReport | None = None
        self.last_error: str | None = None

    async def start(self) -> None:
        """Start the schedule; the first run begins at once, in the background (a detach
        may wait for long transactions: the node does not wait for it)."""
        self._state.check_start(f"maintenance of {self.schema}")
        self._state = Lifecycle.STARTED
        self._task = asyncio.create_task(self._loop(), name=f"maintenance {self.schema}")

    async def stop(self) -> None:
        if self._state is not Lifecycle.STARTED:
            self._state = Lifecycle.STOPPED
            return
        self._state = Lifecycle.STOPPED
        self._wake.set()
        conn = self._conn
        if conn is not None and self._busy.locked():
            # Interrupt a statement in flight (a detach waiting on a long transaction);
            # the run then ends with an error that stopping ignores.
            await asyncio.to_thread(conn.cancel_safe)
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None:
            await asyncio.to_thread(self._conn.close)
            self._conn = None

    async def wait_runs(self, count: int, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until ``count`` runs have completed."""
        deadline = time.monotonic() + timeout
        while self.runs < count:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _loop(self) -> None:
        delay = RETRY_FIRST
        while self._state is Lifecycle.STARTED:
            ok = await asyncio.to_thread(self._run_once)
            if ok:
                delay = RETRY_FIRST
                wait = self.check_interval
            else:
                wait = min(delay, self.check_interval)
                delay = min(delay * 2, self.check_interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _run_once(self) -> bool:
        """One run in the worker thread; whether it completed. Never raises."""
        with self._busy:
            if self._state is not Lifecycle.STARTED:
                return True
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = connect(self.dsn)
                now = self._clock()
                created = create_ahead(self._conn, self.schema, now)
                report = expire(self._conn, self.schema, self.policy, now)
                sealed = seal(self._conn, self.schema, now)
                stats = table_stats(self._conn, self.schema)
            except SitelogError as exc:
                self._failed(exc)
                return False
            except Exception as exc:  # a bug must not stop the node: log it, go on
                log.exception("maintenance of %s failed", self.schema)
                self._failed(exc)
                return False
        self.metrics.record(report, stats)
        self.last_report, self.last_error, self.runs = report, None, self.runs + 1
        back = " (PostgreSQL answers again)" if self._outage else ""
        self._outage = False
        ahead = f"; {len(created)} partitions created ahead" if created else ""
        if sealed:
            ahead += f"; sealed {', '.join(sealed)} into blocks"
        log.info("maintenance of %s%s: %s%s", self.schema, back, report.summary(), ahead)
        return True

    def _failed(self, exc: BaseException) -> None:
        self.metrics.failures.inc()
        self.last_error = str(exc)
        if self._state is not Lifecycle.STARTED:
            return  # interrupted by stop
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        retriable = isinstance(exc, SitelogError) and exc.retriable
        if retriable and self._outage:
            return  # one line per outage
        self._outage = retriable
        if retriable:
            log.warning("maintenance of %s: PostgreSQL unavailable, retrying: %s", self.schema, exc)
        else:
            log.error(
                "maintenance of %s failed, next run in %.0fs: %s",
                self.schema,
                self.check_interval,
                exc,
            )
