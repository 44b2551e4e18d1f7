"""The perfdata tables, declared once (``projections.tables`` joins them to the others).

A metric is (host, service, label). In PostgreSQL it also has a small integer id
(``projections.postgres_series``), which points and tiers are stored by; the rows
declared here are how every sink gives them back: by host, service and label.
docs/projections.md, "Perfdata", says what each holds and why.
"""

from __future__ import annotations

from typing import Any

from projections import rows
from projections.table import Table
from projections.table import columns as _cols

DAY = 86_400_000_000  # microseconds

PERFDATA_METRICS = Table(
    "perfdata_metrics",
    rows.MetricRow,
    "register",
    _cols("""
host_name text
service_description text
label text
target_site text
unit text
warn text?
crit text?
min double precision?
max double precision?
version bytea
"""),
    ("host_name", "service_description", "label"),
)

PERFDATA_THRESHOLDS = Table(
    "perfdata_thresholds",
    rows.ThresholdRow,
    "append",
    _cols("""
host_name text
service_description text
label text
since bigint
target_site text
unit text
warn text?
crit text?
min double precision?
max double precision?
"""),
    ("host_name", "service_description", "label", "since"),
    time_column="since",
)

# A point is one measurement of a metric at one check time: a result delivered twice (or
# two results of one check at the same microsecond) adds one point, the first read.
PERFDATA_POINTS = Table(
    "perfdata_points",
    rows.PointRow,
    "append",
    _cols("""
host_name text
service_description text
label text
check_time bigint
value double precision?
problem text? staged
"""),
    ("host_name", "service_description", "label", "check_time"),
    time_column="check_time",
    partition_span=DAY,
)


def _tier(name: str, row: type[rows.TierRow], span: int) -> Table[Any]:
    return Table(
        name,
        row,
        "derived",
        _cols("""
host_name text
service_description text
label text
bucket_start bigint
samples integer
sum numeric?
min double precision?
max double precision?
last_time bigint?
last_value double precision?
"""),
        ("host_name", "service_description", "label", "bucket_start"),
        time_column="bucket_start",
        partition_span=span,
    )


# Rollup tiers, like an RRD's archives (projections.rollups).
PERFDATA_5M = _tier("perfdata_5m", rows.Tier5mRow, DAY)
PERFDATA_1H = _tier("perfdata_1h", rows.Tier1hRow, 30 * DAY)
PERFDATA_1D = _tier("perfdata_1d", rows.Tier1dRow, 365 * DAY)

# Counted as points are inserted, so it is this node's own tally: not digested (a rebuild
# within retention counts only the points it rebuilt).
PERFDATA_PROBLEMS = Table(
    "perfdata_problems",
    rows.ProblemCountRow,
    "derived",
    _cols("""
host_name text
service_description text
label text
target_site text
points bigint
last_time bigint
last_problem text
"""),
    ("host_name", "service_description", "label"),
    digested=False,
)

#: The tables of metric series: their rows' site is their metric's (PERFDATA_METRICS).
METRIC_SERIES: tuple[Table[Any], ...] = (PERFDATA_POINTS, PERFDATA_5M, PERFDATA_1H, PERFDATA_1D)
TIERS: tuple[Table[Any], ...] = (PERFDATA_5M, PERFDATA_1H, PERFDATA_1D)
