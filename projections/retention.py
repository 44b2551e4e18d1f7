"""Retention policy: how long each time-kept table keeps its rows, and from which instant.

Pure: durations (``"36h"``, ``"8d"``, ``"5y"``, ``"forever"``) parsed and formatted, the
policy's windows with their documented defaults (docs/retention.md), the rule that a
coarser perfdata tier is kept at least as long as a finer one and as raw points, and
each table's retention horizon ``kept_from`` for an instant ``now``. A partitioned
table's horizon is rounded DOWN to its partition boundary: expiry drops whole
partitions only, and the writer leaves out rows older than the horizon, so the horizon
is never later than ``now - window`` and nothing within the window is lost.

Expiry against PostgreSQL is ``projections.postgres_expiry`` (``expire``,
``create_ahead``, ``ExpiryReport``), which imports this module, never the reverse.
Registers (``Table.time_column`` None) have no window: they are never expired.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from projections.postgres_partitions import span_start
from projections.table import Table
from projections.tables import (
    AUDIT_LOG,
    DEAD_LETTERS,
    PERFDATA_1D,
    PERFDATA_1H,
    PERFDATA_5M,
    PERFDATA_POINTS,
    PERFDATA_THRESHOLDS,
    STATE_HISTORY,
    TABLES,
)
from schemas.errors import SitelogError

__all__ = [
    "DEFAULT_CHECK_INTERVAL",
    "DEFAULT_RETENTION",
    "KEYS",
    "TABLE_OF_KEY",
    "RetentionError",
    "RetentionPolicy",
    "format_duration",
    "kept_from",
    "parse_duration",
    "settings_from",
]

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
YEAR = 365 * DAY  # a retention year: "5y" is 5 x 365 days, as Zabbix and Centreon count
_UNITS = {"y": YEAR, "d": DAY, "h": HOUR, "m": MINUTE, "s": SECOND}
_DURATION_RE = re.compile(r"^\s*([0-9]{1,9})\s*([ydhms])\s*$")
FOREVER = "forever"


class RetentionError(SitelogError, ValueError):
    """A retention setting is wrong; the message names it (``retention.points: ...``)."""


def parse_duration(text: object, key: str) -> int | None:
    """``"8d"`` -> microseconds; ``"forever"`` -> None; RetentionError naming ``key``."""
    if not isinstance(text, str):
        raise RetentionError(
            f'{key}: expected a duration such as "8d" or "forever", got {type(text).__name__}'
        )
    if text.strip().lower() == FOREVER:
        return None
    match = _DURATION_RE.match(text.lower())
    if match is None:
        raise RetentionError(
            f"{key}: {text!r} is not a duration (a whole number and one of y, d, h, m, s, "
            'such as "36h", "8d", "5y"; or "forever")'
        )
    value = int(match[1]) * _UNITS[match[2]]
    if value <= 0:
        raise RetentionError(f"{key}: {text!r} must be longer than zero")
    if value > 1000 * YEAR:  # instants stay within PostgreSQL's bigint
        raise RetentionError(f'{key}: {text!r} is longer than 1000y; say "forever"')
    return value


def format_duration(micros: int | None) -> str:
    """The shortest text ``parse_duration`` reads back as ``micros`` (whole seconds)."""
    if micros is None:
        return FOREVER
    if micros <= 0 or micros % SECOND:
        raise ValueError(f"{micros} µs is not a positive whole number of seconds")
    for unit, size in _UNITS.items():
        if micros % size == 0:
            return f"{micros // size}{unit}"
    raise AssertionError("unreachable: seconds divide every whole-second duration")


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each time-kept table keeps its rows (microseconds; None = forever)."""

    points: int | None = 8 * DAY
    tier_5m: int | None = 35 * DAY
    tier_1h: int | None = 400 * DAY
    tier_1d: int | None = 1826 * DAY
    state_history: int | None = 400 * DAY
    audit_log: int | None = 400 * DAY
    dead_letters: int | None = 30 * DAY
    thresholds: int | None = 1826 * DAY

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise RetentionError(f"retention.{f.name}: {value!r} is not a positive duration")
        # A coarser tier summarises finer data: it must outlive it, or a graph over a
        # range would find neither the points nor their summary.
        chain = ("points", "tier_5m", "tier_1h", "tier_1d")
        for at, finer in enumerate(chain):
            for shorter in chain[at + 1 :]:
                if _longer(getattr(self, finer), getattr(self, shorter)):
                    raise RetentionError(
                        f"retention.{shorter}: {format_duration(getattr(self, shorter))} is "
                        f"shorter than retention.{finer} "
                        f"({format_duration(getattr(self, finer))}); a coarser tier is kept "
                        "at least as long as a finer one"
                    )

    def window(self, table: Table[Any]) -> int | None:
        """How long ``table`` keeps its rows; None: forever (every register)."""
        key = KEY_OF_TABLE.get(table.name)
        return None if key is None else getattr(self, key)

    def kept_from(self, table: Table[Any], now: int) -> int | None:
        """The instant from which ``table`` keeps its rows at ``now`` (``kept_from``)."""
        return kept_from(table, self.window(table), now)

    def horizons(self, now: int) -> dict[str, int]:
        """``kept_from`` at ``now`` of every table that has a window, by table name."""
        out = {}
        for table in TABLES:
            kept = self.kept_from(table, now)
            if kept is not None:
                out[table.name] = kept
        return out

    def describe(self) -> str:
        """``points=8d tier_5m=35d ...``, for logs."""
        return " ".join(f"{k}={format_duration(getattr(self, k))}" for k in KEYS)


