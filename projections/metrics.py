"""Folding a check result's perfdata: points, the metric dictionary, threshold changes.

Each label of a result's perfdata is a metric (host, service, label). Its point is
(metric, check time, value), appended; a metric printed twice in one result keeps the
first. The metric dictionary (``perfdata_metrics``, a register) holds the unit,
thresholds and bounds of the latest result that changed them (last writer wins on the
result's version), and each change is a row of ``perfdata_thresholds`` from that
result's check time on, so points need not repeat them.

A result older than the register's version changes neither: its point is still kept
(it was measured), and its thresholds are those of its time, not the latest. A host's
results all travel in one partition of its site log, so every node reads them in the
same order and makes the same changes.

A warn, crit, min or max that did not parse is dropped from its metric, which keeps its
value (``projections.perfdata``); the point carries what was dropped as its ``problem``,
which the sinks count per metric (``perfdata_problems``) as they insert the point.
"""

from __future__ import annotations

from functools import lru_cache

from projections.perfdata import Metric, PerfdataProblem, Range, parse_perfdata
from projections.rows import MetricRow, PointRow, ThresholdRow
from projections.state import Changes, ProjectionState
from projections.tables import PERFDATA_METRICS, PERFDATA_POINTS, PERFDATA_THRESHOLDS

#: Perfdata of results stamped outside [1970, year ~146,000) is not kept as points
#: (their state still counts): their rollup bucket would overflow a bigint.
MAX_POINT_TIME = 2**62


def record_perfdata(
    state: ProjectionState,
    perfdata: str,
    host: str,
    service: str,
    check_time: int,
    site: str,
    version: bytes,
    changes: Changes,
) -> None:
    """Append the points of one result's ``perfdata``, and the metric changes it makes."""
    if not 0 <= check_time < MAX_POINT_TIME:
        return  # a rollup bucket of such an instant would not fit PostgreSQL's bigint
    parsed = parse_perfdata(perfdata)
    problems = _problems_by_label(parsed.problems) if parsed.problems else {}
    append = changes.appended(PERFDATA_POINTS).append
    seen: set[str] = set()
    for m in parsed.metrics:
        # A label is a series: a plugin printing it twice in one line keeps the first.
        if m.label in seen:
            continue
        seen.add(m.label)
        append(PointRow(host, service, m.label, check_time, m.value, problems.get(m.label)))
        _update_metric(state, (host, service, m.label), m, check_time, site, version, changes)


def _update_metric(
    state: ProjectionState,
    key: tuple[str, str, str],
    m: Metric,
    check_time: int,
    site: str,
    version: bytes,
    changes: Changes,
) -> None:
    old = state.get(PERFDATA_METRICS, key)
    if old is not None and version <= old.version:
        return  # an older result: its thresholds were those of its time
    warn = None if m.warn is None else _range_text(m.warn)
    crit = None if m.crit is None else _range_text(m.crit)
    if old is not None and (old.unit, old.warn, old.crit, old.min, old.max, old.target_site) == (
        m.unit,
        warn,
        crit,
        m.min,
        m.max,
        site,
    ):
        return  # unchanged: the register keeps the version that set these values
    state.put(
        PERFDATA_METRICS,
        key,
        MetricRow(*key, site, m.unit, warn, crit, m.min, m.max, version),
        changes,
    )
    if old is None or (old.unit, old.warn, old.crit, old.min, old.max) != (
        m.unit,
        warn,
        crit,
        m.min,
        m.max,
    ):
        changes.append(
            PERFDATA_THRESHOLDS,
            ThresholdRow(*key, check_time, site, m.unit, warn, crit, m.min, m.max),
        )


def _problems_by_label(problems: tuple[PerfdataProblem, ...]) -> dict[str, str]:
    """One line per metric naming each dropped field: ``warn '5:x': not a range; ...``."""
    out: dict[str, list[str]] = {}
    for p in problems:
        out.setdefault(p.label, []).append(f"{p.field} {p.text!r}: {p.reason}")
    return {label: "; ".join(parts) for label, parts in out.items()}


# Thresholds rarely change between results of one check: format each once.
_range_text = lru_cache(maxsize=4096)(Range.__str__)
