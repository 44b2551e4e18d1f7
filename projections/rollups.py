"""5-minute perfdata rollups (count, sum, min, max per series and bucket), as the sink derives them.

Rollups are recomputed from the points of every bucket a batch touches, summing in
``(check_time, event_id)`` order: floating-point addition is not associative, so a
running total updated in arrival order would differ between two nodes that read
the same points in another order. PostgreSQL's ``sum(value ORDER BY ...)`` adds in
the same order as this function, starting from the first value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import reduce
from operator import add

from projections.rows import PointRow, RollupRow

BUCKET = 300_000_000  # five minutes, in microseconds

SeriesBucket = tuple[str, str, str, int]


def bucket_start(check_time: int) -> int:
    """The start of the 5-minute bucket holding ``check_time`` (floor, also before 1970)."""
    return check_time - check_time % BUCKET


def rollup_rows(points: Iterable[PointRow]) -> dict[SeriesBucket, RollupRow]:
    """Every bucket's rollup from its points (all of them, not just a batch's)."""
    buckets: dict[SeriesBucket, list[PointRow]] = defaultdict(list)
    for point in points:
        key = (
            point.host_name,
            point.service_description,
            point.label,
            bucket_start(point.check_time),
        )
        buckets[key].append(point)
    rollups = {}
    for key, members in buckets.items():
        members.sort(key=lambda p: (p.check_time, p.event_id))
        values = [p.value for p in members if p.value is not None]
        rollups[key] = RollupRow(
            *key,
            target_site=max(p.target_site for p in members),
            samples=len(values),
            sum=reduce(add, values) if values else None,
            min=min(values) if values else None,
            max=max(values) if values else None,
        )
    return rollups
