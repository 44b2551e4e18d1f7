"""The table declarations hold together: row classes, keys, indexes, names (no services)."""

from __future__ import annotations

import pytest

from projections.rows import StateRow
from projections.table import columns
from projections.tables import (
    METRIC_SERIES,
    PERFDATA_METRICS,
    PERFDATA_POINTS,
    STATES,
    TABLES,
    TABLES_BY_NAME,
)


def test_every_row_class_has_exactly_its_tables_columns_in_order() -> None:
    for table in TABLES:
        assert table.row._fields == table.column_names, table.name


def test_each_table_has_a_row_class_and_a_name_of_its_own() -> None:
    assert len({t.row for t in TABLES}) == len(TABLES)
    assert len({t.name for t in TABLES}) == len(TABLES)
    assert all(TABLES_BY_NAME[t.name] is t for t in TABLES)


def test_keys_and_indexes_name_columns_and_keys_are_never_null() -> None:
    for table in TABLES:
        columns = {c.name: c for c in table.columns}
        assert table.primary_key, table.name
        # PostgreSQL makes primary key columns NOT NULL whatever the declaration says.
        assert all(not columns[k].nullable for k in table.primary_key), table.name
        for index in table.indexes:
            assert set(index) <= columns.keys(), (table.name, index)


def test_every_digested_table_has_a_target_site_or_is_a_metrics_series() -> None:
    # The digest and the sinks restrict rows to a site subset by this column, or for a
    # metric's points and tiers by their metric's (host, service, label, first).
    for table in TABLES:
        if table in METRIC_SERIES:
            assert table.primary_key[:3] == PERFDATA_METRICS.primary_key, table.name
        elif table.digested:
            assert "target_site" in table.column_names, table.name


def test_time_kept_tables_name_a_time_column_and_registers_are_never_expired() -> None:
    for table in TABLES:
        if table.kind == "register":
            assert table.time_column is None, table.name
        if table.time_column is not None:
            assert table.time_column in table.column_names, table.name
        if table.partition_span is not None:
            assert table.time_column is not None, table.name


def test_staged_columns_are_never_stored_and_come_last() -> None:
    assert [c.name for c in PERFDATA_POINTS.columns if not c.stored] == ["problem"]
    assert "problem" not in PERFDATA_POINTS.stored_names
    with pytest.raises(ValueError, match="staged columns come after"):
        columns("a text staged\nb text")


def test_a_row_made_from_column_values_is_the_tables_row_type() -> None:
    values = [f"v{i}" for i in range(len(STATES.columns))]
    row = STATES.make(values)
    assert type(row) is StateRow
    assert list(row) == values
    assert STATES.key_of(row) == ("v0", "v1")