def _longer(a: int | None, b: int | None) -> bool:
    """Whether window ``a`` is longer than window ``b`` (None is forever)."""
    if a is None:
        return b is not None
    return b is not None and a > b


#: The TOML keys of ``[retention]`` naming a window, and the table each one keeps.
TABLE_OF_KEY: dict[str, Table[Any]] = {
    "points": PERFDATA_POINTS,
    "tier_5m": PERFDATA_5M,
    "tier_1h": PERFDATA_1H,
    "tier_1d": PERFDATA_1D,
    "state_history": STATE_HISTORY,
    "audit_log": AUDIT_LOG,
    "dead_letters": DEAD_LETTERS,
    "thresholds": PERFDATA_THRESHOLDS,
}
KEYS: tuple[str, ...] = tuple(TABLE_OF_KEY)
KEY_OF_TABLE: dict[str, str] = {t.name: k for k, t in TABLE_OF_KEY.items()}
assert {t.name for t in TABLES if t.time_column is not None} == set(KEY_OF_TABLE)

DEFAULT_RETENTION = RetentionPolicy()
#: How often a node's maintenance creates partitions ahead and expires (microseconds).
DEFAULT_CHECK_INTERVAL = 10 * MINUTE


def kept_from(table: Table[Any], window: int | None, now: int) -> int | None:
    """The instant from which ``table`` keeps its rows at ``now``: ``now - window``, rounded
    down to the table's partition boundary when it is partitioned; None when kept forever."""
    if window is None or table.time_column is None:
        return None
    instant = now - window
    if table.partition_span is not None:
        instant = span_start(instant, table.partition_span)
    return instant


def settings_from(entries: Mapping[str, object]) -> tuple[RetentionPolicy, int]:
    """The policy and the check interval (µs) of a ``[retention]`` table; keys not given
    take their defaults. RetentionError naming the first wrong key."""
    for key in entries:
        if key not in (*KEYS, "check_interval"):
            raise RetentionError(f"unknown key retention.{key}")
    windows = {
        key: parse_duration(entries[key], f"retention.{key}") for key in KEYS if key in entries
    }
    interval = DEFAULT_CHECK_INTERVAL
    if "check_interval" in entries:
        parsed = parse_duration(entries["check_interval"], "retention.check_interval")
        if parsed is None:
            raise RetentionError('retention.check_interval: must be a duration, not "forever"')
        interval = parsed
    return RetentionPolicy(**windows), interval
