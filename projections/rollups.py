"""Perfdata rollup tiers, like an RRD's archives: 5 minutes, 1 hour and 1 day.

Each tier row is one bucket of one metric: samples, exact sum, min, max, and the last
point with a value (its check time and value). The sinks add the points a batch really
inserted to their buckets, in every tier at once. For that to give the same result
whatever order points arrive in, every aggregate must be commutative and associative:
count, min and max are, and so is "last" (the point with the greatest check time wins;
a metric has one point per check time); a floating-point sum is not. So the sum is
exact: the ``numeric`` sum of each value's shortest decimal form, Python's ``repr``,
which the sink stages beside each point (PostgreSQL's own float text differs for some
large integral values). The mean is ``sum / samples``.

This module is the pure reference: ``rollup_rows`` derives a tier from points, as the
in-memory projection does and as the PostgreSQL sink must equal.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from projections.rows import PointRow, TierRow
from projections.table import Table
from projections.tables import PERFDATA_1D, PERFDATA_1H, PERFDATA_5M

MINUTE = 60_000_000  # microseconds

# Enough digits to add any realistic perfdata values exactly, as PostgreSQL's numeric does.
EXACT = decimal.Context(prec=4000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)

SeriesBucket = tuple[str, str, str, int]


@dataclass(frozen=True)
class Tier:
    """One rollup tier: its table and its bucket width (microseconds)."""

    name: str
    table: Table[Any]
    bucket: int

    def bucket_start(self, check_time: int) -> int:
        """The start of the bucket holding ``check_time`` (points have check_time >= 0)."""
        return check_time - check_time % self.bucket


TIERS = (
    Tier("5m", PERFDATA_5M, 5 * MINUTE),
    Tier("1h", PERFDATA_1H, 60 * MINUTE),
    Tier("1d", PERFDATA_1D, 24 * 60 * MINUTE),
)
TIERS_BY_NAME = {tier.name: tier for tier in TIERS}
#: The finest tier's bucket, the least step a rollup answer has.
BUCKET = TIERS[0].bucket


def exact(value: float) -> Decimal:
    """A value as the sink sums it: its shortest decimal form."""
    return Decimal(repr(value))


def rollup_rows(points: Iterable[PointRow], tier: Tier = TIERS[0]) -> dict[SeriesBucket, Any]:
    """Every bucket of ``tier`` from its points, as ``tier.table``'s rows."""
    buckets: dict[SeriesBucket, list[PointRow]] = defaultdict(list)
    for point in points:
        key = (
            point.host_name,
            point.service_description,
            point.label,
            tier.bucket_start(point.check_time),
        )
        buckets[key].append(point)
    make = tier.table.row
    rollups = {}
    for key, members in buckets.items():
        valued = [p for p in members if p.value is not None]
        values = [p.value for p in valued if p.value is not None]
        total = None
        if values:
            total = Decimal(0)
            for value in values:
                total = EXACT.add(total, exact(value))
        last = max(valued, key=lambda p: p.check_time) if valued else None
        row: TierRow = make(
            *key,
            samples=len(values),
            sum=total,
            min=min(values) if values else None,
            max=max(values) if values else None,
            last_time=last.check_time if last else None,
            last_value=last.value if last else None,
        )
        rollups[key] = row
    return rollups
