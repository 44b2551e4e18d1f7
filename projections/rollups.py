"""5-minute perfdata rollups (samples, sum, min, max per series and bucket).

The sink adds the points a batch really inserted to their buckets. For that to give
the same result whatever order points arrive in, every aggregate must be
commutative and associative: count, min and max are; a floating-point sum is not.
So the sum is exact: the ``numeric`` sum of each value's shortest decimal form,
Python's ``repr``, which the sink stages beside each point (PostgreSQL's own float
text differs for some large integral values).
The average is ``sum / samples``.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from projections.rows import PointRow, RollupRow

BUCKET = 300_000_000  # five minutes, in microseconds

# Enough digits to add any realistic perfdata values exactly, as PostgreSQL's numeric does.
EXACT = decimal.Context(prec=4000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)

SeriesBucket = tuple[str, str, str, int]


def bucket_start(check_time: int) -> int:
    """The start of the 5-minute bucket holding ``check_time`` (points have check_time >= 0)."""
    return check_time - check_time % BUCKET


def exact(value: float) -> Decimal:
    """A value as the sink sums it: its shortest decimal form."""
    return Decimal(repr(value))


def rollup_rows(points: Iterable[PointRow]) -> dict[SeriesBucket, RollupRow]:
    """Every bucket's rollup from its points."""
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
        values = [p.value for p in members if p.value is not None]
        total = None
        if values:
            total = Decimal(0)
            for value in values:
                total = EXACT.add(total, exact(value))
        rollups[key] = RollupRow(
            *key,
            target_site=max(p.target_site for p in members),
            samples=len(values),
            sum=total,
            min=min(values) if values else None,
            max=max(values) if values else None,
        )
    return rollups
