"""The retention policy, pure: durations read and written back, the tier rule for every
policy, and horizons that never cut into a window."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.retention import (
    DAY,
    DEFAULT_RETENTION,
    KEYS,
    SECOND,
    TABLE_OF_KEY,
    RetentionError,
    RetentionPolicy,
    format_duration,
    kept_from,
    parse_duration,
    settings_from,
)
from projections.tables import TABLES

windows = st.one_of(st.none(), st.integers(1, 10 * 365 * 86_400).map(lambda s: s * SECOND))
policies = st.fixed_dictionaries({key: windows for key in KEYS})
TIER_CHAIN = ("points", "tier_5m", "tier_1h", "tier_1d")


def test_the_defaults_are_the_documented_ones() -> None:
    assert DEFAULT_RETENTION.describe() == (
        "points=8d tier_5m=35d tier_1h=400d tier_1d=1826d state_history=400d "
        "audit_log=400d dead_letters=30d thresholds=1826d"
    )
    # Registers have no window: never expired.
    for table in TABLES:
        if table.time_column is None:
            assert DEFAULT_RETENTION.window(table) is None


@given(st.integers(1, 1000), st.sampled_from("ydhms"))
def test_a_duration_written_back_reads_the_same(count: int, unit: str) -> None:
    micros = parse_duration(f"{count}{unit}", "k")
    assert micros is not None
    assert parse_duration(format_duration(micros), "k") == micros
    assert format_duration(parse_duration(format_duration(micros), "k")) == format_duration(micros)


@given(windows)
def test_a_window_formats_and_parses_back(window: int | None) -> None:
    assert parse_duration(format_duration(window), "k") == window


@pytest.mark.parametrize(
    ("text", "micros"),
    [("36h", 36 * 3600 * SECOND), ("8d", 8 * DAY), ("5y", 5 * 365 * DAY), ("forever", None)],
)
def test_durations_as_the_configuration_writes_them(text: str, micros: int | None) -> None:
    assert parse_duration(text, "retention.points") == micros


@given(st.text(max_size=8).filter(lambda t: t.strip().lower() != "forever"))
def test_anything_else_is_one_error_naming_the_key(text: str) -> None:
    try:
        parse_duration(text, "retention.points")
    except RetentionError as exc:
        assert str(exc).startswith("retention.points: ") and "\n" not in str(exc)
    else:
        assert text.strip()[-1] in "ydhmsYDHMS"


def _longest(values: list[int | None]) -> float:
    return max(float("inf") if v is None else v for v in values)


@given(policies)
def test_a_coarser_tier_is_kept_at_least_as_long_or_the_policy_is_refused(
    values: dict[str, Any],
) -> None:
    chain = [values[k] for k in TIER_CHAIN]
    ordered = all(
        _longest(chain[: i + 1]) <= (float("inf") if chain[i + 1] is None else chain[i + 1])
        for i in range(len(chain) - 1)
    )
    try:
        policy = RetentionPolicy(**values)
    except RetentionError as exc:
        assert not ordered
        named = str(exc).split(":")[0].removeprefix("retention.")
        assert named in TIER_CHAIN[1:]
    else:
        assert ordered
        assert all(policy.window(TABLE_OF_KEY[k]) == values[k] for k in KEYS)


@given(policies, st.integers(0, 2**62))
def test_a_horizon_is_never_later_than_now_minus_the_window(
    values: dict[str, Any], now: int
) -> None:
    for key in KEYS:
        table = TABLE_OF_KEY[key]
        window = values[key]
        horizon = kept_from(table, window, now)
        if window is None:
            assert horizon is None
            continue
        assert horizon is not None and horizon <= now - window
        span = table.partition_span
        if span is not None:
            # On a partition boundary, less than a span before now - window.
            assert horizon % span == 0 and now - window - horizon < span
        else:
            assert horizon == now - window


def test_settings_take_defaults_for_keys_not_given() -> None:
    policy, interval = settings_from({"points": "2d", "check_interval": "30s"})
    assert policy.points == 2 * DAY and interval == 30 * SECOND
    assert policy.tier_5m == DEFAULT_RETENTION.tier_5m
    with pytest.raises(RetentionError, match=r"^unknown key retention.pionts$"):
        settings_from({"pionts": "2d"})
