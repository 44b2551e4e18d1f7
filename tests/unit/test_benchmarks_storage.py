"""The storage benchmark's pure parts: the simulated site, the levelling model, its CLI's
refusals (nothing is measured here: benchmarks never run in tests)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import storage
from benchmarks.storage_data import DAY, SECOND, legacy_rows, point_changes, site_metrics
from benchmarks.storage_steady import Day, growth_per_day, levels_from
from projections.tables import PERFDATA_POINTS


@given(st.integers(1, 400), st.sampled_from([10, 60, 300, 3600]))
def test_every_service_has_three_distinct_metrics_checked_within_its_interval(
    services: int, interval: int
) -> None:
    metrics = site_metrics(services, interval)
    assert len(metrics) == 3 * services
    assert len({(m.host, m.service, m.label) for m in metrics}) == len(metrics)
    assert all(0 <= m.offset < interval * SECOND for m in metrics)
    # A service's metrics come from one result: one check time for the three.
    by_service: dict[tuple[str, str], set[int]] = {}
    for m in metrics:
        by_service.setdefault((m.host, m.service), set()).add(m.offset)
    assert all(len(offsets) == 1 for offsets in by_service.values())


def test_both_layouts_get_the_same_points() -> None:
    metrics = site_metrics(7, 60)
    ticks = range(0, 5 * 60 * SECOND, 60 * SECOND)
    new = point_changes(metrics, ticks, random.Random(3)).appended(PERFDATA_POINTS)
    old = list(legacy_rows(metrics, ticks, random.Random(3), "paris"))
    assert [(p.host_name, p.service_description, p.label, p.check_time, p.value) for p in new] == [
        (r[0], r[1], r[2], r[3], r[6]) for r in old
    ]
    # One event id per check of a service, shared by its three metrics.
    assert len({r[4] for r in old}) == len(old) // 3


@pytest.mark.parametrize(
    ("window", "span", "day"),
    [(8 * DAY, DAY, 8), (35 * DAY, DAY, 35), (36 * 3_600 * SECOND, DAY, 2), (None, DAY, None)],
)
def test_a_table_levels_once_its_window_fills_whole_partitions(
    window: int | None, span: int, day: int | None
) -> None:
    assert levels_from(window, span) == day


def test_growth_per_day_is_the_mean_slope_between_two_days() -> None:
    days = [Day(d, size, {}, 0, 0, 0.0) for d, size in enumerate((10, 20, 30, 31, 32), 1)]
    assert growth_per_day(days, 1, 3) == 10
    assert growth_per_day(days, 3, 5) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parts", "size,disk"], "--parts: unknown part 'disk'"),
        (["--steady-retention", "raw=2d"], "--steady-retention: unknown window 'raw'"),
        (["--steady-retention", "points=two"], "'two' is not a duration"),
        (["--steady-retention", "tier_5m=1d"], "shorter than retention.points"),
        (["--steady-days", "many"], "argument --steady-days: invalid int value: 'many'"),
    ],
)
def test_bad_options_are_refused_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code: int | str | None
    try:
        code = storage.main(argv)
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
