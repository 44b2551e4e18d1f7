"""The simulated site of the storage benchmarks: realistic metrics and their points.

A site of ``services`` services on hosts named like a real estate
(``srv-paris-web-0042.example.net``), each service with three metrics (``Disk /var``:
``used``, ``free``, ``inodes``; ``Ping``: ``rta``, ``pl``, ``time``...), checked every
``interval`` seconds, each at its own second within the interval as a scheduler spreads
them. The same points are given as the new layout's rows (``Changes`` of ``MetricRow``,
``ThresholdRow`` and ``PointRow``, written through the real ``PostgresSink.write``) and
as the previous layout's text-keyed rows (``legacy_rows``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from projections.rows import MetricRow, PointRow, ThresholdRow
from projections.state import Changes
from projections.tables import PERFDATA_METRICS, PERFDATA_POINTS, PERFDATA_THRESHOLDS
from schemas.types import new_event_id

SECOND = 1_000_000
DAY = 86_400 * SECOND
#: 2026-01-01T00:00:00Z: simulated time starts on a day boundary (a partition's start).
EPOCH = 1_767_225_600 * SECOND

# (service, ((label, unit, warn, crit, min, max, typical value), ...)): three metrics each.
_KINDS: tuple[tuple[str, tuple[tuple[str, str, str | None, str | None, float | None,
                                     float | None, float], ...]], ...] = (
    ("Disk /var", (("used", "%", "80", "90", 0.0, 100.0, 61.0),
                   ("free", "MB", None, None, 0.0, 51200.0, 19800.0),
                   ("inodes", "%", "80", "90", 0.0, 100.0, 12.0))),
    ("Disk /", (("used", "%", "80", "90", 0.0, 100.0, 44.0),
                ("free", "MB", None, None, 0.0, 20480.0, 11400.0),
                ("inodes", "%", "80", "90", 0.0, 100.0, 9.0))),
    ("Ping", (("rta", "ms", "100", "500", 0.0, None, 0.42),
              ("pl", "%", "20", "60", 0.0, 100.0, 0.0),
              ("time", "s", None, None, 0.0, None, 0.004))),
    ("CPU Load", (("load1", "", "4", "8", 0.0, None, 0.8),
                  ("load5", "", "4", "8", 0.0, None, 0.7),
                  ("load15", "", "4", "8", 0.0, None, 0.6))),
    ("Memory", (("used", "%", "80", "90", 0.0, 100.0, 57.0),
                ("swap", "%", "50", "80", 0.0, 100.0, 3.0),
                ("cached", "MB", None, None, 0.0, 16384.0, 4100.0))),
    ("HTTP", (("time", "s", "1", "5", 0.0, None, 0.083),
              ("size", "B", None, None, 0.0, None, 18422.0),
              ("code", "", None, None, None, None, 200.0))),
)  # fmt: skip
_ROLES = ("web", "db", "app", "cache")


@dataclass(frozen=True)
class Metric:
    host: str
    service: str
    label: str
    unit: str
    warn: str | None
    crit: str | None
    min: float | None
    max: float | None
    typical: float
    #: When in each interval this metric's service is checked (µs after the tick).
    offset: int


def site_metrics(services: int, interval: int, site: str = "paris") -> list[Metric]:
    """Three metrics for each of ``services`` services, hosts of ``len(_KINDS)`` services."""
    metrics = []
    for s in range(services):
        number, kind = divmod(s, len(_KINDS))
        host = f"srv-{site}-{_ROLES[number % len(_ROLES)]}-{number:04d}.example.net"
        service, labels = _KINDS[kind]
        # Spread the checks over the interval, as the scheduler does (a prime stride).
        offset = (s * 7_919 * SECOND // 10) % (interval * SECOND)
        for label, unit, warn, crit, low, high, typical in labels:
            metrics.append(
                Metric(host, service, label, unit, warn, crit, low, high, typical, offset)
            )
    return metrics


def value(metric: Metric, rng: random.Random) -> float:
    """A plausible reading: the typical value give or take 10%, as a plugin prints it."""
    return round(metric.typical * (0.9 + 0.2 * rng.random()), 3)


def first_changes(metrics: list[Metric], site: str, since: int) -> Changes:
    """The metric dictionary and each metric's thresholds, as a first result writes them."""
    changes = Changes()
    version = b"\x00" * 8 + b"bench" + b"\x00" * 16
    for m in metrics:
        key = (m.host, m.service, m.label)
        row = MetricRow(*key, site, m.unit, m.warn, m.crit, m.min, m.max, version)
        changes.put(PERFDATA_METRICS, key, row)
        changes.append(
            PERFDATA_THRESHOLDS,
            ThresholdRow(*key, since, site, m.unit, m.warn, m.crit, m.min, m.max),
        )
    return changes


def point_changes(
    metrics: list[Metric], ticks: range, rng: random.Random, changes: Changes | None = None
) -> Changes:
    """The points of every metric at each tick (µs) of ``ticks``, in check order."""
    changes = changes or Changes()
    append = changes.appended(PERFDATA_POINTS).append
    for tick in ticks:
        for m in metrics:
            append(PointRow(m.host, m.service, m.label, tick + m.offset, value(m, rng)))
    return changes


def legacy_rows(
    metrics: list[Metric], ticks: range, rng: random.Random, site: str
) -> Iterator[tuple[object, ...]]:
    """The same points as rows of the previous ``perfdata_points`` (``rng`` seeded as the
    new layout's gives the same values), with one event id (a UUIDv7 of the check time) per
    check of a service, shared by its metrics as one result carried them."""
    for tick in ticks:
        event_id = b""
        service = None
        for m in metrics:
            if (m.host, m.service) != service:
                service = (m.host, m.service)
                event_id = new_event_id((tick + m.offset) // 1_000)
            yield (
                m.host,
                m.service,
                m.label,
                tick + m.offset,
                event_id,
                site,
                value(m, rng),
                m.unit,
                m.warn,
                m.crit,
                m.min,
                m.max,
            )
